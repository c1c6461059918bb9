/* Listings (listings.h): freshness, and the refresh of a fetched view. */
#include "listings.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "install.h"
#include "log.h"
#include "persist.h"
#include "refresh.h"
#include "vec.h"

bool view_fresh_locked(const struct cache *c, const struct view *vw, int64_t now)
{
    return vw->fetched_ms && vw->fetch_start_ms >= c->expired_ms && now < vw->valid_until;
}

double view_fresh_left_locked(const struct cache *c, const struct view *vw, int64_t now)
{
    if (!view_fresh_locked(c, vw, now))
        return 0;
    return (double)(vw->valid_until - now) / 1000.0;
}

void view_info_locked(struct cache *c, int v, struct view_info *out)
{
    ASSERT_LOCKED(c);
    struct view *vw = view_at_locked(c, v), *base = &c->views[base_view(v)];
    out->mtime = vw->mtime;
    out->fresh_s = view_fresh_left_locked(c, base, c->clock());
    out->jobs = vw->mem.shown;
    out->known = base->fetched_ms != 0;
}

static void view_failed_locked(struct cache *c, int v, int rc, const char *err)
{
    ASSERT_LOCKED(c);
    struct view *vw = &c->views[v];
    char what[64];
    snprintf(what, sizeof what, "listing %s", view_names[v]);
    note_error_locked(c, what, err);
    if (rc == -EACCES)
        log_error("API key rejected: %s: %s", what, err);
    else if (vw->fetched_ms)
        log_warn("%s: refresh failed, serving the listing from %lld s ago: %s", what,
                 (long long)((c->clock() - vw->fetched_ms) / 1000), err);
    else
        log_warn("%s failed: %s", what, err);
    vw->last_err = rc;
}

/* When a jobs/ check must have started for a status view to start from it:
 * after the view went stale (its ttl ran out, or a SIGHUP came) and after
 * the last SIGHUP. A check from before could miss a job that entered the
 * view since. */
static int64_t check_needed_since(const struct cache *c, const struct view *vw)
{
    int64_t stale = vw->fetched_ms && vw->fetch_start_ms >= c->expired_ms ? vw->valid_until : 0;
    return stale > c->expired_ms ? stale : c->expired_ms;
}

/* Whether a fetched view counts as fresh for someone who needs a check
 * that started at not_before or later. */
static bool fresh_since_locked(const struct cache *c, const struct view *vw, int64_t now,
                               int64_t not_before)
{
    return view_fresh_locked(c, vw, now) && vw->fetch_start_ms >= not_before;
}

VEC_NAMED(gaps, uint32_t);

/* Whether a job listed with status `from` may since have moved to `to`:
 * final jobs never change; pending ones move on, processing ones finish;
 * a status the API did not document could become anything. */
static bool may_enter(int from, int to)
{
    if (from == to || job_status_final(from))
        return false;
    if (from == ST_PENDING)
        return to != ST_PENDING;
    if (from == ST_PROCESSING)
        return job_status_final(to);
    return true;
}

/* jobs/'s members of one status, in the status view's order, and the gaps
 * where the jobs that could still move into it would show (watch). */
static struct listing *derive(const struct listing *all, int status, bool reverse,
                              struct gaps *watch)
{
    size_t n = 0;
    for (size_t i = 0; i < all->n; i++)
        n += all->m[i].status == status;
    struct listing *l = listing_new(n);
    if (!l)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < all->n; i++) {
        const struct member *m = &all->m[reverse ? all->n - 1 - i : i];
        if (m->status == status)
            l->m[k++] = *m;
        else if (may_enter(m->status, status) && (watch->n == 0 || watch->v[watch->n - 1] != k) &&
                 vec_push(watch, (uint32_t)k)) {
            listing_unref(l);
            return NULL;
        }
    }
    return l;
}

/* What a refresh is to do, decided under the lock. */
struct plan {
    int v;
    bool full;
    int order;               /* what is known of the view's order */
    long total_hint;
    struct listing *prev;    /* where a cheap refresh starts (a reference) */
    struct listing *all;     /* or: derive it from this jobs/ listing (a reference) */
    bool reverse;            /* ... which is listed the other way round */
    int margin;
    int64_t start, deadline;
};

/* What it came to. */
struct outcome {
    int rc;
    bool full;               /* read in full, in the end */
    bool unsure;             /* the full read saw changes to the last */
    int order;               /* after a full read: as learned */
    struct listing *list;
    struct cheap_report rep;
    int delta_requests, full_requests;
    char err[256];
};

