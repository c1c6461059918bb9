/* The cache's test fixtures (cache_env.h). Nothing here checks: what goes
 * wrong is returned, for the test program to count (check.h's counters are
 * its own). */
#include "cache_env.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

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

void advance(int64_t ms)
{
    atomic_fetch_add(&g_now, ms);
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a cache over a fake ---- */

void env_cache(struct env *e, const struct cache_config *cfg)
{
    struct cache_config c = *cfg;
    c.clock_ms = fake_clock;
    struct source src = fake_source(&e->f);
    e->c = NULL;
    if (cache_new(&c, &src, &e->c) != 0 || !e->c) {
        fprintf(stderr, "cache_new failed\n");
        exit(2);
    }
}

void env_init_cfg(struct env *e, int page_size, const struct cache_config *cfg)
{
    atomic_store(&g_now, 1000000);
    fake_init(&e->f, page_size);
    env_cache(e, cfg);
}

void env_init_full_refresh(struct env *e, int page_size, int ttl_s, size_t cap,
                           int full_refresh_s)
{
    struct cache_config cfg = {.ttl_s = ttl_s, .timeout_s = 5, .cap_bytes = cap,
                               .full_refresh_s = full_refresh_s};
    env_init_cfg(e, page_size, &cfg);
}

void env_log_init(void)
{
    log_init(getenv("CACHE_DEBUG") ? LOGL_DEBUG : LOGL_ERROR, false);
}

void env_init(struct env *e, int page_size, int ttl_s, size_t cap)
{
    env_init_full_refresh(e, page_size, ttl_s, cap, 0);
}

void env_free(struct env *e)
{
    cache_free(e->c);
    fake_destroy(&e->f);
}

int window(struct env *e, int v, bool refresh, struct cache_rec *recs, size_t *n)
{
    struct view_info info;
    struct cache_recs out = {.v = recs, .max = MAXREC};
    int rc = cache_view_window(e->c, v, refresh, 0, &out, &info);
    *n = out.n;
    return rc;
}

int list_calls(struct env *e)
{
    return fake_counts(&e->f).list_calls;
}

int detail_calls(struct env *e)
{
    return fake_counts(&e->f).detail_calls;
}

const struct cache_rec *rec_of(const struct cache_rec *recs, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (recs[i].id_len == strlen(id) && memcmp(recs[i].id, id, recs[i].id_len) == 0)
            return &recs[i];
    return NULL;
}

bool has_rev(const struct job *j, int rev)
{
    char want[32];
    snprintf(want, sizeof want, "\"rev\":%d}", rev);
    return j && memmem(j->text, j->text_len, want, strlen(want)) != NULL;
}

long ceil_div(long a, long b)
{
    return (a + b - 1) / b;
}

long full_read(long n, long page_size)
{
    long pages = n ? ceil_div(n, page_size) : 1;
    return pages + (pages > 1);
}

/* ---- crowds ---- */

static void *worker_main(void *p)
{
    struct worker *w = p;
    tl_probe = true;
    struct view_info info;
    switch (w->op) {
    case OP_WINDOW: {
        struct cache_recs out = {.v = w->recs, .max = MAXREC};
        w->rc = cache_view_window(w->c, w->v, true, 0, &out, &info);
        w->n = out.n;
        break;
    }
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

static void start(struct env *e, struct worker *w)
{
    w->c = e->c;
    w->job = NULL;
    if (pthread_create(&w->t, NULL, worker_main, w) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
}

static bool wait_probed(int k)
{
    for (int i = 0; i < 20000 && atomic_load(&g_probed) < k; i++)
        sleep_ms(1);
    return atomic_load(&g_probed) >= k;
}

bool crowd(struct env *e, struct worker *w, int k, struct cache_stats *before)
{
    atomic_store(&g_probed, 0);
    fake_gate_hold(&e->f, 1);
    for (int i = 0; i < k; i++)
        start(e, &w[i]);
    bool held = fake_gate_wait(&e->f, 1); /* the leader holds a fetch */
    bool came = wait_probed(k);           /* everyone came... */
    cache_get_stats(e->c, before);        /* ...and waits (see cache_env.h) */
    fake_gate_open(&e->f);
    for (int i = 0; i < k; i++)
        pthread_join(w[i].t, NULL);
    return held && came;
}

bool held_start(struct env *e, struct worker *w)
{
    fake_gate_hold(&e->f, 1);
    start(e, w);
    return fake_gate_wait(&e->f, 1);
}

void held_finish(struct env *e, struct worker *w)
{
    fake_gate_open(&e->f);
    pthread_join(w->t, NULL);
}
