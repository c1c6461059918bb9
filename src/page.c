/* List pages and detail answers parsed in one pass (page.h): each job's
 * span and the spans of the fields scrapefs reads. */
#include "page.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const page_field_names[PF_NFIELDS] = {
    "job_id", "status", "url", "created_at", "completed_at", "error_message", "extracted_data"};

/* A raw key token equals a name: the common, unescaped spelling compares
 * bytes; an escaped one is decoded first. */
static bool key_is(struct jt_span key, const char *name)
{
    size_t n = strlen(name);
    if (key.len == n + 2 && memcmp(key.p + 1, name, n) == 0)
        return true;
    return memchr(key.p, '\\', key.len) && jt_string_equals(key, name);
}

/* The walk over one object: calls member() for each key, with i at the
 * start of its value; member() must leave i past the value. */
struct walk {
    const char *s;
    size_t len, i;
    struct jt_scan sc;
};

static int skip_value(struct walk *w)
{
    ssize_t e = jt_skip(w->s, w->len, w->i, &w->sc);
    if (e < 0)
        return -EBADMSG;
    w->i = (size_t)e;
    return 0;
}

/* Reads `"key":` at w->i; leaves w->i at the value. */
static int read_key(struct walk *w, struct jt_span *key)
{
    if (w->i >= w->len || w->s[w->i] != '"')
        return -EBADMSG;
    ssize_t e = jt_skip_string(w->s, w->len, w->i, &w->sc);
    if (e < 0)
        return -EBADMSG;
    *key = (struct jt_span){w->s + w->i, (size_t)e - w->i};
    w->i = jt_skip_ws(w->s, w->len, (size_t)e);
    if (w->i >= w->len || w->s[w->i] != ':')
        return -EBADMSG;
    w->i = jt_skip_ws(w->s, w->len, w->i + 1);
    return 0;
}

/* After a member or element: a ',' (true: more follow) or the closing byte. */
static int next_or_end(struct walk *w, char close, bool *more)
{
    w->i = jt_skip_ws(w->s, w->len, w->i);
    if (w->i < w->len && w->s[w->i] == ',') {
        w->i = jt_skip_ws(w->s, w->len, w->i + 1);
        *more = true;
        return 0;
    }
    if (w->i < w->len && w->s[w->i] == close) {
        w->i++;
        *more = false;
        return 0;
    }
    return -EBADMSG;
}

/* An object at w->i whose members are the job's fields. */
static int walk_job(struct walk *w, struct page_job *pj)
{
    size_t start = w->i;
    bool more = true;
    memset(pj, 0, sizeof *pj);
    pj->object = true;
    w->sc.bad_utf8 = false;
    w->i = jt_skip_ws(w->s, w->len, w->i + 1);
    if (w->i < w->len && w->s[w->i] == '}') {
        w->i++;
        more = false;
    }
    while (more) {
        struct jt_span key;
        int rc = read_key(w, &key);
        if (rc)
            return rc;
        size_t v = w->i;
        if ((rc = skip_value(w)) != 0)
            return rc;
        for (int f = 0; f < PF_NFIELDS; f++)
            if (!pj->field[f].len && key_is(key, page_field_names[f])) {
                pj->field[f] = (struct jt_span){w->s + v, w->i - v};
                break;
            }
        if ((rc = next_or_end(w, '}', &more)) != 0)
            return rc;
    }
    pj->text = (struct jt_span){w->s + start, w->i - start};
    pj->bad_utf8 = w->sc.bad_utf8;
    return 0;
}

static int push(struct page *pg, const struct page_job *pj)
{
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 128;
        struct page_job *n = realloc(pg->jobs, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        pg->jobs = n;
        pg->cap = cap;
    }
    pg->jobs[pg->n++] = *pj;
    return 0;
}

/* The "jobs" array at w->i. */
static int walk_jobs(struct walk *w, struct page *pg)
{
    bool more = true;
    if (w->i >= w->len || w->s[w->i] != '[')
        return -EBADMSG;
    w->i = jt_skip_ws(w->s, w->len, w->i + 1);
    if (w->i < w->len && w->s[w->i] == ']') {
        w->i++;
        more = false;
    }
    while (more) {
        struct page_job pj;
        int rc;
        if (w->i >= w->len)
            return -EBADMSG;
        if (w->s[w->i] == '{') {
            rc = walk_job(w, &pj);
        } else {
            memset(&pj, 0, sizeof pj);
            size_t start = w->i;
            rc = skip_value(w);
            pj.text = (struct jt_span){w->s + start, w->i - start};
        }
        if (rc || (rc = push(pg, &pj)) != 0 || (rc = next_or_end(w, ']', &more)) != 0)
            return rc;
    }
    return 0;
}

/* A JSON integer >= 0 that fits a long, as "total" must be. */
static bool read_total(struct jt_span v, long *out)
{
    if (!v.len || v.len > 18)
        return false;
    long t = 0;
    for (size_t k = 0; k < v.len; k++) {
        if (v.p[k] < '0' || v.p[k] > '9')
            return false;
        t = t * 10 + (v.p[k] - '0');
    }
    *out = t;
    return true;
}

int page_parse(const char *body, size_t len, struct page *out)
{
    struct walk w = {.s = body, .len = len, .sc = {.utf8 = JT_UTF8_REPORT}};
    bool have_jobs = false, have_total = false, more = true;
    int rc = -EBADMSG;
    memset(out, 0, sizeof *out);
    out->total = -1;
    w.i = jt_skip_ws(body, len, 0);
    if (w.i >= len || body[w.i] != '{')
        goto bad;
    w.i = jt_skip_ws(body, len, w.i + 1);
    if (w.i < len && body[w.i] == '}') {
        w.i++;
        more = false;
    }
    while (more) {
        struct jt_span key;
        if ((rc = read_key(&w, &key)) != 0)
            goto bad;
        size_t v = w.i;
        if (!have_jobs && key_is(key, "jobs")) {
            have_jobs = true;
            rc = walk_jobs(&w, out);
        } else if ((rc = skip_value(&w)) == 0 && !have_total && key_is(key, "total")) {
            have_total = true;
            if (!read_total((struct jt_span){body + v, w.i - v}, &out->total))
                rc = -EBADMSG;
        }
        if (rc || (rc = next_or_end(&w, '}', &more)) != 0)
            goto bad;
    }
    if (jt_skip_ws(body, len, w.i) == len && have_jobs && have_total)
        return 0;
    rc = -EBADMSG;
bad:
    page_free(out);
    return rc;
}

void page_free(struct page *pg)
{
    free(pg->jobs);
    pg->jobs = NULL;
    pg->n = pg->cap = 0;
}

int page_parse_job(const char *body, size_t len, struct page_job *out)
{
    struct walk w = {.s = body, .len = len, .sc = {.utf8 = JT_UTF8_REPORT}};
    w.i = jt_skip_ws(body, len, 0);
    if (w.i >= len || body[w.i] != '{' || walk_job(&w, out) != 0)
        return -EBADMSG;
    return jt_skip_ws(body, len, w.i) == len ? 0 : -EBADMSG;
}

int page_accept(const char *body, size_t len)
{
    struct page pg;
    int rc = page_parse(body, len, &pg);
    page_free(&pg);
    return rc;
}