/* The fetch itself, without the lock. */
static void fetch_listing(struct cache *c, const struct plan *p, struct outcome *o)
{
    struct cache_install ci;
    cache_install_init(&ci, c, p->start);
    struct walk w = {.src = &c->src, .status = view_status(p->v), .deadline = p->deadline,
                     .now = time(NULL), .in = &ci.in};
    memset(o, 0, sizeof *o);
    o->full = p->full;
    o->order = p->order;
    struct listing *prev = p->prev ? listing_ref(p->prev) : NULL;
    struct gaps watch = {0};
    if (!o->full && !prev && p->all &&
        !(prev = derive(p->all, p->v - VIEW_STATUS0, p->reverse, &watch))) {
        o->rc = -ENOMEM;
        snprintf(o->err, sizeof o->err, "out of memory");
        vec_free(&watch);
        return;
    }
    if (!o->full) {
        struct cheap ch = {.prev = prev, .order = p->order, .recheck = p->v == VIEW_ALL,
                           .moves_in = p->v != VIEW_ALL, .margin = p->margin,
                           .watch = watch.v, .nwatch = watch.n};
        o->rc = refresh_cheap(&w, &ch, &o->list, &o->rep);
        o->delta_requests = w.requests;
        if (o->rc == -EAGAIN) {
            log_info("listing %s: %s: reading it in full", view_names[p->v], w.why);
            o->full = true;
        } else if (o->rc) {
            snprintf(o->err, sizeof o->err, "%s", w.why);
        }
    }
    listing_unref(prev);
    vec_free(&watch);
    if (o->full) {
        w.requests = 0;
        o->rc = refresh_full(&w, p->order, p->total_hint, &o->list, &o->unsure);
        o->full_requests = w.requests;
        if (o->rc)
            snprintf(o->err, sizeof o->err, "%s", w.why);
        else
            o->order = ci.in.order(&ci.in, o->list->m, o->list->n);
    }
}

/* Whether view v is read in full whatever jobs/ could tell (lock held). */
static bool full_anyway_locked(const struct cache *c, const struct view *vw, int order,
                               int64_t now)
{
    return !vw->fetched_ms || !vw->mem.list || c->full_refresh_ms == 0 || vw->unsure ||
           order == ORDER_UNKNOWN || now - vw->full_start_ms >= c->full_refresh_ms;
}

/* What is known of view v's order: its own, else jobs/'s. */
static int order_of_locked(const struct cache *c, int v)
{
    int order = c->views[v].order;
    return order == ORDER_UNKNOWN ? c->views[VIEW_ALL].order : order;
}

/* Decides how view v is refreshed (lock held). */
static void plan_locked(struct cache *c, int v, bool derived, int64_t now, struct plan *p)
{
    ASSERT_LOCKED(c);
    struct view *vw = &c->views[v], *all = &c->views[VIEW_ALL];
    int order = v == VIEW_ALL ? vw->order : order_of_locked(c, v);
    p->v = v;
    p->order = order;
    p->total_hint = vw->mem.list ? vw->mem.list->total : 0;
    p->margin = vw->margin;
    p->full = full_anyway_locked(c, vw, order, now) || (v != VIEW_ALL && !derived);
    if (p->full)
        return;
    if (v == VIEW_ALL) {
        p->prev = listing_ref(vw->mem.list);
    } else {
        p->all = listing_ref(all->mem.list);
        p->reverse = all->order != order;
    }
}

/* Jobs that left a view in a refresh, for the kernel to forget their
 * names there (departed). Few; beyond MAX_DEPARTED the kernel's names
 * simply expire with ttl. */
#define MAX_DEPARTED 10000

struct departure {
    int view;
    uint32_t seq;
    const char *id; /* the entry's: valid for the cache's life */
    size_t len;
};
VEC_NAMED(departures, struct departure);

/* What is made of a refresh's listing off the lock, for install_locked. */
struct prepared {
    struct listing *old;        /* the view's listing when the refresh began */
    struct view_members vm;     /* the new members (the old ones after the swap) */
    struct group_build gb;      /* jobs/: the groups */
    bool changed;               /* the members differ from old's */
    struct departures gone;     /* members of old no longer listed */
};

/* Takes in a refresh's listing as view v's (lock held). Members and groups
 * were made off the lock; here they are swapped in, unless a fetch that
 * started later landed meanwhile (false). */
