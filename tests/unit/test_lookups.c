/* What a name, a job or a listing costs when asked for, against the fake
 * API (cache_env.h): many askers share one fetch (single flight), names
 * resolve from listings and otherwise by one detail request, a 404 is
 * remembered for ttl, and how long each answer may be cached.
 */
#include <errno.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"

static void test_crowd_reading_a_cold_view_shares_one_fetch(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 7, ST_PROCESSING);
    static struct worker w[CROWD];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_WINDOW, .v = VIEW_ALL};
    struct cache_stats before;
    CHECK(crowd(&e, w, CROWD, &before));
    CHECK_INT(before.misses, 1);
    CHECK_INT(before.flights, 1);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, 0);
        CHECK_MODEL(&e, -1, w[i].recs, w[i].n);
        for (size_t k = 0; k < w[i].n; k++)
            CHECK_INT(w[i].recs[k].seq, w[0].recs[k].seq);
    }
    CHECK_INT(list_calls(&e), 3 + 1);
    /* the first page, the other two together, the first again */
    CHECK_INT(fake_counts(&e.f).pages_calls, 3);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.misses, 1);
    CHECK_INT(s.hits, 0); /* nobody came late: all waited for the one fetch */
    CHECK_INT(s.flights, 0);
    CHECK_INT(s.entries, 7);
    env_free(&e);
}

static void test_crowd_reading_a_stale_job_shares_one_detail_request(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
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
    struct cache_stats before;
    CHECK(crowd(&e, w, CROWD, &before));
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

static void test_crowd_looking_up_an_unlisted_id_shares_one_detail_request(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 4, ST_COMPLETED);
    static struct worker w[CROWD];
    struct cache_stats before;

    /* an id nobody listed yet, that exists */
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_LOOKUP, .id = "j-002"};
    CHECK(crowd(&e, w, CROWD, &before));
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(list_calls(&e), 0);
    for (int i = 0; i < CROWD; i++) {
        CHECK_INT(w[i].rc, 0);
        CHECK_MEM(w[i].recs[0].id, w[i].recs[0].id_len, "j-002", 5);
        CHECK_INT(w[i].recs[0].seq, 1);
        CHECK(w[i].recs[0].meta.final);
        /* known for ttl only, final or not: it can be deleted (the clock
         * has not moved since the request) */
        CHECK(w[i].fresh == TTL_S);
    }

    /* an id that does not exist: one 404 for everyone */
    memset(w, 0, sizeof w);
    for (int i = 0; i < CROWD; i++)
        w[i] = (struct worker){.op = OP_LOOKUP, .id = "nope"};
    CHECK(crowd(&e, w, CROWD, &before));
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

static void test_404_is_remembered_for_ttl(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
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

    /* a name listed in a fresh listing costs nothing, and may be cached
     * for what is left of the listing's ttl (all of it: the clock stood) */
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-002", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 3);
    CHECK_INT(r.seq, rec_of(recs, n, "j-002")->seq);
    CHECK(fresh == TTL_S);
    advance(TTL_MS / 2);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-002", 5, &r, &fresh), 0);
    CHECK(fresh == TTL_S / 2.0);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.entries, 4);
    env_free(&e);
}

/* A name in a stale jobs/ listing resolves from the job's own data, and a
 * lookup never reads the listing: a final job costs nothing, an unfinished
 * one older than ttl one detail request. */
static void test_name_in_a_stale_listing_resolves_from_the_jobs_own_data(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 3, ST_COMPLETED);
    fake_update(&e.f, "j-001", ST_PROCESSING, 1);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    advance(TTL_MS);
    fake_update(&e.f, "j-001", ST_PROCESSING, 2);

    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-000", 5, &r, &fresh), 0);
    CHECK_INT(r.seq, rec_of(recs, n, "j-000")->seq);
    CHECK_INT(detail_calls(&e), 0);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-001", 5, &r, &fresh), 0);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(r.meta.version, 1);
    CHECK_INT(cache_lookup(e.c, VIEW_ALL, "j-001", 5, &r, &fresh), 0); /* fresh now */
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(list_calls(&e), 1);
    env_free(&e);
}

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_crowd_reading_a_cold_view_shares_one_fetch();
    test_crowd_reading_a_stale_job_shares_one_detail_request();
    test_crowd_looking_up_an_unlisted_id_shares_one_detail_request();
    test_404_is_remembered_for_ttl();
    test_name_in_a_stale_listing_resolves_from_the_jobs_own_data();
    log_shutdown();
    return check_done("test_lookups");
}
