/* What the cache's test programs share: a cache over a fake API
 * (fake_source.h) with no network and a fake clock, helpers to read and
 * check windows against the fake's model, and crowds of threads that want
 * the same thing at once.
 *
 * Time: the cache's clock is g_now, moved by hand with advance(), so ttl
 * and the failure pause are exact. Waiting for another thread's fetch uses
 * real time (bounded by timeout_s), so the concurrent tests hold a fetch at
 * the fake's gate and open it once every other thread is known to be
 * waiting.
 *
 * Knowing a thread waits: a worker thread counts itself the first time it
 * reads the clock. Each operation that can wait for a flight reads the
 * clock with the cache's mutex held and keeps holding it until it waits for
 * the flight (which releases it), so once every worker counted itself, any
 * call that takes the mutex (cache_get_stats) returns only when every
 * worker is either waiting or done.
 *
 * The checking helpers are static inline here, not in cache_env.c: check.h
 * counts failures per program file, and a failure must count in the test
 * program that checks.
 */
#ifndef SCRAPEFS_TEST_CACHE_ENV_H
#define SCRAPEFS_TEST_CACHE_ENV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "check.h"
#include "fake_source.h"
#include "job.h"

#define TTL_S 10
#define TTL_MS (TTL_S * 1000)
#define PAUSE_MS 2000 /* the cache's pause after a failure (or ttl, if shorter) */
#define CROWD 6       /* threads that want the same thing at once */
#define MAXREC 64
#define FULL_REFRESH_S 600  /* the mount's default full_refresh (options.c) */
#define BIG_CACHE ((size_t)64 << 20) /* room for every text a test makes */

/* ---- the fake clock ---- */

void advance(int64_t ms);

/* ---- a cache over a fake ---- */

struct env {
    struct fake f;
    struct cache *c;
};

/* A fresh fake with pages of page_size and a cache over it, the clock
 * reset. full_refresh_s is 0: every refresh of a listing reads it in full. */
void env_init(struct env *e, int page_size, int ttl_s, size_t cap);
/* The same with a cache_config's full_refresh_s: between full reads, a
 * listing known to be exact is refreshed cheaply (refresh.h). */
void env_init_full_refresh(struct env *e, int page_size, int ttl_s, size_t cap,
                           int full_refresh_s);
void env_free(struct env *e);
/* A cache of that configuration (the fake clock put in) over e's fake,
 * which env_init_cfg makes first. */
void env_cache(struct env *e, const struct cache_config *cfg);
void env_init_cfg(struct env *e, int page_size, const struct cache_config *cfg);
/* The log at error level, or debug with CACHE_DEBUG set. */
void env_log_init(void);
/* Real time: for a thread that must be seen waiting. */
void sleep_ms(int ms);

/* Up to MAXREC records of view v from its start (refresh: as a readdir). */
int window(struct env *e, int v, bool refresh, struct cache_rec *recs, size_t *n);
int list_calls(struct env *e);
int detail_calls(struct env *e);

/* The record of id among recs[0..n), or NULL. */
const struct cache_rec *rec_of(const struct cache_rec *recs, size_t n, const char *id);
/* The job's text holds `"rev":rev`. */
bool has_rev(const struct job *j, int rev);
long ceil_div(long a, long b);
/* The list requests of a full read of n jobs, newest first or in a known
 * order: every page (one, for none), and the newest page again when there
 * is more than one (the walk's closing read). */
long full_read(long n, long page_size);

/* ---- crowds: many threads wanting the same thing ---- */

enum op { OP_WINDOW, OP_JOB, OP_LOOKUP };

struct worker {
    pthread_t t;
    struct cache *c;
    enum op op;
    int v;        /* OP_WINDOW: the view (refresh) */
    uint32_t seq; /* OP_JOB: the job (refresh, its text wanted) */
    const char *id; /* OP_LOOKUP: the name, in jobs/ */
    int rc;
    size_t n;
    struct cache_rec recs[MAXREC];
    struct job *job;
    double fresh;
};

/* Starts k workers (w[i] filled in but for c) while the gate holds the
 * first call to the source; opens it once all of them wait; joins them.
 * *before: the stats from before the gate opened. False when the crowd
 * never gathered (the leader never reached the gate, or a worker never
 * came): the test's expectations then mean nothing. */
bool crowd(struct env *e, struct worker *w, int k, struct cache_stats *before);

/* Starts one worker (w filled in but for c) and returns once its call to
 * the source is held at the gate with its answer in hand (false when it
 * never got there). held_finish opens the gate and joins it. */
bool held_start(struct env *e, struct worker *w);
void held_finish(struct env *e, struct worker *w);

/* ---- checks against the fake's model ---- */

/* recs[0..n) must be exactly ids[0..nids), in that order. */
static inline void check_ids_at(const char *file, int line, const struct cache_rec *recs,
                                size_t n, char (*ids)[32], size_t nids)
{
    check_int((long long)n, (long long)nids, file, line, "records", "expected ids");
    for (size_t i = 0; i < n && i < nids; i++)
        if (!check_mem(recs[i].id, recs[i].id_len, ids[i], strlen(ids[i]), file, line,
                       "recs[i].id", "ids[i]")) {
            fprintf(stderr, "    (at position %zu)\n", i);
            break;
        }
}
#define CHECK_IDS(recs, n, ids, nids) check_ids_at(__FILE__, __LINE__, (recs), (n), (ids), (nids))

/* recs[0..n) must be view `status`'s jobs in the model (-1: all), in the
 * API's order, elements that cannot be shown left out. */
static inline void check_model_at(const char *file, int line, struct env *e, int status,
                                  const struct cache_rec *recs, size_t n)
{
    char ids[MAXREC][32];
    size_t k = fake_ids(&e->f, status, ids, MAXREC), shown = 0;
    for (size_t i = 0; i < k && i < MAXREC; i++) {
        struct fake_job fj;
        if (fake_get(&e->f, ids[i], &fj) && !fj.bad)
            memmove(ids[shown++], ids[i], sizeof ids[0]);
    }
    check_ids_at(file, line, recs, n, ids, shown);
}
#define CHECK_MODEL(e, status, recs, n) check_model_at(__FILE__, __LINE__, (e), (status), (recs), (n))

/* Every id of ids[0..nids) is in recs[0..n) exactly once, and no job is
 * there twice. */
static inline void check_each_once_at(const char *file, int line, const struct cache_rec *recs,
                                      size_t n, char (*ids)[32], size_t nids)
{
    for (size_t i = 0; i < nids; i++) {
        int seen = 0;
        for (size_t k = 0; k < n; k++)
            seen += recs[k].id_len == strlen(ids[i]) &&
                    memcmp(recs[k].id, ids[i], recs[k].id_len) == 0;
        if (!check_int(seen, 1, file, line, "times listed", "1"))
            fprintf(stderr, "    (id %s)\n", ids[i]);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (!check_int(recs[i].seq == recs[k].seq, 0, file, line, "listed twice", "0"))
                fprintf(stderr, "    (id %.*s)\n", (int)recs[i].id_len, recs[i].id);
}
#define CHECK_EACH_ONCE(recs, n, ids, nids) \
    check_each_once_at(__FILE__, __LINE__, (recs), (n), (ids), (nids))

#endif
