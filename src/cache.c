#include "cache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "flight.h"
#include "groups.h"
#include "hash.h"
#include "idmap.h"
#include "jsonl.h"
#include "log.h"
#include "refresh.h"

/* After a failed fetch its outcome is given out for this long (or ttl, if
 * shorter) before the next attempt, so an outage costs one wait, not one
 * per operation. */
#define PAUSE_AFTER_FAILURE_MS 2000
/* How long a final job's attributes and names may be cached: for good. */
#define FINAL_FRESH_S 86400.0

struct neg {
    int64_t until;
    size_t len;
    char id[];
};

/* Entries are made in slabs of SLAB_BYTES and freed only with the cache:
 * no allocator overhead per job, and they do not sit between job texts in
 * the heap, where a text evicted would leave a hole that cannot go back to
 * the system. */
#define SLAB_BYTES (1u << 20)
_Static_assert(UINT16_MAX + sizeof(struct entry) + 64 < SLAB_BYTES / 2,
               "the longest id's entry fits in a slab");

struct slab {
    struct slab *next;
    size_t used;
    _Alignas(max_align_t) unsigned char mem[];
};

struct cache {
    pthread_mutex_t mu;
    /* Everything below is guarded by mu, but the configuration (set once). */
    struct source src;
    int64_t (*clock)(void);
    int64_t ttl_ms, timeout_ms, pause_ms, full_refresh_ms;
    size_t cap_bytes;

    int64_t expired_ms;       /* cache_expire_all: nothing fetched before is fresh */
    size_t bytes;             /* job texts held, against cap_bytes */
    struct id_slot *byid;     /* id -> entry: open addressing, power-of-two size */
    size_t byid_cap;
    struct entry **byseq;     /* seq - 1 -> entry; entries are never freed */
    size_t nentries, capentries;
    struct view views[VIEW_COUNT];
    struct groups *groups;    /* the group views */
    struct flights *flights;  /* fetches under way, and recent failures */
    struct idmap negative;    /* id -> struct neg: 404s, remembered for ttl */
    uint32_t lru_head, lru_tail; /* seqs (0: none) */
    struct slab *slabs;          /* where entries live (never freed one by one) */
    size_t renders;
    uint64_t hits, misses, evictions;
    size_t evicted_bytes;     /* since the last malloc_trim */
    char last_error[256];
    time_t last_error_at;
};

static const char *view_name(int v)
{
    return v == VIEW_ALL ? "all" : job_status_names[v - VIEW_STATUS0];
}

static void note_error(struct cache *c, const char *what, const char *msg)
{
    snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, msg);
    c->last_error_at = time(NULL);
}

/* A fetched view (v < VIEW_COUNT) or a group view; NULL for neither. */
static struct view *view_at(struct cache *c, int v)
{
    if (v < 0)
        return NULL;
    return v < VIEW_COUNT ? &c->views[v] : groups_view(c->groups, (uint32_t)v);
}

/* The fetched view a view comes from: groups derive from all jobs. */
static int base_view(int v)
{
    return v < VIEW_COUNT ? v : VIEW_ALL;
}

void view_set_members(struct view *vw, struct entry **items, size_t n)
{
    bool changed = n != vw->n || (n && memcmp(items, vw->items, n * sizeof *items) != 0);
    free(vw->items);
    vw->items = items;
    vw->n = n;
    if (changed) {
        clock_gettime(CLOCK_REALTIME, &vw->mtime);
        vw->version++;
    }
}

