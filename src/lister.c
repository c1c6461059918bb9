#include "lister.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "idmap.h"
#include "jsontext.h"
#include "log.h"

static bool total_of(struct jt_span page, long *total)
{
    struct jt_span v;
    if (!jt_object_get(page, "total", &v) || jt_type_of(v) != JT_NUMBER)
        return false;
    char tmp[24];
    if (v.len >= sizeof tmp)
        return false;
    memcpy(tmp, v.p, v.len);
    tmp[v.len] = '\0';
    char *end;
    long t = strtol(tmp, &end, 10);
    if (*end || t < 0)
        return false;
    *total = t;
    return true;
}

static struct jt_span trim(const char *body, size_t len)
{
    struct jt_span s = {body, len};
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\n' || s.p[0] == '\r' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    return s;
}

bool lister_page_valid(const char *body, size_t len)
{
    struct jt_span page = trim(body, len), jobs;
    long total;
    return jt_validate(body, len) && jt_type_of(page) == JT_OBJECT &&
           jt_object_get(page, "jobs", &jobs) && jt_type_of(jobs) == JT_ARRAY &&
           total_of(page, &total);
}

bool lister_job_valid(const char *body, size_t len)
{
    return jt_validate(body, len) && jt_type_of(trim(body, len)) == JT_OBJECT;
}

/* Logs a job that cannot be shown, once per id (or per text when it has none). */
static void log_bad_job(struct jt_span item, const char *why)
{
    struct jt_span idv;
    if (jt_type_of(item) == JT_OBJECT && jt_object_get(item, "job_id", &idv)) {
        if (log_once("badjob", idv.p, idv.len))
            log_warn("job %.*s left out: %s", (int)(idv.len > 300 ? 300 : idv.len), idv.p, why);
    } else if (log_once("badjob", item.p, item.len > 64 ? 64 : item.len)) {
        log_warn("list entry %.*s%s left out: %s", (int)(item.len > 64 ? 64 : item.len), item.p,
                 item.len > 64 ? "..." : "", why);
    }
}

struct merge {
    struct idmap ids; /* id -> index + 1 into jobs */
    struct job **jobs;
    size_t n, cap;
    size_t raw;       /* elements seen in this round, shown or not */
    size_t bad;       /* elements that cannot be shown, this round */
    size_t added;     /* ids new to the merge in this round */
};

/* One page's jobs, parsed as soon as the page arrived (while the others
 * are still in flight), then merged in page order. */
struct page {
    struct job **jobs;
    size_t n;
    size_t raw, bad;
    long total;       /* -1 when absent */
    int err;          /* the request failed, or out of memory */
    char errmsg[256];
};

static void parse_page(struct page *pg, const char *body, size_t len, time_t now)
{
    struct jt_span page = trim(body, len), jobs, item;
    struct jt_iter it;
    size_t cap = 0;
    if (!total_of(page, &pg->total))
        pg->total = -1;
    if (!jt_object_get(page, "jobs", &jobs) || !jt_array_begin(&it, jobs)) {
        pg->err = -EIO;
        return;
    }
    while (jt_array_next(&it, &item)) {
        struct job *j;
        char why[128];
        pg->raw++;
        int rc = job_parse(item.p, item.len, now, &j, why, sizeof why);
        if (rc == -ENOMEM) {
            pg->err = rc;
            return;
        }
        if (rc) {
            pg->bad++;
            log_bad_job(item, why);
            continue;
        }
        if (pg->n == cap) {
            cap = cap ? cap * 2 : 128;
            struct job **nj = realloc(pg->jobs, cap * sizeof *nj);
            if (!nj) {
                job_unref(j);
                pg->err = -ENOMEM;
                return;
            }
            pg->jobs = nj;
        }
        pg->jobs[pg->n++] = j;
    }
}

static void page_free(struct page *pg)
{
    for (size_t i = 0; i < pg->n; i++)
        job_unref(pg->jobs[i]);
    free(pg->jobs);
    pg->jobs = NULL;
    pg->n = 0;
}

