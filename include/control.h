/* Signals, and a stop that always ends.
 *
 * The signal handlers only write a byte to a pipe; one control thread turns
 * it into action. SIGHUP asks for a refresh (notify_refresh, as rclone mount
 * does). SIGINT and SIGTERM stop the daemon, in an order that ends under
 * load too:
 *   1. the HTTP client fails everything in flight and all that comes later,
 *      so no operation waits on the network any more;
 *   2. the notifier stops: the lookups its notifications may wait for are
 *      now answered at once;
 *   3. the session loop is told to exit, and woken until it has.
 * libfuse's own handlers end the loop at once instead, which can leave a
 * kernel notification waiting for good on a lookup nobody will answer (and
 * the daemon unkillable, in D state).
 */
#ifndef SCRAPEFS_CONTROL_H
#define SCRAPEFS_CONTROL_H

#include <fuse_lowlevel.h>

#include "http.h"
#include "notify.h"

struct control;

/* Installs the handlers and starts the thread; call from the thread that
 * will run the session loop. Returns 0 or a negative errno. */
int control_start(struct fuse_session *se, struct http_client *http, struct notify *nf,
                  struct control **out);

/* After the session loop has returned, for whatever reason: runs the stop
 * if no signal did, ends the thread, restores the signals. */
void control_finish(struct control *c);

#endif
