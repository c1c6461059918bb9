/* The cache over an on-disk store (store.h, src/cache/persist.c), against
 * the fake API (cache_env.h): a cache lists a view and is freed (its writer
 * writes what the store lacks), the store is closed and opened again, and a
 * new cache over it (a remount) must show the listing before any request,
 * stale, with every job under the same sequence number, refresh it cheaply,
 * and serve final jobs' texts, evicted or never held since the remount,
 * from the store without a detail request. Each test uses a fresh
 * temporary directory (mkdtemp), removed at the end.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"
#include "store.h"

/* ---- a store in a temporary directory ---- */

struct store_env {
    struct env e;
    char dir[64];
    struct store *st;
    struct cache_config cfg;
};

static struct store *open_store(const char *dir)
{
    struct store_config sc = {.dir = dir, .api_url = "https://api.example/v1",
                              .key = "test-key", .max_bytes = 64 << 20};
    struct store *st = NULL;
    if (!CHECK_INT(store_open(&sc, &st), 0))
        return NULL;
    return st;
}

/* A cache with a store in a new directory (cap bytes of texts); the env
 * is made even when the store cannot be (false), so it can be freed. */
static bool store_env_init(struct store_env *t, int page_size, size_t cap)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/scrapefs-test-store-XXXXXX");
    bool made = CHECK(mkdtemp(t->dir) != NULL);
    if (!made)
        t->dir[0] = '\0';
    t->st = made ? open_store(t->dir) : NULL;
    t->cfg = (struct cache_config){.ttl_s = TTL_S, .timeout_s = 5, .cap_bytes = cap,
                                   .full_refresh_s = FULL_REFRESH_S, .store = t->st};
    env_init_cfg(&t->e, page_size, &t->cfg);
    return t->st && CHECK_INT(cache_open_store(t->e.c), 0);
}

/* The cache freed (what the store lacks written first), the store closed
 * and opened again, and a new cache over it with cap bytes of texts. */
static bool remount(struct store_env *t, size_t cap)
{
    cache_free(t->e.c);
    t->e.c = NULL;
    store_close(t->st);
    t->st = open_store(t->dir);
    t->cfg.store = t->st;
    t->cfg.cap_bytes = cap;
    env_cache(&t->e, &t->cfg);
    return CHECK(t->st != NULL) && CHECK_INT(cache_open_store(t->e.c), 0);
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(path);
}

