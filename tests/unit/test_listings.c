/* Listings against the fake API (cache_env.h): what a cold window costs,
 * how long a listing stays fresh, status views, elements that cannot be
 * shown, cheap refreshes of known views, and the by-domain and by-date
 * groups.
 *
 * Unless a test says otherwise, full_refresh_s is 0: every refresh of a
 * listing reads it in full, ending with the newest page read again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache_env.h"
#include "log.h"

static void test_cold_window_costs_its_pages_and_a_closing_read_then_is_free_for_ttl(void)
{
    static const size_t sizes[] = {0, 1, 4, 5, 6, 10, 13};
    const int ps = 5;
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        size_t n_jobs = sizes[t];
        struct env e;
        env_init(&e, ps, TTL_S, BIG_CACHE);
        fake_fill(&e.f, "j", n_jobs, ST_PROCESSING);
        struct cache_rec recs[MAXREC];
        size_t n = 99;
        struct view_info info;

        /* the first page is always read: it tells the total */
        long want = full_read((long)n_jobs, ps);
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(list_calls(&e), want);
        /* one pages() call for the first page, one for the rest, one to close */
        CHECK_INT(fake_counts(&e.f).pages_calls, n_jobs > (size_t)ps ? 3 : 1);
        CHECK_INT(detail_calls(&e), 0);
        for (size_t i = 0; i < n; i++) {
            CHECK_INT(recs[i].seq, i + 1); /* sequence numbers in order of arrival */
            CHECK_INT(recs[i].meta.status, ST_PROCESSING);
            CHECK(!recs[i].meta.final);
        }

        /* within ttl: free, even with refresh */
        advance(TTL_MS - 1);
        struct cache_recs slice1 = {.v = recs, .max = MAXREC};
        CHECK_INT(cache_view_window(e.c, VIEW_ALL, true, 0, &slice1, &info), 0);
        n = slice1.n;
        CHECK_MODEL(&e, -1, recs, n);
        CHECK(info.fresh_s > 0.0005 && info.fresh_s < 0.0015); /* 1 ms left */
        CHECK_INT(cache_view_info(e.c, VIEW_ALL, true, &info), 0);
        CHECK_INT(list_calls(&e), want);

        /* past ttl: without refresh still free (and the same listing) */
        advance(1);
        fake_insert(&e.f, 0, "newer", ST_PENDING, e.f.created_base + 60, "a.example", 1);
        struct cache_recs slice2 = {.v = recs, .max = MAXREC};
        CHECK_INT(cache_view_window(e.c, VIEW_ALL, false, 0, &slice2, &info), 0);
        n = slice2.n;
        CHECK_INT(n, n_jobs);
        CHECK(rec_of(recs, n, "newer") == NULL);
        CHECK(info.fresh_s == 0);
        CHECK_INT(cache_view_info(e.c, VIEW_ALL, false, &info), 0);
        CHECK_INT(list_calls(&e), want);

        /* with refresh: read in full again, at the new total */
        CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&e, -1, recs, n);
        CHECK_INT(n, n_jobs + 1);
        CHECK_INT(list_calls(&e), want + full_read((long)n_jobs + 1, ps));
        CHECK_INT(detail_calls(&e), 0);
        env_free(&e);
    }
}

