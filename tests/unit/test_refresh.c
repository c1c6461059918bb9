/* The cheap refresh (refresh_delta) against a list in memory, in both
 * orders: what it costs when little changed, and every check that sends a
 * view to a full read (-EAGAIN) when it cannot take a change on trust. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "entry.h"
#include "job.h"
#include "refresh.h"

#define MAXJ 400

/* The API: jobs newest first; `oldest` lists them the other way round. */
struct api {
    struct {
        char id[32];
        int64_t created; /* seconds; -1: no parsable created_at */
        int status;
        bool gone;       /* a detail call answers 404 */
        bool bad;        /* listed as an element that cannot be shown */
    } j[MAXJ];
    size_t n;
    bool oldest;
    int page_size;
    int list_calls, detail_calls;
    long total_bump; /* added to the total of every page after the first */
    int served;
};

static const char *status_name(int st)
{
    return st < JOB_NSTATUS ? job_status_names[st] : "archived";
}

static struct job *make_job(const struct api *a, size_t i)
{
    char text[256], when[32];
    if (a->j[i].created < 0) {
        snprintf(when, sizeof when, "not a time");
    } else {
        time_t t = (time_t)a->j[i].created;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    int n = snprintf(text, sizeof text, "{\"job_id\":\"%s\",\"status\":\"%s\",\"created_at\":\"%s\"}",
                     a->j[i].id, status_name(a->j[i].status), when);
    struct job *j = NULL;
    char why[128];
    if (job_parse(text, (size_t)n, 0, &j, why, sizeof why) != 0)
        return NULL;
    return j;
}

static int api_pages(void *ctx, const char *status, const long *offsets, size_t n,
                     int64_t deadline, time_t now, struct page_sink *sink, char *err,
                     size_t errlen)
{
    (void)deadline, (void)now, (void)err, (void)errlen;
    struct api *a = ctx;
    for (size_t p = 0; p < n; p++) {
        size_t idx[MAXJ], m = 0;
        for (size_t i = 0; i < a->n; i++) {
            size_t k = a->oldest ? a->n - 1 - i : i;
            if (!status || strcmp(status, status_name(a->j[k].status)) == 0)
                idx[m++] = k;
        }
        struct job *jobs[100];
        size_t got = 0, bad = 0;
        for (long o = offsets[p]; o < (long)m && got + bad < (size_t)a->page_size; o++) {
            if (a->j[idx[o]].bad)
                bad++;
            else
                jobs[got++] = make_job(a, idx[o]);
        }
        a->list_calls++;
        long total = (long)m + (a->served++ ? a->total_bump : 0);
        int rc = sink->page(sink, offsets[p], jobs, got, bad, total);
        if (rc)
            return rc;
    }
    return 0;
}

static int api_job(void *ctx, const char *id, size_t len, int64_t deadline, time_t now,
                   struct job **out, char *err, size_t errlen)
{
    (void)ctx, (void)id, (void)len, (void)deadline, (void)now, (void)out, (void)err,
        (void)errlen;
    return -ENOSYS;
}

static int api_jobs(void *ctx, const struct job_id *ids, size_t n, int64_t deadline, time_t now,
                    struct page_sink *sink, char *err, size_t errlen)
{
    (void)deadline, (void)now, (void)err, (void)errlen;
    struct api *a = ctx;
    for (size_t k = 0; k < n; k++) {
        a->detail_calls++;
        struct job *j = NULL;
        for (size_t i = 0; i < a->n; i++)
            if (strlen(a->j[i].id) == ids[k].len && memcmp(a->j[i].id, ids[k].id, ids[k].len) == 0)
                j = a->j[i].gone ? NULL : make_job(a, i);
        int rc = sink->job(sink, k, j, j ? 0 : -ENOENT);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct source_ops api_ops = {.pages = api_pages, .job = api_job, .jobs = api_jobs};

/* The cache's side: one entry per id, kept in a table. */
struct table {
    struct install in; /* first */
    struct entry *e[MAXJ];
    size_t n;
};

static struct entry *entry_of(struct table *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i]->id, id) == 0)
            return t->e[i];
    size_t len = strlen(id);
    struct entry *e = calloc(1, sizeof *e + len + 1);
    memcpy(e->id, id, len + 1);
    e->id_len = (uint16_t)len;
    e->seq = (uint32_t)(t->n + 1);
    t->e[t->n++] = e;
    return e;
}

