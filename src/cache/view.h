/* A view: an ordered listing of jobs shown as a directory (jobs/, a status
 * directory, a by-domain or by-date group) and beside it as a .jsonl.
 *
 * Its members are a `struct listing` (refresh.h), immutable and shared by
 * reference, so everything that walks all of them (comparing two listings,
 * the membership bits, the groups, a .jsonl snapshot) runs off the cache's
 * lock; under it, a new listing is only swapped in. A fetched view's
 * listing keeps the elements that cannot be shown in their places (so a
 * position is an offset in the API's list); the directory shows the rest.
 *
 * Locking: a struct view is guarded by the cache's lock.
 */
#ifndef SCRAPEFS_CACHE_VIEW_H
#define SCRAPEFS_CACHE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "refresh.h"

struct jsonl;

/* What a view's members are, with what is computed from them off the
 * lock. One owner; view_members_free. */
struct view_members {
    struct listing *list; /* a reference; NULL: none */
    uint64_t *bits;       /* bit seq: a member (fetched views; for lookups) */
    size_t words;
    uint32_t *bad_pos;    /* positions of the members that cannot be shown */
    size_t nbad;
    size_t shown;         /* members that are jobs */
};

struct view {
    int kind;                /* GROUP_* for a group, -1 for a fetched view */
    char *name;              /* a group's directory name (owned) */
    struct view_members mem;
    int64_t fetched_ms;      /* when the listing landed (0: never) */
    int64_t fetch_start_ms;  /* when the fetch that produced it started */
    int64_t valid_until;     /* fresh until then (monotonic ms) */
    struct timespec mtime;   /* when the members last changed, to the ns: the
                                kernel drops a cached listing when it moves */
    uint32_t version;        /* moves when the members or a member's content change */
    struct jsonl *jsonl;     /* the snapshot of this version, once asked for (a reference) */
    int last_err;
    /* fetched views: how the listing was read */
    int order;               /* enum view_order, as the last full read saw it */
    bool unsure;             /* the last full read saw changes: read in full next */
    int margin;              /* new jobs to plan for at the next cheap refresh */
    int64_t full_start_ms;   /* when the last full read started */
    uint64_t full_n, delta_n;               /* refreshes of each kind */
    uint64_t full_requests, delta_requests; /* and the requests they cost */
};

/* A view of a kind (-1: fetched), empty, its mtime now. */
void view_init(struct view *vw, int kind);
/* Frees what the view owns. */
void view_clear(struct view *vw);

/* Computes, off the lock, what a view needs of a listing (the reference
 * is taken): membership bits when `bits`. Returns 0 or -ENOMEM. */
int view_members_make(struct listing *list, bool bits, struct view_members *out);
void view_members_free(struct view_members *m);

/* Whether two listings hold the same members in the same order (off the
 * lock: listings are immutable). NULL is an empty listing. */
bool listing_equal(const struct listing *a, const struct listing *b);

/* Swaps m in as the view's members (lock held); the old ones are left in m
 * for the caller to free off the lock. With changed, the mtime and the
 * version move. */
void view_members_swap(struct view *vw, struct view_members *m, bool changed);

/* Whether seq is a member (fetched views). */
bool view_has(const struct view *vw, uint32_t seq);

/* The listing position of the i-th job shown (members that cannot be
 * shown are skipped). */
size_t view_position(const struct view *vw, size_t i);

#endif