int cache_new(const struct cache_config *cfg, const struct source *src, struct cache **out)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->src = *src;
    c->clock = cfg->clock_ms ? cfg->clock_ms : http_now_ms;
    c->ttl_ms = (int64_t)cfg->ttl_s * 1000;
    c->timeout_ms = (int64_t)cfg->timeout_s * 1000;
    c->full_refresh_ms = (int64_t)cfg->full_refresh_s * 1000;
    c->pause_ms = c->ttl_ms < PAUSE_AFTER_FAILURE_MS ? c->ttl_ms : PAUSE_AFTER_FAILURE_MS;
    c->cap_bytes = cfg->cap_bytes;
    for (int v = 0; v < VIEW_COUNT; v++) {
        c->views[v].kind = -1;
        clock_gettime(CLOCK_REALTIME, &c->views[v].mtime);
    }
    if (groups_new(&c->groups) || flights_new(&c->mu, &c->flights)) {
        cache_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

static void negative_clear(struct cache *c)
{
    for (size_t i = 0; i < c->negative.cap; i++)
        if (c->negative.slots[i].hash)
            free(c->negative.slots[i].val);
    idmap_clear(&c->negative);
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nentries; i++)
        job_unref(c->byseq[i]->job);
    free(c->byseq);
    while (c->slabs) {
        struct slab *next = c->slabs->next;
        free(c->slabs);
        c->slabs = next;
    }
    for (int v = 0; v < VIEW_COUNT; v++) {
        free(c->views[v].items);
        jsonl_unref(c->views[v].jsonl);
    }
    groups_free(c->groups);
    flights_free(c->flights);
    negative_clear(c);
    idmap_free(&c->negative);
    free(c->byid);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- entries, LRU and memory (lock held) ---- */

/* Only final jobs' texts are in the LRU: an unfinished job's text is kept
 * whatever cache_size says. It can change at any refresh, so whoever shows
 * a version of it (an open file, a .jsonl snapshot) must hold that very
 * text; and it is small (no extracted_data until completed). */
static struct entry *entry_by_seq(struct cache *c, uint32_t seq);

static bool lru_has(const struct cache *c, const struct entry *e)
{
    return e->lru_prev || c->lru_head == e->seq;
}

static void lru_unlink(struct cache *c, struct entry *e)
{
    if (e->lru_prev)
        entry_by_seq(c, e->lru_prev)->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        entry_by_seq(c, e->lru_next)->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = 0;
}

static void lru_push(struct cache *c, struct entry *e)
{
    e->lru_prev = 0;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        entry_by_seq(c, c->lru_head)->lru_prev = e->seq;
    c->lru_head = e->seq;
    if (!c->lru_tail)
        c->lru_tail = e->seq;
}

static void lru_touch(struct cache *c, struct entry *e)
{
    if (e->job && lru_has(c, e) && c->lru_head != e->seq) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
}

/* Drops an entry's text; the caller unrefs *gone outside the lock when it
 * can (a job's memory goes back to malloc there). */
static void drop_text(struct cache *c, struct entry *e)
{
    if (!e->job)
        return;
    if (lru_has(c, e))
        lru_unlink(c, e);
    c->bytes -= e->job->bytes;
    c->renders--;
    job_unref(e->job);
    e->job = NULL;
}

static void evict(struct cache *c)
{
    while (c->bytes > c->cap_bytes && c->lru_tail) {
        struct entry *e = entry_by_seq(c, c->lru_tail);
        c->evicted_bytes += e->job->bytes;
        drop_text(c, e);
        c->evictions++;
    }
}

/* Texts evicted leave holes between the ones kept: once TRIM_AFTER bytes
 * went, the free pages among them go back to the system. malloc_trim walks
 * the heap, so it is done without the lock, when a fetch has dropped it
 * anyway to wait on the network: trim_due (lock held) says whether to. */
#define TRIM_AFTER (4u << 20)

static bool trim_due(struct cache *c)
{
    bool due = c->evicted_bytes >= TRIM_AFTER;
    if (due)
        c->evicted_bytes = 0;
    return due;
}

/* Evicts, but keeps e's text: it was fetched to be read now. A job larger
 * than the whole cache stays over cap until the next eviction, rather than
 * being unreadable. */
static void evict_but(struct cache *c, struct entry *e)
{
    if (!e->job || !lru_has(c, e)) {
        evict(c);
        return;
    }
    lru_unlink(c, e);
    evict(c);
    lru_push(c, e);
}

static struct entry *entry_alloc(struct cache *c, size_t id_len)
{
    size_t need = (sizeof(struct entry) + id_len + 1 + _Alignof(struct entry) - 1) &
                  ~(size_t)(_Alignof(struct entry) - 1);
    struct slab *sl = c->slabs;
    if (!sl || sl->used + need > SLAB_BYTES - sizeof(struct slab)) {
        if (!(sl = calloc(1, SLAB_BYTES)))
            return NULL;
        sl->next = c->slabs;
        c->slabs = sl;
    }
    struct entry *e = (struct entry *)(sl->mem + sl->used);
    sl->used += need;
    return e;
}

/* The index from ids to entries: 8 bytes a slot (a part of the id's hash
 * and the entry's seq), a quarter of a general hash map's, as it is one of
 * the few things held for every job known. Entries are never removed. */
struct id_slot {
    uint32_t hash;
    uint32_t seq; /* 0: empty */
};

static uint32_t id_hash(const char *id, size_t len)
{
    uint64_t h = fnv1a(id, len);
    return (uint32_t)(h ^ (h >> 32));
}

static struct entry *entry_by_seq(struct cache *c, uint32_t seq)
{
    return seq >= 1 && seq <= c->nentries ? c->byseq[seq - 1] : NULL;
}

static struct id_slot *byid_find(struct cache *c, const char *id, size_t len, uint32_t h)
{
    size_t mask = c->byid_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct id_slot *s = &c->byid[i];
        if (s->seq == 0)
            return s;
        struct entry *e = c->byseq[s->seq - 1];
        if (s->hash == h && e->id_len == len && memcmp(e->id, id, len) == 0)
            return s;
    }
}

/* Room for one more (load at most 3/4). Returns 1 when the table grew
 * (slots moved), 0 when it did not, or -ENOMEM. */
static int byid_reserve(struct cache *c)
{
    if ((c->nentries + 1) * 4 <= c->byid_cap * 3)
        return 0;
    size_t cap = c->byid_cap ? c->byid_cap * 2 : 1024;
    struct id_slot *old = c->byid, *n = calloc(cap, sizeof *n);
    if (!n)
        return -ENOMEM;
    size_t oldcap = c->byid_cap;
    c->byid = n;
    c->byid_cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].seq) {
            size_t j = old[i].hash & (cap - 1);
            while (n[j].seq)
                j = (j + 1) & (cap - 1);
            n[j] = old[i];
        }
    free(old);
    return 1;
}

static struct entry *entry_get(struct cache *c, const char *id, size_t len, bool create)
{
    uint32_t h = id_hash(id, len);
    struct id_slot *s = c->byid_cap ? byid_find(c, id, len, h) : NULL;
    if (s && s->seq)
        return c->byseq[s->seq - 1];
    if (!create)
        return NULL;
    int grew = len > UINT16_MAX || c->nentries >= UINT32_MAX - 1 ? -ENOMEM : byid_reserve(c);
    if (grew < 0)
        return NULL;
    if (c->nentries == c->capentries) {
        size_t cap = c->capentries ? c->capentries * 2 : 1024;
        struct entry **n = realloc(c->byseq, cap * sizeof *n);
        if (!n)
            return NULL;
        c->byseq = n;
        c->capentries = cap;
    }
    struct entry *e = entry_alloc(c, len);
    if (!e)
        return NULL;
    memcpy(e->id, id, len);
    e->id_len = (uint16_t)len;
    c->byseq[c->nentries++] = e;
    e->seq = (uint32_t)c->nentries; /* 1-based: 0 never names an entry */
    if (grew)
        s = byid_find(c, id, len, h);
    *s = (struct id_slot){.hash = h, .seq = e->seq};
    return e;
}