static void test_status_view_costs_its_own_list_calls_and_windows_slice_it(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
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

    /* completed: 7 jobs, 3 pages of the completed list call and the first
     * again, nothing else */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_COMPLETED, true, recs, &n), 0);
    CHECK_MODEL(&e, ST_COMPLETED, recs, n);
    CHECK_INT(n, 7);
    struct fake_counts fc = fake_counts(&e.f);
    CHECK_INT(fc.list_by_view[1 + ST_COMPLETED], 3 + 1);
    CHECK_INT(fc.list_calls, 3 + 1);
    for (size_t i = 0; i < n; i++)
        CHECK(recs[i].meta.final && recs[i].meta.status == ST_COMPLETED);

    /* a window is a slice of the listing */
    struct cache_recs slice3 = {.v = recs, .max = 3};
    CHECK_INT(cache_view_window(e.c, VIEW_STATUS0 + ST_COMPLETED, true, 2, &slice3, &info), 0);
    n = slice3.n;
    CHECK_INT(n, 3);
    CHECK_MEM(recs[0].id, recs[0].id_len, "j-005", 5);
    CHECK_MEM(recs[2].id, recs[2].id_len, "j-008", 5);
    struct cache_recs slice4 = {.v = recs, .max = 3};
    CHECK_INT(cache_view_window(e.c, VIEW_STATUS0 + ST_COMPLETED, true, 7, &slice4, &info), 0);
    n = slice4.n;
    CHECK_INT(n, 0);

    /* pending: its own list call, one page; the jobs already known keep
     * their numbers */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PENDING, true, recs, &n), 0);
    CHECK_MODEL(&e, ST_PENDING, recs, n);
    CHECK_INT(fake_counts(&e.f).list_by_view[1 + ST_PENDING], 1);
    CHECK_INT(list_calls(&e), 5);

    /* an empty view, or one of one job: one call each */
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_PROCESSING, true, recs, &n), 0);
    CHECK_INT(n, 0);
    CHECK_INT(window(&e, VIEW_STATUS0 + ST_FAILED, true, recs, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(list_calls(&e), 7);

    /* view_info with refresh reads a stale view again, never a cold one */
    CHECK_INT(cache_view_info(e.c, VIEW_ALL, true, &info), 0);
    CHECK_INT(list_calls(&e), 7);
    CHECK(info.fresh_s == 0);
    advance(TTL_MS);
    CHECK_INT(cache_view_info(e.c, VIEW_STATUS0 + ST_PENDING, true, &info), 0);
    CHECK_INT(list_calls(&e), 8); /* jobs/ was never listed: pending in full, one page */
    CHECK(info.fresh_s > TTL_S - 0.01 && info.fresh_s <= TTL_S);
    CHECK_INT(cache_view_info(e.c, VIEW_COUNT + 1000, false, &info), -ENOENT);
    struct cache_recs slice5 = {.v = recs, .max = MAXREC};
    CHECK_INT(cache_view_window(e.c, -1, true, 0, &slice5, &info), -ENOENT);
    n = slice5.n;

    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK(s.views[1 + ST_COMPLETED].fetched);
    CHECK_INT(s.views[1 + ST_COMPLETED].jobs, 7);
    CHECK_INT(s.views[1 + ST_COMPLETED].total, 7);
    CHECK(!s.views[VIEW_ALL].fetched);
    CHECK_INT(s.entries, 12 - 1); /* all but the cancelled one, never listed */
    env_free(&e);
}

/* A job the API sends but that cannot be shown is left out of the records
 * but keeps its place in the listing (a position is an offset in the API's
 * list), and is no reason to read the listing again. */
static void test_bad_job_keeps_its_place_unshown_without_a_reread(void)
{
    struct env e;
    env_init(&e, 3, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 7, ST_COMPLETED);
    fake_set_bad(&e.f, "j-004", true);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 6);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK(rec_of(recs, n, "j-004") == NULL);
    CHECK(rec_of(recs, n, "j-003") == &recs[3] && rec_of(recs, n, "j-005") == &recs[4]);
    CHECK_INT(list_calls(&e), 3 + 1);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].total, 7);
    CHECK_INT(s.views[VIEW_ALL].jobs, 6);

    /* a window counts the jobs shown: the fifth is j-005 */
    struct view_info info;
    struct cache_recs slice6 = {.v = recs, .max = MAXREC};
    CHECK_INT(cache_view_window(e.c, VIEW_ALL, false, 4, &slice6, &info), 0);
    n = slice6.n;
    CHECK_INT(n, 2);
    CHECK_MEM(recs[0].id, recs[0].id_len, "j-005", 5);
    CHECK_INT(info.jobs, 6);
    env_free(&e);
}

/* With full_refresh_s set, a refresh of jobs/ after its first full read
 * reads the pages of its unfinished jobs the newest page does not show,
 * then the newest page: when nothing moved, that is all it costs. */
static void test_known_jobs_listing_refreshes_from_unfinished_pages_and_the_newest(void)
{
    struct env e;
    env_init_full_refresh(&e, 3, TTL_S, BIG_CACHE, 3600);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    fake_update(&e.f, "j-001", ST_PROCESSING, 1); /* on the newest page */
    fake_update(&e.f, "j-004", ST_PROCESSING, 1); /* further down */
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 4 + 1);

    advance(TTL_MS);
    fake_update(&e.f, "j-004", ST_PROCESSING, 2);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 5 + 2); /* j-004's page, then the newest */
    const struct cache_rec *r = rec_of(recs, n, "j-004");
    CHECK_INT(r ? r->meta.version : -1, 1);

    advance(TTL_MS);
    fake_update(&e.f, "j-004", ST_COMPLETED, 3);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 7 + 2);
    r = rec_of(recs, n, "j-004");
    CHECK(r && r->meta.final);

    advance(TTL_MS); /* j-004 is final now: the newest page alone */
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_MODEL(&e, -1, recs, n);
    CHECK_INT(list_calls(&e), 9 + 1);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.views[VIEW_ALL].full_refreshes, 1);
    CHECK_INT(s.views[VIEW_ALL].delta_refreshes, 3);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

