/* The .scrapefs/stats document (stats.h), built with jansson from
 * counters only. */
#include "stats.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An ISO 8601 UTC time, in a static buffer (one document at a time per
 * thread is all that uses it). */
static const char *iso_time(time_t t)
{
    static _Thread_local char when[32];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return when;
}

static json_t *counters(const uint64_t *vals, const char *const *names, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(o, names[i], json_integer((json_int_t)vals[i]));
    return o;
}

char *stats_render(const struct http_stats *h, const struct cache_stats *c,
                   const struct stats_about *about, size_t *len)
{
    json_t *root = json_object();
    if (!root)
        return NULL;
    json_object_set_new(root, "api_url", json_string(about->api_url));
    json_object_set_new(root, "pid", json_integer((json_int_t)about->pid));
    json_object_set_new(root, "refreshes", json_integer((json_int_t)about->refreshes));
    json_object_set_new(root, "requests", counters(h->requests, http_kind_names, HTTP_NKINDS));
    json_object_set_new(root, "retries", json_integer((json_int_t)h->retries));
    json_object_set_new(root, "errors", counters(h->errors, http_err_kind_names, HE_NKINDS));
    json_object_set_new(root, "bytes_received", json_integer((json_int_t)h->bytes));

    json_t *cache = json_object();
    json_object_set_new(cache, "hits", json_integer((json_int_t)c->hits));
    json_object_set_new(cache, "misses", json_integer((json_int_t)c->misses));
    json_object_set_new(cache, "evictions", json_integer((json_int_t)c->evictions));
    json_object_set_new(cache, "bytes", json_integer((json_int_t)c->bytes));
    json_object_set_new(cache, "cap_bytes", json_integer((json_int_t)c->cap_bytes));
    json_object_set_new(cache, "jobs_known", json_integer((json_int_t)c->entries));
    json_object_set_new(cache, "jobs_rendered", json_integer((json_int_t)c->texts));
    json_object_set_new(cache, "pinned_inodes", json_integer((json_int_t)c->pinned_inodes));
    json_object_set_new(cache, "pinned_bytes", json_integer((json_int_t)c->pinned_bytes));
    json_object_set_new(root, "cache", cache);

    json_t *listings = json_object();
    for (int v = 0; v < VIEW_COUNT; v++) {
        json_t *l = json_object();
        json_object_set_new(l, "fetched", json_boolean(c->views[v].fetched));
        json_object_set_new(l, "age_seconds",
                            c->views[v].fetched ? json_real(c->views[v].age_s) : json_null());
        json_object_set_new(l, "jobs", json_integer((json_int_t)c->views[v].jobs));
        json_object_set_new(l, "total", json_integer((json_int_t)c->views[v].total));
        json_object_set_new(l, "order", json_string(c->views[v].order));
        json_t *r = json_object();
        json_object_set_new(r, "full", json_integer((json_int_t)c->views[v].full_refreshes));
        json_object_set_new(r, "full_requests",
                            json_integer((json_int_t)c->views[v].full_requests));
        json_object_set_new(r, "delta", json_integer((json_int_t)c->views[v].delta_refreshes));
        json_object_set_new(r, "delta_requests",
                            json_integer((json_int_t)c->views[v].delta_requests));
        json_object_set_new(l, "refreshes", r);
        json_object_set_new(listings, view_names[v], l);
    }
    json_object_set_new(root, "listings", listings);
    json_object_set_new(root, "offline", json_boolean(c->offline));
    if (c->store) {
        json_t *st = json_object();
        json_object_set_new(st, "path", json_string(c->store_path));
        json_object_set_new(st, "bytes", json_integer((json_int_t)c->store_bytes));
        json_object_set_new(st, "jobs_held", json_integer((json_int_t)c->store_texts));
        json_object_set_new(st, "reads", json_integer((json_int_t)c->store_reads));
        json_object_set_new(st, "last_write", c->store_last_write ? json_string(iso_time(c->store_last_write))
                                                                   : json_null());
        json_object_set_new(root, "store", st);
    } else {
        json_object_set_new(root, "store", json_null());
    }
    json_object_set_new(root, "domains", json_integer((json_int_t)c->groups[GROUP_DOMAIN]));
    json_object_set_new(root, "dates", json_integer((json_int_t)c->groups[GROUP_DATE]));

    if (c->last_error_at) {
        json_t *le = json_object();
        json_object_set_new(le, "message", json_string(c->last_error));
        json_object_set_new(le, "at", json_string(iso_time(c->last_error_at)));
        json_object_set_new(root, "last_error", le);
    } else {
        json_object_set_new(root, "last_error", json_null());
    }

    /* jansson prints reals with 17 digits unless told: 0.067000000000000004 */
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}
