/* Single flight (flight.h): one record per key under way or remembered, in
 * an idmap; waiters sleep on one condition variable of the owner's lock. */
#include "flight.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "idmap.h"

/* Guarded by the owner's mutex, like everything here. */
struct flight {
    bool busy;        /* a fetch is under way */
    bool in_map;      /* findable by key (false: detached or about to go) */
    int rc;           /* the outcome of the landing */
    int64_t started;  /* when the fetch began */
    int64_t landed;   /* when it landed */
    int64_t until;    /* a failure is given out until then */
    int waiters;      /* callers waiting for the landing */
    unsigned landings;
    size_t len;
    char key[];       /* the map's key */
};

struct flights {
    struct lock *mu;
    pthread_cond_t cv; /* some flight landed */
    struct idmap map;  /* key -> flight */
};

int flights_new(struct lock *mu, struct flights **out)
{
    struct flights *fs = calloc(1, sizeof *fs);
    if (!fs)
        return -ENOMEM;
    fs->mu = mu;
    clock_cond_init(&fs->cv);
    *out = fs;
    return 0;
}

void flights_free(struct flights *fs)
{
    if (!fs)
        return;
    size_t it = 0;
    struct flight *f;
    while ((f = idmap_next(&fs->map, &it, NULL, NULL)) != NULL)
        free(f);
    idmap_free(&fs->map);
    pthread_cond_destroy(&fs->cv);
    free(fs);
}

/* Takes f out of the map; it is freed now, or by the last waiter. */
static void detach(struct flights *fs, struct flight *f)
{
    if (f->in_map) {
        idmap_del(&fs->map, f->key, f->len);
        f->in_map = false;
    }
    if (!f->busy && f->waiters == 0)
        free(f);
}

static int wait_landing(struct flights *fs, struct flight *f, int64_t wait_ms)
{
    struct timespec ts = clock_mono_ts(clock_mono_ms() + wait_ms);
    unsigned seen = f->landings;
    int rc = 0;
    f->waiters++;
    while (f->landings == seen) {
        if (lock_wait(fs->mu, &fs->cv, &ts) == ETIMEDOUT && f->landings == seen) {
            rc = -EIO;
            break;
        }
    }
    if (f->landings != seen)
        rc = f->rc;
    f->waiters--;
    if (!f->in_map && !f->busy && f->waiters == 0)
        free(f);
    return rc;
}

int flight_take(struct flights *fs, const void *key, size_t len, struct flight_when w,
                struct flight **out)
{
    int64_t now = w.now, not_before = w.not_before, wait_ms = w.wait_ms;
    assert(lock_held(fs->mu));
    struct flight *f = idmap_get(&fs->map, key, len);
    if (f && f->busy && f->started < not_before) {
        detach(fs, f); /* started before a refresh asked for since: not good enough */
        f = NULL;
    } else if (f && !f->busy && (now >= f->until || f->landed < not_before)) {
        detach(fs, f); /* a failure whose pause is over */
        f = NULL;
    }
    if (f && f->busy)
        return wait_landing(fs, f, wait_ms);
    if (f)
        return f->rc;
    if (!(f = calloc(1, sizeof *f + len)))
        return -ENOMEM;
    memcpy(f->key, key, len);
    f->len = len;
    if (idmap_put(&fs->map, f->key, len, f)) {
        free(f);
        return -ENOMEM;
    }
    f->in_map = true;
    f->busy = true;
    f->started = now;
    *out = f;
    return FLIGHT_LEAD;
}

void flight_land(struct flights *fs, struct flight *f, int rc, int64_t now, int64_t pause_until)
{
    assert(lock_held(fs->mu));
    f->busy = false;
    f->rc = rc;
    f->landed = now;
    f->until = pause_until;
    f->landings++;
    pthread_cond_broadcast(&fs->cv);
    if (rc == 0 || pause_until <= now)
        detach(fs, f); /* nothing to remember */
    else if (!f->in_map && f->waiters == 0)
        free(f);
}

size_t flights_count(const struct flights *fs)
{
    return fs->map.count;
}
