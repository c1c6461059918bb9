/* One file per view: X.jsonl, the jobs of view X as JSON lines.
 *
 * Each line is a job's object exactly as the API sent it, with the
 * whitespace between tokens removed (the job's kept text, job.h) and a
 * newline. One open file is one snapshot of the view: the list of its jobs,
 * in the API's order, and of the version of each, taken when the file's
 * name was looked up. Its inode is the view's content version (tree.h), so
 * the kernel may keep its pages for good and a refresh never changes what an
 * open file reads: a refresh makes a new snapshot under a new inode.
 *
 * A snapshot does not hold the view: a final job's text is found in the
 * cache when the line is read (and, when it was evicted, brought back with
 * its list page, never one detail request per job); an unfinished job's
 * text, which could change, is held by the snapshot. So a snapshot costs
 * about 16 bytes a line, whatever cache_size is: where a line starts is
 * kept for one line in JSONL_MARK and summed from the lengths for the rest.
 */
#ifndef SCRAPEFS_JSONL_H
#define SCRAPEFS_JSONL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "job.h"

struct jsonl_line {
    uint32_t seq;    /* the job's cache entry */
    uint32_t len;    /* the line's length, newline included */
    uint32_t pos;    /* where it was in the fetched view it comes from */
    uint16_t version;
};

/* An unfinished job's text, held by the snapshot for its line. */
struct jsonl_held {
    size_t line;
    struct job *job;
};

#define JSONL_MARK 64

struct jsonl {
    atomic_int refs;
    int view;         /* the view shown */
    int base;         /* the fetched view it comes from (all jobs for a group) */
    uint32_t version; /* the view's content version: part of the inode */
    long base_total;  /* the base view's total then, to find a line's page later */
    int base_order;   /* enum view_order of the base view */
    time_t mtime;     /* the listing's */
    uint64_t size;
    uint64_t *marks;  /* where line i * JSONL_MARK starts (jsonl_layout) */
    struct jsonl_held *held; /* by line, ascending */
    size_t nheld, capheld;
    size_t n;
    struct jsonl_line lines[];
};

/* A snapshot of n lines, zeroed, with one reference. NULL when out of memory. */
struct jsonl *jsonl_new(size_t n);
struct jsonl *jsonl_ref(struct jsonl *s);
/* Drops one reference; with the last, the held texts and the snapshot go. */
void jsonl_unref(struct jsonl *s);

/* Holds j (a new reference) as line i's text; lines are held in ascending
 * order. Returns 0 or -ENOMEM. */
int jsonl_hold(struct jsonl *s, size_t i, struct job *j);
/* Line i's held text, or NULL for a final job's line. */
struct job *jsonl_held(const struct jsonl *s, size_t i);

/* Sets the file's size and where lines start from the lengths. Returns 0
 * or -ENOMEM. */
int jsonl_layout(struct jsonl *s);

/* Where line i starts. */
uint64_t jsonl_line_off(const struct jsonl *s, size_t i);

/* The index of the line holding byte off (off < size). */
size_t jsonl_line_at(const struct jsonl *s, uint64_t off);

/* Memory the snapshot holds (for stats): its lines and held texts. */
size_t jsonl_bytes(const struct jsonl *s);

#endif