static int table_jobs(struct install *in, struct job **jobs, size_t n, struct member *out,
                      size_t *nout)
{
    struct table *t = (struct table *)in;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = entry_of(t, jobs[i]->id);
        e->created_ok = jobs[i]->created_ok;
        e->created_us = jobs[i]->created_us;
        e->meta.status = jobs[i]->status;
        out[i] = (struct member){.e = e, .created_us = e->created_us,
                                 .created_ok = e->created_ok, .status = e->meta.status};
        job_unref(jobs[i]);
    }
    *nout = n;
    return 0;
}

struct env {
    struct api a;
    struct table t;
    struct source src;
    struct member prev[MAXJ];
    struct delta d;
};

static void env_init(struct env *e, size_t n, int page_size, bool oldest)
{
    memset(e, 0, sizeof *e);
    e->a.page_size = page_size;
    e->a.oldest = oldest;
    for (size_t i = 0; i < n; i++) {
        snprintf(e->a.j[i].id, sizeof e->a.j[i].id, "job-%03zu", i);
        e->a.j[i].created = 1700000000 - (int64_t)i * 60;
        e->a.j[i].status = ST_COMPLETED;
    }
    e->a.n = n;
    e->t.in.jobs = table_jobs;
    e->src = (struct source){.ops = &api_ops, .ctx = &e->a, .page_size = page_size};
}

static void env_free(struct env *e)
{
    for (size_t i = 0; i < e->t.n; i++)
        free(e->t.e[i]);
}

/* A full read, which becomes prev. */
static void read_full(struct env *e, const char *status)
{
    struct listing ls;
    char err[256] = "";
    CHECK_INT(refresh_full(&e->src, status, 0, 0, &e->t.in, &ls, err, sizeof err), 0);
    memcpy(e->prev, ls.items, ls.n * sizeof *ls.items);
    e->d = (struct delta){.prev = e->prev, .nprev = ls.n, .prev_bad = (size_t)ls.total - ls.n,
                          .order = refresh_order(ls.items, ls.n)};
    CHECK_INT(e->d.order, e->a.oldest ? ORDER_OLDEST : ORDER_NEWEST);
    listing_free(&ls);
    e->a.list_calls = e->a.detail_calls = 0;
    e->a.served = 0;
}

/* Adds a new newest job. */
static void create(struct env *e, const char *id, int status)
{
    memmove(&e->a.j[1], &e->a.j[0], e->a.n * sizeof e->a.j[0]);
    memset(&e->a.j[0], 0, sizeof e->a.j[0]);
    snprintf(e->a.j[0].id, sizeof e->a.j[0].id, "%s", id);
    e->a.j[0].created = e->a.j[1].created + 60;
    e->a.j[0].status = status;
    e->a.n++;
}

static void delete(struct env *e, size_t i)
{
    memmove(&e->a.j[i], &e->a.j[i + 1], (e->a.n - i - 1) * sizeof e->a.j[0]);
    e->a.n--;
}

/* refresh_delta; on success the listing must be what the API lists. */
static int delta(struct env *e, const char *status, int line)
{
    struct listing ls;
    char why[256] = "";
    e->a.served = 0;
    int rc = refresh_delta(&e->src, status, &e->d, 0, 0, &e->t.in, &ls, why, sizeof why);
    if (rc == 0) {
        size_t m = 0;
        for (size_t i = 0; i < e->a.n; i++) {
            size_t k = e->a.oldest ? e->a.n - 1 - i : i;
            if ((status && strcmp(status, status_name(e->a.j[k].status)) != 0) || e->a.j[k].bad)
                continue;
            if (m >= ls.n || strcmp(ls.items[m].e->id, e->a.j[k].id) != 0) {
                check_fail_begin(__FILE__, line, "the cheap refresh's listing differs from the API's");
                fprintf(stderr, "    at %zu: %s, want %s\n", m,
                        m < ls.n ? ls.items[m].e->id : "(end)", e->a.j[k].id);
                break;
            }
            m++;
        }
        if (m != ls.n)
            check_fail_begin(__FILE__, line, "the cheap refresh listed more than the API");
        listing_free(&ls);
    } else if (rc == -EAGAIN && !why[0]) {
        check_fail_begin(__FILE__, line, "-EAGAIN without a reason");
    }
    return rc;
}
#define DELTA(e, status) delta((e), (status), __LINE__)

