/* Single flight: one fetch per missing thing; whoever else wants it meanwhile
 * waits for that fetch and gets its outcome, failure included.
 *
 * A flight is named by a key (a view, a job, an id not known yet). The first
 * caller to want a key leads: it fetches, then lands the flight with the
 * outcome. Callers that come while it is under way wait for the landing and
 * get the same outcome, so n readers of missing data cost one request and one
 * wait, never n. A failure is remembered for a pause: callers in that time
 * get it at once instead of waiting on the network again (the kernel retries
 * a failed read straight away; an outage should cost one timeout, not one
 * per operation).
 *
 * A caller can refuse a flight that started before some moment (a refresh
 * asked for since): it then leads a new one, and the old one is detached; it
 * still lands, for those who waited on it.
 *
 * Every call is made with the owner's lock held (the one given to
 * flights_new, asserted); waiting releases it.
 */
#ifndef SCRAPEFS_FLIGHT_H
#define SCRAPEFS_FLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

struct flight;
struct flights;

int flights_new(struct lock *mu, struct flights **out);
/* No flight may be under way. */
void flights_free(struct flights *fs);

#define FLIGHT_LEAD 1

/* When a caller takes part in a flight: now and not_before on the
 * owner's clock (ms), wait_ms of real time. */
struct flight_when {
    int64_t now;
    int64_t not_before; /* a flight (or a failure) from before does not count */
    int64_t wait_ms;    /* the longest wait for another's flight to land */
};

/* Takes part in the flight of key at w.now. Returns FLIGHT_LEAD with *out
 * set: the caller fetches (it may drop the mutex) and must flight_land();
 * or the outcome of a flight that was under way and started at or after
 * w.not_before (0 or a negative errno), or of a failure remembered since
 * w.not_before and still in its pause. Waiting gives up with -EIO after
 * w.wait_ms of real time. */
int flight_take(struct flights *fs, const void *key, size_t len, struct flight_when w,
                struct flight **out);

/* Lands a led flight with its outcome; a failure (rc < 0) is remembered
 * until pause_until. The flight is gone for the caller afterwards. */
void flight_land(struct flights *fs, struct flight *f, int rc, int64_t now, int64_t pause_until);

/* How many flights are under way or remembered (for stats). */
size_t flights_count(const struct flights *fs);

#endif
