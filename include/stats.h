/* The .scrapefs/stats document: one JSON object built fresh at every open.
 * It is made only of counters and the cache's state; the key is never
 * among its inputs, so it cannot contain it. */
#ifndef SCRAPEFS_STATS_H
#define SCRAPEFS_STATS_H

#include <stddef.h>

#include "cache.h"
#include "http.h"

/* Returns a new NUL-terminated document (caller frees) and its length, or
 * NULL when out of memory. */
char *stats_render(const struct http_stats *h, const struct cache_stats *c, const char *api_url,
                   size_t *len);

#endif
