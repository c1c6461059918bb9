/* The cache against a fake API (fake_source.h), with no network and a fake
 * clock: freshness, single flight, failures and their pause, stale-if-error,
 * eviction, versions, refreshes asked for during a fetch, offset drift, 404s
 * and the group views.
 *
 * Time: the cache's clock is g_now, moved by hand, so ttl and the failure
 * pause are exact. Waiting for another thread's fetch uses real time
 * (bounded by timeout_s), so the concurrent tests hold a fetch at the fake's
 * gate and open it once every other thread is known to be waiting.
 *
 * Knowing a thread waits: a worker thread counts itself in g_probed the first
 * time it reads the clock. Each operation that can wait for a flight reads
 * the clock with the cache's mutex held and keeps holding it until it waits
 * for the flight (which releases it), so once every worker counted itself,
 * any call that takes the mutex (cache_get_stats) returns only when every
 * worker is either waiting or done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "check.h"
#include "fake_source.h"
#include "job.h"
#include "log.h"

#define TTL_S 10
#define TTL_MS (TTL_S * 1000)
#define PAUSE_MS 2000 /* the cache's pause after a failure (or ttl, if shorter) */
#define CROWD 6       /* threads that want the same thing at once */
#define MAXREC 64

/* ---- the fake clock ---- */

static _Atomic int64_t g_now;
static atomic_int g_probed;
static _Thread_local bool tl_probe, tl_seen;

static int64_t fake_clock(void)
{
    if (tl_probe && !tl_seen) {
        tl_seen = true;
        atomic_fetch_add(&g_probed, 1);
    }
    return atomic_load(&g_now);
}