/* A member's content changed: the views it is in have a new version. */
static void touch_views(struct cache *c, const struct entry *e)
{
    for (int v = 0; v < VIEW_COUNT; v++)
        if ((e->in_view >> v) & 1u)
            c->views[v].version++;
    for (int k = 0; k < GROUP_NKINDS && (e->in_view & 1u); k++) {
        struct view *g = groups_view(c->groups, e->group[k]);
        if (g)
            g->version++;
    }
}

/* Takes a job (the caller's reference) as e's data, fetched by a fetch that
 * started at `start`. Data from a fetch older than what e has is dropped. */
static void set_job(struct cache *c, struct entry *e, struct job *j, int64_t start, int64_t now)
{
    if (e->fetched_ms && e->fetch_start_ms > start) {
        job_unref(j); /* a later fetch got here first */
        return;
    }
    e->fetched_ms = now;
    e->fetch_start_ms = start;
    if (e->job && j->digest == e->digest) {
        /* the same content again: keep the text the kernel and the LRU
         * already know, and let the new copy go */
        job_unref(j);
        return;
    }
    if (e->meta.size[JOB_JSON] && j->digest != e->digest) {
        e->meta.version++; /* new content gets new inodes; see fs.c */
        touch_views(c, e); /* and so do the .jsonl files it is a line of */
    }
    e->digest = j->digest;
    j->version = e->meta.version;
    drop_text(c, e);
    e->job = j;
    for (int f = 0; f < JOB_NFILES; f++)
        e->meta.size[f] = (uint32_t)j->size[f];
    e->meta.line = (uint32_t)j->text_len + 1;
    e->meta.mtime = j->mtime;
    e->meta.final = j->final;
    e->meta.status = j->status;
    e->created_ok = j->created_ok;
    e->created_us = j->created_us;
    e->group[GROUP_DOMAIN] = groups_assign(c->groups, GROUP_DOMAIN, j->domain);
    e->group[GROUP_DATE] = groups_assign(c->groups, GROUP_DATE, j->date);
    c->bytes += j->bytes;
    c->renders++;
    if (j->final)
        lru_push(c, e);
}

static void fill_rec(const struct entry *e, struct cache_rec *r)
{
    r->seq = e->seq;
    r->id = e->id;
    r->id_len = e->id_len;
    r->meta = e->meta;
    memcpy(r->group, e->group, sizeof r->group);
}

/* When a fetch that starts `now` counts as started: never before the last
 * cache_expire_all, so a fetch in the same millisecond as a refresh counts
 * as after it (and wins over every fetch that started before it). Lock
 * held, so the order is exact. */
static int64_t fetch_start(const struct cache *c, int64_t now)
{
    return now < c->expired_ms ? c->expired_ms : now;
}

/* The network's deadline for an operation starting now: on the real clock,
 * which the HTTP client keeps, whatever clock the cache runs on. One per
 * operation: everything it does (a cascade of refreshes included) shares it. */
static int64_t deadline_real(const struct cache *c)
{
    return http_now_ms() + c->timeout_ms;
}

/* How long one may still wait for another's fetch. */
static int64_t wait_left(int64_t deadline)
{
    int64_t left = deadline - http_now_ms();
    return left > 0 ? left : 0;
}

static bool job_fresh(const struct cache *c, const struct entry *e, int64_t now)
{
    return e->fetched_ms &&
           (e->meta.final || (e->fetch_start_ms >= c->expired_ms && now - e->fetched_ms < c->ttl_ms));
}

static double job_fresh_left(const struct cache *c, const struct entry *e, int64_t now)
{
    if (e->meta.final)
        return FINAL_FRESH_S;
    if (e->fetch_start_ms < c->expired_ms)
        return 0;
    double left = (double)(e->fetched_ms + c->ttl_ms - now) / 1000.0;
    return left > 0 ? left : 0;
}

static bool view_fresh(const struct cache *c, const struct view *vw, int64_t now)
{
    return vw->fetched_ms && vw->fetch_start_ms >= c->expired_ms && now < vw->valid_until;
}

static double view_fresh_left(const struct cache *c, const struct view *vw, int64_t now)
{
    if (!view_fresh(c, vw, now))
        return 0;
    return (double)(vw->valid_until - now) / 1000.0;
}

/* Until when the outcome of a fetch that ended at `end` is given out
 * instead of fetching again: a network or server failure for the pause
 * (the kernel retries a failed read at once; it must not wait again); a
 * success, a 404 (remembered elsewhere) or a rejected key (answered at
 * once anyway) not at all. */
static int64_t pause_after(const struct cache *c, int rc, int64_t end)
{
    return rc == -EIO ? end + c->pause_ms : 0;
}

/* ---- listings ---- */

static struct member member_of(const struct entry *e)
{
    return (struct member){.e = (struct entry *)e, .created_us = e->created_us, .created_ok = e->created_ok,
                           .status = e->meta.status};
}

/* The cache as the place a listing's jobs go while it is fetched. */
struct cache_install {
    struct install in; /* first */
    struct cache *c;
    int64_t start;     /* when the fetch started */
    /* optional: sees each entry installed, under the lock, before eviction */
    void (*keep)(struct cache_install *ci, struct entry *e);
    void *arg;
};

static int install_jobs(struct install *in, struct job **jobs, size_t n, struct member *out,
                        size_t *nout)
{
    struct cache_install *ci = (struct cache_install *)in;
    struct cache *c = ci->c;
    size_t k = 0;
    pthread_mutex_lock(&c->mu);
    int64_t now = c->clock();
    for (size_t i = 0; i < n; i++) {
        struct job *j = jobs[i];
        struct entry *e = entry_get(c, j->id, j->id_len, true);
        if (!e) {
            job_unref(j); /* out of memory for one entry: it is left out */
            continue;
        }
        set_job(c, e, j, ci->start, now);
        if (ci->keep)
            ci->keep(ci, e);
        out[k++] = member_of(e);
    }
    /* a listing being fetched counts against cache_size like any other */
    evict(c);
    pthread_mutex_unlock(&c->mu);
    *nout = k;
    return 0;
}

