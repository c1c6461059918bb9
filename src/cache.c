#include "cache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"

/* After a failed refresh the stale listing is served for this long before
 * the next attempt, so an outage costs one wait, not one per operation. */
#define RETRY_AFTER_FAILURE_MS 2000

struct entry {
    uint64_t seq;
    char *id;            /* owned; the byid key */
    size_t id_len;
    struct job *job;     /* one reference, or NULL when evicted */
    struct job_meta meta;
    int64_t fetched_ms;  /* when the job's data last came in */
    uint8_t in_view;     /* bit v: listed in fetched view v */
    uint32_t group[GROUP_NKINDS]; /* its by-domain and by-date views, 0 = none */
    bool fetching;
    bool expired;        /* .scrapefs/refresh: stale whatever its age */
    struct entry *prev, *next; /* LRU, only while job != NULL; head = newest */
};

struct view {
    int kind;            /* GROUP_*, or -1 for a fetched view */
    char *name;          /* a group's directory name (owned; the groups key) */
    struct entry **items;
    size_t n;
    long total;
    int64_t fetched_ms;  /* 0: never */
    int64_t valid_until; /* fresh until (monotonic ms) */
    bool fetching;
    struct timespec mtime; /* when the members last changed, to the ns: the
                              kernel drops a cached listing when it moves */
    int last_err;
};

struct neg {
    int64_t until;
    size_t len;
    char id[];
};

struct cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a fetch finished */
    struct lister lister;
    int64_t ttl_ms, timeout_ms;
    size_t cap_bytes, bytes;
    struct idmap byid;
    struct entry **byseq;
    size_t nentries, capentries;
    struct view **views; /* fetched views first, then groups; never freed */
    size_t nviews, capviews;
    struct idmap groups[GROUP_NKINDS]; /* name -> view index + 1 */
    struct idmap negative;
    struct idmap pending; /* id -> struct pending: detail requests for new ids */
    struct entry *lru_head, *lru_tail;
    size_t renders;
    uint64_t hits, misses, evictions;
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

/* Appends a view; returns its index or -1. A group's name is copied. */
static int add_view(struct cache *c, int kind, const char *name)
{
    if (c->nviews == c->capviews) {
        size_t cap = c->capviews ? c->capviews * 2 : 64;
        struct view **n = realloc(c->views, cap * sizeof *n);
        if (!n)
            return -1;
        c->views = n;
        c->capviews = cap;
    }
    struct view *vw = calloc(1, sizeof *vw);
    if (!vw)
        return -1;
    vw->kind = kind;
    clock_gettime(CLOCK_REALTIME, &vw->mtime);
    if (name && !(vw->name = strdup(name))) {
        free(vw);
        return -1;
    }
    c->views[c->nviews] = vw;
    return (int)c->nviews++;
}

int cache_new(const struct cache_config *cfg, const struct lister *l, struct cache **out)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->lister = *l;
    c->ttl_ms = (int64_t)cfg->ttl_s * 1000;
    c->timeout_ms = (int64_t)cfg->timeout_s * 1000;
    c->cap_bytes = cfg->cap_bytes;
    for (int v = 0; v < VIEW_COUNT; v++) {
        if (add_view(c, -1, NULL) < 0) {
            cache_free(c);
            return -ENOMEM;
        }
    }
    *out = c;
    return 0;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nentries; i++) {
        job_unref(c->byseq[i]->job);
        free(c->byseq[i]->id);
        free(c->byseq[i]);
    }
    free(c->byseq);
    for (size_t v = 0; v < c->nviews; v++) {
        free(c->views[v]->items);
        free(c->views[v]->name);
        free(c->views[v]);
    }
    free(c->views);
    for (int k = 0; k < GROUP_NKINDS; k++)
        idmap_free(&c->groups[k]);
    for (size_t i = 0; i < c->negative.cap; i++)
        if (c->negative.slots[i].hash)
            free(c->negative.slots[i].val);
    idmap_free(&c->negative);
    idmap_free(&c->pending);
    idmap_free(&c->byid);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- LRU and memory (lock held) ---- */