static void advance(int64_t ms)
{
    atomic_fetch_add(&g_now, ms);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a cache over a fake ---- */

struct env {
    struct fake f;
    struct cache *c;
};

static void env_init(struct env *e, int page_size, int ttl_s, size_t cap)
{
    atomic_store(&g_now, 1000000);
    fake_init(&e->f, page_size);
    struct cache_config cfg = {.ttl_s = ttl_s, .timeout_s = 5, .cap_bytes = cap,
                               .clock_ms = fake_clock};
    struct source src = fake_source(&e->f);
    e->c = NULL;
    if (cache_new(&cfg, &src, &e->c) != 0 || !e->c) {
        fprintf(stderr, "cache_new failed\n");
        exit(2);
    }
}

static void env_free(struct env *e)
{
    cache_free(e->c);
    fake_destroy(&e->f);
}

static int window(struct env *e, int v, bool refresh, struct cache_rec *recs, size_t *n)
{
    struct view_info info;
    return cache_view_window(e->c, v, refresh, 0, recs, MAXREC, n, &info);
}

static int list_calls(struct env *e)
{
    return fake_counts(&e->f).list_calls;
}

static int detail_calls(struct env *e)
{
    return fake_counts(&e->f).detail_calls;
}

/* The record of id among recs[0..n), or NULL. */
static const struct cache_rec *rec_of(const struct cache_rec *recs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (recs[i].id_len == strlen(id) && memcmp(recs[i].id, id, recs[i].id_len) == 0)
            return &recs[i];
    return NULL;
}

/* recs[0..n) must be exactly ids[0..nids), in that order. */
static void check_ids_at(int line, const struct cache_rec *recs, size_t n, char (*ids)[32],
                         size_t nids)
{
    check_int((long long)n, (long long)nids, __FILE__, line, "records", "expected ids");
    for (size_t i = 0; i < n && i < nids; i++)
        if (!check_mem(recs[i].id, recs[i].id_len, ids[i], strlen(ids[i]), __FILE__, line,
                       "recs[i].id", "ids[i]")) {
            fprintf(stderr, "    (at position %zu)\n", i);
            break;
        }
}
#define CHECK_IDS(recs, n, ids, nids) check_ids_at(__LINE__, (recs), (n), (ids), (nids))

/* recs[0..n) must be view `status`'s jobs in the model (-1: all), in order. */
static void check_model_at(int line, struct env *e, int status, const struct cache_rec *recs,
                           size_t n)
{
    char ids[MAXREC][32];
    size_t k = fake_ids(&e->f, status, ids, MAXREC);
    check_ids_at(line, recs, n, ids, k);
}
#define CHECK_MODEL(e, status, recs, n) check_model_at(__LINE__, (e), (status), (recs), (n))

/* Every id of ids[0..nids) is in recs[0..n) exactly once. */
static void check_each_once_at(int line, const struct cache_rec *recs, size_t n,
                               char (*ids)[32], size_t nids)
{
    for (size_t i = 0; i < nids; i++) {
        int seen = 0;
        for (size_t k = 0; k < n; k++)
            seen += recs[k].id_len == strlen(ids[i]) &&
                    memcmp(recs[k].id, ids[i], recs[k].id_len) == 0;
        if (!check_int(seen, 1, __FILE__, line, "times listed", "1"))
            fprintf(stderr, "    (id %s)\n", ids[i]);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (!check_int(recs[i].seq == recs[k].seq, 0, __FILE__, line, "listed twice", "0"))
                fprintf(stderr, "    (id %.*s)\n", (int)recs[i].id_len, recs[i].id);
}

/* The job's text holds `"rev":rev`. */
static bool has_rev(const struct job *j, int rev)
{
    char want[32];
    snprintf(want, sizeof want, "\"rev\":%d}", rev);
    return j && memmem(j->text, j->text_len, want, strlen(want)) != NULL;
}

static long ceil_div(long a, long b)
{
    return (a + b - 1) / b;
}

/* ---- crowds: many threads wanting the same thing ---- */

enum op { OP_WINDOW, OP_JOB, OP_LOOKUP };

struct worker {
    pthread_t t;
    struct cache *c;
    enum op op;
    int v;
    uint32_t seq;
    const char *id;
    int rc;
    size_t n;
    struct cache_rec recs[MAXREC];
    struct job *job;
    double fresh;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    tl_probe = true;
    struct view_info info;
    switch (w->op) {
    case OP_WINDOW:
        w->rc = cache_view_window(w->c, w->v, true, 0, w->recs, MAXREC, &w->n, &info);
        break;
    case OP_JOB:
        w->rc = cache_job(w->c, w->seq, true, &w->recs[0], &w->fresh, &w->job);
        w->n = w->rc == 0;
        break;
    case OP_LOOKUP:
        w->rc = cache_lookup(w->c, VIEW_ALL, w->id, strlen(w->id), &w->recs[0], &w->fresh);
        w->n = w->rc == 0;
        break;
    }
    return NULL;
}

static bool wait_probed(int k)
{
    for (int i = 0; i < 20000 && atomic_load(&g_probed) < k; i++)
        sleep_ms(1);
    return atomic_load(&g_probed) >= k;
}

/* Starts k workers (w[i] filled in but for c) while the gate holds the
 * first call to the source; opens it once all of them wait; joins them.
 * Returns the stats from before the gate opened. */
static struct cache_stats crowd(struct env *e, struct worker *w, int k)
{
    struct cache_stats st;
    atomic_store(&g_probed, 0);
    fake_gate_hold(&e->f, 1);
    for (int i = 0; i < k; i++) {
        w[i].c = e->c;
        w[i].job = NULL;
        if (pthread_create(&w[i].t, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(2);
        }
    }
    CHECK(fake_gate_wait(&e->f, 1)); /* the leader holds a fetch */
    CHECK(wait_probed(k));           /* everyone came... */
    cache_get_stats(e->c, &st);      /* ...and waits (see the top of the file) */
    fake_gate_open(&e->f);
    for (int i = 0; i < k; i++)
        pthread_join(w[i].t, NULL);
    return st;
}

/* ---- 1. freshness and the cost of a cold window ---- */

static void test_cold_window_costs_ceil_n_over_page_size(void)
{
    static const size_t sizes[] = {0, 1, 4, 5, 6, 10, 13};
    const int ps = 5;
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        size_t n_jobs = sizes[t];
        struct env e;
        env_init(&e, ps, TTL_S, 64 << 20);
        fake_fill(&e.f, "j", n_jobs, ST_PROCESSING);
        struct cache_rec recs[MAXREC];
        size_t n = 99;
        struct view_info info;

        /* the first page is always read: it tells the total */
        long want = n_jobs ? ceil_div((long)n_jobs, ps) : 1;
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(list_calls(&e), want);
        CHECK_INT(fake_counts(&e.f).pages_calls, n_jobs > (size_t)ps ? 2 : 1);
        CHECK_INT(detail_calls(&e), 0);
        for (size_t i = 0; i < n; i++) {
            CHECK_INT(recs[i].seq, i + 1); /* sequence numbers in order of arrival */
            CHECK_INT(recs[i].meta.status, ST_PROCESSING);
            CHECK(!recs[i].meta.final);
        }

        /* within ttl: free, even with refresh */
        advance(TTL_MS - 1);
        CHECK_INT(cache_view_window(e.c, VIEW_ALL, true, 0, recs, MAXREC, &n, &info), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK(info.fresh_s > 0.0005 && info.fresh_s < 0.0015); /* 1 ms left */
        CHECK_INT(cache_view_info(e.c, VIEW_ALL, true, &info), 0);
        CHECK_INT(list_calls(&e), want);

        /* past ttl: without refresh still free (and the same listing) */
        advance(1);
        fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
        CHECK_INT(cache_view_window(e.c, VIEW_ALL, false, 0, recs, MAXREC, &n, &info), 0);
        CHECK_INT(n, n_jobs);
        CHECK(rec_of(recs, n, "newer") == NULL);
        CHECK(info.fresh_s == 0);
        CHECK_INT(cache_view_info(e.c, VIEW_ALL, false, &info), 0);
        CHECK_INT(list_calls(&e), want);

        /* with refresh: read again, every page of the new total */
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(n, n_jobs + 1);
        CHECK_INT(list_calls(&e), want + ceil_div((long)n_jobs + 1, ps));
        CHECK_INT(detail_calls(&e), 0);
        env_free(&e);
    }
}

static void test_status_views_and_windows(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 12, ST_COMPLETED);
    static const int st[12] = {ST_PENDING,   ST_COMPLETED, ST_PENDING,    ST_COMPLETED,
                               ST_FAILED,    ST_COMPLETED, ST_COMPLETED,  ST_CANCELLED,
                               ST_COMPLETED, ST_PENDING,   ST_COMPLETED,  ST_COMPLETED};
    for (int i = 0; i < 12; i++) {
        char id[32];
        snprintf(id, sizeof id, "j-%03d", i);
        fake_update(&e.f, id, st[i], 1);
    }
    struct cache_rec recs[MAXREC];
    size_t n;
    struct view_info info;

    /* completed: 7 jobs, 3 pages of the completed list call, nothing else */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_COMPLETED, true, recs, &n), 0);
    CHECK_MODEL(&e, ST_COMPLETED, recs, n);
    CHECK_INT(n, 7);
    struct fake_counts fc = fake_counts(&e.f);
    CHECK_INT(fc.list_by_view[1 + ST_COMPLETED], 3);
    CHECK_INT(fc.list_calls, 3);
    for (size_t i = 0; i < n; i++)
        CHECK(recs[i].meta.final && recs[i].meta.status == ST_COMPLETED);

    /* a window is a slice of the listing */
    CHECK_INT(cache_view_window(e.c, VIEW_STATUS0 + ST_COMPLETED, true, 2, recs, 3, &n, &info),
              0);
    CHECK_INT(n, 3);
    CHECK_MEM(recs[0].id, recs[0].id_len, "j-005", 5);
    CHECK_MEM(recs[2].id, recs[2].id_len, "j-008", 5);
    CHECK_INT(cache_view_window(e.c, VIEW_STATUS0 + ST_COMPLETED, true, 7, recs, 3, &n, &info),
              0);
    CHECK_INT(n, 0);

    /* pending: its own list call; the jobs already known keep their numbers */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), 0);
    CHECK_MODEL(&e, ST_PENDING, recs, n);
    CHECK_INT(fake_counts(&e.f).list_by_view[1 + ST_PENDING], 1);
    CHECK_INT(list_calls(&e), 4);

    /* an empty view: one call */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PROCESSING, true, recs, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(list_calls(&e), 6);

    /* view_info with refresh reads a stale view again, never a cold one */
    CHECK_INT(cache_view_info(e.c, VIEW_ALL, true, &info), 0);
    CHECK_INT(list_calls(&e), 6);
    CHECK(info.fresh_s == 0);
    advance(TTL_MS);
    CHECK_INT(cache_view_info(e.c, VIEW_STATUS0 + ST_PENDING, true, &info), 0);
    CHECK_INT(list_calls(&e), 7);
    CHECK(info.fresh_s > TTL_S - 0.01 && info.fresh_s <= TTL_S);
    CHECK_INT(cache_view_info(e.c, VIEW_COUNT + 1000, false, &info), -ENOENT);
    CHECK_INT(cache_view_window(e.c, -1, true, 0, recs, MAXREC, &n, &info), -ENOENT);

    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK(s.views[1 + ST_COMPLETED].fetched);
    CHECK_INT(s.views[1 + ST_COMPLETED].jobs, 7);
    CHECK_INT(s.views[1 + ST_COMPLETED].total, 7);
    CHECK(!s.views[VIEW_ALL].fetched);
    CHECK_INT(s.entries, 12 - 1); /* all but the cancelled one, never listed */
    env_free(&e);
}