static void test_order(void)
{
    struct member m[4] = {{.created_ok = true, .created_us = 4}, {.created_ok = true, .created_us = 4},
                          {.created_ok = true, .created_us = 2}, {.created_ok = true, .created_us = 1}};
    CHECK_INT(refresh_order(m, 4), ORDER_NEWEST);
    struct member r[3] = {{.created_ok = true, .created_us = 1}, {.created_ok = true, .created_us = 2},
                          {.created_ok = true, .created_us = 2}};
    CHECK_INT(refresh_order(r, 3), ORDER_OLDEST);
    struct member mixed[3] = {{.created_ok = true, .created_us = 1}, {.created_ok = true, .created_us = 3},
                              {.created_ok = true, .created_us = 2}};
    CHECK_INT(refresh_order(mixed, 3), ORDER_UNKNOWN);
    struct member flat[2] = {{.created_ok = true, .created_us = 5}, {.created_ok = true, .created_us = 5}};
    CHECK_INT(refresh_order(flat, 2), ORDER_UNKNOWN); /* cannot tell */
    CHECK_INT(refresh_order(m, 1), ORDER_UNKNOWN);
    m[2].created_ok = false;
    CHECK_INT(refresh_order(m, 4), ORDER_UNKNOWN);
}

/* Nothing changed: one request, in either order. */
static void test_nothing_changed(void)
{
    for (int oldest = 0; oldest < 2; oldest++) {
        struct env e;
        env_init(&e, 57, 10, oldest);
        read_full(&e, NULL);
        CHECK_INT(DELTA(&e, NULL), 0);
        CHECK_INT(e.a.list_calls, 1);
        env_free(&e);
    }
}

/* k new jobs cost 1 + ceil(k / page_size) at most, in either order. */
static void test_new_jobs(void)
{
    static const int ks[] = {1, 9, 10, 11, 25};
    for (int oldest = 0; oldest < 2; oldest++)
        for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
            struct env e;
            env_init(&e, 80, 10, oldest);
            read_full(&e, NULL);
            for (int i = 0; i < ks[t]; i++) {
                char id[32];
                snprintf(id, sizeof id, "new-%02d", i);
                create(&e, id, ST_COMPLETED);
            }
            CHECK_INT(DELTA(&e, NULL), 0);
            if (!CHECK(e.a.list_calls <= 1 + (ks[t] + 9) / 10))
                fprintf(stderr, "    %d new (%s first): %d list calls\n", ks[t],
                        oldest ? "oldest" : "newest", e.a.list_calls);
            env_free(&e);
        }
}

/* A status view: new jobs of other statuses are not its business. */
static void test_status_view(void)
{
    struct env e;
    env_init(&e, 40, 5, false);
    for (size_t i = 0; i < e.a.n; i += 3)
        e.a.j[i].status = ST_FAILED;
    read_full(&e, "completed");
    create(&e, "new-failed", ST_FAILED);
    create(&e, "new-done", ST_COMPLETED);
    CHECK_INT(DELTA(&e, "completed"), 0);
    CHECK_INT(e.a.list_calls, 1);
    env_free(&e);
}

/* Each change the cheap path cannot explain: -EAGAIN, in either order. */
static void test_checks(void)
{
    for (int oldest = 0; oldest < 2; oldest++) {
        struct env e;

        /* a deletion deep in the view: only the totals can tell */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        delete(&e, 30);
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* a deletion and a creation: the totals add up, the boundary not */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        delete(&e, 30);
        create(&e, "new", ST_COMPLETED);
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* the newest known job deleted */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        delete(&e, 0);
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* the API's order turned round */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        e.a.oldest = !oldest;
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* a job that moved in unseen (deep down: created long ago) */
        env_init(&e, 60, 10, oldest);
        for (size_t i = 0; i < e.a.n; i += 4)
            e.a.j[i].status = ST_PROCESSING;
        read_full(&e, "completed");
        e.a.j[40].status = ST_COMPLETED;
        CHECK_INT(DELTA(&e, "completed"), -EAGAIN);
        env_free(&e);

        /* a new job older than the newest known (backdated) */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        create(&e, "backdated", ST_COMPLETED);
        e.a.j[0].created = e.a.j[5].created - 1;
        { /* keep the API's own order: by created_at */
            __typeof__(e.a.j[0]) b = e.a.j[0];
            memmove(&e.a.j[0], &e.a.j[1], 5 * sizeof b);
            e.a.j[5] = b;
        }
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* the total moved while paging (many new: several pages) */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        for (int i = 0; i < 15; i++) {
            char id[32];
            snprintf(id, sizeof id, "new-%02d", i);
            create(&e, id, ST_COMPLETED);
        }
        e.a.total_bump = 1;
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* a job without a readable created_at on a re-read page */
        env_init(&e, 60, 10, oldest);
        read_full(&e, NULL);
        create(&e, "no-time", ST_COMPLETED);
        e.a.j[0].created = -1;
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* more than half the view is new: a full read costs less */
        env_init(&e, 30, 10, oldest);
        read_full(&e, NULL);
        for (int i = 0; i < 40; i++) {
            char id[32];
            snprintf(id, sizeof id, "new-%02d", i);
            create(&e, id, ST_COMPLETED);
        }
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        CHECK(e.a.list_calls <= 4);
        env_free(&e);
    }
}

