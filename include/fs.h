/* The FUSE low-level operations: look the node up, ask the cache, reply.
 *
 * Per-reply timeouts carry the freshness rules to the kernel: final jobs get
 * long attribute timeouts and keep_cache, listings and unfinished jobs get
 * what is left of their ttl, unknown names get negative entries, and a
 * listing directory's cached readdir is kept exactly while its membership
 * has not changed.
 */
#ifndef SCRAPEFS_FS_H
#define SCRAPEFS_FS_H

#include <fuse_lowlevel.h>

#include "cache.h"
#include "http.h"

struct fs_ctx {
    struct cache *cache;       /* borrowed */
    struct http_client *http;  /* borrowed, for stats */
    const char *api_url;       /* borrowed */
    struct fuse_session *se;   /* set after fuse_session_new */
    uid_t uid;
    gid_t gid;
    time_t started;
    int ttl;
};

extern const struct fuse_lowlevel_ops fs_ops;

#endif