/* Moves a page's jobs into the merge, in list order. */
static int merge_page(struct merge *m, struct page *pg)
{
    m->raw += pg->raw;
    m->bad += pg->bad;
    for (size_t i = 0; i < pg->n; i++) {
        struct job *j = pg->jobs[i];
        pg->jobs[i] = NULL;
        uintptr_t at = (uintptr_t)idmap_get(&m->ids, j->id, j->id_len);
        if (at) {
            /* later reads are newer: they win. The map's key points into
             * the job it replaces, so it is re-keyed first. */
            if (idmap_put(&m->ids, j->id, j->id_len, (void *)at)) {
                job_unref(j);
                return -ENOMEM;
            }
            job_unref(m->jobs[at - 1]);
            m->jobs[at - 1] = j;
            continue;
        }
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 128;
            struct job **nj = realloc(m->jobs, cap * sizeof *nj);
            if (!nj) {
                job_unref(j);
                return -ENOMEM;
            }
            m->jobs = nj;
            m->cap = cap;
        }
        m->jobs[m->n++] = j;
        m->added++;
        if (idmap_put(&m->ids, j->id, j->id_len, (void *)(uintptr_t)m->n))
            return -ENOMEM;
    }
    return 0;
}

struct parse_ctx {
    struct http_req *reqs;
    struct page *pages;
    time_t now;
};

static void on_page(struct http_req *r, void *arg)
{
    struct parse_ctx *pc = arg;
    struct page *pg = &pc->pages[r - pc->reqs];
    if (r->err) {
        pg->err = r->err;
        snprintf(pg->errmsg, sizeof pg->errmsg, "%s", r->errmsg);
    } else {
        parse_page(pg, r->body, r->len, pc->now);
    }
    http_req_clear(r); /* the body is not needed any more */
}

static char *page_url(const struct lister *l, const char *status, long offset)
{
    char *u = NULL;
    int rc;
    if (status)
        rc = asprintf(&u, "%s/scrape/jobs?status=%s&limit=%d&offset=%ld", l->api_url, status,
                      l->page_size, offset);
    else
        rc = asprintf(&u, "%s/scrape/jobs?limit=%d&offset=%ld", l->api_url, l->page_size, offset);
    return rc < 0 ? NULL : u;
}

/* Fetches pages [first, last) in parallel and merges them. *total_seen is
 * the total the API said (set by the first page, -1 before). */
static int fetch_pages(const struct lister *l, const char *status, long first, long last,
                       int64_t deadline, time_t now, struct merge *m, long *total_seen,
                       bool *total_changed, int *calls, char *err, size_t errlen)
{
    if (last <= first)
        return 0; /* an empty view has no pages after the first */
    size_t n = (size_t)(last - first);
    struct http_req *reqs = calloc(n, sizeof *reqs);
    struct page *pages = calloc(n, sizeof *pages);
    char **urls = calloc(n, sizeof *urls);
    int rc = 0;
    if (!reqs || !urls || !pages) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        urls[i] = page_url(l, status, (first + (long)i) * l->page_size);
        if (!urls[i]) {
            rc = -ENOMEM;
            goto out;
        }
        reqs[i].url = urls[i];
        reqs[i].kind = HTTP_LIST;
        reqs[i].valid = lister_page_valid;
    }
    struct parse_ctx pc = {.reqs = reqs, .pages = pages, .now = now};
    http_run_each(l->http, reqs, n, deadline, on_page, &pc);
    *calls += (int)n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct page *pg = &pages[i];
        if (pg->err) {
            rc = pg->err;
            snprintf(err, errlen, "list page at offset %ld: %s", (first + (long)i) * l->page_size,
                     pg->errmsg[0] ? pg->errmsg : strerror(-rc));
            break;
        }
        if (*total_seen < 0) {
            *total_seen = pg->total;
        } else if (pg->total != *total_seen) {
            *total_changed = true;
            if (pg->total > *total_seen)
                *total_seen = pg->total;
        }
        rc = merge_page(m, pg);
    }