/* check_unfinished: the unfinished jobs no re-read page covered are looked
 * at again: two or more within a page's reach by re-reading that page (it
 * must hold the known jobs in the same order), a lone one by a detail call;
 * a 404 is a deletion; too many requests, and a full read is cheaper before
 * any request. */
static void test_unfinished(void)
{
    for (int oldest = 0; oldest < 2; oldest++) {
        struct env e;
        size_t deep = oldest ? 10 : 85; /* far from the newest end either way */

        /* two unfinished jobs close together: one page re-read */
        env_init(&e, 100, 10, oldest);
        e.a.j[deep].status = ST_PROCESSING;
        e.a.j[deep + 3].status = ST_PENDING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        e.a.j[deep].status = ST_COMPLETED; /* moved on, unseen by the newest pages */
        e.a.j[deep + 3].status = ST_FAILED;
        create(&e, "new-1", ST_COMPLETED);
        CHECK_INT(DELTA(&e, NULL), 0);
        CHECK_INT(e.a.list_calls, 2);
        CHECK_INT(e.a.detail_calls, 0);
        CHECK_INT(entry_of(&e.t, e.a.j[deep + 1].id)->meta.status, ST_COMPLETED);
        CHECK_INT(entry_of(&e.t, e.a.j[deep + 4].id)->meta.status, ST_FAILED);
        env_free(&e);

        /* one alone: a detail call; what it learned goes in */
        env_init(&e, 100, 10, oldest);
        e.a.j[deep].status = ST_PROCESSING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        e.a.j[deep].status = ST_COMPLETED;
        CHECK_INT(DELTA(&e, NULL), 0);
        CHECK_INT(e.a.list_calls, 1);
        CHECK_INT(e.a.detail_calls, 1);
        CHECK_INT(entry_of(&e.t, e.a.j[deep].id)->meta.status, ST_COMPLETED);
        env_free(&e);

        /* a lone one deleted: the 404 tells */
        env_init(&e, 100, 10, oldest);
        e.a.j[deep].status = ST_PROCESSING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        e.a.j[deep].gone = true;
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* the re-read page does not hold the known jobs in order: two jobs
         * swapped places (same total, same created_at order is not checked
         * here: only identity and position) */
        env_init(&e, 100, 10, oldest);
        e.a.j[deep].status = ST_PROCESSING;
        e.a.j[deep + 2].status = ST_PENDING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        char tmp[32];
        memcpy(tmp, e.a.j[deep + 1].id, sizeof tmp);
        memcpy(e.a.j[deep + 1].id, e.a.j[deep + 2].id, sizeof tmp);
        memcpy(e.a.j[deep + 2].id, tmp, sizeof tmp);
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        env_free(&e);

        /* an element that cannot be shown: offsets cannot be trusted, so
         * the unfinished jobs are fetched one by one */
        env_init(&e, 100, 10, oldest);
        e.a.j[50].bad = true;
        e.a.j[deep].status = ST_PROCESSING;
        e.a.j[deep + 1].status = ST_PENDING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        CHECK_INT((int)e.d.prev_bad, 1);
        CHECK_INT(DELTA(&e, NULL), 0);
        CHECK_INT(e.a.detail_calls, 2);
        env_free(&e);

        /* unfinished everywhere: a full read is cheaper, nothing is sent */
        env_init(&e, 100, 10, oldest);
        for (size_t i = 0; i < e.a.n; i += 2)
            e.a.j[i].status = ST_PENDING;
        read_full(&e, NULL);
        e.d.check_unfinished = true;
        CHECK_INT(DELTA(&e, NULL), -EAGAIN);
        CHECK_INT(e.a.list_calls + e.a.detail_calls, 0);
        env_free(&e);
    }
}

int main(void)
{
    test_order();
    test_nothing_changed();
    test_new_jobs();
    test_status_view();
    test_checks();
    test_unfinished();
    return check_done("test_refresh");
}
