/* The FUSE session's set-up, where libfuse needs help.
 *
 * - Mount options: the mount is read-only at the kernel (every write path
 *   fails with EROFS up front, for root too), its type is fuse.scrapefs and
 *   its source the API URL, so findmnt, df and mount show the URL as they
 *   show user@host: for sshfs.
 * - Parallel directory operations: the kernel serializes LOOKUP and READDIR
 *   in one directory unless the INIT reply carries FUSE_PARALLEL_DIROPS.
 *   libfuse 3.14 never sends that bit, even when asked to (fixed in 3.17.1);
 *   so while the API hangs, shells looking up unknown ids in jobs/ would wait
 *   for each other's timeouts. The session's I/O is routed through a thin
 *   hook that sets the bit in the INIT reply when the kernel offered it. On
 *   a libfuse that sends it already the hook finds it set and changes
 *   nothing.
 */
#ifndef SCRAPEFS_SESSION_H
#define SCRAPEFS_SESSION_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "options.h"

/* Adds scrapefs's mount options to the FUSE arguments. Returns 0 or -ENOMEM. */
int session_args(struct fuse_args *args, const struct options *o);

/* Routes the mounted session's I/O through the INIT hook. Returns 0 or a
 * negative errno. */
int session_hook_init(struct fuse_session *se);

#endif
