/* Telling the kernel to forget what it cached, from one thread.
 *
 * A refresh (SIGHUP) makes the cache stale; the kernel must then also drop
 * the listings it holds, the names it holds as absent or as a .jsonl of a
 * given version, and the names of unfinished jobs' files (each points at the
 * version it was looked up with).
 * That is done here, by one notifier thread started with the session:
 *   - the kernel must never be notified from inside an operation on a related
 *     inode (it would wait for the operation, which waits for it);
 *   - a notification can wait on a directory lock held by a lookup that is
 *     waiting on the network, so it must hold up nothing else;
 *   - refreshes asked for while one is being told merge into one more pass:
 *     no thread per refresh.
 * At exit a notification can be stuck for good (the session loop has ended,
 * so the lookup it waits for is never answered): notify_stop() then aborts
 * the connection, which lets the kernel fail both, so shutdown always ends.
 */
#ifndef SCRAPEFS_NOTIFY_H
#define SCRAPEFS_NOTIFY_H

#include <fuse_lowlevel.h>
#include <stdint.h>

struct cache;
struct pins;

struct notify;

int notify_new(struct notify **out);
void notify_free(struct notify *n);

/* Starts the thread (after the mount). mountpoint: to find the connection
 * to abort at exit. Returns 0 or a negative errno. */
int notify_start(struct notify *n, struct fuse_session *se, struct cache *c, struct pins *p,
                 const char *mountpoint);

/* Asks for a refresh: the cache is made stale and the kernel told. Safe in
 * a signal handler (it only writes to a pipe). */
void notify_refresh(struct notify *n);

/* Records that the kernel holds what it was told of `name` in directory
 * parent (absent, or a .jsonl's version) for timeout seconds, so that a
 * refresh can make it ask again. */
void notify_name(struct notify *n, uint64_t parent, const char *name, double timeout);

/* A job left view v (cache.h, cache_config.departed): the kernel is told,
 * from the thread, to forget the job's name in the view's directory. */
void notify_departed(void *n, int view, const char *id, size_t len);

/* Refreshes done (each a pass of the thread), for stats and tests. */
uint64_t notify_passes(struct notify *n);

/* Stops the thread, within a few seconds whatever the kernel does. */
void notify_stop(struct notify *n);

#endif
