/* The texts of jobs against the fake API (cache_env.h): which are held
 * under cache_size and which are evicted, what an evicted one costs, and
 * the versions of a job's content.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"

static void test_eviction_keeps_metadata_and_refetches_final_texts(void)
{
    enum { N = 8, PS = 4 };
    /* what each job costs, as the cache counts it */
    struct fake model;
    fake_init(&model, PS);
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
    size_t cap = sizes[PS - 1] + sizes[PS - 2] + sizes[PS - 3] + sizes[PS - 4] / 2;
    /* jobs are installed in list order and the oldest installed go first;
     * the closing read installs the newest page again last (every text of
     * it was evicted by then): what stays is the longest tail of the newest
     * page that fits */
    size_t kept = 0, kept_bytes = 0;
    while (kept < PS && kept_bytes + sizes[PS - 1 - kept] <= cap)
        kept_bytes += sizes[PS - 1 - kept++];
    CHECK_INT(kept, 3);

    struct env e;
    env_init(&e, PS, TTL_S, cap);
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
    /* every text went in once and the newest page's again: all but the
     * kept went out */
    CHECK_INT(s.evictions, N + PS - kept);
    CHECK_INT(s.texts, kept);
    CHECK_INT(s.cap_bytes, cap);
    /* the records still say everything ls -l needs */
    for (size_t i = 0; i < n && i < N; i++) {
        for (int f = 0; f < JOB_NFILES; f++)
            CHECK_INT(recs[i].meta.size[f], built[i]->size[f]);
        CHECK_INT(recs[i].meta.mtime, built[i]->mtime);
        CHECK_INT(recs[i].meta.status, built[i]->status);
        CHECK_INT(recs[i].meta.version, 0);
    }
    /* the kept texts are at hand (j-001..j-003) */
    for (size_t i = PS - kept; i < PS; i++) {
        struct job *k = NULL;
        CHECK_INT(cache_job_version(e.c, recs[i].seq, 0, &k), 0);
        job_unref(k);
    }
    CHECK_INT(detail_calls(&e), 0);

    /* a final job's text, evicted: fetched again, the same version */
    struct job *j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[N - 1].seq, 0, &j), 0);
    CHECK_INT(detail_calls(&e), 1);
    if (CHECK(j != NULL)) {
        CHECK_MEM(j->text, j->text_len, built[N - 1]->text, built[N - 1]->text_len);
        CHECK_INT(j->version, 0);
    }
    job_unref(j);
    j = NULL;
    CHECK_INT(cache_job_version(e.c, recs[N - 1].seq, 0, &j), 0); /* now it is at hand */
    job_unref(j);
    CHECK_INT(detail_calls(&e), 1);
    CHECK_INT(cache_job_version(e.c, recs[N - 1].seq, 1, &j), -ESTALE);

    /* a reference outlives the eviction of the cache's copy: j-000, then
     * three more evicted texts that push it out */
    CHECK_INT(cache_job_version(e.c, recs[0].seq, 0, &j), 0);
    CHECK_INT(detail_calls(&e), 2);
    for (int i = PS; i < N - 1; i++) {
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
    CHECK_INT(s.texts, 2);
    /* the 4 final ones, and j-000 and j-002 again: the closing read of the
     * newest page brought them back */
    CHECK_INT(s.evictions, 4 + 2);
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
    CHECK_INT(s.texts, 1);
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
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    CHECK_INT(n, 2);
    struct cache_stats s;
    cache_get_stats(e.c, &s);
    CHECK_INT(s.bytes, 0);
    CHECK_INT(s.evictions, 2); /* one page: no closing read */

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
    env_free(&e);
}

static void test_version_bumps_on_new_content_only(void)
{
    struct env e;
    env_init(&e, 5, TTL_S, BIG_CACHE);
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

int main(void)
{
    log_init(LOGL_ERROR, false);
    test_eviction_keeps_metadata_and_refetches_final_texts();
    test_unfinished_texts_are_kept();
    test_job_larger_than_cache_is_served();
    test_version_bumps_on_new_content_only();
    log_shutdown();
    return check_done("test_texts");
}
