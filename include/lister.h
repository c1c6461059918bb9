/* Where jobs come from: list pages and single jobs, fetched from the API.
 *
 * The cache asks a `struct source` for pages of a view at given offsets and
 * for single jobs; it never sees HTTP. lister_source() makes the real one
 * (the API through the HTTP client); the unit tests plug in a fake that
 * serves pages from memory, to drive the cache and the refresh logic
 * deterministically.
 *
 * Pages are handed over one by one, in the calling thread, as soon as each
 * has arrived and been parsed (while the others are still in flight), so
 * nobody holds a whole listing's text.
 */
#ifndef SCRAPEFS_LISTER_H
#define SCRAPEFS_LISTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http.h"
#include "job.h"

/* A total beyond this is hostile or broken, not a reason to send 100,000 requests. */
#define LISTER_MAX_TOTAL 5000000L

/* Receives the pages (or jobs) of a fetch, in the fetching thread. */
struct page_sink {
    /* The page at offset: jobs[0..n) (the references become the sink's),
     * bad elements that cannot be shown, the total the API gave. Returns 0,
     * or a negative errno that fails the fetch. */
    int (*page)(struct page_sink *s, long offset, struct job **jobs, size_t n, size_t bad,
                long total);
    /* Job ids[index] of a jobs() fetch: j (the sink's reference), or NULL
     * with -ENOENT for a 404. Returns 0 or a negative errno. */
    int (*job)(struct page_sink *s, size_t index, struct job *j, int rc);
};

struct job_id {
    const char *id;
    size_t len;
};

struct source_ops {
    /* Fetches the list pages at offsets[0..n) (limit: the page size) of a
     * view (status NULL: all jobs), in parallel, handing each to sink.
     * Returns 0, or the first failure as a negative errno with a message. */
    int (*pages)(void *ctx, const char *status, const long *offsets, size_t n, int64_t deadline,
                 time_t now, struct page_sink *sink, char *err, size_t errlen);
    /* Fetches one job. Returns 0 and a new reference, -ENOENT for a 404,
     * or another negative errno with a message. */
    int (*job)(void *ctx, const char *id, size_t idlen, int64_t deadline, time_t now,
               struct job **out, char *err, size_t errlen);
    /* Fetches the jobs ids[0..n) in parallel, handing each (or its 404) to
     * sink->job. Returns 0, or the first other failure with a message. */
    int (*jobs)(void *ctx, const struct job_id *ids, size_t n, int64_t deadline, time_t now,
                struct page_sink *sink, char *err, size_t errlen);
};

struct source {
    const struct source_ops *ops;
    void *ctx;
    int page_size; /* the limit of every list call */
};

/* The API through the HTTP client. */
struct lister {
    struct http_client *http; /* borrowed */
    const char *api_url;      /* borrowed */
    int page_size;
};
/* A source reading from l (which must outlive it). */
struct source lister_source(struct lister *l);

#endif
