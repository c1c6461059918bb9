/* Lookups: names to jobs, and the versions of a job's text.
 *
 * A name in a status directory or a group resolves from its listing only.
 * A name in jobs/ resolves from the jobs/ listing, and the kernel may keep
 * it as long as the listing is fresh. From a stale listing it resolves
 * from the job's own data (an unfinished job older than ttl is asked for
 * again), but the kernel may not keep it (0 s): no name outlives the
 * freshness of the listing it came from, so the refresh that drops it is
 * seen by the next lookup.
 * One that no listing holds costs one detail request (a job created since,
 * or deleted), shared by all who ask meanwhile, and a 404 is remembered
 * for ttl. A job known only from such a request resolves for ttl after it,
 * no longer: a job deleted upstream stops resolving once a fresh listing
 * lacks it.
 */
#ifndef SCRAPEFS_CACHE_LOOKUPS_H
#define SCRAPEFS_CACHE_LOOKUPS_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

/* What fetch_job_relocking is to make sure of. */
enum {
    JOB_TEXT = 1,     /* the text is at hand */
    JOB_STALE_OK = 2, /* any data will do (where the listing it came with is shown) */
    JOB_EXISTS = 4,   /* the job was seen within ttl, final or not (it can be deleted) */
};

/* Makes sure of what `want` says by one detail request when needed (else
 * the job's data must be fresh: within ttl, or final). A failure leaves the
 * last good data in place and returns 0 (stale-if-error), but a 404. Lock
 * held; dropped while fetching. */
int fetch_job_relocking(struct cache *c, struct entry *e, int want, int64_t deadline);

#endif
