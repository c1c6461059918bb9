/* Reading a view's listing: every page of its list call, merged.
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

/* One job of a listing: its entry and what orders it. */
struct member {
    struct entry *e;
    int64_t created_us;
    bool created_ok;
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
    int requests;         /* list calls made */
};

/* Reads every page of a view (status NULL: all jobs). Returns 0 and the
 * listing, or a negative errno with a message. */
int refresh_full(const struct source *src, const char *status, int64_t deadline, time_t now,
                 struct install *in, struct listing *out, char *err, size_t errlen);
void listing_free(struct listing *ls);

#endif
