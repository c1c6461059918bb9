/* Where jobs come from: list pages and single jobs.
 *
 * The cache asks a `struct source` for pages of a view at given offsets and
 * for single jobs; it never sees HTTP. lister_source() (lister.h) makes the
 * real one, the API through the HTTP client; the unit tests plug in fakes
 * that serve pages from memory, to drive the cache and the refreshes
 * deterministically.
 *
 * Pages are handed over one by one, in the calling thread, as soon as each
 * has arrived and been parsed (while the others are still in flight), so
 * nobody holds a whole listing's text.
 */
#ifndef SCRAPEFS_SOURCE_H
#define SCRAPEFS_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "job.h"

/* A total beyond this is hostile or broken, not a reason to send 100,000 requests. */
#define SOURCE_MAX_TOTAL 5000000L

/* Receives the pages of a fetch, in the fetching thread. */
struct page_sink {
    /* The page at offset: its elements jobs[0..n) in the API's order, an
     * element that cannot be shown as its stand-in (job->bad); the
     * references become the sink's. total: what the API said. Returns 0,
     * or a negative errno that fails the fetch. */
    int (*page)(struct page_sink *s, long offset, struct job **jobs, size_t n, long total);
};

/* What every fetch is told: when it must be done by, the wall clock its
 * jobs are stamped with (a date that does not parse shows as it), and
 * where the message of a failure goes. */
struct source_call {
    int64_t deadline; /* CLOCK_MONOTONIC ms */
    time_t now;
    char *err;        /* a failure's message, NUL-terminated */
    size_t errlen;
};

struct source_ops {
    /* Fetches the list pages at offsets[0..n) (limit: the page size) of a
     * view (status NULL: all jobs), in parallel, handing each to sink.
     * Returns 0, or the first failure as a negative errno with a message. */
    int (*pages)(void *ctx, const struct source_call *call, const char *status,
                 const long *offsets, size_t n, struct page_sink *sink);
    /* Fetches one job. Returns 0 and a new reference, -ENOENT for a 404,
     * or another negative errno with a message. */
    int (*job)(void *ctx, const struct source_call *call, const char *id, size_t idlen,
               struct job **out);
};

struct source {
    const struct source_ops *ops;
    void *ctx;
    int page_size; /* the limit of every list call */
};

#endif
