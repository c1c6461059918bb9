/* The cache's records of jobs and views, shared by the modules that make up
 * the cache: cache.c (entries, LRU, freshness), groups.c (by-domain and
 * by-date) and refresh.c (reading a view's listing). Nothing else includes
 * this: the fs side sees struct cache_rec.
 *
 * Locking: every field is guarded by the cache's mutex, except those marked
 * "identity", which are set before the record is published and never
 * change, so anyone holding the pointer may read them.
 */
#ifndef SCRAPEFS_ENTRY_H
#define SCRAPEFS_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "job.h"

/* in_view has one bit per fetched view. */
_Static_assert(VIEW_COUNT <= 8, "struct entry's in_view holds one bit per fetched view");

struct entry {
    uint32_t seq;              /* identity: 1-based, names the job's inodes */
    uint16_t id_len;           /* identity */
    uint8_t in_view;           /* bit v: listed in fetched view v */
    bool created_ok;           /* created_at parsed (for the order of views) */
    int64_t created_us;
    struct job *job;           /* the text, one reference; NULL when evicted */
    struct job_meta meta;
    uint64_t digest;           /* of the text: tells new content from the same */
    int64_t fetched_ms;        /* when its data last came in (0: never) */
    int64_t fetch_start_ms;    /* when the fetch that brought it started */
    uint32_t group[GROUP_NKINDS]; /* its by-domain and by-date views (0: none) */
    uint32_t lru_prev, lru_next; /* LRU (seqs; 0: none) while job != NULL; head = newest */
    char id[];                 /* identity: the id's bytes and a NUL */
};

struct view {
    int kind;                /* GROUP_*, or -1 for a fetched view */
    char *name;              /* a group's directory name (owned) */
    struct entry **items;    /* the members in the API's order (owned array) */
    size_t n;
    long total;              /* as the API last said */
    int64_t fetched_ms;      /* when the listing landed (0: never) */
    int64_t fetch_start_ms;  /* when the fetch that produced it started */
    int64_t valid_until;     /* fresh until then (monotonic ms) */
    struct timespec mtime;   /* when the members last changed, to the ns: the
                                kernel drops a cached listing when it moves */
    int last_err;
    uint32_t version;        /* moves when the members or a member's content change */
    struct jsonl *jsonl;     /* the snapshot of this version, once asked for (a reference) */
    /* fetched views: how the listing was read (refresh.h) */
    int order;               /* enum view_order, as the last full read saw it */
    size_t bad;              /* elements in its total that cannot be shown */
    int64_t full_start_ms;   /* when the last full read started */
    uint64_t full_n, delta_n;               /* refreshes of each kind */
    uint64_t full_requests, delta_requests; /* and the requests they cost */
};

/* Replaces a view's members (taking the array); moves its mtime when they
 * changed. */
void view_set_members(struct view *vw, struct entry **items, size_t n);

#endif