static bool install_locked(struct cache *c, const struct plan *p, struct outcome *o,
                           struct prepared *pr, int64_t end)
{
    ASSERT_LOCKED(c);
    struct view *vw = &c->views[p->v];
    if (vw->fetched_ms && vw->fetch_start_ms > p->start)
        return false;
    bool first = !vw->fetched_ms;
    bool changed = pr->changed || vw->mem.list != pr->old || first;
    view_members_swap(vw, &pr->vm, changed);
    vw->fetched_ms = end;
    vw->fetch_start_ms = p->start;
    vw->valid_until = end + c->ttl_ms;
    vw->last_err = 0;
    long ps = c->src.page_size;
    if (o->full) {
        vw->order = o->order;
        vw->full_start_ms = p->start;
        vw->unsure = o->unsure;
        vw->margin = (int)(ps / 4);
    } else {
        /* half as many again as were created this time, so that a window
         * planned before S still shows its members; at least a tenth of a
         * page (a guess too small costs one read, never a wrong listing) */
        long m = (long)o->rep.created * 3 / 2, lo = ps / 10 ? ps / 10 : 1;
        vw->margin = (int)(m < lo ? lo : m > ps / 2 ? ps / 2 : m);
    }
    if (p->v == VIEW_ALL && pr->gb.mem)
        groups_build_commit_locked(c->groups, &pr->gb);
    atomic_store(&c->offline, false); /* the API answered */
    persist_view_locked(c, p->v);
    return true;
}

/* The members of old no longer in the listing whose membership bits are
 * `bits` (no lock: listings are immutable). */
static void find_departed(const struct listing *old, const struct view_members *now, int view,
                          struct departures *out)
{
    for (size_t i = 0; old && i < old->n && out->n < MAX_DEPARTED; i++) {
        uint32_t seq = old->m[i].seq;
        size_t w = seq / 64;
        bool still = w < now->words && (now->bits[w] >> (seq % 64) & 1u);
        if (seq && !still && vec_push(out, ((struct departure){.view = view, .seq = seq})))
            return; /* out of memory: the names expire with ttl */
    }
}

/* What install_locked needs of a new listing, made without the lock (the
 * passes over every member: listings are immutable). */
static int prepare(struct cache *c, int v, const struct listing *list, struct prepared *pr)
{
    int rc = 0;
    if (v == VIEW_ALL) {
        lock_take(&c->lock);
        rc = groups_build_begin_locked(c->groups, &pr->gb);
        lock_drop(&c->lock);
    }
    if (rc == 0)
        rc = view_members_make((struct listing *)list, true, &pr->vm);
    if (rc == 0 && v == VIEW_ALL)
        rc = groups_build(&pr->gb, list);
    if (rc)
        return rc;
    pr->changed = !listing_equal(pr->old, list);
    if (c->departed)
        find_departed(pr->old, &pr->vm, v, &pr->gone);
    for (size_t g = 0; c->departed && v == VIEW_ALL && g < pr->gb.n; g++)
        find_departed(pr->gb.old[g], &pr->vm, (int)(VIEW_COUNT + g), &pr->gone);
    return 0;
}

static void prepared_free(struct prepared *pr)
{
    listing_unref(pr->old);
    view_members_free(&pr->vm);
    groups_build_free(&pr->gb);
    vec_free(&pr->gone);
}

