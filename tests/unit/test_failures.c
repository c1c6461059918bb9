/* Failures and races against the fake API (cache_env.h): a failure shared
 * by everyone waiting and then paused, the last good data served when a
 * refresh fails (stale-if-error), and refreshes (cache_expire_all) asked
 * for while a fetch is under way.
 */
#include <errno.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"

static void test_waiters_share_a_failure_then_pause(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 7, ST_PROCESSING);
    fake_fail_pages(&e.f, 1, false, -EIO);
    static struct worker w[CROWD];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    struct cache_stats s;
    CHECK(crowd(&e, w, CROWD, &s));
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, -EIO);
        CHECK_INT(w[i].n, 0);
    }
    CHECK_INT(list_calls(&e), 1);
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

    /* after the pause: read again, 3 pages and the first again */
    advance(1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 1 + 3 + 1);
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].last_err, 0);
    CHECK_INT(s.flights, 0);
    env_free(&e);

    /* with a ttl shorter than the pause, the pause is the ttl */
    env_init(&e, 3, 1, BIG_CACHE);
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
    /* pending was never listed: read in full (one page, it is empty), with
     * no jobs/ check first */
    CHECK_INT(list_calls(&e), 4);
    env_free(&e);
}

static void test_failed_refresh_serves_the_last_good_listing_and_job(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 5, ST_COMPLETED);
    fake_update(&e.f, "j-000", ST_PROCESSING, 1);
    struct cache_rec recs[MAXREC], old[MAXREC], r;
    size_t n, nold;
    double fresh;
    struct job *j = NULL;
    CHECK_INT(window(&e, VIEW_ALL, true, old, &nold), 0);
    CHECK_INT(nold, 5);
    CHECK_INT(list_calls(&e), 2 + 1);
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
    CHECK_INT(list_calls(&e), 3 + 1); /* one attempt: its first page */
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
    CHECK_INT(list_calls(&e), 4);
    /* a listed name in a stale listing whose job cannot be fetched */
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-000", 5, &r, &fresh), 0);
    CHECK_INT(r.seq, seq0);

    /* a view never fetched has nothing to fall back on */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), -EIO);
    CHECK_INT(n, 0);
    CHECK_INT(list_calls(&e), 5);

    /* a rejected key is not paused: the next call tries again */
    fake_fail_pages(&e.f, 0, true, -EACCES);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), -EACCES);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), -EACCES);
    CHECK_INT(list_calls(&e), 7);
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[1 + ST_FAILED].last_err, -EACCES);

    /* the source recovers: after the pause everything is new */
    fake_fail_pages(&e.f, 0, false, 0);
    fake_fail_jobs(&e.f, 0, false, 0);
    advance(1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 6);
    CHECK_INT(list_calls(&e), 7 + 2 + 1);
    r = *rec_of(recs, n, "j-000");
    CHECK_INT(r.meta.version, 1);
    j = NULL;
    CHECK_INT(cache_job(e.c, seq0, true, &r, &fresh, &j), 0);
    CHECK(has_rev(j, 2));
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1); /* the listing brought it */
    env_free(&e);
}

/* ---- a refresh asked for during a fetch wins over it ---- */

static void test_fetch_from_before_a_refresh_is_not_fresh(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    /* a listing fetch in flight, its answer (the old model) in hand */
    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    CHECK(held_start(&e, &w[0]));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c);
    advance(1);
    held_finish(&e, &w[0]);
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
    w[0] = (struct worker){.op = OP_JOB, .seq = seq1};
    CHECK(held_start(&e, &w[0]));
    fake_update(&e.f, "j-001", ST_PROCESSING, 3);
    cache_expire_all(e.c);
    advance(1);
    held_finish(&e, &w[0]);
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
static void test_fetch_after_a_refresh_passes_the_older_one_and_wins(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    CHECK(held_start(&e, &w[0]));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c);
    advance(1);

    /* the old fetch is still held: this one passes it */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);

    held_finish(&e, &w[0]);
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
    env_init(&e, 5, TTL_S, BIG_CACHE);
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
    env_init(&e, 5, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 4, ST_PROCESSING);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    uint32_t seq1 = rec_of(recs, n, "j-001")->seq;
    advance(TTL_MS);

    static struct worker w[1];
    memset(w, 0, sizeof w);
    w[0] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    CHECK(held_start(&e, &w[0]));
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);
    fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
    cache_expire_all(e.c); /* the clock does not move from here on */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(rec_of(recs, n, "j-001")->meta.version, 1);
    held_finish(&e, &w[0]);
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

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_waiters_share_a_failure_then_pause();
    test_failed_refresh_serves_the_last_good_listing_and_job();
    test_fetch_from_before_a_refresh_is_not_fresh();
    test_fetch_after_a_refresh_passes_the_older_one_and_wins();
    test_fetch_after_refresh_in_same_ms_is_fresh();
    test_newer_fetch_wins_in_same_ms();
    log_shutdown();
    return check_done("test_failures");
}
