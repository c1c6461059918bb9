/* The cache: view listings with their fetch time, jobs by id, the freshness
 * rules, and LRU eviction of job texts by bytes.
 *
 * Every job ever seen gets one small entry that lives as long as the mount:
 * its sequence number is the job's stable inode number, and it keeps what
 * `ls -l` needs (sizes, times, status) when the job's text was evicted to
 * stay under cache_size. A job's text is shared by every view it is in.
 *
 * The fs side talks to the cache in whole records (struct cache_rec): a
 * window of a listing comes back as records, names and attributes for
 * every entry, in one pass under the lock. One mutex guards the cache; it is
 * never held across the network (a fetch runs as a flight, flight.h), and
 * nothing CPU-heavy runs under it: jobs arrive parsed, with their digests and
 * group names computed (job.h).
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
 * all-jobs listing: one per host of by-domain/ and per day of by-date/;
 * they are as fresh as that listing and cost no request. */
enum { VIEW_ALL = 0, VIEW_STATUS0 = 1, VIEW_COUNT = 1 + JOB_NSTATUS };
enum { GROUP_DOMAIN = 0, GROUP_DATE = 1, GROUP_NKINDS = 2 };

/* What is known of a job without its text. */
struct job_meta {
    uint32_t size[JOB_NFILES];
    uint32_t line;    /* its line in a .jsonl: the text and a newline */
    time_t mtime;
    uint16_t version; /* bumped whenever the job's content changes */
    uint8_t status;   /* enum job_status */
    bool final;
};

/* One job, as the fs side sees it. id points into the entry, which lives as
 * long as the cache: it may be read after the call, without the lock. */
struct cache_rec {
    uint32_t seq;
    const char *id;
    size_t id_len;
    struct job_meta meta;
    uint32_t group[GROUP_NKINDS]; /* its by-domain and by-date views (0: none) */
};

/* A view as a directory. */
struct view_info {
    struct timespec mtime; /* moves (to the ns) whenever the members change */
    double fresh_s;        /* how long its names may be cached */
};

struct jsonl;

struct cache_config {
    int ttl_s;
    int timeout_s;
    size_t cap_bytes;
    int full_refresh_s; /* a listing is read in full at least this often; 0: always */
    /* CLOCK_MONOTONIC milliseconds; NULL: the real one (http_now_ms).
     * Freshness and pauses follow it; tests move it by hand. */
    int64_t (*clock_ms)(void);
};

struct cache_stats {
    uint64_t hits, misses, evictions;
    size_t bytes, cap_bytes, entries, renders, flights;
    struct {
        bool fetched;
        double age_s;
        size_t jobs;
        long total;
        int last_err;
        uint64_t full_refreshes, delta_refreshes;
        uint64_t full_requests, delta_requests;
        const char *order; /* "newest", "oldest" or "unknown" */
    } views[VIEW_COUNT];
    size_t groups[GROUP_NKINDS];
    size_t pinned_inodes, pinned_bytes; /* filled in by the caller (pins.h) */
    char last_error[256];
    time_t last_error_at;
};

struct cache;

/* The cache reads from src (copied; its context must outlive the cache). */
int cache_new(const struct cache_config *cfg, const struct source *src, struct cache **out);
void cache_free(struct cache *c);

/* A view's directory attributes. With refresh, a listing fetched before and
 * stale now is fetched again first (how `ls` after ttl learns that the
 * kernel's cached listing is out of date). -ENOENT for no such view. */
int cache_view_info(struct cache *c, int v, bool refresh, struct view_info *out);

/* Up to max records of view v from position start (refresh: make the view
 * fresh first, as at the start of a readdir), and the view's info. */
int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct cache_rec *out,
                      size_t max, size_t *n, struct view_info *info);

/* Resolves a job id in a view. In VIEW_ALL an id that is not listed costs
 * one detail request (a 404 is remembered for ttl); in any other view only
 * the listing counts. Returns 0 with the record, or -ENOENT, -EACCES, -EIO;
 * *fresh_s gets how long the answer (also a negative one) may be cached. */
int cache_lookup(struct cache *c, int v, const char *id, size_t len, struct cache_rec *out,
                 double *fresh_s);

/* The job with this sequence number: its record and, when job is not
 * NULL and the job is unfinished, a reference to the text the record
 * describes (NULL for a final job, whose content cannot change). refresh:
 * an unfinished job older than ttl is fetched again first. -ENOENT for no
 * such job. */
int cache_job(struct cache *c, uint32_t seq, bool refresh, struct cache_rec *out,
              double *fresh_s, struct job **job);

/* The text of exactly version ver of a job: the current one while it is
 * (fetched again if it was evicted and the job is final, as a final job's
 * content cannot differ), else -ESTALE. */
int cache_job_version(struct cache *c, uint32_t seq, uint16_t ver, struct job **out);

/* The view's .jsonl as it is now (refresh: a stale listing is fetched again
 * first): a snapshot (jsonl.h), one new reference, shared by everyone who
 * asks while the view's content stays the same. */
int cache_jsonl(struct cache *c, int v, bool refresh, struct jsonl **out, struct view_info *info);

/* Appends bytes [off, off + size) of a snapshot. The texts of final jobs
 * evicted since are brought back with their list pages (a detail request
 * only for a job no longer where its page was). -EIO when a version the
 * snapshot names is gone. */
int cache_jsonl_read(struct cache *c, const struct jsonl *s, uint64_t off, size_t size,
                     struct buf *out);

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

/* Marks every listing and unfinished job stale, forgets every remembered
 * failure and "no such job": the next use of each fetches again, and no
 * fetch that started before now counts as fresh. */
void cache_expire_all(struct cache *c);

void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