/* A job the API sends but that cannot be shown is left out, and is no reason
 * to read the listing again. */
static void test_bad_job_is_left_out_without_a_reread(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 7, ST_COMPLETED);
    fake_set_bad(&e.f, "j-004", true);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 6);
    CHECK(rec_of(recs, n, "j-004") == NULL);
    CHECK(rec_of(recs, n, "j-003") == &recs[3] && rec_of(recs, n, "j-005") == &recs[4]);
    CHECK_INT(list_calls(&e), 3);
    env_free(&e);
}

/* ---- 2. single flight ---- */

static void test_single_flight_view(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 7, ST_PROCESSING);
    static struct worker w[CROWD];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    struct cache_stats before = crowd(&e, w, CROWD);
    CHECK_INT(before.misses, 1);
    CHECK_INT(before.flights, 1);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, 0);
        CHECK_MODEL(&e, -1, w[i].recs, w[i].n);
        for (size_t k = 0; k < w[i].n; k++)
            CHECK_INT(w[i].recs[k].seq, w[0].recs[k].seq);
    }
    CHECK_INT(list_calls(&e), 3);
    CHECK_INT(fake_counts(&e.f).pages_calls, 2);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.misses, 1);
    CHECK_INT(s.hits, 0); /* nobody came late: all waited for the one fetch */
    CHECK_INT(s.flights, 0);
    CHECK_INT(s.entries, 7);
    env_free(&e);
}

static void test_single_flight_job(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    const struct cache_rec *r = rec_of(recs, n, "j-001");
    if (!CHECK(r != NULL)) {
        env_free(&e);
        return;
    }
    uint32_t seq = r->seq;
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    advance(TTL_MS);

    static struct worker w[CROWD];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_JOB, .seq = seq};
    crowd(&e, w, CROWD);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(list_calls(&e), 1);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, 0);
        CHECK_INT(w[i].recs[0].seq, seq);
        CHECK_INT(w[i].recs[0].meta.version, 1);
        CHECK(w[i].job != NULL && w[i].job == w[0].job);
        CHECK(has_rev(w[i].job, 2));
        CHECK(w[i].fresh > TTL_S - 0.01 && w[i].fresh <= TTL_S);
    }
    for (int i = 0; i < CROWD; i++)
        job_unref(w[i].job);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.hits, 0);
    env_free(&e);
}

static void test_single_flight_unknown_id(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 4, ST_COMPLETED);
    static struct worker w[CROWD];

    /* an id nobody listed yet, that exists */
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_LOOKUP, .id = "j-002"};
    crowd(&e, w, CROWD);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(list_calls(&e), 0);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, 0);
        CHECK_MEM(w[i].recs[0].id, w[i].recs[0].id_len, "j-002", 5);
        CHECK_INT(w[i].recs[0].seq, 1);
        CHECK(w[i].recs[0].meta.final);
        CHECK(w[i].fresh > 1000); /* a final job does not change */
    }

    /* an id that does not exist: one 404 for everyone */
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_LOOKUP, .id = "nope"};
    crowd(&e, w, CROWD);
    CHECK_INT(detail_calls(&e), 2);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, -ENOENT);
        CHECK(w[i].fresh == TTL_S);
    }
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.entries, 1); /* a name that does not exist leaves nothing behind */
    CHECK_INT(s.flights, 0);
    env_free(&e);
}