/* A status view cannot tell by itself which jobs entered it: before jobs/
 * was listed it is read in full at each refresh; after, a jobs/ check that
 * started after the status view went stale comes first (even if jobs/ is
 * fresh), and the status view then reads its own newest page. */
static void test_status_view_refreshes_through_jobs_once_jobs_was_listed(void)
{
    struct env e;
    env_init_full_refresh(&e, 3, TTL_S, BIG_CACHE, 3600);
    fake_fill(&e.f, "j", 10, ST_COMPLETED);
    fake_update(&e.f, "j-001", ST_PROCESSING, 1);
    fake_update(&e.f, "j-004", ST_PROCESSING, 1);
    const int done = VIEW_STATUS0 + ST_COMPLETED;
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, done, true, recs, &n), 0);
    CHECK_INT(fake_counts(&e.f).list_by_view[1 + ST_COMPLETED], 3 + 1); /* 8 jobs */
    advance(TTL_MS);
    CHECK_INT(window(&e, done, true, recs, &n), 0);
    CHECK_INT(fake_counts(&e.f).list_by_view[1 + ST_COMPLETED], 4 + 4); /* in full again */

    /* jobs/ read in full halfway through the status view's ttl */
    advance(TTL_MS / 2);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(fake_counts(&e.f).list_by_view[VIEW_ALL], 4 + 1);

    advance(TTL_MS / 2); /* the status view is stale, jobs/ is not */
    fake_update(&e.f, "j-004", ST_COMPLETED, 2);
    CHECK_INT(window(&e, done, true, recs, &n), 0);
    CHECK_MODEL(&e, ST_COMPLETED, recs, n);
    CHECK_INT(n, 9);
    struct fake_counts fc = fake_counts(&e.f);
    CHECK_INT(fc.list_by_view[VIEW_ALL], 5 + 2); /* j-004's page, then the newest */
    CHECK_INT(fc.list_by_view[1 + ST_COMPLETED], 8 + 1);
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0); /* just checked: fresh */
    CHECK_INT(list_calls(&e), 7 + 9);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

/* ---- the groups ---- */

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
    env_init(&e, 4, TTL_S, BIG_CACHE);
    fake_fill(&e.f, "j", 9, ST_COMPLETED);
    struct cache_rec recs[MAXREC], r;
    size_t n;
    double fresh;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 3 + 1);
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
    CHECK_INT(list_calls(&e), 4);
    CHECK_INT(detail_calls(&e), 0);

    /* stale: a group window reads all jobs again, once */
    advance(TTL_MS);
    fake_remove(&e.f, "j-001"); /* one of the 3 b.example jobs */
    int vb;
    CHECK_INT(cache_group_find(e.c, GROUP_DOMAIN, "b.example", &vb), 0);
    CHECK_INT(list_calls(&e), 4 + 2 + 1); /* 8 jobs: 2 pages, the first again */
    CHECK_INT(window(&e, vb, true, recs, &n), 0);
    CHECK_INT(list_calls(&e), 7);
    CHECK_INT(n, 2);
    CHECK(rec_of(recs, n, "j-001") == NULL);
    struct group_list gl;
    CHECK_INT(cache_groups_list(e.c, GROUP_DOMAIN, &gl), 0);
    CHECK_INT(gl.n, 3);
    group_list_free(&gl);
    CHECK_INT(list_calls(&e), 7);
    CHECK_INT(detail_calls(&e), 0);
    env_free(&e);
}

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_cold_window_costs_its_pages_and_a_closing_read_then_is_free_for_ttl();
    test_status_view_costs_its_own_list_calls_and_windows_slice_it();
    test_bad_job_keeps_its_place_unshown_without_a_reread();
    test_known_jobs_listing_refreshes_from_unfinished_pages_and_the_newest();
    test_status_view_refreshes_through_jobs_once_jobs_was_listed();
    test_groups_cost_no_requests();
    log_shutdown();
    return check_done("test_listings");
}
