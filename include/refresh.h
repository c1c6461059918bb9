/* Reading a view's listing from a source: in full (every page, the walk
 * closed by a second look at the newest page), or cheaply (refresh_cheap:
 * only what can have changed since a listing known to be exact, each
 * change seen or located, never taken from a total). doc/design.md
 * ("Refreshes") states what is assumed and why each check suffices.
 *
 * A listing holds every element of the API's list in its order, elements
 * that cannot be shown included (as stand-ins, job.h), so that a member's
 * index is its offset in the API's list. Nothing here knows the cache: jobs
 * read go to an `install` (the cache's), which hands back what the listing
 * keeps of each, a `struct member`. Nothing here takes a lock.
 */
#ifndef SCRAPEFS_REFRESH_H
#define SCRAPEFS_REFRESH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "source.h"

/* What a listing keeps of one element: 16 bytes. */
struct member {
    uint32_t seq;   /* the job's cache entry; 0 for an element that cannot be shown */
    uint8_t status; /* enum job_status, as listed */
    bool final;     /* a final job: never looked at again by a refresh */
    uint16_t birth; /* a job: moves when its id names another job (created_at changed) */
    union {
        uint64_t key;         /* seq 0: the digest of the element, its only identity */
        uint32_t group[2];    /* a job: its by-domain and by-date views, as listed */
    };
};

/* Members in the API's order. Immutable once made: shared by reference
 * between the cache, refreshes under way and readers of old versions. */
struct listing {
    atomic_int refs;
    long total;          /* the API's total when it was read (== n when exact) */
    size_t n;
    struct member m[];
};

/* A listing of n members (uninitialised) with one reference; NULL when out
 * of memory. */
struct listing *listing_new(size_t n);
struct listing *listing_ref(struct listing *l);
/* Drops one reference; NULL is fine. */
void listing_unref(struct listing *l);

/* Two members are the same element of a list: the same job (an id
 * deleted and created again is another job: its birth moved), or the same
 * text of an element that cannot be shown. */
static inline bool member_same(const struct member *a, const struct member *b)
{
    return a->seq == b->seq && (a->seq ? a->birth == b->birth : a->key == b->key);
}

/* Which end of a listing new jobs appear at. */
enum view_order { ORDER_UNKNOWN = 0, ORDER_NEWEST = 1, ORDER_OLDEST = 2 };

/* Where the jobs read go: the cache. */
struct install {
    /* Takes jobs[0..n) (their references) and writes the member each one
     * is into out[0..n). Returns 0 or -ENOMEM. */
    int (*jobs)(struct install *in, struct job **jobs, size_t n, struct member *out);
    /* The order of members[0..n) by created_at, as read off the ends of
     * the stretch (ORDER_UNKNOWN when they do not tell). */
    int (*order)(struct install *in, const struct member *m, size_t n);
};

/* One refresh of one view: what every step needs, and what it tells back. */
struct walk {
    const struct source *src;
    const char *status;  /* the view's filter; NULL: all jobs */
    int64_t deadline;    /* for the network, CLOCK_MONOTONIC ms */
    time_t now;          /* the time a job without a readable one gets */
    struct install *in;
    int requests;        /* out: list requests made */
    char why[256];       /* out: what failed, or why a cheap refresh gave up */
};

#define REFRESH_MAX_WALKS 3

/* Reads every page of the view. The first page tells the total, the others
 * come in parallel, and the newest page is looked at again at the end: when
 * it and every total agree, nothing changed during the walk and the listing
 * is exact; otherwise the view is walked again (REFRESH_MAX_WALKS in all).
 * order: what is known of the view's order (ORDER_UNKNOWN: guessed from the
 * first page); total_hint: its last total (0: none). Returns 0 and a new
 * listing (*unsure set when the last walk still saw changes), or a
 * negative errno with w->why. */
int refresh_full(struct walk *w, int order, long total_hint, struct listing **out, bool *unsure);

/* A cheap refresh, from a listing known to have been exact. */
struct cheap {
    const struct listing *prev; /* what the view held, or should hold now (derived) */
    int order;                  /* ORDER_NEWEST or ORDER_OLDEST */
    bool recheck;               /* look again at every member that is not final */
    bool moves_in;              /* a job may appear between known ones (a status view,
                                   which jobs enter when they finish): taken on when seen */
    int margin;                 /* how many new jobs to plan for */
    /* where a job may have entered since prev was made (a status view: the
     * place of each job that was unfinished then), as indices into prev:
     * gap k is between prev->m[k - 1] and prev->m[k] (ascending). Each is
     * read, so an entry there is seen whatever the totals say. */
    const uint32_t *watch;
    size_t nwatch;
};

struct cheap_report {
    size_t created;  /* new at the newest end */
    size_t deleted;  /* known members gone */
    size_t entered;  /* seen between known members */
    int rounds;
};

#define REFRESH_MAX_ROUNDS 3

/* Makes the listing of the view now from c->prev, reading only what can
 * have changed: the newest end, the pages of the members to look at again,
 * and pages at chosen offsets until every difference in count between the
 * known members and the API's positions is located. Returns 0 and a new
 * listing; -EAGAIN with w->why when the view must be read in full (an
 * assumption broke, or locating would cost as much); or a fetch's error. */
int refresh_cheap(struct walk *w, const struct cheap *c, struct listing **out,
                  struct cheap_report *rep);

/* Reads the pages at offsets[0..n) (ascending, distinct), in parallel, for
 * their jobs alone (a .jsonl brings back evicted texts this way). */
int refresh_pages(struct walk *w, const long *offsets, size_t n);

#endif
