/* The store behind the cache (store.h): what it lacks, a writer thread that
 * hands it each refresh's changes in one transaction, the state read back
 * at mount, and texts brought back from disk before the network.
 *
 * What the store lacks is marked as it changes (under the cache's lock):
 * a job whose data came in (its text too when the content is new), a view
 * whose listing was installed, the groups when jobs/'s was. The writer
 * wakes after each refresh (or within a second of any change), takes what
 * is marked (in chunks, the lock held a moment each), and writes it in one
 * transaction, off the FUSE threads. A view is taken with the jobs marked
 * before it, which include every job its listing holds, so the store never
 * holds a listing whose jobs it lacks: a crash leaves the state of before
 * or after a write, never a listing of unknown jobs.
 */
#ifndef SCRAPEFS_CACHE_PERSIST_H
#define SCRAPEFS_CACHE_PERSIST_H

#include <stdbool.h>

#include "state.h"

enum { DIRTY_META = 1, DIRTY_TEXT = 2 };

/* Starts the writer (c->store set). Returns 0 or a negative errno. */
int persist_start(struct cache *c);
/* Writes what is left and ends the writer. */
void persist_stop(struct cache *c);

/* Marks what the store lacks (lock held). */
void persist_job_locked(struct cache *c, struct entry *e, int what);
void persist_view_locked(struct cache *c, int v);
/* Wakes the writer: a refresh ended. */
void persist_wake(struct cache *c);

/* Reads back everything but the texts into an empty cache, before any
 * other use. -EBADMSG when the store was damaged (it was set aside): the
 * cache must be thrown away and made anew. */
int persist_load(struct cache *c);

/* Brings e's text (a final job's, or any when stale_ok) back from the
 * store. Lock held; dropped while the disk is read. 0 when it is back. */
int persist_text_relocking(struct cache *c, struct entry *e);

#endif
