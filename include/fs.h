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

#include "cache.h"
#include "http.h"
#include "notify.h"
#include "pins.h"

/* Set up by main before the session loop runs; read-only afterwards. */
struct fs_ctx {
    struct cache *cache;       /* borrowed */
    struct http_client *http;  /* borrowed, for stats */
    struct pins *pins;         /* borrowed */
    struct notify *notify;     /* borrowed */
    const char *api_url;       /* borrowed */
    uid_t uid;
    gid_t gid;
    time_t started;
    int ttl;
};

extern const struct fuse_lowlevel_ops fs_ops;

#endif