static void store_env_free(struct store_env *t)
{
    env_free(&t->e);
    store_close(t->st);
    if (t->dir[0])
        CHECK_INT(nftw(t->dir, remove_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

/* The text of job seq (final: version 0) is want's. */
static void check_text(struct env *e, uint32_t seq, const char *id)
{
    struct fake_job fj;
    CHECK(fake_get(&e->f, id, &fj));
    struct job *want = fake_build(&fj), *j = NULL;
    CHECK_INT(cache_job_version(e->c, seq, 0, &j), 0);
    if (CHECK(j != NULL && want != NULL))
        CHECK_MEM(j->text, j->text_len, want->text, want->text_len);
    job_unref(j);
    job_unref(want);
}

/* A record kept across a remount (its id points into the old cache). */
struct saved {
    uint32_t seq;
    char id[32];
    int status;
};

static size_t save_records(const struct cache_rec *recs, size_t n, struct saved *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].seq = recs[i].seq;
        snprintf(out[i].id, sizeof out[i].id, "%.*s", (int)recs[i].id_len, recs[i].id);
        out[i].status = recs[i].meta.status;
    }
    return n;
}

/* recs[0..n) are the jobs of want[0..nwant), under the same numbers. */
static void check_same_records(const struct cache_rec *recs, size_t n, const struct saved *want,
                               size_t nwant)
{
    CHECK_INT(n, nwant);
    for (size_t i = 0; i < n && i < nwant; i++) {
        CHECK_INT(recs[i].seq, want[i].seq);
        CHECK_MEM(recs[i].id, recs[i].id_len, want[i].id, strlen(want[i].id));
        CHECK_INT(recs[i].meta.status, want[i].status);
    }
}

/* ---- tests ---- */

static void test_remount_shows_the_stored_listing_before_any_request(void)
{
    static struct store_env t;
    bool ok = store_env_init(&t, 3, 64 << 20);
    fake_fill(&t.e.f, "j", 7, ST_COMPLETED);
    fake_update(&t.e.f, "j-000", ST_PROCESSING, 1);
    static struct cache_rec recs[MAXREC];
    static struct saved before[MAXREC];
    size_t n = 0;
    if (ok)
        CHECK_INT(window(&t.e, VIEW_ALL, true, recs, &n), 0);
    size_t nbefore = save_records(recs, n, before);
    CHECK_INT(nbefore, 7);
    CHECK_INT(list_calls(&t.e), 3 + 1);
    if (ok && remount(&t, 64 << 20)) {
        struct view_info info;
        CHECK_INT(cache_view_info(t.e.c, VIEW_ALL, false, &info), 0);
        CHECK(info.known);
        CHECK_INT(info.jobs, 7);
        CHECK(info.fresh_s == 0); /* stale: its first use with refresh reads */
        CHECK_INT(window(&t.e, VIEW_ALL, false, recs, &n), 0);
        check_same_records(recs, n, before, nbefore);
        CHECK_INT(list_calls(&t.e), 4); /* nothing asked */
        /* a final job's text, never held since the remount: from disk */
        check_text(&t.e, before[3].seq, "j-003");
        CHECK_INT(detail_calls(&t.e), 0);
        struct cache_stats s;
        cache_get_stats(t.e.c, &s);
        CHECK(s.store);
        CHECK_INT(s.store_reads, 1);
        /* refreshed, the stored listing (exact, its order and its last
         * full read kept) needs S alone: it matches */
        CHECK_INT(window(&t.e, VIEW_ALL, true, recs, &n), 0);
        CHECK_MODEL(&t.e, -1, recs, n);
        check_same_records(recs, n, before, nbefore);
        CHECK_INT(list_calls(&t.e), 4 + 1);
        cache_get_stats(t.e.c, &s);
        CHECK_INT(s.views[VIEW_ALL].delta_refreshes, 1);
        CHECK_INT(s.views[VIEW_ALL].full_refreshes, 0);
    }
    store_env_free(&t);
}

/* After a remount with a cache that holds one text at a time, final jobs'
 * texts come from the store again and again, never from the API. */
static void test_evicted_final_text_is_served_from_the_store(void)
{
    static struct store_env t;
    bool ok = store_env_init(&t, 3, 64 << 20);
    fake_fill(&t.e.f, "j", 5, ST_COMPLETED);
    static struct cache_rec recs[MAXREC];
    size_t n = 0;
    if (ok)
        CHECK_INT(window(&t.e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 5); /* (only seq and meta of recs are used after the remount) */
    /* room for one text and a half: each read evicts the one before */
    struct fake_job fj;
    fake_get(&t.e.f, "j-001", &fj);
    struct job *one = fake_build(&fj);
    size_t cap = one ? one->bytes + one->bytes / 2 : 0;
    job_unref(one);
    if (ok && n == 5 && remount(&t, cap)) {
        check_text(&t.e, recs[1].seq, "j-001");
        check_text(&t.e, recs[2].seq, "j-002");
        check_text(&t.e, recs[1].seq, "j-001"); /* evicted by j-002: from disk again */
        struct cache_stats s;
        cache_get_stats(t.e.c, &s);
        CHECK_INT(s.evictions, 2); /* j-001 by j-002, j-002 by j-001 */
        CHECK_INT(s.texts, 1);
        CHECK_INT(s.store_reads, 3);
        CHECK_INT(detail_calls(&t.e), 0);
        CHECK_INT(list_calls(&t.e), 2 + 1); /* the first cache's listing only */
    }
    store_env_free(&t);
}

int main(void)
{
    env_log_init();
    test_remount_shows_the_stored_listing_before_any_request();
    test_evicted_final_text_is_served_from_the_store();
    log_shutdown();
    return check_done("test_store_cache");
}