/* ---- 3. a failure is shared, then paused ---- */

static void test_waiters_share_a_failure_then_pause(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 7, ST_PROCESSING);
    fake_fail_pages(&e.f, 1, false, -EIO);
    static struct worker w[CROWD];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    crowd(&e, w, CROWD);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, -EIO);
        CHECK_INT(w[i].n, 0);
    }
    CHECK_INT(list_calls(&e), 1);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].last_err, -EIO);
    CHECK(!s.views[VIEW_ALL].fetched);
    CHECK_INT(s.flights, 1); /* the failure, remembered */
    CHECK_CONTAINS(s.last_error, "injected list failure");

    /* the source works again, but within the pause the failure is given
     * out at once */
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), -EIO);
    advance(PAUSE_MS - 1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), -EIO);
    CHECK_INT(list_calls(&e), 1);
    /* the groups, made from that view, get the same answer */
    int gv;
    struct group_list gl;
    CHECK_INT(cache_group_find(e.c, GROUP_DOMAIN, "a.example", &gv), -EIO);
    CHECK_INT(cache_groups_list(e.c, GROUP_DATE, &gl), -EIO);
    CHECK_INT(list_calls(&e), 1);

    /* after the pause: read again */
    advance(1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 1 + 3);
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].last_err, 0);
    CHECK_INT(s.flights, 0);
    env_free(&e);

    /* with a ttl shorter than the pause, the pause is the ttl */
    env_init(&e, 3, 1, 64 << 20);
    fake_fill(&e.f, "j", 2, ST_PROCESSING);
    fake_fail_pages(&e.f, 1, false, -EIO);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), -EIO);
    advance(999);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), -EIO);
    CHECK_INT(list_calls(&e), 1);
    advance(1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 2);
    CHECK_INT(list_calls(&e), 2);

    /* cache_expire_all forgets a remembered failure */
    fake_fail_pages(&e.f, 1, false, -EIO);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), -EIO);
    CHECK_INT(list_calls(&e), 3);
    cache_expire_all(e.c);
    advance(1);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), 0);
    /* the all-jobs listing is known: it is checked first (1), then pending */
    CHECK_INT(list_calls(&e), 5);
    env_free(&e);
}

/* ---- 4. stale-if-error ---- */

static void test_stale_if_error(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 5, ST_COMPLETED);
    fake_update(&e.f, "j-000", ST_PROCESSING, 1);
    struct cache_rec recs[MAXREC], old[MAXREC], r;
    size_t n, nold;
    double fresh;
    struct job *j = NULL;
    CHECK_INT(window(&e, VIEW_ALL, true, old, &nold), 0);
    CHECK_INT(nold, 5);
    uint32_t seq0 = old[0].seq;
    CHECK_INT(cache_job(e.c, seq0, true, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 1));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 0);

    /* upstream moves on, and then fails */
    fake_update(&e.f, "j-000", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    advance(TTL_MS);
    fake_fail_pages(&e.f, 0, true, -EIO);
    fake_fail_jobs(&e.f, 0, true, -EIO);

    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, nold);
    for (size_t i = 0; i < n && i < nold; i++)
        CHECK_INT(recs[i].seq, old[i].seq);
    CHECK_INT(list_calls(&e), 2 + 1); /* one attempt: its first page */
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].last_err, -EIO);
    CHECK(s.views[VIEW_ALL].fetched);

    j = NULL;
    CHECK_INT(cache_job(e.c, seq0, true, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 1)); /* the last good copy */
    CHECK_INT(r.meta.version, 0);
    CHECK(fresh == 0);
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1);
    /* within the pause neither is tried again, and both are still served */
    advance(PAUSE_MS - 1);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq0, true, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 1));
    job_unref(j);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, nold);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(list_calls(&e), 3);
    /* a listed name in a stale listing whose job cannot be fetched */
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-000", 5, &r, &fresh), 0);
    CHECK_INT(r.seq, seq0);

    /* a view never fetched has nothing to fall back on */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), -EIO);
    CHECK_INT(n, 0);
    CHECK_INT(list_calls(&e), 4);

    /* a rejected key is not paused: the next call tries again */
    fake_fail_pages(&e.f, 0, true, -EACCES);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), -EACCES);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), -EACCES);
    CHECK_INT(list_calls(&e), 6);
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[1 + ST_FAILED].last_err, -EACCES);

    /* the source recovers: after the pause everything is new */
    fake_fail_pages(&e.f, 0, false, 0);
    fake_fail_jobs(&e.f, 0, false, 0);
    advance(1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 6);
    r = *rec_of(recs, n, "j-000");
    CHECK_INT(r.meta.version, 1);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq0, true, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 2));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1); /* the listing brought it */
    env_free(&e);
}

/* ---- 5. eviction ---- */