out:
    for (size_t i = 0; pages && i < n; i++)
        page_free(&pages[i]);
    for (size_t i = 0; urls && i < n; i++)
        free(urls[i]);
    free(pages);
    free(reqs);
    free(urls);
    return rc;
}

int lister_fetch_view(const struct lister *l, const char *status, int64_t deadline, time_t now,
                      struct listing *out, char *err, size_t errlen)
{
    struct merge m = {0};
    long total = -1;
    int calls = 0, rc;
    memset(out, 0, sizeof *out);

    /* the first page tells how many there are */
    bool changed = false;
    rc = fetch_pages(l, status, 0, 1, deadline, now, &m, &total, &changed, &calls, err, errlen);
    if (rc)
        goto fail;
    if (total > LISTER_MAX_TOTAL) {
        snprintf(err, errlen, "implausible total of %ld jobs refused", total);
        rc = -EIO;
        goto fail;
    }
    long pages = (total + l->page_size - 1) / l->page_size;
    rc = fetch_pages(l, status, 1, pages, deadline, now, &m, &total, &changed, &calls, err, errlen);
    if (rc)
        goto fail;

    /* Drift: read everything again, merging, until a round adds nothing. */
    for (int round = 1; round < LISTER_MAX_ROUNDS; round++) {
        size_t distinct = m.n + m.bad;
        if (!changed && distinct >= (size_t)total)
            break;
        log_info("%s listing drifted while paging (total %ld, %zu distinct): reading again",
                 status ? status : "all", total, distinct);
        m.added = 0;
        m.raw = m.bad = 0;
        changed = false;
        if (total > LISTER_MAX_TOTAL)
            break;
        pages = (total + l->page_size - 1) / l->page_size;
        rc = fetch_pages(l, status, 0, pages, deadline, now, &m, &total, &changed, &calls, err,
                         errlen);
        if (rc)
            goto fail;
        if (m.added == 0 && !changed)
            break;
    }
    idmap_free(&m.ids);
    out->jobs = m.jobs;
    out->n = m.n;
    out->total = total;
    out->pages = calls;
    return 0;
fail:
    idmap_free(&m.ids);
    for (size_t i = 0; i < m.n; i++)
        job_unref(m.jobs[i]);
    free(m.jobs);
    return rc;
}

void listing_free(struct listing *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        job_unref(ls->jobs[i]);
    free(ls->jobs);
    memset(ls, 0, sizeof *ls);
}

int lister_fetch_job(const struct lister *l, const char *id, size_t idlen, int64_t deadline,
                     time_t now, struct job **out, char *err, size_t errlen)
{
    struct buf u = {0};
    buf_put(&u, l->api_url, strlen(l->api_url));
    buf_put(&u, "/scrape/jobs/", 13);
    /* "." and ".." are path segments any URL handling would resolve */
    if ((idlen == 1 && id[0] == '.') || (idlen == 2 && id[0] == '.' && id[1] == '.'))
        buf_put(&u, "%2E%2E", idlen * 3);
    else
        http_escape(&u, id, idlen);
    buf_putc(&u, '\0');
    if (u.oom) {
        buf_free(&u);
        return -ENOMEM;
    }
    struct http_req r = {.url = u.p, .kind = HTTP_DETAIL, .valid = lister_job_valid};
    http_run(l->http, &r, 1, deadline);
    buf_free(&u);
    int rc = r.err;
    if (rc) {
        snprintf(err, errlen, "%s", r.errmsg);
        http_req_clear(&r);
        return rc;
    }
    struct jt_span body = trim(r.body, r.len);
    char why[128];
    rc = job_parse(body.p, body.len, now, out, why, sizeof why);
    http_req_clear(&r);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "the API answered with %s", why);
        return -EIO;
    }
    if (rc == 0 && ((*out)->id_len != idlen || memcmp((*out)->id, id, idlen) != 0)) {
        job_unref(*out);
        *out = NULL;
        snprintf(err, errlen, "the API answered with another job's id");
        return -EIO;
    }
    return rc;
}