/* Installs a fetched listing as view v (lock held). A listing from a fetch
 * older than the one the view has is dropped. */
static int install_view(struct cache *c, int v, struct listing *ls, bool full, int64_t start,
                        int64_t now)
{
    struct view *vw = &c->views[v];
    if (vw->fetched_ms && vw->fetch_start_ms > start)
        return 0;
    if (full) {
        vw->order = refresh_order(ls->items, ls->n);
        vw->full_start_ms = start;
    }
    vw->bad = ls->total > (long)ls->n ? (size_t)ls->total - ls->n : 0;
    struct entry **items = malloc((ls->n ? ls->n : 1) * sizeof *items);
    if (!items)
        return -ENOMEM;
    uint8_t bit = (uint8_t)(1u << v);
    for (size_t i = 0; i < vw->n; i++)
        vw->items[i]->in_view &= (uint8_t)~bit;
    for (size_t i = 0; i < ls->n; i++) {
        items[i] = ls->items[i].e;
        items[i]->in_view |= bit;
    }
    bool first = !vw->fetched_ms;
    view_set_members(vw, items, ls->n);
    if (first)
        clock_gettime(CLOCK_REALTIME, &vw->mtime);
    vw->total = ls->total;
    vw->fetched_ms = now;
    vw->fetch_start_ms = start;
    vw->valid_until = now + c->ttl_ms;
    vw->last_err = 0;
    if (v == VIEW_ALL)
        groups_rebuild(c->groups, vw->items, vw->n);
    return 0;
}

static void view_failed(struct cache *c, int v, int rc, const char *err)
{
    struct view *vw = &c->views[v];
    char what[64];
    snprintf(what, sizeof what, "listing %s", view_name(v));
    note_error(c, what, err);
    if (rc == -EACCES)
        log_error("API key rejected: %s: %s", what, err);
    else if (vw->fetched_ms)
        log_warn("%s: refresh failed, serving the listing from %lld s ago: %s", what,
                 (long long)((c->clock() - vw->fetched_ms) / 1000), err);
    else
        log_warn("%s failed: %s", what, err);
    vw->last_err = rc;
}

/* A status view's last check of the all-jobs listing may be this old and
 * still be what the status view is derived from. */
#define ALL_CHECK_REUSE_MS 1000

static bool unfinished_status(int v)
{
    return v == VIEW_STATUS0 + ST_PENDING || v == VIEW_STATUS0 + ST_PROCESSING;
}

/* What a cheap refresh of view v starts from (lock held): its own last
 * listing, or, for a status view while the all-jobs listing was checked a
 * moment ago, that listing's jobs of this status (what the all-jobs view
 * learned of new, moved and deleted jobs is then used). NULL prev, with
 * rc 0, when the view must be read in full. */
static int delta_of(struct cache *c, int v, bool derive, int64_t now, struct delta *d)
{
    struct view *vw = &c->views[v];
    memset(d, 0, sizeof *d);
    if (!vw->fetched_ms || c->full_refresh_ms == 0 || vw->order == ORDER_UNKNOWN ||
        now - vw->full_start_ms >= c->full_refresh_ms)
        return 0;
    /* an unfinished status view read alone: any member may have left it
     * unseen while another came in; only a full read tells */
    if (unfinished_status(v) && !derive)
        return 0;
    const struct view *from = derive ? &c->views[VIEW_ALL] : vw;
    struct member *prev = malloc((from->n ? from->n : 1) * sizeof *prev);
    if (!prev)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < from->n; i++)
        if (!derive || from->items[i]->meta.status == v - VIEW_STATUS0)
            prev[n++] = member_of(from->items[i]);
    *d = (struct delta){.prev = prev, .nprev = n, .prev_bad = vw->bad, .order = vw->order,
                        .check_unfinished = v == VIEW_ALL};
    return 0;
}

/* Makes the fetched view behind v fresh (lock held; dropped while
 * fetching): cheaply when the view was read before and its checks hold,
 * else in full. A failure leaves the last good listing in place (0). */