static void test_eviction_keeps_metadata_and_refetches(void)
{
    enum { N = 8 };
    /* what each job costs, as the cache counts it */
    struct fake model;
    fake_init(&model, 4);
    fake_fill(&model, "j", N, ST_COMPLETED);
    struct job *built[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        struct fake_job fj;
        snprintf(id, sizeof id, "j-%03d", i);
        fake_get(&model, id, &fj);
        built[i] = fake_build(&fj);
        if (!built[i]) {
            fprintf(stderr, "fake_build failed\n");
            exit(2);
        }
        sizes[i] = built[i]->bytes;
    }
    fake_destroy(&model);
    size_t cap = sizes[N - 1] + sizes[N - 2] + sizes[N - 3] + sizes[N - 4] / 2;
    /* jobs are installed in list order; the oldest installed go first: what
     * stays is the longest tail of the listing that fits */
    size_t kept = 0, kept_bytes = 0;
    while (kept < N && kept_bytes + sizes[N - 1 - kept] <= cap)
        kept_bytes += sizes[N - 1 - kept++];
    CHECK_INT(kept, 3);

    struct env e;
    env_init(&e, 4, TTL_S, cap);
    fake_fill(&e.f, "j", N, ST_COMPLETED);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK(s.bytes <= cap);
    CHECK_INT(s.bytes, kept_bytes);
    CHECK_INT(s.evictions, N - kept);
    CHECK_INT(s.renders, kept);
    CHECK_INT(s.cap_bytes, cap);
    /* the records still say everything ls -l needs */
    for (size_t i = 0; i < n && i < N; i++) {
        for (int f = 0; f < JOB_NFILES; f++)
            CHECK_INT(recs[i].meta.size[f], built[i]->size[f]);
        CHECK_INT(recs[i].meta.mtime, built[i]->mtime);
        CHECK_INT(recs[i].meta.status, built[i]->status);
        CHECK_INT(recs[i].meta.version, 0);
    }

    /* a final job's text, evicted: fetched again, the same version */
    struct job *j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[1].seq, 0, &j), 0);
    CHECK_INT(detail_calls(&e), 1);
    if (CHECK(j != NULL)) {
        CHECK_MEM(j->text, j->text_len, built[1]->text, built[1]->text_len);
        CHECK_INT(j->version, 0);
    }
    job_unref(j);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[1].seq, 0, &j), 0); /* now it is at hand */
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(cache_job_version(e.c, recs[1].seq, 1, &j), -ESTALE);

    /* a reference outlives the eviction of the cache's copy */
    CHECK_INT(cache_job_version(e.c, recs[0].seq, 0, &j), 0);
    CHECK_INT(detail_calls(&e), 2);
    for (int i = 2; i < 5; i++) {
        struct job *k = NULL;
        CHECK_INT(cache_job_version(e.c, recs[i].seq, 0, &k), 0);
        job_unref(k);
    }
    CHECK_INT(detail_calls(&e), 5);
    cache_get_stats(e.c, &s);
    CHECK(s.bytes <= cap);
    if (CHECK(j != NULL))
        CHECK_MEM(j->text, j->text_len, built[0]->text, built[0]->text_len);
    job_unref(j);
    /* the job itself (not its text): no fetch */
    CHECK_INT(cache_job(e.c, recs[0].seq, false, &r, &fresh, NULL), 0);
    CHECK_INT(detail_calls(&e), 5);
    for (int i = 0; i < N; i++)
        job_unref(built[i]);
    env_free(&e);
}

/* An unfinished job's text is kept whatever cache_size says: it can change
 * at any refresh, so what shows a version of it must hold that very text,
 * and it is small. Only final jobs' texts are evicted. */
static void test_unfinished_texts_are_kept(void)
{
    struct env e;
    env_init(&e, 4, TTL_S, 64); /* smaller than any job */
    fake_fill(&e.f, "j", 6, ST_COMPLETED);
    fake_update(&e.f, "j-001", ST_PROCESSING, 0);
    fake_update(&e.f, "j-003", ST_PENDING, 0);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.renders, 2);
    CHECK_INT(s.evictions, 4);
    CHECK(s.bytes > s.cap_bytes);
    struct job *j = NULL;
    CHECK_INT(cache_job(e.c, rec_of(recs, n, "j-001")->seq, false, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 0));
    job_unref(j);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, rec_of(recs, n, "j-003")->seq, 0, &j), 0);
    job_unref(j);
    CHECK_INT(detail_calls(&e), 0);
    /* when it completes, its text is evicted like any final one */
    fake_update(&e.f, "j-001", ST_COMPLETED, 1);
    advance(TTL_MS);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    cache_get_stats(e.c, &s);
    CHECK_INT(s.renders, 1);
    env_free(&e);
}

/* ---- 6. versions ---- */

static void test_version_bumps_on_new_content_only(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 3, ST_PROCESSING);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    struct job *j = NULL;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq = recs[0].seq;
    CHECK_INT(recs[0].meta.version, 0);
    CHECK_INT(cache_job_version(e.c, seq, 0, &j), 0);
    CHECK(has_rev(j, 1));
    struct job *v0 = j; /* a pinned reader keeps its snapshot */

    /* new content in a listing */
    fake_update(&e.f, "j-000", ST_PROCESSING, 2);
    advance(TTL_MS);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(recs[0].meta.version, 1);
    CHECK_INT(recs[1].meta.version, 0);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, seq, 0, &j), -ESTALE);
    CHECK_INT(cache_job_version(e.c, seq, 1, &j), 0);
    CHECK(has_rev(j, 2));
    CHECK_INT(j ? j->version : -1, 1);
    job_unref(j);
    CHECK(has_rev(v0, 1) && v0->version == 0);
    job_unref(v0);

    /* the same content again: the same version */
    advance(TTL_MS);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(recs[0].meta.version, 1);
    advance(TTL_MS);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq, true, &r, &fresh, &j), 0);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(r.meta.version, 1);
    job_unref(j);

    /* new content by a detail request: it finished */
    fake_update(&e.f, "j-000", ST_COMPLETED, 3);
    advance(TTL_MS);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq, true, &r, &fresh, &j), 0);
    CHECK_INT(detail_calls(&e), 2);
    CHECK_INT(r.meta.version, 2);
    CHECK(r.meta.final);
    CHECK_INT(r.meta.status, ST_COMPLETED);
    CHECK(j == NULL); /* a final job's content cannot change: nothing to pin */
    CHECK(fresh > 1000);
    struct fake_job fj;
    fake_get(&e.f, "j-000", &fj);
    struct job *want = fake_build(&fj);
    if (want)
        for (int f = 0; f < JOB_NFILES; f++)
            CHECK_INT(r.meta.size[f], want->size[f]);
    job_unref(want);
    CHECK_INT(cache_job_version(e.c, seq, 1, &j), -ESTALE);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, seq, 2, &j), 0);
    CHECK(has_rev(j, 3));
    job_unref(j);

    /* a final job is never read again */
    advance(10 * TTL_MS);
    CHECK_INT(cache_job(e.c, seq, true, &r, &fresh, NULL), 0);
    CHECK_INT(detail_calls(&e), 2);
    env_free(&e);
}

