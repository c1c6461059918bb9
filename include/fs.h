/* The FUSE low-level operations: look the node up, ask the cache, reply.
 *
 * The kernel caches as much as it can and is told when to stop: file inodes
 * are immutable (a new version of a job's content is a new inode, see
 * pins.h), so their pages and attributes are kept for good and OPEN is never
 * sent; names of unfinished jobs' files, listings and unknown names (negative
 * entries) are kept for what is left of their ttl; a listing directory's
 * mtime moves whenever its members do, which drops the kernel's cached
 * readdir.
 */
#ifndef SCRAPEFS_FS_H
#define SCRAPEFS_FS_H

#include <fuse_lowlevel.h>
#include <stdatomic.h>

#include "cache.h"
#include "http.h"
#include "pins.h"

struct fs_ctx {
    struct cache *cache;       /* borrowed */
    struct http_client *http;  /* borrowed, for stats */
    struct pins *pins;         /* borrowed */
    const char *api_url;       /* borrowed */
    struct fuse_session *se;   /* set after fuse_session_new */
    uid_t uid;
    gid_t gid;
    time_t started;
    int ttl;
    _Atomic int notifiers;     /* refresh threads still telling the kernel */
};

/* Waits (up to 5 s) for the refresh threads that still use the session: call
 * after fuse_session_unmount(), before fuse_session_destroy(). */
void fs_wait_notifiers(struct fs_ctx *f);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
