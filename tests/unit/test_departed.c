/* The departed callback (cache_config.departed), against the fake API
 * (cache_env.h): after jobs/, every status view and the groups were listed,
 * a job is deleted and another moves to another status; refreshing the
 * status views (each through a check of jobs/) must tell departed, once
 * each, of every (view, job) that left: the deleted job from jobs/, its two
 * groups and its status view, the moved one from the view it left, and of
 * nothing else. Each call also starts a thread that reads the view: it must
 * get in (the cache's lock is not held during the call) and must no longer
 * find the job there (the call comes after the new listing is in).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_env.h"
#include "log.h"

#define MAXDEP 16

/* A look at the cache from another thread while departed runs. */
struct probe {
    struct cache *c;
    int view;
    const char *id;
    bool listed;
    atomic_bool done;
    pthread_t t;
    bool joined;
};

struct departures {
    struct cache *c;
    int n;
    int view[MAXDEP];
    char id[MAXDEP][32];
    struct probe probe[MAXDEP];
    int lock_held;     /* calls during which another thread could not use the cache */
};

/* Is id still in view (without a refresh)? */
static void *probe_main(void *p)
{
    struct probe *pr = p;
    struct cache_rec recs[MAXREC];
    struct view_info info;
    struct cache_recs out = {.v = recs, .max = MAXREC};
    cache_view_window(pr->c, pr->view, false, 0, &out, &info);
    pr->listed = rec_of(recs, out.n, pr->id) != NULL;
    atomic_store(&pr->done, true);
    return NULL;
}

/* departed: notes the call, and looks from another thread whether the
 * cache is usable meanwhile (within 2 s, else its lock is held: that probe
 * is joined later, by departures_join) and already without the job. */
static void on_departed(void *arg, int view, const char *id, size_t len)
{
    struct departures *d = arg;
    int i = d->n++;
    if (i >= MAXDEP)
        return;
    d->view[i] = view;
    snprintf(d->id[i], sizeof d->id[0], "%.*s", (int)len, id);
    struct probe *pr = &d->probe[i];
    *pr = (struct probe){.c = d->c, .view = view, .id = d->id[i]};
    if (pthread_create(&pr->t, NULL, probe_main, pr) != 0) {
        pr->joined = true;
        return;
    }
    for (int k = 0; k < 2000 && !atomic_load(&pr->done); k++)
        sleep_ms(1);
    if (!atomic_load(&pr->done)) {
        d->lock_held++;
        return;
    }
    pthread_join(pr->t, NULL);
    pr->joined = true;
}

/* Joins the probes left waiting; how many saw their job still listed. */
static int departures_join(struct departures *d)
{
    int listed = 0;
    for (int i = 0; i < d->n && i < MAXDEP; i++) {
        if (!d->probe[i].joined) {
            pthread_join(d->probe[i].t, NULL);
            d->probe[i].joined = true;
        }
        listed += d->probe[i].listed;
    }
    return listed;
}

/* How many times (view, id) was told. */
static int told(const struct departures *d, int view, const char *id)
{
    int k = 0;
    for (int i = 0; i < d->n && i < MAXDEP; i++)
        k += d->view[i] == view && strcmp(d->id[i], id) == 0;
    return k;
}

static void test_departed_is_told_each_job_that_left_a_view(void)
{
    static struct departures d;
    memset(&d, 0, sizeof d);
    struct env e;
    struct cache_config cfg = {.ttl_s = TTL_S, .timeout_s = 5, .cap_bytes = 64 << 20,
                               .full_refresh_s = FULL_REFRESH_S, .departed = on_departed,
                               .departed_arg = &d};
    env_init_cfg(&e, 3, &cfg);
    d.c = e.c;
    fake_fill(&e.f, "j", 9, ST_COMPLETED);
    fake_update(&e.f, "j-000", ST_PENDING, 1);
    fake_update(&e.f, "j-004", ST_PROCESSING, 1);
    struct cache_rec recs[MAXREC];
    size_t n;
    CHECK_INT(window(&e, VIEW_ALL, true, recs, &n), 0);
    const struct cache_rec *r6 = rec_of(recs, n, "j-006");
    uint32_t g6[GROUP_NKINDS] = {r6 ? r6->group[0] : 0, r6 ? r6->group[1] : 0};
    CHECK(g6[GROUP_DOMAIN] >= VIEW_COUNT && g6[GROUP_DATE] >= VIEW_COUNT);
    for (int st = ST_PENDING; st <= ST_COMPLETED; st++)
        CHECK_INT(window(&e, VIEW_STATUS0 + st, true, recs, &n), 0);
    CHECK_INT(d.n, 0); /* first listings: nobody left anything */

    fake_remove(&e.f, "j-006");                    /* deleted: completed */
    fake_update(&e.f, "j-004", ST_COMPLETED, 2);   /* moved out of processing */
    advance(TTL_MS);
    for (int st = ST_PENDING; st <= ST_COMPLETED; st++) {
        CHECK_INT(window(&e, VIEW_STATUS0 + st, true, recs, &n), 0);
        CHECK_MODEL(&e, st, recs, n);
    }
    int still_listed = departures_join(&d);
    CHECK_INT(told(&d, VIEW_ALL, "j-006"), 1);
    CHECK_INT(told(&d, (int)g6[GROUP_DOMAIN], "j-006"), 1); /* a.example */
    CHECK_INT(told(&d, (int)g6[GROUP_DATE], "j-006"), 1);   /* its day */
    CHECK_INT(told(&d, VIEW_STATUS0 + ST_COMPLETED, "j-006"), 1);
    CHECK_INT(told(&d, VIEW_STATUS0 + ST_PROCESSING, "j-004"), 1);
    CHECK_INT(d.n, 5); /* and nothing else: j-004 is still in jobs/ and its groups */
    CHECK_INT(d.lock_held, 0);
    CHECK_INT(still_listed, 0); /* told after the new listing is in */
    env_free(&e);
}

int main(void)
{
    env_log_init();
    test_departed_is_told_each_job_that_left_a_view();
    log_shutdown();
    return check_done("test_departed");
}