/* ---- 7. a refresh asked for during a fetch wins over it ---- */

static void test_refresh_during_fetch_is_not_fresh(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    /* a listing fetch in flight, its answer (the old model) in hand */
    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL, .c = e.c};
    fake_gate_hold(&e.f, 1);
    pthread_create(&w[0].t, NULL, worker_main, &w[0]);
    CHECK(fake_gate_wait(&e.f, 1));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c);
    advance(1);
    fake_gate_open(&e.f);
    pthread_join(w[0].t, NULL);
    CHECK_INT(w[0].rc, 0);
    CHECK_INT(w[0].n, 4); /* what it fetched: from before the refresh */
    CHECK_INT(list_calls(&e), 2);

    /* ...which does not count as fresh */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 5);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);
    /* but this one does */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);

    /* the same for one job */
    advance(TTL_MS);
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_JOB, .seq = seq1, .c = e.c};
    fake_gate_hold(&e.f, 1);
    pthread_create(&w[0].t, NULL, worker_main, &w[0]);
    CHECK(fake_gate_wait(&e.f, 1));
    fake_update(&e.f, "j-001", ST_PROCESSING, 3);
    cache_expire_all(e.c);
    advance(1);
    fake_gate_open(&e.f);
    pthread_join(w[0].t, NULL);
    CHECK_INT(w[0].rc, 0);
    CHECK(has_rev(w[0].job, 2));
    job_unref(w[0].job);
    CHECK_INT(detail_calls(&e), 1);
    struct cache_rec r;
    double fresh;
    struct job *j = NULL;
    CHECK_INT(cache_job(e.c, seq1, true, &r, &fresh, &j), 0);
    CHECK_INT(detail_calls(&e), 2);
    CHECK(has_rev(j, 3));
    CHECK_INT(r.meta.version, 2);
    job_unref(j);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq1, true, &r, &fresh, &j), 0);
    CHECK_INT(detail_calls(&e), 2);
    job_unref(j);
    env_free(&e);
}

/* A caller that asks after the refresh does not wait for the fetch from
 * before it: it fetches anew, and the old fetch landing later changes
 * nothing. */
static void test_refresh_during_fetch_newer_fetch_wins(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL, .c = e.c};
    fake_gate_hold(&e.f, 1);
    pthread_create(&w[0].t, NULL, worker_main, &w[0]);
    CHECK(fake_gate_wait(&e.f, 1));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c);
    advance(1);

    /* the old fetch is still held: this one passes it */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);

    fake_gate_open(&e.f);
    pthread_join(w[0].t, NULL);
    CHECK_INT(w[0].rc, 0);

    /* the old answer landed after the new one: it is dropped */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);
    struct job *j = NULL;
    CHECK_INT(cache_job_version(e.c, seq1, 1, &j), 0);
    CHECK(has_rev(j, 2));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

/* A fetch that starts after cache_expire_all, in the same millisecond of the
 * cache's clock, is not from before the refresh: what it brings is fresh.
 * (It once counted as older than the refresh: stale on arrival, so the next
 * readdir fetched again and every lookup of an unfinished job in it cost a
 * detail request.) */
static void test_fetch_after_refresh_in_same_ms_is_fresh(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 3, ST_PROCESSING);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    advance(5);
    cache_expire_all(e.c);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0); /* fetches: the refresh */
    CHECK_INT(list_calls(&e), 2);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 2);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-001", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

/* The same race within one millisecond of the cache's clock: the fetch from
 * before the refresh starts, the refresh comes, a new fetch starts and lands,
 * then the old one lands. The old answer must change nothing.
 * (Both fetches once started at the same clock value, and the old listing
 * and job text, landing last, overwrote the new ones.) */
