/* How a listing is read in full, against the fake API (cache_env.h): the
 * walk over every page, closed by a second look at the newest page; a list
 * that changes while it is walked (offset drift) is walked again, a bounded
 * number of times; a list given oldest first is walked again once its
 * order is learned. full_refresh_s is 0: every refresh is a full read.
 */
#include <stdio.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"
#include "refresh.h"

/* Not knowing the order yet, the first read walks the list as if newest
 * first; its ends then tell it is oldest first, and it is walked again the
 * right way. From then on one walk is enough. */
static void test_oldest_first_view_is_walked_again_once_its_order_is_learned(void)
{
    static const size_t sizes[] = {2, 5, 6, 10, 13};
    const int ps = 5;
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        struct env e;
        env_init(&e, ps, TTL_S, BIG_CACHE);
        fake_fill(&e.f, "j", sizes[t], ST_COMPLETED);
        e.f.oldest = true;
        struct cache_rec recs[MAXREC];
        size_t n;
        /* oldest first, the second walk reads the newest (last) page first
         * and again at the end, the others between: a walk costs the same
         * either way */
        long walk = full_read((long)sizes[t], ps);
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(list_calls(&e), 2 * walk);
        struct cache_stats s;
        cache_get_stats(e.c, &s);
        CHECK_STR(s.views[VIEW_ALL].order, "oldest");

        advance(TTL_MS);
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(list_calls(&e), 3 * walk);
        env_free(&e);
    }
}

/* ---- offset drift ---- */

/* Changes the model after page 0 of jobs/ was handed over: after each
 * walk's first read and its closing read (once: only after the first). */
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

static void test_drift_insert_is_walked_again_and_lists_every_job_once(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
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
    CHECK_EACH_ONCE(recs, n, ids, k);
    CHECK_INT(n, 11);
    /* 4 pages of the 10 and the first again (it shows new-1: changed), then
     * a second walk of the 11 (4 pages and the first again) */
    CHECK_INT(list_calls(&e), (4 + 1) + (4 + 1));
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].total, 11);
    env_free(&e);
}

/* A job deleted after page 0 was read moves an unread one (j-003) onto
 * page 0: the first walk misses it, the closing read shows the change, and
 * the second walk lists what there is now: j-003, and j-000 no more. */
static void test_drift_remove_is_walked_again_finding_the_skipped_job(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = true, .remove = "j-000"};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK(rec_of(recs, n, "j-003") != NULL);
    CHECK(rec_of(recs, n, "j-000") == NULL);
    char ids[MAXREC][32];
    size_t k = fake_ids(&e.f, -1, ids, MAXREC);
    CHECK_EACH_ONCE(recs, n, ids, k);
    /* 4 pages of the 10 and the first again, then 3 pages of the 9 and
     * the first again */
    CHECK_INT(list_calls(&e), (4 + 1) + (3 + 1));
    /* the next refresh finds the same 9 */
    advance(TTL_MS);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 9 + (3 + 1));
    env_free(&e);
}

/* A job created and another deleted: every total agrees, but the closing
 * read shows the new job (and fewer distinct jobs came than the total):
 * walked again. */
static void test_drift_with_the_same_total_is_walked_again(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = true, .insert = true, .remove = "j-009"};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 10);
    CHECK(rec_of(recs, n, "new-1") != NULL);
    CHECK_INT(list_calls(&e), (4 + 1) + (4 + 1));
    env_free(&e);
}

/* A listing that never holds still: the walks stop after
 * REFRESH_MAX_WALKS, and the last one is shown, every job in it once. */
static void test_drift_walks_are_bounded(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    struct drift d = {.once = false, .insert = true};
    fake_set_hook(&e.f, drift_hook, &d);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    /* one after each walk's first read of page 0 and one after its
     * closing read */
    CHECK_INT(d.inserted, 2 * REFRESH_MAX_WALKS);
    /* the walks begin at 10, 12 and 14 jobs: 4, 4 and 5 pages, each walk
     * closed by page 0 again */
    CHECK_INT(list_calls(&e), (4 + 1) + (4 + 1) + (5 + 1));
    /* every job there was when the last walk began, once, in order: not
     * the two created during it */
    fake_remove(&e.f, "new-5");
    fake_remove(&e.f, "new-6");
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(n, 14);
    env_free(&e);
}

/* A list that never holds still, read for the first time: a job is
 * created after every read of its newest page. Newest first, the walk
 * that learns the order is one of the REFRESH_MAX_WALKS. Oldest first, the
 * walk that learned the order went the wrong way and does not count: it
 * and REFRESH_MAX_WALKS walks the right way are made. Walks are counted
 * by their reads of offset 0: twice a walk newest first (the first page
 * and the closing read), twice for the learning walk and once a walk
 * oldest first (offset 0 is then an ordinary page). */
static int g_zero_reads;

static void create_after_newest(struct fake *f, const char *status, long offset, void *arg)
{
    bool oldest = *(bool *)arg;
    long total = (long)fake_ids(f, -1, NULL, 0);
    if (status)
        return;
    g_zero_reads += offset == 0;
    if (offset != (oldest ? (total - 1) / f->page_size * f->page_size : 0))
        return;
    char id[32];
    snprintf(id, sizeof id, "new-%ld", total);
    fake_insert(f, 0, id, ST_COMPLETED, f->created_base + 60 * total, "b.example", 1);
}

static void test_learning_the_order_costs_no_walk_of_the_bound(void)
{
    for (int oldest = 0; oldest <= 1; oldest++) {
        struct env e;
        env_init(&e, 3, TTL_S, BIG_CACHE);
        e.f.oldest = oldest;
        fake_fill(&e.f, "j", 10, ST_COMPLETED);
        bool o = oldest;
        g_zero_reads = 0;
        fake_set_hook(&e.f, create_after_newest, &o);
        struct cache_rec recs[MAXREC];
        size_t n;
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        struct cache_stats s;
        cache_get_stats(e.c, &s);
        CHECK_STR(s.views[VIEW_ALL].order, oldest ? "oldest" : "newest");
        CHECK_INT(g_zero_reads, oldest ? 2 + REFRESH_MAX_WALKS : 2 * REFRESH_MAX_WALKS);
        fake_set_hook(&e.f, NULL, NULL);
        env_free(&e);
    }
}

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_oldest_first_view_is_walked_again_once_its_order_is_learned();
    test_drift_insert_is_walked_again_and_lists_every_job_once();
    test_drift_remove_is_walked_again_finding_the_skipped_job();
    test_drift_with_the_same_total_is_walked_again();
    test_drift_walks_are_bounded();
    test_learning_the_order_costs_no_walk_of_the_bound();
    log_shutdown();
    return check_done("test_walks");
}
