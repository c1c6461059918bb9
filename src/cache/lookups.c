/* Lookups (lookups.h): cache_lookup, cache_job, cache_job_version, and the
 * detail requests behind them. */
#include "lookups.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "groups.h"
#include "install.h"
#include "listings.h"
#include "log.h"
#include "persist.h"

/* How long a final job's attributes may be cached: for good. */
#define FINAL_FRESH_S 86400.0

static bool job_fresh_locked(const struct cache *c, const struct entry *e, int64_t now)
{
    return e->fetched_ms &&
           (e->meta.final || (e->fetch_start_ms >= c->expired_ms && now - e->fetched_ms < c->ttl_ms));
}

/* How long a job's attributes may be cached. */
static double job_fresh_left_locked(const struct cache *c, const struct entry *e, int64_t now)
{
    if (e->meta.final)
        return FINAL_FRESH_S;
    if (e->fetch_start_ms < c->expired_ms)
        return 0;
    double left = (double)(e->fetched_ms + c->ttl_ms - now) / 1000.0;
    return left > 0 ? left : 0;
}

/* How long a job fetched on its own (not listed) is known to exist: ttl
 * after its fetch, final or not (it can be deleted). */
static double known_left_locked(const struct cache *c, const struct entry *e, int64_t now)
{
    if (!e->fetched_ms || e->fetch_start_ms < c->expired_ms)
        return 0;
    double left = (double)(e->fetched_ms + c->ttl_ms - now) / 1000.0;
    return left > 0 ? left : 0;
}

static void job_failed_locked(struct cache *c, const char *id, int rc, const char *err, bool stale)
{
    ASSERT_LOCKED(c);
    note_error_locked(c, "job", err);
    if (rc == -EACCES)
        log_error("API key rejected: job %s: %s", id, err);
    else
        log_warn("job %s: %s%s", id, err, stale ? "; serving the last good copy" : "");
}

/* A detail request led as flight f. */
struct detail_lead {
    struct flight *f;
    int64_t start, deadline;
    bool stale; /* a copy is served meanwhile (how its failure is logged) */
};

/* Fetches one job by id and takes it in. Returns 0 and its entry, or a
 * negative errno. Lock held; dropped while fetching. */
static int fetch_detail_relocking(struct cache *c, const char *id, size_t len,
                                  const struct detail_lead *lead, struct entry **out)
{
    ASSERT_LOCKED(c);
    struct flight *f = lead->f;
    int64_t start = lead->start, deadline = lead->deadline;
    bool stale = lead->stale;
    struct job *j = NULL;
    char err[256] = "";
    c->misses++;
    bool trim = entries_trim_due(&c->ents);
    lock_drop(&c->lock);
    if (trim)
        malloc_trim(0);
    struct source_call call = {.deadline = deadline, .now = time(NULL), .err = err,
                               .errlen = sizeof err};
    int rc = c->src.ops->job(c->src.ctx, &call, id, len, &j);
    lock_take(&c->lock);
    int64_t end = c->clock();
    struct entry *e = NULL;
    if (rc == 0 && !(e = install_job_locked(c, j, start, end))) {
        rc = -ENOMEM;
    } else if (rc == 0) {
        entries_evict(&c->ents, e);
    } else if (rc != -ENOENT) {
        job_failed_locked(c, id, rc, err[0] ? err : strerror(-rc), stale);
    }
    flight_land(c->flights, f, rc, end, pause_after(c, rc, end));
    *out = e;
    return rc;
}

int fetch_job_relocking(struct cache *c, struct entry *e, int want, int64_t deadline)
{
    ASSERT_LOCKED(c);
    int64_t now = c->clock();
    bool need_text = want & JOB_TEXT;
    bool fresh = e->fetched_ms && ((want & JOB_STALE_OK) ||
                                   (want & JOB_EXISTS ? known_left_locked(c, e, now) > 0
                                                      : job_fresh_locked(c, e, now)));
    if (fresh && (e->job || !need_text)) {
        c->hits++;
        return 0;
    }
    /* a text evicted from memory comes back from the store before the
     * network: a final job's (it cannot have changed), or any when stale
     * data will do */
    if (fresh && need_text && (e->meta.final || (want & JOB_STALE_OK)) &&
        persist_text_relocking(c, e) == 0) {
        c->hits++;
        return 0;
    }
    struct flight *f;
    uint8_t key[1 + sizeof e->seq] = {'e'};
    memcpy(key + 1, &e->seq, sizeof e->seq);
    int64_t start = fetch_start_locked(c, now);
    int rc = flight_take(c->flights, key, sizeof key,
                         (struct flight_when){start, c->expired_ms, wait_left(deadline)}, &f);
    if (rc == FLIGHT_LEAD) {
        struct entry *got;
        struct detail_lead lead = {f, start, deadline, e->job != NULL};
        rc = fetch_detail_relocking(c, e->id, e->id_len, &lead, &got);
    }
    if (rc && rc != -ENOENT && rc != -EACCES && need_text && !e->job)
        persist_text_relocking(c, e); /* the last good copy may be on disk */
    if (rc == 0 && need_text && !e->job)
        rc = -EIO; /* evicted again while it came in */
    if (rc && rc != -ENOENT && (e->job || (!need_text && e->fetched_ms)))
        rc = 0; /* stale-if-error */
    return rc;
}

/* A name in jobs/ that no fresh listing holds: one detail request, shared
 * by all who ask meanwhile; a 404 is remembered. A job known before is
 * served as it was when the request fails (stale-if-error). */
