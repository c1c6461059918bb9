/* The cache's state, shared by its modules (src/cache/), and the rule
 * that guards it: one lock, c->lock, over everything below but the
 * configuration (set once, before any other thread sees the cache).
 *
 * The modules, each one question, bottom to top (a module uses only those
 * before it):
 *   entries.c    which jobs are known, and whose texts are held (LRU)
 *   view.c       a view's members, made and compared off the lock
 *   groups.c     by-domain/ and by-date/, built from the jobs/ listing
 *   state.c      the helpers all the rest share (view numbers, errors, clocks)
 *   persist.c    the on-disk store behind the cache: its writer, the load
 *   install.c    what a fetch brought, taken in (texts, groups, versions)
 *   listings.c   whether a listing is fresh, and making it so
 *   lookups.c    names to jobs, and the versions of a job's text
 *   jsonl_reads.c  a view's .jsonl: snapshots and their reads
 *   cache.c      the rest of the face: life, stats, SIGHUP
 * Naming (lock.h): *_locked expects the lock; *_relocking expects it and
 * drops it while it waits on the network.
 */
#ifndef SCRAPEFS_CACHE_STATE_H
#define SCRAPEFS_CACHE_STATE_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "entries.h"
#include "flight.h"
#include "lock.h"
#include "nameset.h"
#include "source.h"
#include "view.h"

struct groups;
struct persist;

struct cache {
    struct lock lock;
    /* configuration: set once */
    struct source src;
    int64_t (*clock)(void);
    int64_t ttl_ms, timeout_ms, pause_ms, full_refresh_ms;
    struct store *store;
    void (*departed)(void *arg, int view, const char *id, size_t len);
    void *departed_arg;
    /* guarded by lock */
    int64_t expired_ms;       /* cache_expire_all: nothing fetched before is fresh */
    struct entries ents;
    struct view views[VIEW_COUNT];
    struct groups *groups;    /* the group views */
    struct flights *flights;  /* fetches under way, and recent failures */
    struct nameset negative;  /* ids the API said it does not know (404), for ttl */
    struct persist *persist;  /* what the store lacks, and its writer (NULL: no store) */
    _Atomic bool offline;     /* started offline; no request has succeeded since */
    uint64_t hits, misses;
    char last_error[256];
    time_t last_error_at;
};

#define ASSERT_LOCKED(c) assert(lock_held(&(c)->lock))

/* A fetched view (v < VIEW_COUNT) or a group view; NULL for neither. */
struct view *view_at_locked(struct cache *c, int v);

/* The fetched view a view comes from: groups derive from all jobs. */
static inline int base_view(int v)
{
    return v < VIEW_COUNT ? v : VIEW_ALL;
}

/* Records the last error, for stats. */
void note_error_locked(struct cache *c, const char *what, const char *msg);

/* The network's deadline for an operation starting now (one per
 * operation: a cascade of refreshes shares it), on the real monotonic
 * clock the HTTP client keeps, whatever clock the cache runs on. */
int64_t deadline_of(const struct cache *c);
/* How long one may still wait for another's fetch. */
int64_t wait_left(int64_t deadline);

/* When a fetch that starts `now` counts as started: never before the last
 * cache_expire_all, so one in the same millisecond as a refresh counts as
 * after it. */
int64_t fetch_start_locked(struct cache *c, int64_t now);

/* Until when a fetch's failure is given out instead of fetching again: a
 * network or server failure for the pause (the kernel retries a failed
 * read at once; it must not wait again); anything else not at all. */
int64_t pause_after(const struct cache *c, int rc, int64_t end);

#endif
