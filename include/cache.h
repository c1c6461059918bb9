/* The cache: what fs.c asks for, in whole records.
 *
 * Views (the listings of jobs/, the status directories and the by-domain
 * and by-date groups), jobs by id and by number, the .jsonl snapshots, and
 * the freshness rules that decide when each is fetched again. The fs side
 * never sees entries, versions of listings or snapshots of members: it gets
 * records (struct cache_rec), copied in one pass under the cache's lock; an
 * id in a record points into an entry, which lives as long as the cache.
 *
 * Every function takes the cache's lock itself. One lock guards the
 * cache; it is never held across the network (a fetch runs as a flight,
 * flight.h) or a pass over every job (those run on immutable listings,
 * outside it). doc/design.md ("The cache") has the modules behind this.
 */
#ifndef SCRAPEFS_CACHE_H
#define SCRAPEFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "job.h"
#include "source.h"
#include "views.h"

/* What is known of a job without its text. */
struct job_meta {
    uint32_t size[JOB_NFILES];
    uint32_t line;    /* its line in a .jsonl: the text and a newline */
    time_t mtime;
    uint16_t version; /* bumped whenever the job's content changes */
    uint8_t status;   /* enum job_status */
    bool final;
};

/* One job, as the fs side sees it. */
struct cache_rec {
    uint32_t seq;
    const char *id; /* into the entry: valid for the cache's life, without the lock */
    size_t id_len;
    bool listed;    /* cache_lookup: the name comes from a listing (else a detail request) */
    struct job_meta meta;
    uint32_t group[GROUP_NKINDS]; /* its by-domain and by-date views (0: none) */
};

/* A view as a directory. */
struct view_info {
    struct timespec mtime; /* moves (to the ns) whenever the members change */
    double fresh_s;        /* how long its names may be cached */
    size_t jobs;           /* how many jobs it lists */
    bool known;            /* it was listed (jobs means something) */
};

struct jsonl;
struct store;

struct cache_config {
    int ttl_s;
    int timeout_s;
    size_t cap_bytes;
    int full_refresh_s; /* a listing is read in full at least this often; 0: always */
    /* CLOCK_MONOTONIC milliseconds; NULL: the real one (clock.h). Freshness
     * and pauses follow it; tests move it by hand. */
    int64_t (*clock_ms)(void);
    struct store *store; /* the on-disk store (store.h), or NULL */
    /* Told, after a refresh and without the lock, of each job that left a
     * view (deleted, or moved out), so the kernel can forget its name
     * there. NULL: nobody is told. */
    void (*departed)(void *arg, int view, const char *id, size_t len);
    void *departed_arg;
};

struct cache_stats {
    uint64_t hits, misses, evictions;
    size_t bytes, cap_bytes, entries, texts, flights;
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
    bool offline;              /* started offline; no request has succeeded since */
    bool store;                /* a store is used: */
    char store_path[512];
    uint64_t store_bytes, store_texts, store_reads;
    time_t store_last_write;
    char last_error[256];
    time_t last_error_at;
};

struct cache;

/* The cache reads from src (copied; its context must outlive the cache). */
int cache_new(const struct cache_config *cfg, const struct source *src, struct cache **out);
/* With a store (cache_config.store): reads back what it holds (before any
 * other use) and starts its writer. -EBADMSG when the store was damaged (it
 * was set aside): free this cache and make a new one, which starts cold. */
int cache_open_store(struct cache *c);
/* Writes what the store lacks, then frees everything. */
void cache_free(struct cache *c);

/* The mount started without the API (offline): until a request succeeds,
 * stats says so. */
void cache_set_offline(struct cache *c);

/* A view's directory attributes. With refresh, a listing fetched before and
 * stale now is fetched again first (how `ls` after ttl learns that the
 * kernel's cached listing is out of date). -ENOENT for no such view. */
int cache_view_info(struct cache *c, int v, bool refresh, struct view_info *out);

/* Room for records: v[0..max), of which n are filled. */
struct cache_recs {
    struct cache_rec *v;
    size_t max, n;
};

/* Up to out->max records of view v's jobs from the start-th on (refresh:
 * make the view fresh first, as at the start of a readdir), and the
 * view's info. */
int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct cache_recs *out,
                      struct view_info *info);

/* Resolves a job id in a view. In jobs/ an id no fresh listing holds costs
 * one detail request (a 404 is remembered for ttl); in any other view only
 * the listing counts. Returns 0 with the record, or -ENOENT, -EACCES, -EIO;
 * *fresh_s gets how long the name (or its absence) may be cached. */
int cache_lookup(struct cache *c, int v, const char *id, size_t len, struct cache_rec *out,
                 double *fresh_s);

/* The job with this sequence number: its record and, when job is not
 * NULL and the job is unfinished, a reference to the text the record
 * describes (NULL for a final job, whose content cannot change). refresh:
 * an unfinished job older than ttl is fetched again first. *fresh_s: how
 * long its attributes may be cached. -ENOENT for no such job. */
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
/* How many group views there are: they are numbered VIEW_COUNT on. */
size_t cache_group_count(struct cache *c);
/* How many groups of a kind are listed (non-empty). */
size_t cache_group_dirs(struct cache *c, int kind);
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