static int refresh_view(struct cache *c, int v, int64_t deadline)
{
    v = base_view(v);
    struct view *vw = &c->views[v];
    struct view *all = &c->views[VIEW_ALL];
    int64_t now = c->clock(), began = now;
    if (view_fresh(c, vw, now)) {
        c->hits++;
        return 0;
    }
    /* A status view follows the all-jobs listing when that one is known:
     * checking it first (usually one request) tells which jobs were
     * created, deleted or moved, which the status view then takes on. */
    if (v != VIEW_ALL && all->fetched_ms &&
        !(view_fresh(c, all, now) && all->fetch_start_ms >= now - ALL_CHECK_REUSE_MS)) {
        refresh_view(c, VIEW_ALL, deadline);
        now = c->clock();
        if (view_fresh(c, vw, now))
            return 0; /* someone else did it meanwhile */
    }
    bool derive = v != VIEW_ALL && view_fresh(c, all, now) &&
                  all->fetch_start_ms >= began - ALL_CHECK_REUSE_MS;
    struct flight *f;
    uint8_t key[2] = {'v', (uint8_t)v};
    now = fetch_start(c, now);
    int rc = flight_take(c->flights, key, sizeof key, now, c->expired_ms, wait_left(deadline), &f);
    if (rc != FLIGHT_LEAD)
        return rc && vw->fetched_ms ? 0 : rc; /* another's outcome; stale if it failed */
    c->misses++;
    struct delta d;
    rc = delta_of(c, v, derive, now, &d);
    pthread_mutex_unlock(&c->mu);

    struct listing ls = {0};
    char err[256] = "", why[256] = "";
    const char *status = v == VIEW_ALL ? NULL : view_name(v);
    struct cache_install ci = {.in = {.jobs = install_jobs}, .c = c, .start = now};
    bool full = !d.prev;
    int delta_requests = 0;
    if (rc == 0 && d.prev) {
        rc = refresh_delta(&c->src, status, &d, deadline, time(NULL), &ci.in, &ls, why,
                           sizeof why);
        delta_requests = ls.requests;
        if (rc == -EAGAIN) {
            log_info("listing %s: %s: reading it in full", view_name(v), why);
            full = true;
        } else if (rc) {
            snprintf(err, sizeof err, "%s", why);
        }
    }
    if (full) {
        listing_free(&ls);
        rc = refresh_full(&c->src, status, deadline, time(NULL), &ci.in, &ls, err, sizeof err);
    }
    free((void *)d.prev);

    pthread_mutex_lock(&c->mu);
    int64_t end = c->clock();
    vw->delta_requests += (uint64_t)delta_requests;
    vw->delta_n += d.prev && !full;
    if (full) {
        vw->full_n++;
        vw->full_requests += (uint64_t)ls.requests;
    }
    if (rc == 0) {
        log_debug("listing %s: %zu jobs, %s, %d requests, %lld ms", view_name(v), ls.n,
                  full ? "read in full" : "refreshed cheaply", full ? ls.requests : delta_requests,
                  (long long)(end - now));
        rc = install_view(c, v, &ls, full, now, end);
    }
    if (rc)
        view_failed(c, v, rc, err[0] ? err : strerror(-rc));
    flight_land(c->flights, f, rc, end, pause_after(c, rc, end));
    c->evicted_bytes = 0; /* the trim below covers them */
    pthread_mutex_unlock(&c->mu);
    listing_free(&ls);
    /* the pages and the texts they replaced were freed: give the memory
     * back rather than keep it in malloc's free lists */
    malloc_trim(0);
    pthread_mutex_lock(&c->mu);
    return rc && vw->fetched_ms ? 0 : rc; /* stale-if-error */
}

static void view_info_of(struct cache *c, int v, struct view_info *out)
{
    struct view *vw = view_at(c, v), *base = &c->views[base_view(v)];
    out->mtime = vw->mtime;
    out->fresh_s = view_fresh_left(c, base, c->clock());
}

