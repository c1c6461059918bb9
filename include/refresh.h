/* Reading a view's listing: in full (every page of its list call, merged),
 * or cheaply, re-reading only what can have changed (refresh_delta).
 *
 * The first page tells the total; the rest are fetched in parallel. Each
 * page's jobs go to the cache as soon as the page is parsed (struct install),
 * so a listing being fetched is held as entries, not as text: the only copy of
 * a job's text is the cache's, under cache_size. What comes back is the
 * ordered list of entries.
 *
 * A job created or removed while paging shifts every later page (offset
 * drift): a job then shows up twice (merged away) or not at all. Drift is
 * detected (the total changed, fewer distinct jobs than the total) and the
 * pages are read again until a round finds nothing new (at most
 * REFRESH_MAX_ROUNDS rounds).
 *
 * Nothing here takes the cache's lock; the install callback does.
 */
#ifndef SCRAPEFS_REFRESH_H
#define SCRAPEFS_REFRESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "entry.h"
#include "lister.h"

#define REFRESH_MAX_ROUNDS 3

/* One job of a listing: its entry, what orders it and its status, as they
 * were when the member was made (under the cache's lock). */
struct member {
    struct entry *e;
    int64_t created_us;
    bool created_ok;
    uint8_t status; /* enum job_status */
};

/* Where a listing's jobs go as they arrive. */
struct install {
    /* Takes jobs[0..n) (their references) into the cache and writes the
     * member each one became into out, in order; *nout may be less than n
     * when one could not be kept. Returns 0 or -ENOMEM. */
    int (*jobs)(struct install *in, struct job **jobs, size_t n, struct member *out, size_t *nout);
};

struct listing {
    struct member *items; /* owned */
    size_t n;
    long total;           /* as the API last said */
    int requests;         /* requests made: list calls, and detail calls of a delta */
};

/* Reads every page of a view (status NULL: all jobs). Returns 0 and the
 * listing, or a negative errno with a message. */
int refresh_full(const struct source *src, const char *status, int64_t deadline, time_t now,
                 struct install *in, struct listing *out, char *err, size_t errlen);
void listing_free(struct listing *ls);

/* Reads the pages at offsets[0..n) (distinct), in parallel: their jobs go
 * to the cache like any others (a .jsonl brings back the texts it needs
 * this way). */
int refresh_pages(const struct source *src, const char *status, const long *offsets, size_t n,
                  int64_t deadline, time_t now, struct install *in, char *err, size_t errlen);

/* The order of a listing by created_at, as the API lists it. */
enum view_order { ORDER_UNKNOWN = 0, ORDER_NEWEST = 1, ORDER_OLDEST = 2 };
/* NEWEST when created_at never grows along the listing, OLDEST when it
 * never shrinks; UNKNOWN when neither (or a time is missing), or when the
 * listing is too short or too flat to tell. */
int refresh_order(const struct member *items, size_t n);

/* What a cheap refresh starts from: the listing the view should have now,
 * as far as the cache knows (its last listing, or one derived from what
 * other views learned since), in the API's order. */
struct delta {
    const struct member *prev;
    size_t nprev;
    size_t prev_bad;       /* elements of the view that cannot be shown (in its total) */
    int order;             /* ORDER_NEWEST or ORDER_OLDEST */
    bool check_unfinished; /* fetch each unfinished job no re-read page covers */
};

/* A cheap refresh. New jobs appear at the newest end (the start of a
 * newest-first listing, the end of an oldest-first one): the pages there
 * are read until a known job is met. Nothing else is taken on trust:
 *   - every job re-read is in created_at order, the API's order;
 *   - the first known job met is the newest of prev, and the known jobs
 *     after it follow prev exactly (the boundary);
 *   - the API's total is prev plus the new jobs, neither more nor less (a
 *     deletion, a job moved in unseen or out unseen, shows here);
 *   - with check_unfinished, each unfinished job of prev that no re-read
 *     page covered is fetched (its status or content may have moved on; a
 *     404 is a deletion), unless reading the view in full costs less.
 * Returns 0 and the listing; -EAGAIN with the reason in why when a check
 * failed and the view must be read in full; or a fetch's error. */
int refresh_delta(const struct source *src, const char *status, const struct delta *d,
                  int64_t deadline, time_t now, struct install *in, struct listing *out,
                  char *why, size_t whylen);

#endif
