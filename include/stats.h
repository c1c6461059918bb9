/* The .scrapefs/stats document: one JSON object built fresh at every open.
 * It is made only of counters and the cache's state; the key is never
 * among its inputs, so it cannot contain it. */
#ifndef SCRAPEFS_STATS_H
#define SCRAPEFS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "http.h"

/* What the document shows besides the counters. */
struct stats_about {
    const char *api_url;
    long pid;            /* the daemon's: kill -HUP refreshes */
    uint64_t refreshes;  /* SIGHUP refreshes done */
};

/* Returns a new NUL-terminated document (caller frees) and its length, or
 * NULL when out of memory. Reals have at most 15 significant digits
 * (0.067, never 0.067000000000000004). */
char *stats_render(const struct http_stats *h, const struct cache_stats *c,
                   const struct stats_about *about, size_t *len);

#endif
