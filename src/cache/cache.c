/* The rest of the cache's face (cache.h): making and freeing it, the
 * groups as directories, SIGHUP, stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "groups.h"
#include "jsonl.h"
#include "listings.h"
#include "persist.h"
#include "state.h"
#include "store.h"

/* After a failed fetch its outcome is given out for this long (or ttl, if
 * shorter) before the next attempt, so an outage costs one wait, not one
 * per operation. */
#define PAUSE_AFTER_FAILURE_MS 2000
/* "No such job" answers remembered at most (beyond, all are forgotten). */
#define MAX_NEGATIVES 4096

int cache_new(const struct cache_config *cfg, const struct source *src, struct cache **out)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    lock_init(&c->lock);
    c->src = *src;
    c->clock = cfg->clock_ms ? cfg->clock_ms : clock_mono_ms;
    c->ttl_ms = (int64_t)cfg->ttl_s * 1000;
    c->timeout_ms = (int64_t)cfg->timeout_s * 1000;
    c->full_refresh_ms = (int64_t)cfg->full_refresh_s * 1000;
    c->pause_ms = c->ttl_ms < PAUSE_AFTER_FAILURE_MS ? c->ttl_ms : PAUSE_AFTER_FAILURE_MS;
    c->store = cfg->store;
    c->departed = cfg->departed;
    c->departed_arg = cfg->departed_arg;
    entries_init(&c->ents, &c->lock, cfg->cap_bytes);
    nameset_init(&c->negative, MAX_NEGATIVES);
    for (int v = 0; v < VIEW_COUNT; v++)
        view_init(&c->views[v], -1);
    if (groups_new(&c->groups) || flights_new(&c->lock, &c->flights)) {
        cache_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

int cache_open_store(struct cache *c)
{
    int rc = persist_load(c);
    return rc ? rc : persist_start(c);
}

void cache_set_offline(struct cache *c)
{
    atomic_store(&c->offline, true);
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    persist_stop(c);
    for (int v = 0; v < VIEW_COUNT; v++)
        view_clear(&c->views[v]);
    groups_free(c->groups);
    flights_free(c->flights);
    nameset_clear(&c->negative);
    entries_free(&c->ents);
    lock_destroy(&c->lock);
    free(c);
}

/* ---- groups as directories ---- */

int cache_view_kind(struct cache *c, int v)
{
    lock_take(&c->lock);
    struct view *vw = view_at_locked(c, v);
    int kind = vw ? vw->kind : -2;
    lock_drop(&c->lock);
    return kind;
}

size_t cache_group_count(struct cache *c)
{
    return groups_count(c->groups);
}

size_t cache_group_dirs(struct cache *c, int kind)
{
    lock_take(&c->lock);
    size_t n = groups_nonempty_locked(c->groups, kind);
    lock_drop(&c->lock);
    return n;
}

int cache_group_find(struct cache *c, int kind, const char *name, int *v)
{
    lock_take(&c->lock);
    int rc = refresh_view_relocking(c, VIEW_ALL, deadline_of(c));
    if (rc == 0) {
        uint32_t g = groups_find_locked(c->groups, kind, name);
        if (g)
            *v = (int)g;
        else
            rc = -ENOENT;
    }
    lock_drop(&c->lock);
    return rc;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const struct group_item *)a)->name, ((const struct group_item *)b)->name);
}

int cache_groups_list(struct cache *c, int kind, struct group_list *out)
{
    memset(out, 0, sizeof *out);
    lock_take(&c->lock);
    int rc = refresh_view_relocking(c, VIEW_ALL, deadline_of(c));
    if (rc == 0)
        rc = groups_list_locked(c->groups, kind, out);
    lock_drop(&c->lock);
    if (rc)
        group_list_free(out);
    else
        qsort(out->items, out->n, sizeof *out->items, cmp_group);
    return rc;
}

void group_list_free(struct group_list *l)
{
    for (size_t i = 0; l->items && i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- everything ---- */

void cache_expire_all(struct cache *c)
{
    lock_take(&c->lock);
    /* +1: a fetch that starts in this very millisecond predates the refresh */
    c->expired_ms = c->clock() + 1;
    nameset_clear(&c->negative);
    lock_drop(&c->lock);
}

static const char *order_name(int order)
{
    return order == ORDER_NEWEST ? "newest" : order == ORDER_OLDEST ? "oldest" : "unknown";
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof *out);
    lock_take(&c->lock);
    int64_t now = c->clock();
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->ents.evictions;
    out->bytes = c->ents.bytes;
    out->cap_bytes = c->ents.cap_bytes;
    out->entries = c->ents.n;
    out->texts = c->ents.texts;
    out->flights = flights_count(c->flights);
    for (int v = 0; v < VIEW_COUNT; v++) {
        struct view *vw = &c->views[v];
        out->views[v].fetched = vw->fetched_ms != 0;
        out->views[v].age_s = vw->fetched_ms ? (double)(now - vw->fetched_ms) / 1000.0 : 0;
        out->views[v].jobs = vw->mem.shown;
        out->views[v].total = vw->mem.list ? vw->mem.list->total : 0;
        out->views[v].last_err = vw->last_err;
        out->views[v].full_refreshes = vw->full_n;
        out->views[v].delta_refreshes = vw->delta_n;
        out->views[v].full_requests = vw->full_requests;
        out->views[v].delta_requests = vw->delta_requests;
        out->views[v].order = order_name(vw->order);
    }
    for (int k = 0; k < GROUP_NKINDS; k++)
        out->groups[k] = groups_nonempty_locked(c->groups, k);
    memcpy(out->last_error, c->last_error, sizeof out->last_error);
    out->last_error_at = c->last_error_at;
    lock_drop(&c->lock);
    out->offline = atomic_load(&c->offline);
    if (c->store) {
        struct store_stats ss;
        store_get_stats(c->store, &ss);
        out->store = true;
        snprintf(out->store_path, sizeof out->store_path, "%s", ss.path);
        out->store_bytes = ss.bytes;
        out->store_texts = ss.texts;
        out->store_reads = ss.reads;
        out->store_last_write = ss.last_write;
    }
}
