/* Fetching views and jobs from the API.
 *
 * A view (all jobs, or one status) is every page of its list call: the first
 * page tells the total, the rest are fetched in parallel, and the pages are
 * merged by job_id. The API lists newest first, so a job created or removed
 * while paging shifts every later page (offset drift); a job then shows up
 * twice (merged away) or not at all. Drift is detected (total changed, fewer
 * distinct jobs than total) and the pages are read again, merging, until a
 * round finds nothing new (at most LISTER_MAX_ROUNDS rounds).
 */
#ifndef SCRAPEFS_LISTER_H
#define SCRAPEFS_LISTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http.h"
#include "job.h"

#define LISTER_MAX_ROUNDS 3
/* A total beyond this is hostile or broken, not a reason to send 100,000 requests. */
#define LISTER_MAX_TOTAL 5000000L

struct lister {
    struct http_client *http; /* borrowed */
    const char *api_url;      /* borrowed */
    int page_size;
};

struct listing {
    struct job **jobs; /* each holds one reference; owned by the listing */
    size_t n;
    long total;        /* as the API last said */
    int pages;         /* list calls made */
};

/* Fetches every page of a view; status NULL means all jobs. Returns 0 and
 * fills out, or a negative errno (-EACCES, -EIO, ...) with a message. */
int lister_fetch_view(const struct lister *l, const char *status, int64_t deadline, time_t now,
                      struct listing *out, char *err, size_t errlen);
void listing_free(struct listing *ls);

/* Fetches one job by id. Returns 0 and a new reference, -ENOENT for a 404,
 * or another negative errno with a message. */
int lister_fetch_job(const struct lister *l, const char *id, size_t idlen, int64_t deadline,
                     time_t now, struct job **out, char *err, size_t errlen);

/* Accepts a list page: a JSON object with a "jobs" array and an integer
 * "total". Anything else is a malformed body, retried by the HTTP client. */
bool lister_page_valid(const char *body, size_t len);
/* Accepts a detail answer: a JSON object. */
bool lister_job_valid(const char *body, size_t len);

#endif