static int lookup_unlisted_relocking(struct cache *c, const char *id, size_t len,
                                     struct entry **out, int64_t deadline)
{
    ASSERT_LOCKED(c);
    int64_t now = c->clock();
    if (nameset_has(&c->negative, id, len, now))
        return -ENOENT;
    struct entry *known = entry_of(&c->ents, id, len, false);
    if (known) {
        /* one fetch per job, whoever asks (its failure paused like any) */
        int rc = fetch_job_relocking(c, known, JOB_EXISTS, deadline);
        if (rc == -ENOENT)
            nameset_put(&c->negative, id, len, c->clock() + c->ttl_ms);
        *out = known;
        return rc;
    }
    struct flight *f;
    struct buf key = {0};
    int64_t start = fetch_start_locked(c, now);
    buf_putc(&key, 'n');
    buf_put(&key, id, len);
    int rc = key.oom ? -ENOMEM
                     : flight_take(c->flights, key.p, key.len,
                                   (struct flight_when){start, c->expired_ms, wait_left(deadline)},
                                   &f);
    buf_free(&key);
    struct entry *e = NULL;
    if (rc == FLIGHT_LEAD)
        rc = fetch_detail_relocking(c, id, len, &(struct detail_lead){f, start, deadline, false}, &e);
    else if (rc == 0 && !(e = entry_of(&c->ents, id, len, false)))
        rc = -ENOENT;
    if (rc == -ENOENT)
        nameset_put(&c->negative, id, len, c->clock() + c->ttl_ms);
    *out = e;
    return rc;
}

/* Is e listed in view v right now? */
static bool listed_in_locked(struct cache *c, const struct entry *e, int v)
{
    ASSERT_LOCKED(c);
    if (v < VIEW_COUNT)
        return view_has(&c->views[v], e->seq);
    struct view *vw = view_at_locked(c, v);
    return vw && view_has(&c->views[VIEW_ALL], e->seq) && e->group[vw->kind] == (uint32_t)v;
}

int cache_lookup(struct cache *c, int v, const char *id, size_t len, struct cache_rec *out,
                 double *fresh_s)
{
    int rc = 0;
    struct entry *e = NULL;
    lock_take(&c->lock);
    struct view *base = &c->views[base_view(v)];
    *fresh_s = 0;
    out->listed = v != VIEW_ALL;
    if (!view_at_locked(c, v)) {
        rc = -ENOENT;
    } else if (v != VIEW_ALL) {
        /* only the listing counts: never a detail request */
        rc = refresh_view_relocking(c, v, deadline_of(c));
        if (rc == 0 && (!(e = entry_of(&c->ents, id, len, false)) || !listed_in_locked(c, e, v)))
            rc = -ENOENT;
        *fresh_s = view_fresh_left_locked(c, base, c->clock());
    } else {
        int64_t now = c->clock(), deadline = deadline_of(c);
        e = entry_of(&c->ents, id, len, false);
        bool in_listing = e && view_has(base, e->seq);
        /* fetched on its own after the listing was read: known for ttl */
        bool known = e && !in_listing && e->fetch_start_ms >= base->fetch_start_ms &&
                     known_left_locked(c, e, now) > 0;
        if (in_listing && view_fresh_locked(c, base, now)) {
            out->listed = true;
            *fresh_s = view_fresh_left_locked(c, base, now); /* as fresh as the listing */
        } else if (in_listing) {
            /* a stale listing: the job as fresh as its own data (a final
             * one as it is; an unfinished one asked for again) */
            out->listed = true;
            rc = fetch_job_relocking(c, e, 0, deadline);
        } else if (known) {
            *fresh_s = known_left_locked(c, e, now);
        } else {
            /* no listing holds it (a fresh one lacks it: it was deleted, or
             * created since): the API is asked */
            rc = lookup_unlisted_relocking(c, id, len, &e, deadline);
            now = c->clock();
            *fresh_s = rc == 0 ? known_left_locked(c, e, now)
                       : rc == -ENOENT ? (double)c->ttl_ms / 1000.0 : 0;
        }
    }
    if (rc == 0) {
        bool listed = out->listed;
        entry_record(e, out);
        out->listed = listed;
    }
    lock_drop(&c->lock);
    return rc;
}

int cache_job(struct cache *c, uint32_t seq, bool refresh, struct cache_rec *out,
              double *fresh_s, struct job **job)
{
    int rc = -ENOENT;
    lock_take(&c->lock);
    struct entry *e = entry_at(&c->ents, seq);
    if (e) {
        /* an unfinished job's text must be at hand to be pinned; a final
         * one's metadata is enough */
        rc = fetch_job_relocking(c, e, (job && !e->meta.final ? JOB_TEXT : 0) |
                                           (refresh ? 0 : JOB_STALE_OK), deadline_of(c));
    }
    if (rc == 0) {
        entry_record(e, out);
        *fresh_s = job_fresh_left_locked(c, e, c->clock());
        if (job) {
            *job = !e->meta.final && e->job ? job_ref(e->job) : NULL;
            if (!e->meta.final && !*job)
                rc = -EIO;
        }
    }
    lock_drop(&c->lock);
    return rc;
}

int cache_job_version(struct cache *c, uint32_t seq, uint16_t ver, struct job **out)
{
    int rc = -ENOENT;
    lock_take(&c->lock);
    struct entry *e = entry_at(&c->ents, seq);
    if (e) {
        rc = 0;
        if (e->meta.version != ver)
            rc = -ESTALE;
        else if (!e->job && e->meta.final)
            rc = fetch_job_relocking(c, e, JOB_TEXT | JOB_STALE_OK, deadline_of(c));
        if (rc == 0 && (!e->job || e->meta.version != ver))
            rc = -ESTALE;
    }
    if (rc == 0) {
        entry_touch(&c->ents, e);
        *out = job_ref(e->job);
    }
    lock_drop(&c->lock);
    return rc;
}