int cache_view_info(struct cache *c, int v, bool refresh, struct view_info *out)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (!view_at(c, v)) {
        rc = -ENOENT;
    } else {
        if (refresh && c->views[base_view(v)].fetched_ms)
            rc = refresh_view(c, v, deadline_real(c));
        view_info_of(c, v, out);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct cache_rec *out,
                      size_t max, size_t *n, struct view_info *info)
{
    *n = 0;
    pthread_mutex_lock(&c->mu);
    int rc = !view_at(c, v) ? -ENOENT : refresh ? refresh_view(c, v, deadline_real(c)) : 0;
    if (rc == 0) {
        struct view *vw = view_at(c, v);
        for (size_t i = start; i < vw->n && *n < max; i++)
            fill_rec(vw->items[i], &out[(*n)++]);
        view_info_of(c, v, info);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- jobs ---- */

static void job_failed(struct cache *c, const char *id, int rc, const char *err, bool stale)
{
    note_error(c, "job", err);
    if (rc == -EACCES)
        log_error("API key rejected: job %s: %s", id, err);
    else
        log_warn("job %s: %s%s", id, err, stale ? "; serving the last good copy" : "");
}

/* Fetches one job by id (lock held; dropped while fetching) and installs
 * it. Returns 0 and its entry, or a negative errno. */
static int fetch_detail(struct cache *c, const char *id, size_t len, struct flight *f,
                        int64_t start, int64_t deadline, bool stale, struct entry **out)
{
    struct job *j = NULL;
    char err[256] = "";
    c->misses++;
    bool trim = trim_due(c);
    pthread_mutex_unlock(&c->mu);
    if (trim)
        malloc_trim(0);
    int rc = c->src.ops->job(c->src.ctx, id, len, deadline, time(NULL), &j, err,
                             sizeof err);
    pthread_mutex_lock(&c->mu);
    int64_t end = c->clock();
    struct entry *e = NULL;
    if (rc == 0 && !(e = entry_get(c, id, len, true))) {
        job_unref(j);
        rc = -ENOMEM;
    } else if (rc == 0) {
        set_job(c, e, j, start, end);
        evict_but(c, e);
    } else if (rc != -ENOENT) {
        job_failed(c, id, rc, err[0] ? err : strerror(-rc), stale);
    }
    flight_land(c->flights, f, rc, end, pause_after(c, rc, end));
    *out = e;
    return rc;
}

/* Makes e's text present (need_text) and, unless stale_ok, fresh. A stale
 * text is good enough where the listing it came with is shown. A failure
 * leaves the last good data in place (0). Lock held; dropped while
 * fetching. */
static int fetch_job(struct cache *c, struct entry *e, bool need_text, bool stale_ok,
                     int64_t deadline)
{
    int64_t now = c->clock();
    bool fresh = e->fetched_ms && (stale_ok || job_fresh(c, e, now));
    if (fresh && (e->job || !need_text)) {
        c->hits++;
        return 0;
    }
    struct flight *f;
    uint8_t key[1 + sizeof e->seq] = {'e'};
    memcpy(key + 1, &e->seq, sizeof e->seq);
    now = fetch_start(c, now);
    int rc = flight_take(c->flights, key, sizeof key, now, c->expired_ms, wait_left(deadline), &f);
    if (rc == FLIGHT_LEAD) {
        struct entry *got;
        rc = fetch_detail(c, e->id, e->id_len, f, now, deadline, e->job != NULL, &got);
    }
    if (rc == 0 && need_text && !e->job)
        rc = -EIO; /* evicted again while it came in */
    if (rc && rc != -ENOENT && (e->job || (!need_text && e->fetched_ms)))
        rc = 0; /* stale-if-error */
    return rc;
}

static bool negative_hit(struct cache *c, const char *id, size_t len, int64_t now)
{
    struct neg *n = idmap_get(&c->negative, id, len);
    if (!n)
        return false;
    if (now < n->until)
        return true;
    idmap_del(&c->negative, id, len);
    free(n);
    return false;
}

static void negative_add(struct cache *c, const char *id, size_t len, int64_t now)
{
    if (c->negative.count > 4096)
        negative_clear(c); /* bounded: forget everything rather than grow without end */
    struct neg *n = idmap_get(&c->negative, id, len);
    if (!n) {
        n = malloc(sizeof *n + len + 1);
        if (!n)
            return;
        memcpy(n->id, id, len);
        n->len = len;
        if (idmap_put(&c->negative, n->id, len, n)) {
            free(n);
            return;
        }
    }
    n->until = now + c->ttl_ms;
}

/* Is e listed in view v right now? (lock held) */
static bool in_view(struct cache *c, const struct entry *e, int v)
{
    if (v < VIEW_COUNT)
        return (e->in_view >> v) & 1u;
    struct view *vw = view_at(c, v);
    return vw && (e->in_view & 1u) && e->group[vw->kind] == (uint32_t)v;
}

/* A name in jobs/ that is not listed: one detail request, shared by all who
 * ask meanwhile; a 404 is remembered. Lock held. */
static int lookup_unlisted(struct cache *c, const char *id, size_t len, struct entry **out,
                           int64_t deadline)
{
    int64_t now = c->clock();
    struct entry *e = entry_get(c, id, len, false);
    if (e)
        *out = e;
    if (e && e->fetched_ms && job_fresh(c, e, now))
        return 0;
    if (negative_hit(c, id, len, now))
        return -ENOENT;
    int rc;
    if (e) {
        rc = fetch_job(c, e, false, false, deadline);
    } else {
        /* not known yet: no entry until it turns out to exist, so a name
         * that does not leaves nothing behind */
        struct flight *f;
        struct buf key = {0};
        now = fetch_start(c, now);
        buf_putc(&key, 'n');
        buf_put(&key, id, len);
        rc = key.oom ? -ENOMEM
                     : flight_take(c->flights, key.p, key.len, now, c->expired_ms,
                                   wait_left(deadline), &f);
        buf_free(&key);
        if (rc == FLIGHT_LEAD)
            rc = fetch_detail(c, id, len, f, now, deadline, false, &e);
        else if (rc == 0 && !(e = entry_get(c, id, len, false)))
            rc = -ENOENT;
        *out = e;
    }
    if (rc == -ENOENT)
        negative_add(c, id, len, c->clock());
    return rc;
}

int cache_lookup(struct cache *c, int v, const char *id, size_t len, struct cache_rec *out,
                 double *fresh_s)
{
    int rc = 0;
    struct entry *e = NULL;
    pthread_mutex_lock(&c->mu);
    struct view *base = &c->views[base_view(v)];
    if (!view_at(c, v)) {
        rc = -ENOENT;
    } else if (v != VIEW_ALL) {
        /* only the listing counts: never a detail request */
        rc = refresh_view(c, v, deadline_real(c));
        if (rc == 0 && (!(e = entry_get(c, id, len, false)) || !in_view(c, e, v)))
            rc = -ENOENT;
        *fresh_s = view_fresh_left(c, base, c->clock());
    } else {
        int64_t now = c->clock();
        e = entry_get(c, id, len, false);
        bool listed = e && (e->in_view & 1u) && view_fresh(c, base, now);
        if (!listed)
            rc = lookup_unlisted(c, id, len, &e, deadline_real(c));
        now = c->clock();
        if (rc == 0) {
            /* a listed name is as fresh as the listing; a job as its data */
            *fresh_s = job_fresh_left(c, e, now);
            double lf = view_fresh_left(c, base, now);
            if (listed && !e->meta.final && lf > *fresh_s)
                *fresh_s = lf;
        } else {
            *fresh_s = rc == -ENOENT ? (double)c->ttl_ms / 1000.0 : 0;
        }
    }
    if (rc == 0)
        fill_rec(e, out);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_job(struct cache *c, uint32_t seq, bool refresh, struct cache_rec *out,
              double *fresh_s, struct job **job)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&c->mu);
    struct entry *e = entry_by_seq(c, seq);
    if (e) {
        /* an unfinished job's text must be at hand to be pinned; a final
         * one's metadata is enough */
        rc = fetch_job(c, e, job && !e->meta.final, !refresh, deadline_real(c));
    }
    if (rc == 0) {
        fill_rec(e, out);
        *fresh_s = job_fresh_left(c, e, c->clock());
        if (job) {
            *job = !e->meta.final && e->job ? job_ref(e->job) : NULL;
            if (!e->meta.final && !*job)
                rc = -EIO;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_job_version(struct cache *c, uint32_t seq, uint16_t ver, struct job **out)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&c->mu);
    struct entry *e = entry_by_seq(c, seq);
    if (e) {
        rc = 0;
        if (e->meta.version != ver)
            rc = -ESTALE;
        else if (!e->job && e->meta.final)
            rc = fetch_job(c, e, true, true, deadline_real(c));
        if (rc == 0 && (!e->job || e->meta.version != ver))
            rc = -ESTALE;
    }
    if (rc == 0) {
        lru_touch(c, e);
        *out = job_ref(e->job);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- one file per view ---- */

/* A snapshot of view v as it is now (lock held). */
static struct jsonl *jsonl_build(struct cache *c, int v)
{
    struct view *vw = view_at(c, v);
    int base = base_view(v);
    const struct view *bv = &c->views[base];
    struct jsonl *s = jsonl_new(vw->n);
    if (!s)
        return NULL;
    s->view = v;
    s->base = base;
    s->version = vw->version;
    s->base_total = bv->total;
    s->base_order = bv->order;
    s->mtime = vw->mtime.tv_sec;
    size_t k = 0;
    /* a line's position in the fetched view, to find its page again; a
     * group's members are in the all-jobs listing's order */
    for (size_t i = 0; i < bv->n && k < vw->n; i++) {
        struct entry *e = bv->items[i];
        if (vw != bv && (!(e->in_view & 1u) || e->group[vw->kind] != (uint32_t)v))
            continue;
        struct jsonl_line *l = &s->lines[k++];
        l->seq = e->seq;
        l->version = e->meta.version;
        l->len = e->meta.line;
        l->pos = (uint32_t)i;
        /* an unfinished job can change: the snapshot holds this version */
        if (!e->meta.final && e->job && jsonl_hold(s, k - 1, e->job)) {
            jsonl_unref(s);
            return NULL;
        }
    }
    s->n = k;
    if (jsonl_layout(s)) {
        jsonl_unref(s);
        return NULL;
    }
    return s;
}

int cache_jsonl(struct cache *c, int v, bool refresh, struct jsonl **out, struct view_info *info)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    struct view *vw = view_at(c, v);
    if (!vw)
        rc = -ENOENT;
    else if (refresh || !c->views[base_view(v)].fetched_ms)
        rc = refresh_view(c, v, deadline_real(c));
    if (rc == 0) {
        vw = view_at(c, v);
        if (!vw->jsonl || vw->jsonl->version != vw->version) {
            struct jsonl *s = jsonl_build(c, v);
            if (!s) {
                rc = -ENOMEM;
            } else {
                jsonl_unref(vw->jsonl);
                vw->jsonl = s;
            }
        }
    }
    if (rc == 0) {
        *out = jsonl_ref(vw->jsonl);
        view_info_of(c, v, info);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* The texts a read of a snapshot needs, and those still missing. */
struct jsonl_want {
    const struct jsonl *s;
    size_t first, n;
    struct job **texts; /* [n]: a reference each, NULL while missing */
};

static bool line_text(const struct jsonl_line *l, const struct entry *e)
{
    return e && e->job && e->meta.version == l->version;
}

/* Takes, under the lock, every text the read wants that the cache has. */
static size_t want_take(struct cache *c, struct jsonl_want *w)
{
    size_t missing = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &w->s->lines[w->first + i];
        struct entry *e = entry_by_seq(c, l->seq);
        if (w->texts[i])
            continue;
        struct job *held = jsonl_held(w->s, w->first + i);
        if (held) {
            w->texts[i] = job_ref(held);
        } else if (line_text(l, e)) {
            lru_touch(c, e);
            w->texts[i] = job_ref(e->job);
        } else {
            missing++;
        }
    }
    return missing;
}

/* While a page comes in: take what the read wants before it can be evicted. */
static void keep_wanted(struct cache_install *ci, struct entry *e)
{
    struct jsonl_want *w = ci->arg;
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &w->s->lines[w->first + i];
        if (!w->texts[i] && l->seq == e->seq && line_text(l, e))
            w->texts[i] = job_ref(e->job);
    }
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Fetches the pages this read leads (lock held; dropped meanwhile) and
 * lands their flights. */
static int fetch_led(struct cache *c, struct jsonl_want *w, const char *status, const long *offsets,
                     struct flight **led, size_t n, int64_t deadline, char *err, size_t errlen)
{
    int64_t start = fetch_start(c, c->clock());
    bool trim = trim_due(c);
    pthread_mutex_unlock(&c->mu);
    if (trim)
        malloc_trim(0);
    struct cache_install ci = {.in = {.jobs = install_jobs}, .c = c, .start = start,
                               .keep = keep_wanted, .arg = w};
    int rc = refresh_pages(&c->src, status, offsets, n, deadline, time(NULL), &ci.in, err, errlen);
    pthread_mutex_lock(&c->mu);
    int64_t end = c->clock();
    for (size_t i = 0; i < n; i++)
        flight_land(c->flights, led[i], rc, end, pause_after(c, rc, end));
    return rc;
}

/* Brings back the missing texts of a read by their list pages (lock held;
 * dropped while fetching), then, for any still missing (it moved far since
 * the snapshot), by a detail request. */
static int want_fetch(struct cache *c, struct jsonl_want *w, int64_t deadline)
{
    const struct jsonl *s = w->s;
    const struct view *bv = &c->views[s->base];
    int ps = c->src.page_size;
    /* newest first, jobs created since shifted every page down */
    long shift = s->base_order == ORDER_NEWEST && bv->total > s->base_total
                     ? bv->total - s->base_total : 0;
    /* the offset of each line's page, and the distinct ones still wanted */
    long *page_of = malloc((w->n ? w->n : 1) * sizeof *page_of);
    long *offsets = malloc((w->n ? w->n : 1) * sizeof *offsets);
    size_t np = 0;
    if (!page_of || !offsets) {
        free(page_of);
        free(offsets);
        return -ENOMEM;
    }
    for (size_t i = 0; i < w->n; i++) {
        page_of[i] = ((long)s->lines[w->first + i].pos + shift) / ps * ps;
        if (!w->texts[i])
            offsets[np++] = page_of[i];
    }
    qsort(offsets, np, sizeof *offsets, cmp_long);
    size_t u = 0;
    for (size_t i = 0; i < np; i++)
        if (u == 0 || offsets[i] != offsets[u - 1])
            offsets[u++] = offsets[i];
    const char *status = s->base == VIEW_ALL ? NULL : view_name(s->base);
    char err[256] = "";
    struct flight **led = malloc((u ? u : 1) * sizeof *led);
    long *mine = malloc((u ? u : 1) * sizeof *mine);
    int rc = led && mine ? 0 : -ENOMEM;
    /* Two passes. First, every page no one else is fetching is led by this
     * read and all of them are fetched at once, in parallel. Then the pages
     * another read was fetching are waited for, one at a time (one fetch per
     * page, whoever wants it: reads run in parallel, the kernel's readahead,
     * and want the same pages). A lead is never held while waiting on
     * another's: two reads could wait on each other. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        size_t nled = 0;
        want_take(c, w); /* another read may have brought some in meanwhile */
        for (size_t i = 0; i < u && rc == 0; i++) {
            bool needed = false;
            for (size_t k = 0; k < w->n && !needed; k++)
                needed = !w->texts[k] && page_of[k] == offsets[i];
            if (!needed)
                continue;
            uint8_t key[2 + sizeof(long)] = {'p', (uint8_t)s->base};
            memcpy(key + 2, &offsets[i], sizeof(long));
            int64_t now = fetch_start(c, c->clock());
            int fr = flight_take(c->flights, key, sizeof key, now, c->expired_ms,
                                 pass == 0 ? 0 : wait_left(deadline), &led[nled]);
            if (fr == FLIGHT_LEAD)
                mine[nled++] = offsets[i];
            else if (pass == 1)
                want_take(c, w); /* it came in just now: still at hand */
            if (pass == 1 && nled) {
                rc = fetch_led(c, w, status, mine, led, nled, deadline, err, sizeof err);
                nled = 0;
            }
        }
        if (nled)
            rc = fetch_led(c, w, status, mine, led, nled, deadline, err, sizeof err);
    }
    free(led);
    free(mine);
    free(offsets);
    free(page_of);
    if (rc) {
        note_error(c, "jsonl", err[0] ? err : strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &s->lines[w->first + i];
        struct entry *e = entry_by_seq(c, l->seq);
        if (w->texts[i] || !e)
            continue;
        if (!line_text(l, e))
            fetch_job(c, e, true, true, deadline);
        if (line_text(l, e))
            w->texts[i] = job_ref(e->job);
    }
    return 0;
}

int cache_jsonl_read(struct cache *c, const struct jsonl *s, uint64_t off, size_t size,
                     struct buf *out)
{
    if (off >= s->size || size == 0)
        return 0;
    struct jsonl_want w = {.s = s, .first = jsonl_line_at(s, off)};
    uint64_t first_off = jsonl_line_off(s, w.first), at = first_off;
    size_t end = w.first;
    while (end < s->n && at < off + size)
        at += s->lines[end++].len;
    w.n = end - w.first;
    w.texts = calloc(w.n ? w.n : 1, sizeof *w.texts);
    if (!w.texts)
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (want_take(c, &w))
        rc = want_fetch(c, &w, deadline_real(c));
    pthread_mutex_unlock(&c->mu);
    at = first_off;
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        const struct jsonl_line *l = &s->lines[w.first + i];
        const struct job *j = w.texts[i];
        if (!j || j->text_len + 1 != l->len) {
            rc = -EIO; /* the version this snapshot names is gone */
            break;
        }
        /* the part of this line inside [off, off + size) */
        uint64_t from = off > at ? off - at : 0;
        uint64_t to = off + size < at + l->len ? off + size - at : l->len;
        if (from < j->text_len)
            buf_put(out, j->text + from, (to < j->text_len ? to : j->text_len) - from);
        if (to == l->len)
            buf_putc(out, '\n');
        at += l->len;
    }
    for (size_t i = 0; i < w.n; i++)
        job_unref(w.texts[i]);
    free(w.texts);
    return rc ? rc : out->oom ? -ENOMEM : 0;
}

/* ---- groups ---- */

int cache_view_kind(struct cache *c, int v)
{
    pthread_mutex_lock(&c->mu);
    struct view *vw = view_at(c, v);
    int kind = vw ? vw->kind : -2;
    pthread_mutex_unlock(&c->mu);
    return kind;
}

int cache_group_find(struct cache *c, int kind, const char *name, int *v)
{
    pthread_mutex_lock(&c->mu);
    int rc = refresh_view(c, VIEW_ALL, deadline_real(c));
    if (rc == 0) {
        uint32_t g = groups_find(c->groups, kind, name);
        if (g)
            *v = (int)g;
        else
            rc = -ENOENT;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const struct group_item *)a)->name, ((const struct group_item *)b)->name);
}

int cache_groups_list(struct cache *c, int kind, struct group_list *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    int rc = refresh_view(c, VIEW_ALL, deadline_real(c));
    if (rc == 0)
        rc = groups_list(c->groups, kind, out);
    pthread_mutex_unlock(&c->mu);
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
    pthread_mutex_lock(&c->mu);
    /* +1: a fetch that starts in this very millisecond predates the refresh */
    c->expired_ms = c->clock() + 1;
    negative_clear(c);
    pthread_mutex_unlock(&c->mu);
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    int64_t now = c->clock();
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->bytes = c->bytes;
    out->cap_bytes = c->cap_bytes;
    out->entries = c->nentries;
    out->renders = c->renders;
    out->flights = flights_count(c->flights);
    for (int v = 0; v < VIEW_COUNT; v++) {
        struct view *vw = &c->views[v];
        out->views[v].fetched = vw->fetched_ms != 0;
        out->views[v].age_s = vw->fetched_ms ? (double)(now - vw->fetched_ms) / 1000.0 : 0;
        out->views[v].jobs = vw->n;
        out->views[v].total = vw->total;
        out->views[v].last_err = vw->last_err;
        out->views[v].full_refreshes = vw->full_n;
        out->views[v].delta_refreshes = vw->delta_n;
        out->views[v].full_requests = vw->full_requests;
        out->views[v].delta_requests = vw->delta_requests;
        out->views[v].order = vw->order == ORDER_NEWEST   ? "newest"
                              : vw->order == ORDER_OLDEST ? "oldest"
                                                          : "unknown";
    }
    for (int k = 0; k < GROUP_NKINDS; k++)
        out->groups[k] = groups_count(c->groups, k);
    memcpy(out->last_error, c->last_error, sizeof out->last_error);
    out->last_error_at = c->last_error_at;
    pthread_mutex_unlock(&c->mu);
}
