/* The API as a source (lister.h): list pages and single jobs through the
 * HTTP client, each parsed in the calling thread as soon as it arrives. */
#include "lister.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "page.h"

/* Logs an element that cannot be shown, once per id (or per text when it
 * has none). */
static void log_bad_job(const struct page_job *pj, const char *why)
{
    struct jt_span idv = pj->field[PF_JOB_ID], t = pj->text;
    if (idv.len) {
        if (log_once("badjob", idv.p, idv.len))
            log_warn("job %.*s left out: %s", (int)(idv.len > 300 ? 300 : idv.len), idv.p, why);
    } else if (log_once("badjob", t.p, t.len > 64 ? 64 : t.len)) {
        log_warn("list entry %.*s%s left out: %s", (int)(t.len > 64 ? 64 : t.len), t.p,
                 t.len > 64 ? "..." : "", why);
    }
}

struct fetch {
    struct http_req *reqs;
    const long *offsets;
    struct page_sink *sink;
    time_t now;
    int err;           /* the first failure */
    char errmsg[320];
};

static void fail(struct fetch *f, int err, long offset, const char *msg)
{
    if (f->err)
        return;
    f->err = err;
    snprintf(f->errmsg, sizeof f->errmsg, "list page at offset %ld: %s", offset, msg);
}

/* A page arrived (or failed for good): parse it, build its jobs, hand them
 * over. A body that is no list page is malformed: http retries it. */
static int on_page(struct http_req *r, void *arg)
{
    struct fetch *f = arg;
    long offset = f->offsets[r - f->reqs];
    if (r->err) {
        fail(f, r->err, offset, r->errmsg);
        return 0;
    }
    struct page pg;
    int rc = page_parse(r->body, r->len, &pg);
    if (rc == -EBADMSG)
        return rc;
    struct job **jobs = rc ? NULL : malloc((pg.n ? pg.n : 1) * sizeof *jobs);
    size_t n = 0;
    if (!rc && !jobs)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < pg.n; i++) {
        char why[128];
        int jr = job_new(&pg.jobs[i], f->now, &jobs[n], why, sizeof why);
        if (jr == -EINVAL) {
            log_bad_job(&pg.jobs[i], why);
            jr = job_new_bad(&pg.jobs[i], &jobs[n]); /* it keeps its place */
        }
        if (jr == 0)
            n++;
        else
            rc = jr;
    }
    if (rc == 0 && pg.total > SOURCE_MAX_TOTAL) {
        char msg[64];
        snprintf(msg, sizeof msg, "implausible total of %ld jobs refused", pg.total);
        fail(f, -EIO, offset, msg);
    } else if (rc == 0 && !f->err) {
        rc = f->sink->page(f->sink, offset, jobs, n, pg.total);
        n = 0; /* the sink's now */
    }
    for (size_t i = 0; i < n; i++)
        job_unref(jobs[i]);
    free(jobs);
    page_free(&pg);
    http_req_clear(r); /* the body is not needed any more */
    if (rc)
        fail(f, rc, offset, strerror(-rc));
    return 0;
}

char *lister_page_url(const char *api_url, const char *status, int limit, long offset)
{
    char *u = NULL;
    int rc;
    if (status)
        rc = asprintf(&u, "%s/scrape/jobs?status=%s&limit=%d&offset=%ld", api_url, status, limit,
                      offset);
    else
        rc = asprintf(&u, "%s/scrape/jobs?limit=%d&offset=%ld", api_url, limit, offset);
    return rc < 0 ? NULL : u;
}

static int http_pages(void *ctx, const struct source_call *call, const char *status,
                      const long *offsets, size_t n, struct page_sink *sink)
{
    struct lister *l = ctx;
    char *err = call->err;
    size_t errlen = call->errlen;
    err[0] = '\0';
    if (n == 0)
        return 0;
    struct http_req *reqs = calloc(n, sizeof *reqs);
    char **urls = calloc(n, sizeof *urls);
    int rc = 0;
    if (!reqs || !urls) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(urls[i] = lister_page_url(l->api_url, status, l->page_size, offsets[i]))) {
            rc = -ENOMEM;
            goto out;
        }
        reqs[i].url = urls[i];
        reqs[i].kind = HTTP_LIST;
    }
    struct fetch f = {.reqs = reqs, .offsets = offsets, .sink = sink, .now = call->now};
    http_run_each(l->http, reqs, n, call->deadline, on_page, &f);
    rc = f.err;
    if (rc)
        snprintf(err, errlen, "%s", f.errmsg);
out:
    for (size_t i = 0; reqs && i < n; i++)
        http_req_clear(&reqs[i]);
    for (size_t i = 0; urls && i < n; i++)
        free(urls[i]);
    free(reqs);
    free(urls);
    if (rc == -ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* The URL of one job: "." and ".." are path segments any URL handling would
 * resolve, so they are escaped too. NULL when out of memory. */
static char *job_url(const struct lister *l, const char *id, size_t idlen)
{
    struct buf u = {0};
    buf_put(&u, l->api_url, strlen(l->api_url));
    buf_put(&u, "/scrape/jobs/", 13);
    if ((idlen == 1 && id[0] == '.') || (idlen == 2 && id[0] == '.' && id[1] == '.'))
        buf_put(&u, "%2E%2E", idlen * 3);
    else
        http_escape(&u, id, idlen);
    buf_putc(&u, '\0');
    if (u.oom) {
        buf_free(&u);
        return NULL;
    }
    return u.p;
}

struct detail {
    struct job *job;
    time_t now;
    int err;
    char why[128];
};

static int on_detail(struct http_req *r, void *arg)
{
    struct detail *d = arg;
    if (r->err)
        return 0;
    struct page_job pj;
    if (page_parse_job(r->body, r->len, &pj) != 0)
        return -EBADMSG;
    d->err = job_new(&pj, d->now, &d->job, d->why, sizeof d->why);
    return 0;
}

static int http_job(void *ctx, const struct source_call *call, const char *id, size_t idlen,
                    struct job **out)
{
    struct lister *l = ctx;
    char *err = call->err;
    size_t errlen = call->errlen;
    char *u = job_url(l, id, idlen);
    if (!u)
        return -ENOMEM;
    struct http_req r = {.url = u, .kind = HTTP_DETAIL};
    struct detail d = {.now = call->now};
    http_run_each(l->http, &r, 1, call->deadline, on_detail, &d);
    free(u);
    int rc = r.err ? r.err : d.err;
    if (r.err)
        snprintf(err, errlen, "%s", r.errmsg);
    http_req_clear(&r);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "the API answered with %s", d.why);
        return -EIO;
    }
    if (rc) {
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (d.job->id_len != idlen || memcmp(d.job->id, id, idlen) != 0) {
        job_unref(d.job);
        snprintf(err, errlen, "the API answered with another job's id");
        return -EIO;
    }
    *out = d.job;
    return 0;
}

static const struct source_ops http_source_ops = {.pages = http_pages, .job = http_job};

struct source lister_source(struct lister *l)
{
    return (struct source){.ops = &http_source_ops, .ctx = l, .page_size = l->page_size};
}
