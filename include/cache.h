/* The cache: view listings with their fetch time, job renders by id, the
 * freshness rules, LRU eviction by bytes, and single-flight fetching.
 *
 * Every job id ever seen gets one small entry that lives as long as the
 * mount: it gives the job its stable inode number (entry->seq) and keeps the
 * sizes and times that `ls -l` needs even when the rendered files were
 * evicted to stay under cache_size. Renders are shared by every view the job
 * appears in. One mutex guards it all and is never held across the network;
 * a fetch in progress is marked, and others wanting the same data wait for it.
 */
#ifndef SCRAPEFS_CACHE_H
#define SCRAPEFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "job.h"
#include "lister.h"

/* Views fetched from the API: all jobs, then one per status in job_status
 * order. Views numbered from VIEW_COUNT on are groups derived from the
 * all-jobs listing (SPEC §9): one per host of by-domain/ and per day of
 * by-date/; they are as fresh as that listing and cost no request. */
enum { VIEW_ALL = 0, VIEW_STATUS0 = 1, VIEW_COUNT = 1 + JOB_NSTATUS };
enum { GROUP_DOMAIN = 0, GROUP_DATE = 1, GROUP_NKINDS = 2 };

struct job_meta {
    size_t size[JOB_NFILES];
    time_t mtime;
    bool final;
    uint16_t version;  /* bumped whenever the rendered content changes */
    uint64_t digest;   /* of job.json, to notice a change */
};

struct entry; /* opaque outside cache.c */

struct cache_config {
    int ttl_s;
    int timeout_s;
    size_t cap_bytes;
};

struct cache_stats {
    uint64_t hits, misses, evictions;
    size_t bytes, cap_bytes, entries, renders;
    struct {
        bool fetched;
        double age_s;
        size_t jobs;
        long total;
        int last_err;
    } views[VIEW_COUNT];
    size_t groups[GROUP_NKINDS];
    size_t pinned_inodes, pinned_bytes; /* filled in by the caller (pins.h) */
    char last_error[256];
    time_t last_error_at;
};

struct cache;

/* The cache borrows the lister (and through it the HTTP client). */
int cache_new(const struct cache_config *cfg, const struct lister *l, struct cache **out);
void cache_free(struct cache *c);

/* Directory attributes of a view: when its members last changed, and the
 * seconds its listing stays fresh (0 when stale). With refresh, a listing
 * fetched before and stale now is fetched again first. */
int cache_view_info(struct cache *c, int v, bool refresh, struct timespec *mtime, double *fresh_s);

/* Copies up to max entries of view v from position start (refresh: make
 * the view fresh first, as at the start of a readdir). */
int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct entry **items,
                      size_t max, size_t *n);

/* Resolves a file name in a view. In VIEW_ALL an id that is not listed costs
 * one detail request (a 404 is remembered for ttl); in a status view only
 * the listing counts. Returns 0 with the entry and its metadata, or -ENOENT,
 * -EACCES, -EIO. *fresh_s gets how long the answer may be cached. */
int cache_lookup(struct cache *c, int v, const char *name, struct entry **out,
                 struct job_meta *meta, double *fresh_s);

/* The entry with this sequence number, or NULL. */
struct entry *cache_entry_by_seq(struct cache *c, uint64_t seq);
uint64_t cache_entry_seq(const struct entry *e);
/* Writes the entry's file name (NAME_MAX_BYTES + 1 bytes); returns its
 * length or a negative errno. */
int cache_entry_name(const struct entry *e, char *out);
/* A reference to the job's current render (fetched when evicted or stale). */
int cache_job_get(struct cache *c, struct entry *e, struct job **out);

/* Metadata and, for an unfinished job, a reference to the render it
 * describes (NULL for a final one), read together so they agree. refresh:
 * an unfinished job older than ttl is fetched again first. */
int cache_entry_snapshot(struct cache *c, struct entry *e, bool refresh, struct job_meta *meta,
                         double *fresh_s, struct job **job);

/* The render of exactly version ver: the current one when it still is
 * (fetched again if it was evicted and the job is final, as a final job's
 * content cannot differ), else -ESTALE. */
int cache_job_version(struct cache *c, struct entry *e, uint16_t ver, struct job **out);

/* The group view (by-domain or by-date) entry e belongs to; 0 when none. */
int cache_entry_group(struct cache *c, const struct entry *e, int kind);
/* GROUP_* for a group view, -1 for a fetched view, -2 for no view. */
int cache_view_kind(struct cache *c, int v);
/* Finds the non-empty group `name` of a kind (refreshing the all-jobs
 * listing when stale). Returns 0 and its view, or -ENOENT, -EIO, ... */
int cache_group_find(struct cache *c, int kind, const char *name, int *v);

struct group_item {
    char *name; /* owned by the list */
    int view;
    time_t mtime;
};
struct group_list {
    struct group_item *items;
    size_t n;
};
/* The non-empty groups of a kind, sorted by name. */
int cache_groups_list(struct cache *c, int kind, struct group_list *out);
void group_list_free(struct group_list *l);

/* Marks every listing and unfinished job stale and forgets every "no such
 * job". *unfinished gets a new array (the caller frees it) of the unfinished
 * jobs' sequence numbers, whose files' names the kernel must forget, and
 * *absent the names in jobs/ that were absent (each and the array the
 * caller's). Returns the length of *unfinished. */
size_t cache_expire_all(struct cache *c, uint64_t **unfinished, char ***absent, size_t *nabsent);

void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