static void test_newer_fetch_wins_in_same_ms(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL, .c = e.c};
    fake_gate_hold(&e.f, 1);
    pthread_create(&w[0].t, NULL, worker_main, &w[0]);
    CHECK(fake_gate_wait(&e.f, 1));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c); /* the clock does not move from here on */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);
    fake_gate_open(&e.f);
    pthread_join(w[0].t, NULL);
    CHECK_INT(w[0].rc, 0);

    CHECK_INT(window(&e, VIEW_ALL, false, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    const struct cache_rec *r = rec_of(recs, n, "j-001");
    CHECK_INT(r ? r->meta.version : -1, 1);
    struct job *j = NULL;
    cache_job_version(e.c, seq1, r ? r->meta.version : 0, &j);
    CHECK(has_rev(j, 2));
    job_unref(j);
    env_free(&e);
}

/* A job larger than the whole cache can still be read: it is the one just
 * fetched, needed right now.
 * (Eviction once dropped the text it had just installed: such a job could
 * never be read, and every attempt cost a detail request.) */
static void test_job_larger_than_cache_is_served(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64); /* smaller than any job */
    fake_fill(&e.f, "j", 2, ST_COMPLETED);
    fake_update(&e.f, "j-000", ST_COMPLETED, 1);
    struct cache_rec recs[MAXREC], r = {0};
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 2);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.bytes, 0);
    CHECK_INT(s.evictions, 2);

    struct job *j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[1].seq, 0, &j), 0);
    CHECK(has_rev(j, 1));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[0].seq, 0, &j), 0);
    CHECK(has_rev(j, 1));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 2);
    cache_get_stats(e.c, &s);
    CHECK(s.bytes <= recs[0].meta.size[JOB_JSON] + 4096); /* at most about that one job */
    (void)r, (void)fresh;
    env_free(&e);
}

/* ---- 8. offset drift ---- */

struct drift {
    bool once, done;
    bool insert;
    const char *remove;
    int inserted;
};

static void drift_hook(struct fake *f, const char *status, long offset, void *arg)
{
    struct drift *d = arg;
    if (status || offset != 0 || (d->once && d->done))
        return;
    d->done = true;
    if (d->insert) {
        char id[32];
        snprintf(id, sizeof id, "new-%d", ++d->inserted);
        fake_insert(f, 0, id, ST_PENDING, f->created_base + 60 * d->inserted, "b.example", 1);
    }
    if (d->remove)
        fake_remove(f, d->remove);
}

static void test_drift_insert_reread_merges_every_job_once(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = true, .insert = true};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK(d.done);
    CHECK_MODEL(&e, -1, recs, n); /* new-1 first, then every old one, once */
    char ids[MAXREC][32];
    size_t k = fake_ids(&e.f, -1, ids, MAXREC);
    check_each_once_at(__LINE__, recs, n, ids, k);
    CHECK_INT(n, 11);
    /* 4 pages, then one full re-read of the 11 */
    CHECK_INT(list_calls(&e), 4 + 4);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].total, 11);
    env_free(&e);
}

static void test_drift_remove_reread_finds_the_skipped_job(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    char before[MAXREC][32];
    size_t nbefore = fake_ids(&e.f, -1, before, MAXREC);
    struct drift d = {.once = true, .remove = "j-000"};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    /* j-003 moved from page 1 to page 0 after page 0 was read: only the
     * re-read sees it. j-000, seen by the first round, is kept (until the
     * next refresh), in its place by creation time. */
    CHECK_IDS(recs, n, before, nbefore);
    CHECK(rec_of(recs, n, "j-003") != NULL);
    char ids[MAXREC][32];
    size_t k = fake_ids(&e.f, -1, ids, MAXREC);
    check_each_once_at(__LINE__, recs, n, ids, k);
    CHECK_INT(list_calls(&e), 4 + 4);
    /* the next refresh drops it */
    advance(TTL_MS);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 8 + 3);
    env_free(&e);
}

/* A job created and another deleted: the total stays, but fewer distinct
 * jobs than it came: read again. */
static void test_drift_same_total_reread(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = true, .insert = true, .remove = "j-009"};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 10);
    CHECK(rec_of(recs, n, "new-1") != NULL);
    CHECK_INT(list_calls(&e), 4 + 4);
    env_free(&e);
}

/* A listing that never holds still: the re-reads stop after
 * REFRESH_MAX_ROUNDS rounds, with every job seen once. */
static void test_drift_rereads_are_bounded(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = false, .insert = true};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(d.inserted, 3); /* after page 0 of each of the 3 rounds */
    CHECK_INT(list_calls(&e), 4 + 4 + 4);
    /* every job there was when the last round began, once, in order */
    fake_remove(&e.f, "new-3");
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 12);
    env_free(&e);
}

/* ---- 9. 404s ---- */

static void test_404_is_remembered_for_ttl(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 3, ST_PROCESSING);
    struct cache_rec r;
    double fresh = -1;
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(detail_calls(&e), 1);
    CHECK(fresh == TTL_S);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    advance(TTL_MS - 1);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(detail_calls(&e), 1);
    advance(1);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(detail_calls(&e), 2);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(detail_calls(&e), 2);

    /* it comes into being: a refresh forgets the 404 */
    fake_insert(&e.f, 0, "ghost", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(detail_calls(&e), 2);
    cache_expire_all(e.c);
    advance(1);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "ghost", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 3);
    CHECK_MEM(r.id, r.id_len, "ghost", 5);
    CHECK_INT(r.meta.status, ST_PENDING);
    CHECK(fresh > TTL_S - 0.01 && fresh <= TTL_S);

    /* in any view but all jobs only the listing counts: no detail request */
    CHECK_INT(cache_lookup(e.c, VIEW_STATUS0 + ST_PROCESSING, "ghost", 5, &r, &fresh), -ENOENT);
    CHECK_INT(cache_lookup(e.c, VIEW_STATUS0 + ST_PROCESSING, "other", 5, &r, &fresh), -ENOENT);
    CHECK_INT(cache_lookup(e.c, VIEW_STATUS0 + ST_PROCESSING, "j-001", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 3);
    CHECK_INT(list_calls(&e), 1);

    /* a name listed in a fresh listing costs nothing */
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-002", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 3);
    CHECK_INT(r.seq, rec_of(recs, n, "j-002")->seq);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.entries, 4);
    env_free(&e);
}

/* ---- 10. groups ---- */

