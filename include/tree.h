/* The tree: which node an inode number is, and the fixed part of the tree as
 * a declarative table.
 *
 * Inode numbers are computed, not allocated: a job's nodes are derived from
 * its cache entry's sequence number (stable for the life of the mount), the
 * view its directory sits in, and which file it is. So any inode the kernel
 * still holds can always be decoded, and FORGET needs no bookkeeping.
 *
 *   1..31              fixed nodes (the table below)
 *   1<<62 | version<<46 | seq<<5 | slot<<2 | k
 *                      a job's directory (k = 0, version 0) or file k-1 in
 *                      the directory of slot `slot` (see SLOT_DOMAIN). A new
 *                      version of the job's content is a new inode, so what
 *                      the kernel caches under one inode never changes.
 *   2<<62 | v          the by-domain or by-date directory of group view v
 *   2<<62 | 1<<61 | version<<29 | v
 *                      view v's .jsonl as of that content version (jsonl.h)
 *   3<<62 | n          the n-th .scrapefs/stats document
 */
#ifndef SCRAPEFS_TREE_H
#define SCRAPEFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum node_kind {
    NK_NONE,
    NK_ROOT,
    NK_JOBS,      /* jobs/: the all-jobs view plus the fixed subdirectories */
    NK_BYSTATUS,
    NK_STATUS,    /* jobs/by-status/<status>/: one view */
    NK_CTL,       /* .scrapefs/ */
    NK_STATS,
    NK_BYDOMAIN,  /* jobs/by-domain/: one directory per host */
    NK_BYDATE,    /* jobs/by-date/: one directory per day */
    NK_GROUP,     /* jobs/by-domain/<host>/ or jobs/by-date/<day>/: a group view */
    NK_JOBDIR,
    NK_JOBFILE,
    NK_JSONL,     /* X.jsonl beside the directory of view X */
};

/* The slot of a job node says which directory it sits in: the fetched view
 * of that number (jobs/ or a status dir), or its by-domain / by-date group,
 * which follows from the job itself. */
#define SLOT_DOMAIN 6
#define SLOT_DATE 7

struct node {
    enum node_kind kind;
    int view;      /* NK_JOBS, NK_STATUS, NK_GROUP, NK_JSONL: the view (cache.h);
                      NK_JOBDIR, NK_JOBFILE: the slot */
    int file;      /* NK_JOBFILE: enum job_file */
    uint64_t seq;  /* NK_JOBDIR, NK_JOBFILE: the cache entry; NK_STATS: which
                      document (0 = the name in the table); NK_JSONL: the
                      view's content version */
    uint16_t version; /* NK_JOBFILE: the version of the job's content */
};

/* Fixed inode numbers the code names (the table in tree.c has them all). */
#define INO_ROOT 1
#define INO_JOBS 2
#define INO_BYDOMAIN 12
#define INO_BYDATE 13

/* A fixed node: its inode, name, parent, and kind. */
struct tree_fixed {
    uint64_t ino;
    uint64_t parent;
    const char *name;
    enum node_kind kind;
    int view;
};

extern const struct tree_fixed tree_fixed_nodes[];
extern const size_t tree_fixed_count;

/* Decodes an inode number; false when it names nothing. */
bool tree_decode(uint64_t ino, struct node *out);
uint64_t tree_ino(const struct node *n);

/* The fixed child `name` of fixed directory `parent`, or NULL. */
const struct tree_fixed *tree_fixed_child(uint64_t parent, const char *name);

/* True for directories whose children come from a view listing. */
bool tree_is_listing(const struct node *n);
bool tree_is_dir(const struct node *n);

#endif