static void lru_unlink(struct cache *c, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void lru_touch(struct cache *c, struct entry *e)
{
    if (e->job && c->lru_head != e) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
}

static void drop_render(struct cache *c, struct entry *e)
{
    if (!e->job)
        return;
    lru_unlink(c, e);
    c->bytes -= e->job->bytes;
    c->renders--;
    job_unref(e->job);
    e->job = NULL;
}

static void evict(struct cache *c)
{
    while (c->bytes > c->cap_bytes && c->lru_tail) {
        drop_render(c, c->lru_tail);
        c->evictions++;
    }
}

/* Installs a new render (taking the caller's reference). */
static uint64_t digest(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static void set_job(struct cache *c, struct entry *e, struct job *j, int64_t now)
{
    uint64_t d = digest(j->file[JOB_JSON], j->size[JOB_JSON]);
    if (e->job && d == e->meta.digest) {
        /* the same content again: keep the render the kernel and the LRU
         * already know, and let the new copy go at once */
        job_unref(j);
        e->fetched_ms = now;
        e->expired = false;
        return;
    }
    if (e->fetched_ms && d != e->meta.digest)
        e->meta.version++; /* new content gets new inodes; see fs.c */
    e->meta.digest = d;
    j->version = e->meta.version;
    drop_render(c, e);
    e->job = j;
    e->fetched_ms = now;
    e->expired = false;
    for (int f = 0; f < JOB_NFILES; f++)
        e->meta.size[f] = j->size[f];
    e->meta.mtime = j->mtime;
    e->meta.final = j->final;
    c->bytes += j->bytes;
    c->renders++;
    lru_push(c, e);
}

static struct entry *entry_get(struct cache *c, const char *id, size_t len, bool create)
{
    struct entry *e = idmap_get(&c->byid, id, len);
    if (e || !create)
        return e;
    if (c->nentries == c->capentries) {
        size_t cap = c->capentries ? c->capentries * 2 : 1024;
        struct entry **n = realloc(c->byseq, cap * sizeof *n);
        if (!n)
            return NULL;
        c->byseq = n;
        c->capentries = cap;
    }
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->id = malloc(len + 1);
    if (!e->id) {
        free(e);
        return NULL;
    }
    memcpy(e->id, id, len);
    e->id[len] = '\0';
    e->id_len = len;
    if (idmap_put(&c->byid, e->id, len, e)) {
        free(e->id);
        free(e);
        return NULL;
    }
    c->byseq[c->nentries++] = e;
    e->seq = c->nentries; /* 1-based: 0 never names an entry */
    return e;
}

static bool job_fresh(const struct cache *c, const struct entry *e, int64_t now)
{
    return e->meta.final || (!e->expired && now - e->fetched_ms < c->ttl_ms);
}

static double fresh_left(const struct cache *c, const struct entry *e, int64_t now)
{
    if (e->meta.final)
        return 86400.0;
    double left = (double)(e->fetched_ms + c->ttl_ms - now) / 1000.0;
    return left > 0 ? left : 0;
}

/* ---- views ---- */

/* Installs a fetched listing as view v (lock held). */
/* The group view named key of a kind, created when new; 0 when out of memory. */
static uint32_t group_get(struct cache *c, int kind, const char *key)
{
    size_t len = strlen(key);
    uintptr_t at = (uintptr_t)idmap_get(&c->groups[kind], key, len);
    if (at)
        return (uint32_t)(at - 1);
    int v = add_view(c, kind, key);
    if (v < 0)
        return 0;
    if (idmap_put(&c->groups[kind], c->views[v]->name, len, (void *)(uintptr_t)(v + 1)))
        return 0;
    return (uint32_t)v;
}

/* Replaces a view's members; moves its mtime when they changed. */
static void set_members(struct view *vw, struct entry **items, size_t n)
{
    bool changed = n != vw->n || (n && memcmp(items, vw->items, n * sizeof *items) != 0);
    free(vw->items);
    vw->items = items;
    vw->n = n;
    if (changed) {
        clock_gettime(CLOCK_REALTIME, &vw->mtime);
    }
}

/* Derives the by-domain and by-date groups from the all-jobs listing (lock
 * held; every listed entry has its render, as install_view just set it). */
static void regroup(struct cache *c)
{
    struct view *all = c->views[VIEW_ALL];
    char key[NAME_MAX_BYTES + 1];
    for (size_t i = 0; i < all->n; i++) {
        struct entry *e = all->items[i];
        if (!e->job)
            continue;
        job_domain(e->job, key);
        e->group[GROUP_DOMAIN] = group_get(c, GROUP_DOMAIN, key);
        job_date(e->job, key);
        e->group[GROUP_DATE] = group_get(c, GROUP_DATE, key);
    }
    size_t *count = calloc(c->nviews, sizeof *count);
    struct entry ***items = calloc(c->nviews, sizeof *items);
    if (!count || !items)
        goto out;
    for (size_t i = 0; i < all->n; i++)
        for (int k = 0; k < GROUP_NKINDS; k++)
            count[all->items[i]->group[k]]++;
    for (size_t v = VIEW_COUNT; v < c->nviews; v++)
        if (count[v] && !(items[v] = malloc(count[v] * sizeof **items)))
            goto out;
    memset(count, 0, c->nviews * sizeof *count);
    for (size_t i = 0; i < all->n; i++) {
        struct entry *e = all->items[i];
        for (int k = 0; k < GROUP_NKINDS; k++)
            if (e->group[k] >= VIEW_COUNT)
                items[e->group[k]][count[e->group[k]]++] = e;
    }
    for (size_t v = VIEW_COUNT; v < c->nviews; v++) {
        set_members(c->views[v], items[v], count[v]);
        items[v] = NULL;
    }
out:
    for (size_t v = 0; items && v < c->nviews; v++)
        free(items[v]);
    free(items);
    free(count);
}

static int install_view(struct cache *c, int v, struct listing *ls, int64_t now)
{
    struct view *vw = c->views[v];
    uint8_t bit = (uint8_t)(1u << v);
    struct entry **items = malloc((ls->n ? ls->n : 1) * sizeof *items);
    if (!items)
        return -ENOMEM;
    size_t kept = 0, n = 0;
    for (size_t i = 0; i < ls->n; i++) {
        struct job *j = ls->jobs[i];
        struct entry *e = entry_get(c, j->id, j->id_len, true);
        if (!e)
            continue; /* out of memory for one entry: it is left out */
        ls->jobs[i] = NULL;
        set_job(c, e, j, now);
        if (e->in_view & bit)
            kept++;
        items[n++] = e;
    }
    bool changed = kept != vw->n || n != vw->n;
    for (size_t i = 0; i < vw->n; i++)
        vw->items[i]->in_view &= (uint8_t)~bit;
    for (size_t i = 0; i < n; i++)
        items[i]->in_view |= bit;
    free(vw->items);
    vw->items = items;
    vw->n = n;
    vw->total = ls->total;
    if (changed || !vw->fetched_ms) {
        clock_gettime(CLOCK_REALTIME, &vw->mtime);
    }
    vw->fetched_ms = now;
    vw->valid_until = now + c->ttl_ms;
    vw->last_err = 0;
    if (v == VIEW_ALL)
        regroup(c);
    evict(c);
    return 0;
}

/* The fetched view a view comes from: groups derive from all jobs. */
static int base_view(int v)
{
    return v < VIEW_COUNT ? v : VIEW_ALL;
}

/* Makes view v fresh (lock held; dropped while fetching). */
static int refresh_view(struct cache *c, int v)
{
    v = base_view(v);
    struct view *vw = c->views[v];
    for (;;) {
        int64_t now = http_now_ms();
        if (vw->fetched_ms && now < vw->valid_until) {
            c->hits++;
            return 0;
        }
        if (!vw->fetching)
            break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    c->misses++;
    vw->fetching = true;
    pthread_mutex_unlock(&c->mu);

    struct listing ls;
    char err[256] = "";
    int64_t start = http_now_ms();
    int rc = lister_fetch_view(&c->lister, v == VIEW_ALL ? NULL : view_name(v),
                               start + c->timeout_ms, time(NULL), &ls, err, sizeof err);

    pthread_mutex_lock(&c->mu);
    vw->fetching = false;
    if (rc == 0) {
        log_debug("listing %s: %zu jobs in %d calls, %lld ms", view_name(v), ls.n, ls.pages,
                  (long long)(http_now_ms() - start));
        rc = install_view(c, v, &ls, http_now_ms());
        listing_free(&ls);
        /* a listing's pages and replaced renders were freed just now: give
         * the memory back rather than keep it in malloc's free lists */
        malloc_trim(0);
    } else {
        char what[64];
        snprintf(what, sizeof what, "listing %s", view_name(v));
        note_error(c, what, err);
        if (rc == -EACCES)
            log_error("API key rejected: %s: %s", what, err);
        else if (vw->fetched_ms)
            log_warn("%s: refresh failed, serving the listing from %lld s ago: %s", what,
                     (long long)((http_now_ms() - vw->fetched_ms) / 1000), err);
        else
            log_warn("%s failed: %s", what, err);
        vw->last_err = rc;
        if (vw->fetched_ms) {
            vw->valid_until = http_now_ms() + (c->ttl_ms < RETRY_AFTER_FAILURE_MS ? c->ttl_ms : RETRY_AFTER_FAILURE_MS);
            rc = 0; /* stale-if-error */
        }
    }
    pthread_cond_broadcast(&c->cv);
    return rc;
}

int cache_view_info(struct cache *c, int v, bool refresh, struct timespec *mtime, double *fresh_s)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    struct view *base = c->views[base_view(v)];
    /* a listing seen before is fetched again once stale: this is how `ls`
     * after ttl learns that the kernel's cached listing is out of date */
    if (refresh && base->fetched_ms)
        rc = refresh_view(c, v);
    int64_t left = base->fetched_ms ? base->valid_until - http_now_ms() : 0;
    *mtime = (size_t)v < c->nviews ? c->views[v]->mtime : base->mtime;
    *fresh_s = left > 0 ? (double)left / 1000.0 : 0;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_view_window(struct cache *c, int v, bool refresh, size_t start, struct entry **items,
                      size_t max, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&c->mu);
    int rc = (size_t)v >= c->nviews ? -ENOENT : refresh ? refresh_view(c, v) : 0;
    if (rc == 0) {
        struct view *vw = c->views[v];
        for (size_t i = start; i < vw->n && *n < max; i++)
            items[(*n)++] = vw->items[i];
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- jobs ---- */

static int fetch_job(struct cache *c, struct entry *e, bool need_render, bool stale_ok);

/* Logs a failed detail request (lock held). */
static void job_failed(struct cache *c, const char *id, int rc, const char *err, bool stale)
{
    note_error(c, "job", err);
    if (rc == -EACCES)
        log_error("API key rejected: job %s: %s", id, err);
    else
        log_warn("job %s: %s%s", id, err, stale ? "; serving the last good copy" : "");
}

/* A detail request for an id with no entry yet, shared by everyone who
 * asks for it meanwhile. */
struct pending {
    int waiters;
    bool done;
    int rc;
    size_t len;
    char id[]; /* the pending map's key */
};

/* Fetches a job not known yet before it gets an entry, so a name that turns
 * out not to exist leaves nothing behind (lock held; dropped while
 * fetching). Returns 0 and the new entry, or a negative errno. */
static int fetch_new(struct cache *c, const char *id, size_t len, struct entry **out)
{
    int rc;
    struct pending *p = idmap_get(&c->pending, id, len);
    if (p) {
        p->waiters++;
        while (!p->done)
            pthread_cond_wait(&c->cv, &c->mu);
        rc = p->rc;
        if (--p->waiters == 0)
            free(p);
        if (rc == 0 && !(*out = entry_get(c, id, len, false)))
            rc = -ENOENT;
        return rc;
    }
    if (!(p = calloc(1, sizeof *p + len + 1)))
        return -ENOMEM;
    memcpy(p->id, id, len);
    p->len = len;
    p->waiters = 1;
    if (idmap_put(&c->pending, p->id, len, p)) {
        free(p);
        return -ENOMEM;
    }
    c->misses++;
    pthread_mutex_unlock(&c->mu);

    struct job *j = NULL;
    char err[256] = "";
    rc = lister_fetch_job(&c->lister, id, len, http_now_ms() + c->timeout_ms, time(NULL), &j,
                          err, sizeof err);

    pthread_mutex_lock(&c->mu);
    idmap_del(&c->pending, p->id, len);
    struct entry *e = NULL;
    if (rc == 0 && !(e = entry_get(c, id, len, true))) {
        job_unref(j);
        rc = -ENOMEM;
    } else if (rc == 0) {
        set_job(c, e, j, http_now_ms());
        evict(c);
        lru_touch(c, e);
    } else if (rc != -ENOENT) {
        job_failed(c, id, rc, err, false);
    }
    p->rc = rc;
    p->done = true;
    pthread_cond_broadcast(&c->cv);
    if (--p->waiters == 0)
        free(p);
    *out = e;
    return rc;
}

/* Makes e fresh (lock held; dropped while fetching). need_render: false when
 * metadata suffices (a final job's never changes). */
static int refresh_job(struct cache *c, struct entry *e, bool need_render)
{
    return fetch_job(c, e, need_render, false);
}

/* Makes e's render present (need_render) and, unless stale_ok, fresh: a
 * stale render is good enough where the listing it came with is shown.
 * Lock held; dropped while fetching. */
static int fetch_job(struct cache *c, struct entry *e, bool need_render, bool stale_ok)
{
    for (;;) {
        int64_t now = http_now_ms();
        bool fresh = e->fetched_ms && (stale_ok || job_fresh(c, e, now));
        if (fresh && (e->job || !need_render)) {
            c->hits++;
            return 0;
        }
        if (!e->fetching)
            break;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    c->misses++;
    e->fetching = true;
    pthread_mutex_unlock(&c->mu);

    struct job *j = NULL;
    char err[256] = "";
    int rc = lister_fetch_job(&c->lister, e->id, e->id_len, http_now_ms() + c->timeout_ms,
                              time(NULL), &j, err, sizeof err);

    pthread_mutex_lock(&c->mu);
    e->fetching = false;
    if (rc == 0) {
        set_job(c, e, j, http_now_ms());
        evict(c);
        lru_touch(c, e);
    } else if (rc != -ENOENT) {
        job_failed(c, e->id, rc, err, e->job != NULL);
        if (e->job || (!need_render && e->fetched_ms))
            rc = 0; /* stale-if-error */
        if (rc == 0)
            e->fetched_ms = http_now_ms() - c->ttl_ms +
                            (c->ttl_ms < RETRY_AFTER_FAILURE_MS ? c->ttl_ms : RETRY_AFTER_FAILURE_MS);
    }
    pthread_cond_broadcast(&c->cv);
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
    if (c->negative.count > 4096) {
        /* bounded: forget everything rather than grow without end */
        for (size_t i = 0; i < c->negative.cap; i++)
            if (c->negative.slots[i].hash)
                free(c->negative.slots[i].val);
        idmap_clear(&c->negative);
    }
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
static bool in_view(const struct cache *c, const struct entry *e, int v)
{
    if (v < VIEW_COUNT)
        return (e->in_view >> v) & 1u;
    int kind = c->views[v]->kind;
    return (e->in_view & 1u) && e->group[kind] == (uint32_t)v;
}

int cache_lookup(struct cache *c, int v, const char *name, struct entry **out,
                 struct job_meta *meta, double *fresh_s)
{
    char id[NAME_MAX_BYTES + 1];
    int len = names_decode(name, id);
    if (len < 0 || names_is_probe(name))
        return -ENOENT;
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (v != VIEW_ALL) {
        rc = (size_t)v < c->nviews ? refresh_view(c, v) : -ENOENT;
        if (rc == 0) {
            struct entry *e = entry_get(c, id, (size_t)len, false);
            if (!e || !in_view(c, e, v)) {
                rc = -ENOENT;
            } else {
                *out = e;
                *meta = e->meta;
                int64_t left = c->views[base_view(v)]->valid_until - http_now_ms();
                *fresh_s = left > 0 ? (double)left / 1000.0 : 0;
            }
        }
        if (rc == -ENOENT) {
            int64_t left = c->views[base_view(v)]->valid_until - http_now_ms();
            *fresh_s = left > 0 ? (double)left / 1000.0 : 0;
        }
        pthread_mutex_unlock(&c->mu);
        return rc;
    }

    int64_t now = http_now_ms();
    struct entry *e = entry_get(c, id, (size_t)len, false);
    struct view *all = c->views[VIEW_ALL];
    bool listed_fresh = e && (e->in_view & 1u) && all->fetched_ms && now < all->valid_until;
    if (!listed_fresh && !(e && e->fetched_ms && job_fresh(c, e, now))) {
        if (negative_hit(c, id, (size_t)len, now)) {
            *fresh_s = (double)c->ttl_ms / 1000.0;
            pthread_mutex_unlock(&c->mu);
            return -ENOENT;
        }
        rc = e ? refresh_job(c, e, false) : fetch_new(c, id, (size_t)len, &e);
        if (rc == -ENOENT)
            negative_add(c, id, (size_t)len, http_now_ms());
        if (rc) {
            *fresh_s = rc == -ENOENT ? (double)c->ttl_ms / 1000.0 : 0;
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
    }
    *out = e;
    *meta = e->meta;
    now = http_now_ms();
    *fresh_s = fresh_left(c, e, now);
    if (listed_fresh && !e->meta.final) {
        double lf = (double)(all->valid_until - now) / 1000.0;
        if (lf > *fresh_s)
            *fresh_s = lf;
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

struct entry *cache_entry_by_seq(struct cache *c, uint64_t seq)
{
    struct entry *e = NULL;
    pthread_mutex_lock(&c->mu);
    if (seq >= 1 && seq <= c->nentries)
        e = c->byseq[seq - 1];
    pthread_mutex_unlock(&c->mu);
    return e;
}

uint64_t cache_entry_seq(const struct entry *e)
{
    return e->seq;
}

int cache_entry_name(const struct entry *e, char *out)
{
    return names_encode(e->id, e->id_len, out);
}

int cache_entry_group(struct cache *c, const struct entry *e, int kind)
{
    pthread_mutex_lock(&c->mu);
    int v = (int)e->group[kind];
    pthread_mutex_unlock(&c->mu);
    return v;
}

int cache_view_kind(struct cache *c, int v)
{
    pthread_mutex_lock(&c->mu);
    int kind = (size_t)v < c->nviews ? c->views[v]->kind : -2;
    pthread_mutex_unlock(&c->mu);
    return kind;
}

int cache_group_find(struct cache *c, int kind, const char *name, int *v)
{
    pthread_mutex_lock(&c->mu);
    int rc = refresh_view(c, VIEW_ALL);
    if (rc == 0) {
        uintptr_t at = (uintptr_t)idmap_get(&c->groups[kind], name, strlen(name));
        if (at && c->views[at - 1]->n > 0)
            *v = (int)(at - 1);
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
    int rc = refresh_view(c, VIEW_ALL);
    if (rc == 0) {
        out->items = calloc(c->nviews ? c->nviews : 1, sizeof *out->items);
        if (!out->items)
            rc = -ENOMEM;
        for (size_t v = VIEW_COUNT; rc == 0 && v < c->nviews; v++) {
            struct view *vw = c->views[v];
            if (vw->kind != kind || vw->n == 0)
                continue;
            struct group_item *g = &out->items[out->n];
            if (!(g->name = strdup(vw->name))) {
                rc = -ENOMEM;
                break;
            }
            g->view = (int)v;
            g->mtime = vw->mtime.tv_sec;
            out->n++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc)
        group_list_free(out);
    else
        qsort(out->items, out->n, sizeof *out->items, cmp_group);
    return rc;
}

void group_list_free(struct group_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int cache_entry_snapshot(struct cache *c, struct entry *e, bool refresh, struct job_meta *meta,
                         double *fresh_s, struct job **job)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    /* an unfinished job's render must be at hand to be pinned; a final
     * one's metadata is enough */
    rc = fetch_job(c, e, job && !e->meta.final, !refresh);
    if (rc == 0) {
        *meta = e->meta;
        *fresh_s = fresh_left(c, e, http_now_ms());
        if (job)
            *job = !e->meta.final && e->job ? job_ref(e->job) : NULL;
        if (job && !e->meta.final && !*job)
            rc = -EIO;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_job_version(struct cache *c, struct entry *e, uint16_t ver, struct job **out)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (e->meta.version != ver)
        rc = -ESTALE;
    else if (!e->job && e->meta.final)
        rc = refresh_job(c, e, true);
    if (rc == 0 && (!e->job || e->meta.version != ver))
        rc = -ESTALE;
    if (rc == 0) {
        lru_touch(c, e);
        *out = job_ref(e->job);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_job_get(struct cache *c, struct entry *e, struct job **out)
{
    pthread_mutex_lock(&c->mu);
    int rc = refresh_job(c, e, true);
    if (rc == 0) {
        if (e->job) {
            lru_touch(c, e);
            *out = job_ref(e->job);
        } else {
            rc = -EIO;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t cache_expire_all(struct cache *c, uint64_t **unfinished, char ***absent, size_t *nabsent)
{
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    *unfinished = malloc((c->nentries ? c->nentries : 1) * sizeof **unfinished);
    for (int v = 0; v < VIEW_COUNT; v++)
        c->views[v]->valid_until = 0;
    for (size_t i = 0; i < c->nentries; i++) {
        struct entry *e = c->byseq[i];
        if (e->meta.final || !e->fetched_ms)
            continue;
        e->expired = true;
        if (*unfinished)
            (*unfinished)[n++] = e->seq;
    }
    /* the names the kernel remembers as absent, to be forgotten there too */
    *nabsent = 0;
    *absent = calloc(c->negative.count ? c->negative.count : 1, sizeof **absent);
    for (size_t i = 0; i < c->negative.cap; i++) {
        struct neg *ng = c->negative.slots[i].val;
        if (!c->negative.slots[i].hash)
            continue;
        char name[NAME_MAX_BYTES + 1];
        if (*absent && names_encode(ng->id, ng->len, name) > 0 &&
            ((*absent)[*nabsent] = strdup(name)) != NULL)
            (*nabsent)++;
        free(ng);
    }
    idmap_clear(&c->negative);
    pthread_mutex_unlock(&c->mu);
    return n;
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    int64_t now = http_now_ms();
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->bytes = c->bytes;
    out->cap_bytes = c->cap_bytes;
    out->entries = c->nentries;
    out->renders = c->renders;
    for (int v = 0; v < VIEW_COUNT; v++) {
        struct view *vw = c->views[v];
        out->views[v].fetched = vw->fetched_ms != 0;
        out->views[v].age_s = vw->fetched_ms ? (double)(now - vw->fetched_ms) / 1000.0 : 0;
        out->views[v].jobs = vw->n;
        out->views[v].total = vw->total;
        out->views[v].last_err = vw->last_err;
    }
    for (size_t v = VIEW_COUNT; v < c->nviews; v++)
        if (c->views[v]->n)
            out->groups[c->views[v]->kind]++;
    memcpy(out->last_error, c->last_error, sizeof out->last_error);
    out->last_error_at = c->last_error_at;
    pthread_mutex_unlock(&c->mu);
}