struct expect_group {
    char name[32];
    char ids[MAXREC][32];
    size_t n;
};

/* The groups of a kind in the model, sorted by name. */
static size_t expected_groups(struct env *e, int kind, struct expect_group *g, size_t max)
{
    char ids[MAXREC][32];
    size_t nids = fake_ids(&e->f, -1, ids, MAXREC), ng = 0;
    for (size_t i = 0; i < nids; i++) {
        struct fake_job fj;
        fake_get(&e->f, ids[i], &fj);
        char name[32];
        if (kind == GROUP_DOMAIN) {
            snprintf(name, sizeof name, "%s", fj.host[0] ? fj.host : JOB_GROUP_INVALID);
        } else {
            time_t t = (time_t)fj.created;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(name, sizeof name, "%Y-%m-%d", &tm);
        }
        size_t k = 0;
        while (k < ng && strcmp(g[k].name, name) != 0)
            k++;
        if (k == ng && ng < max) {
            memset(&g[ng], 0, sizeof g[ng]);
            snprintf(g[ng++].name, sizeof g[0].name, "%s", name);
        }
        if (k < ng)
            memcpy(g[k].ids[g[k].n++], ids[i], 32);
    }
    for (size_t i = 1; i < ng; i++) /* insertion sort by name */
        for (size_t k = i; k > 0 && strcmp(g[k - 1].name, g[k].name) > 0; k--) {
            struct expect_group t = g[k];
            g[k] = g[k - 1];
            g[k - 1] = t;
        }
    return ng;
}

static void test_groups_cost_no_requests(void)
{
    struct env e;
    env_init(&e, 4, TTL_S, 64 << 20);
    fake_fill(&e.f, "j", 9, ST_COMPLETED);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    static struct expect_group g[8];
    for (int kind = 0; kind < GROUP_NKINDS; kind++) {
        size_t ng = expected_groups(&e, kind, g, 8);
        CHECK_INT(ng, 3); /* 3 hosts (one none); 9 jobs 8 h apart: 3 days */
        struct group_list gl;
        CHECK_INT(cache_groups_list(e.c, kind, &gl), 0);
        CHECK_INT(gl.n, ng);
        for (size_t i = 0; i < gl.n && i < ng; i++) {
            CHECK_STR(gl.items[i].name, g[i].name);
            int v = gl.items[i].view, found = -1;
            CHECK(v >= VIEW_COUNT);
            CHECK_INT(cache_view_kind(e.c, v), kind);
            CHECK_INT(cache_group_find(e.c, kind, g[i].name, &found), 0);
            CHECK_INT(found, v);
            CHECK_INT(window(&e, v, true, recs, &n), 0);
            CHECK_IDS(recs, n, g[i].ids, g[i].n);
            for (size_t k = 0; k < n; k++)
                CHECK_INT(recs[k].group[kind], v);
            /* names in a group: members only, never a request */
            CHECK_INT(cache_lookup(e.c, v, g[i].ids[0], strlen(g[i].ids[0]), &r, &fresh), 0);
            const char *other = g[(i + 1) % ng].ids[0];
            CHECK_INT(cache_lookup(e.c, v, other, strlen(other), &r, &fresh), -ENOENT);
        }
        group_list_free(&gl);
        int v;
        CHECK_INT(cache_group_find(e.c, kind, "no-such-group", &v), -ENOENT);
    }
    CHECK_INT(cache_view_kind(e.c, VIEW_ALL), -1);
    CHECK_INT(cache_view_kind(e.c, VIEW_COUNT + 100), -2);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.groups[GROUP_DOMAIN], 3);
    CHECK_INT(s.groups[GROUP_DATE], 3);
    CHECK_INT(list_calls(&e), 3);
    CHECK_INT(detail_calls(&e), 0);

    /* stale: a group window reads all jobs again, once */
    advance(TTL_MS);
    fake_remove(&e.f, "j-001"); /* one of the 3 b.example jobs */
    int vb;
    CHECK_INT(cache_group_find(e.c, GROUP_DOMAIN, "b.example", &vb), 0);
    CHECK_INT(list_calls(&e), 3 + 2);
    CHECK_INT(window(&e, vb, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 5);
    CHECK_INT(n, 2);
    CHECK(rec_of(recs, n, "j-001") == NULL);
    struct group_list gl;
    CHECK_INT(cache_groups_list(e.c, GROUP_DOMAIN, &gl), 0);
    CHECK_INT(gl.n, 3);
    group_list_free(&gl);
    CHECK_INT(list_calls(&e), 5);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_cold_window_costs_ceil_n_over_page_size();
    test_status_views_and_windows();
    test_bad_job_is_left_out_without_a_reread();
    test_single_flight_view();
    test_single_flight_job();
    test_single_flight_unknown_id();
    test_waiters_share_a_failure_then_pause();
    test_stale_if_error();
    test_eviction_keeps_metadata_and_refetches();
    test_unfinished_texts_are_kept();
    test_version_bumps_on_new_content_only();
    test_refresh_during_fetch_is_not_fresh();
    test_refresh_during_fetch_newer_fetch_wins();
    test_fetch_after_refresh_in_same_ms_is_fresh();
    test_newer_fetch_wins_in_same_ms();
    test_job_larger_than_cache_is_served();
    test_drift_insert_reread_merges_every_job_once();
    test_drift_remove_reread_finds_the_skipped_job();
    test_drift_same_total_reread();
    test_drift_rereads_are_bounded();
    test_404_is_remembered_for_ttl();
    test_groups_cost_no_requests();
    log_shutdown();
    return check_done("test_cache");
}
