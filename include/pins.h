/* Content pinned to inodes the kernel still holds.
 *
 * scrapefs lets the kernel cache file pages as long as it likes and skips
 * OPEN upcalls altogether (a warm grep -r then never leaves the kernel). That
 * is only right if what one inode shows never changes, so content that can
 * change gets a new inode per version (tree.h), and the old version must
 * stay readable for as long as the kernel may read through the old inode:
 * until the FORGET that takes its lookup count to zero. This table holds
 * exactly that: per inode its lookup count and the content it showed, an
 * unfinished job's text, a .scrapefs/stats document or a .jsonl snapshot. (A final job's
 * content never changes and is fetched again if evicted, so it is not pinned.)
 */
#ifndef SCRAPEFS_PINS_H
#define SCRAPEFS_PINS_H

#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "jsonl.h"

/* An immutable, reference-counted text (a stats document). */
struct blob {
    atomic_int refs;
    size_t len;
    char data[];
};
/* Takes ownership of nothing: copies data. NULL when out of memory. */
struct blob *blob_new(const char *data, size_t len);
struct blob *blob_ref(struct blob *b);
void blob_unref(struct blob *b);

struct pins;

int pins_new(struct pins **out);
void pins_free(struct pins *p);

/* What an inode shows: exactly one of them. */
struct pinned {
    struct job *job;     /* an unfinished job's text */
    struct blob *blob;   /* a .scrapefs/stats document */
    struct jsonl *jsonl; /* a view's .jsonl snapshot */
};

/* Counts one more lookup of ino. The first one pins what it shows (new
 * references are taken). -ESTALE when ino already shows something else. */
int pins_add(struct pins *p, uint64_t ino, struct pinned what);

/* What ino shows, as new references (pinned_unref), or -ENOENT when
 * nothing is pinned to it. */
int pins_get(struct pins *p, uint64_t ino, struct pinned *out);
void pinned_unref(struct pinned *w);

/* The kernel forgot n lookups of ino; unpins at zero. */
void pins_forget(struct pins *p, uint64_t ino, uint64_t n);

/* How many inodes and bytes are pinned (for stats). */
void pins_usage(struct pins *p, size_t *inodes, size_t *bytes);

/* The inodes that show an unfinished job's text, as a new array (the
 * caller frees it); returns how many. */
size_t pins_job_inodes(struct pins *p, uint64_t **out);

#endif
