/* What a fetch brought, taken in (install.h). */
#include "install.h"

#include <errno.h>
#include <stdlib.h>

#include "groups.h"
#include "persist.h"

/* A member's content changed: the views it is in have a new version (their
 * .jsonl shows it). */
static void touch_views_locked(struct cache *c, const struct entry *e)
{
    ASSERT_LOCKED(c);
    for (int v = 0; v < VIEW_COUNT; v++)
        if (view_has(&c->views[v], e->seq)) {
            c->views[v].version++;
            persist_view_locked(c, v);
        }
    for (int k = 0; k < GROUP_NKINDS && view_has(&c->views[VIEW_ALL], e->seq); k++) {
        struct view *g = groups_view_locked(c->groups, e->group[k]);
        if (g) {
            g->version++;
            persist_view_locked(c, (int)e->group[k]);
        }
    }
}

struct entry *install_job_locked(struct cache *c, struct job *j, int64_t start, int64_t now)
{
    ASSERT_LOCKED(c);
    struct entry *e = entry_of(&c->ents, j->id, j->id_len, true);
    if (!e) {
        job_unref(j); /* out of memory for one entry: it is left out */
        return NULL;
    }
    uint32_t domain = groups_assign_locked(c->groups, GROUP_DOMAIN, j->domain);
    uint32_t date = groups_assign_locked(c->groups, GROUP_DATE, j->date);
    /* a job's created_at never changes: another one is another job that
     * got the same id (deleted and created again) */
    bool reborn = e->created_ok && j->created_ok && e->created_us != j->created_us;
    int what = entry_set_text(&c->ents, e, j, start, now);
    if (what == TEXT_KEPT)
        return e;
    e->birth += reborn;
    e->group[GROUP_DOMAIN] = domain;
    e->group[GROUP_DATE] = date;
    if (what == TEXT_CHANGED)
        touch_views_locked(c, e);
    atomic_store(&c->offline, false); /* the API answered */
    persist_job_locked(c, e, DIRTY_META | (what == TEXT_SAME ? 0 : DIRTY_TEXT));
    return e;
}

struct member member_of_locked(const struct entry *e)
{
    struct member m = {.seq = e->seq, .status = e->meta.status, .final = e->meta.final,
                       .birth = e->birth};
    m.group[GROUP_DOMAIN] = e->group[GROUP_DOMAIN];
    m.group[GROUP_DATE] = e->group[GROUP_DATE];
    return m;
}

static int install_jobs(struct install *in, struct job **jobs, size_t n, struct member *out)
{
    struct cache_install *ci = (struct cache_install *)in;
    struct cache *c = ci->c;
    lock_take(&c->lock);
    int64_t now = c->clock();
    for (size_t i = 0; i < n; i++) {
        struct job *j = jobs[i];
        if (j->bad) {
            out[i] = (struct member){.status = j->status, .final = true, .key = j->digest};
            job_unref(j);
            continue;
        }
        struct entry *e = install_job_locked(c, j, ci->start, now);
        if (!e) {
            /* no entry for it: it stands in its place like an element that
             * cannot be shown (the total still counts it) */
            out[i] = (struct member){.status = ST_UNKNOWN, .final = true, .key = (uint64_t)i};
            continue;
        }
        if (ci->keep)
            ci->keep(ci, e);
        out[i] = member_of_locked(e);
    }
    /* a listing being fetched counts against cache_size like any other */
    entries_evict(&c->ents, NULL);
    lock_drop(&c->lock);
    return 0;
}

/* The median of up to ENDS created_at times, walking from one end. */
#define ENDS 15

static bool end_median_locked(struct cache *c, const struct member *m, size_t n, bool from_last,
                              int64_t *out)
{
    ASSERT_LOCKED(c);
    int64_t t[ENDS];
    size_t k = 0;
    for (size_t i = 0; i < n && k < ENDS; i++) {
        const struct entry *e = entry_at(&c->ents, m[from_last ? n - 1 - i : i].seq);
        if (e && e->created_ok)
            t[k++] = e->created_us;
    }
    for (size_t i = 1; i < k; i++) /* insertion sort: a handful */
        for (size_t j = i; j > 0 && t[j - 1] > t[j]; j--) {
            int64_t x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    if (k)
        *out = t[k / 2];
    return k > 0;
}

/* The order by created_at, read off the ends of members[0..n): the median
 * time of the first jobs against that of the last ones, so a few jobs out
 * of order change nothing. */
static int install_order(struct install *in, const struct member *m, size_t n)
{
    struct cache *c = ((struct cache_install *)in)->c;
    size_t side = n / 2 < ENDS ? n / 2 : ENDS; /* the two ends never overlap */
    int64_t first, last;
    int order = ORDER_UNKNOWN;
    lock_take(&c->lock);
    if (side && end_median_locked(c, m, side, false, &first) &&
        end_median_locked(c, m + n - side, side, true, &last) && first != last)
        order = first > last ? ORDER_NEWEST : ORDER_OLDEST;
    lock_drop(&c->lock);
    return order;
}

void cache_install_init(struct cache_install *ci, struct cache *c, int64_t start)
{
    *ci = (struct cache_install){.in = {.jobs = install_jobs, .order = install_order}, .c = c,
                                 .start = start};
}