/* Refreshes fetched view v unless it is fresh since not_before. */
static int refresh_since_relocking(struct cache *c, int v, int64_t not_before, int64_t deadline)
{
    ASSERT_LOCKED(c);
    struct view *vw = &c->views[v], *all = &c->views[VIEW_ALL];
    int64_t now = c->clock();
    if (fresh_since_locked(c, vw, now, not_before)) {
        c->hits++;
        return 0;
    }
    /* A status view starts from jobs/ when a check of jobs/ tells what
     * entered it since it went stale: one is made (or waited for) first.
     * Before jobs/ was ever listed, the status view is read in full. */
    bool derived = false;
    if (v != VIEW_ALL && all->fetched_ms &&
        !full_anyway_locked(c, vw, order_of_locked(c, v), now)) {
        int64_t need = check_needed_since(c, vw);
        if (!fresh_since_locked(c, all, now, need)) {
            refresh_since_relocking(c, VIEW_ALL, need, deadline);
            now = c->clock();
            if (fresh_since_locked(c, vw, now, not_before))
                return 0; /* someone else did it meanwhile */
        }
        derived = fresh_since_locked(c, all, now, need) && all->mem.list;
    }
    struct flight *f;
    uint8_t key[2] = {'v', (uint8_t)v};
    int64_t start = fetch_start_locked(c, now);
    int64_t nb = not_before > c->expired_ms ? not_before : c->expired_ms;
    int rc = flight_take(c->flights, key, sizeof key,
                         (struct flight_when){start, nb, wait_left(deadline)}, &f);
    if (rc != FLIGHT_LEAD)
        return rc && vw->fetched_ms ? 0 : rc; /* another's outcome; stale if it failed */
    c->misses++;
    struct plan p = {.start = start, .deadline = deadline};
    plan_locked(c, v, derived, now, &p);
    struct prepared pr = {.old = vw->mem.list ? listing_ref(vw->mem.list) : NULL};
    lock_drop(&c->lock);

    struct outcome o;
    fetch_listing(c, &p, &o);
    if (o.rc == 0)
        o.rc = prepare(c, v, o.list, &pr);
    if (o.rc == -ENOMEM && !o.err[0])
        snprintf(o.err, sizeof o.err, "out of memory");

    lock_take(&c->lock);
    int64_t end = c->clock();
    vw->delta_requests += (uint64_t)o.delta_requests;
    vw->delta_n += !p.full && !o.full;
    if (o.full) {
        vw->full_n++;
        vw->full_requests += (uint64_t)o.full_requests;
    }
    if (o.rc == 0) {
        log_debug("listing %s: %zu jobs, %s, %d requests, %lld ms", view_names[v], o.list->n,
                  o.full ? "read in full" : "refreshed cheaply",
                  o.full ? o.full_requests : o.delta_requests, (long long)(end - start));
        if (!install_locked(c, &p, &o, &pr, end))
            pr.gone.n = 0; /* a later listing was there first */
        for (size_t i = 0; i < pr.gone.n; i++) {
            const struct entry *e = entry_at(&c->ents, pr.gone.v[i].seq);
            pr.gone.v[i].id = e->id;
            pr.gone.v[i].len = e->id_len;
        }
    } else {
        view_failed_locked(c, v, o.rc, o.err[0] ? o.err : strerror(-o.rc));
    }
    flight_land(c->flights, f, o.rc, end, pause_after(c, o.rc, end));
    c->ents.evicted_bytes = 0; /* the trim below covers them */
    lock_drop(&c->lock);
    if (o.rc == 0)
        persist_wake(c);
    for (size_t i = 0; i < pr.gone.n; i++)
        c->departed(c->departed_arg, pr.gone.v[i].view, pr.gone.v[i].id, pr.gone.v[i].len);
    prepared_free(&pr);
    listing_unref(o.list);
    listing_unref(p.prev);
    listing_unref(p.all);
    /* the pages and what they replaced were freed: give the memory back
     * rather than keep it in malloc's free lists */
    malloc_trim(0);
    lock_take(&c->lock);
    return o.rc && vw->fetched_ms ? 0 : o.rc; /* stale-if-error */
}

int refresh_view_relocking(struct cache *c, int v, int64_t deadline)
{
    ASSERT_LOCKED(c);
    return refresh_since_relocking(c, base_view(v), 0, deadline);
}

int cache_view_info(struct cache *c, int v, bool refresh, struct view_info *out)
{
    int rc = 0;
    lock_take(&c->lock);
    if (!view_at_locked(c, v)) {
        rc = -ENOENT;
    } else {
        if (refresh && c->views[base_view(v)].fetched_ms)
            rc = refresh_view_relocking(c, v, deadline_of(c));
        view_info_locked(c, v, out);
    }
    lock_drop(&c->lock);
    return rc;
}

int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct cache_recs *out,
                      struct view_info *info)
{
    out->n = 0;
    lock_take(&c->lock);
    int rc = !view_at_locked(c, v) ? -ENOENT : refresh ? refresh_view_relocking(c, v, deadline_of(c))
                                                       : 0;
    if (rc == 0) {
        struct view *vw = view_at_locked(c, v);
        const struct listing *l = vw->mem.list;
        for (size_t pos = start < vw->mem.shown ? view_position(vw, start) : SIZE_MAX;
             l && pos < l->n && out->n < out->max; pos++)
            if (l->m[pos].seq)
                entry_record(entry_at(&c->ents, l->m[pos].seq), &out->v[out->n++]);
        view_info_locked(c, v, info);
    }
    lock_drop(&c->lock);
    return rc;
}
