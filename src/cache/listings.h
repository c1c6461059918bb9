/* Listings: whether a view's listing is fresh, and making it so.
 *
 * A listing is read in full the first time, when full_refresh has passed
 * since its last full read, when its order is not known, or when its last
 * full read still saw changes (unsure); else cheaply (refresh.h). A status
 * view is refreshed through jobs/ once jobs/ was listed: a check of jobs/
 * that started after the status view went stale (and after the last
 * SIGHUP) tells which jobs entered it (they were unfinished in jobs/ and
 * are now of its status), so the status view starts from jobs/'s members
 * of its status and only checks that against its own list call. Before
 * jobs/ was ever listed, nothing tells what entered a status view: it is
 * read in full.
 */
#ifndef SCRAPEFS_CACHE_LISTINGS_H
#define SCRAPEFS_CACHE_LISTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

/* Whether the fetched view is fresh now. */
bool view_fresh_locked(const struct cache *c, const struct view *vw, int64_t now);
/* How long its names may still be cached, in seconds (0 when stale). */
double view_fresh_left_locked(const struct cache *c, const struct view *vw, int64_t now);

/* Makes the fetched view behind v fresh (lock held; dropped while
 * fetching): cheaply when the view was read before and its checks hold,
 * else in full. A failure leaves the last good listing in place and
 * returns 0 (stale-if-error); with no listing to fall back on, the error. */
int refresh_view_relocking(struct cache *c, int v, int64_t deadline);

/* The directory attributes of view v. */
void view_info_locked(struct cache *c, int v, struct view_info *out);

#endif
