/* The store behind the cache (persist.h). */
#include "persist.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "groups.h"
#include "jsonl.h"
#include "log.h"
#include "store.h"
#include "vec.h"

/* The writer takes marked jobs this many at a time, the lock held meanwhile. */
#define CHUNK 4096
/* With nothing woken for it, changes are written within this long. */
#define WRITE_AFTER_MS 1000
/* Texts marked beyond this wake the writer at once. */
#define PENDING_WAKE_BYTES (4u << 20)

VEC_NAMED(seqs, uint32_t);

struct persist {
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;      /* guards wake, stop */
    pthread_cond_t cv;
    bool wake, stop;
    /* guarded by the cache's lock */
    size_t pending_bytes;    /* texts marked since the writer last took them */
    size_t groups_written;   /* groups the store has (all below this number) */
    struct seqs dirty;       /* entries marked, each once */
    bool views[VIEW_COUNT];  /* fetched views to write */
    bool groups;             /* every group's times */
};

/* ---- marking (lock held) ---- */

void persist_job_locked(struct cache *c, struct entry *e, int what)
{
    ASSERT_LOCKED(c);
    struct persist *p = c->persist;
    if (!p)
        return;
    if (!e->dirty && vec_push(&p->dirty, e->seq))
        return; /* out of memory: this change is not kept on disk */
    e->dirty |= (uint8_t)what;
    /* a fast listing marks texts faster than a second's wait allows: the
     * writer is woken before the cache evicts them unwritten */
    if ((what & DIRTY_TEXT) && e->job &&
        (p->pending_bytes += e->job->text_len) > PENDING_WAKE_BYTES) {
        p->pending_bytes = 0;
        persist_wake(c);
    }
}

void persist_view_locked(struct cache *c, int v)
{
    ASSERT_LOCKED(c);
    struct persist *p = c->persist;
    if (!p)
        return;
    if (v < VIEW_COUNT)
        p->views[v] = true;
    if (v >= VIEW_COUNT || v == VIEW_ALL)
        p->groups = true;
}

void persist_wake(struct cache *c)
{
    struct persist *p = c->persist;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->wake = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- the writer ---- */

static int64_t wall_of(int64_t mono_ms, int64_t now_mono, int64_t now_wall)
{
    return mono_ms ? now_wall - (now_mono - mono_ms) : 0;
}

/* What the store is handed: one transaction. */
struct batch {
    struct store_batch b;
    VEC(struct store_job) jobs;
    VEC(struct store_group) groups;
    VEC(struct store_view) views;
};

static void batch_free(struct batch *bt)
{
    for (size_t i = 0; i < bt->jobs.n; i++)
        job_unref((struct job *)bt->jobs.v[i].text);
    for (size_t i = 0; i < bt->views.n; i++)
        listing_unref(bt->views.v[i].list);
    vec_free(&bt->jobs);
    vec_free(&bt->groups);
    vec_free(&bt->views);
}

/* The views and groups marked, and the jobs marked until now (lock held). */
static int take_views_locked(struct cache *c, struct batch *bt, struct seqs *dirty)
{
    ASSERT_LOCKED(c);
    struct persist *p = c->persist;
    int64_t mono = c->clock(), wall = clock_wall_ms();
    for (int v = 0; v < VIEW_COUNT; v++) {
        struct view *vw = &c->views[v];
        if (!p->views[v] || !vw->mem.list)
            continue;
        struct store_view sv = {.view = v, .list = listing_ref(vw->mem.list), .order = vw->order,
                                .unsure = vw->unsure, .margin = vw->margin,
                                .fetched_wall_ms = wall_of(vw->fetched_ms, mono, wall),
                                .full_wall_ms = wall_of(vw->full_start_ms, mono, wall),
                                .mtime = vw->mtime, .version = vw->version};
        if (vec_push(&bt->views, sv)) {
            listing_unref(sv.list);
            return -ENOMEM;
        }
        p->views[v] = false;
    }
    /* every group when their times moved (a jobs/ listing came in); else
     * the groups made since the last write, which jobs of any listing may
     * name: the store never holds a job naming a group it lacks */
    size_t ngroups = groups_count(c->groups);
    for (size_t g = p->groups ? 0 : p->groups_written; g < ngroups; g++) {
        struct view *vw = groups_view_locked(c->groups, (uint32_t)(VIEW_COUNT + g));
        struct store_group sg = {.view = (uint32_t)(VIEW_COUNT + g), .kind = vw->kind,
                                 .name = vw->name, .mtime = vw->mtime, .version = vw->version};
        if (vec_push(&bt->groups, sg))
            return -ENOMEM;
    }
    p->groups = false;
    p->groups_written = ngroups;
    *dirty = p->dirty;
    memset(&p->dirty, 0, sizeof p->dirty);
    return 0;
}

/* The marked jobs of dirty[from, to) (lock held): what they are now. */
static int take_jobs_locked(struct cache *c, const struct seqs *dirty, size_t from, size_t to,
                            struct batch *bt)
{
    ASSERT_LOCKED(c);
    int64_t mono = c->clock(), wall = clock_wall_ms();
    for (size_t i = from; i < to; i++) {
        struct entry *e = entry_at(&c->ents, dirty->v[i]);
        if (!e->dirty)
            continue;
        struct store_job j = {.seq = e->seq, .id = e->id, .id_len = e->id_len, .birth = e->birth,
                              .version = e->meta.version, .status = e->meta.status,
                              .final = e->meta.final, .created_ok = e->created_ok,
                              .line = e->meta.line, .mtime = e->meta.mtime,
                              .created_us = e->created_us, .digest = e->digest,
                              .group = {e->group[0], e->group[1]},
                              .fetched_wall_ms = wall_of(e->fetched_ms, mono, wall)};
        memcpy(j.size, e->meta.size, sizeof j.size);
        if ((e->dirty & DIRTY_TEXT) && e->job)
            j.text = job_ref(e->job);
        if (vec_push(&bt->jobs, j)) {
            job_unref((struct job *)j.text);
            return -ENOMEM;
        }
        e->dirty = 0;
    }
    return 0;
}

static void jobs_clear(struct batch *bt)
{
    for (size_t i = 0; i < bt->jobs.n; i++)
        job_unref((struct job *)bt->jobs.v[i].text);
    bt->jobs.n = 0;
}

/* One transaction of whatever is marked: the views first (with the jobs
 * marked until then), then the jobs a chunk at a time, each chunk's texts
 * let go once written, so the writer never holds more than a chunk of
 * texts beyond what the cache holds. */
static void write_once(struct cache *c)
{
    struct batch bt = {0};
    struct seqs dirty = {0};
    lock_take(&c->lock);
    int rc = take_views_locked(c, &bt, &dirty);
    c->persist->pending_bytes = 0;
    lock_drop(&c->lock);
    bool begun = false;
    for (size_t at = 0; rc == 0 && at < dirty.n; at += CHUNK) {
        lock_take(&c->lock);
        rc = take_jobs_locked(c, &dirty, at, at + CHUNK < dirty.n ? at + CHUNK : dirty.n, &bt);
        lock_drop(&c->lock);
        if (rc == 0 && !begun && bt.jobs.n) {
            rc = store_begin(c->store) ? -EIO : 0;
            begun = rc == 0;
        }
        if (rc == 0 && bt.jobs.n)
            rc = store_put_jobs(c->store, bt.jobs.v, bt.jobs.n) ? -EIO : 0;
        jobs_clear(&bt);
    }
    if (rc == 0 && (begun || bt.views.n || bt.groups.n)) {
        bt.b = (struct store_batch){.groups = bt.groups.v, .ngroups = bt.groups.n,
                                    .views = bt.views.v, .nviews = bt.views.n};
        if (begun || store_begin(c->store) == 0)
            store_commit(c->store, &bt.b);
    } else if (rc == -ENOMEM) {
        log_warn("store: out of memory: changes not written");
        if (begun)
            store_commit(c->store, &(struct store_batch){0}); /* what was written stands */
    }
    batch_free(&bt);
    vec_free(&dirty);
}

static void *writer(void *arg)
{
    struct cache *c = arg;
    struct persist *p = c->persist;
    /* Writing is never what a user waits for; parsing the pages of a
     * listing is. A nicer thread gets the CPU when nothing else wants it
     * (Linux: a thread's nice value is its own). */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        log_debug("store: writer keeps its priority: %s", strerror(errno));
    for (;;) {
        pthread_mutex_lock(&p->mu);
        struct timespec ts = clock_mono_ts(clock_mono_ms() + WRITE_AFTER_MS);
        while (!p->wake && !p->stop)
            if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
                break;
        bool stop = p->stop;
        p->wake = false;
        pthread_mutex_unlock(&p->mu);
        write_once(c);
        if (stop)
            return NULL;
    }
}

int persist_start(struct cache *c)
{
    if (!c->store)
        return 0;
    struct persist *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cv);
    p->groups_written = groups_count(c->groups); /* those loaded are in the store */
    c->persist = p;
    int rc = pthread_create(&p->thread, NULL, writer, c);
    p->started = rc == 0;
    return -rc;
}

void persist_stop(struct cache *c)
{
    struct persist *p = c->persist;
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    c->persist = NULL;
    vec_free(&p->dirty);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- reading back ---- */

struct loading {
    struct cache *c;
    int64_t mono, wall;
    uint32_t jobs;
};

static int64_t mono_of(const struct loading *ld, int64_t wall_ms)
{
    int64_t m = wall_ms ? ld->mono - (ld->wall - wall_ms) : 0;
    return wall_ms && m < 1 ? 1 : m; /* 0 means never */
}

static int load_job(void *arg, const struct store_job *j)
{
    struct loading *ld = arg;
    struct cache *c = ld->c;
    struct entry *e = entry_of(&c->ents, j->id, j->id_len, true);
    if (!e)
        return -ENOMEM;
    if (e->seq != j->seq)
        return -EBADMSG; /* an id twice */
    e->birth = j->birth;
    e->meta = (struct job_meta){.line = j->line, .mtime = (time_t)j->mtime,
                                .version = j->version, .status = j->status, .final = j->final};
    memcpy(e->meta.size, j->size, sizeof e->meta.size);
    e->created_ok = j->created_ok;
    e->created_us = j->created_us;
    e->digest = j->digest;
    e->group[0] = j->group[0];
    e->group[1] = j->group[1];
    e->fetched_ms = e->fetch_start_ms = mono_of(ld, j->fetched_wall_ms);
    ld->jobs++;
    return 0;
}

static int load_group(void *arg, const struct store_group *g)
{
    struct loading *ld = arg;
    uint32_t v = groups_assign_locked(ld->c->groups, g->kind, g->name);
    if (v != g->view)
        return v ? -EBADMSG : -ENOMEM;
    struct view *vw = groups_view_locked(ld->c->groups, v);
    vw->mtime = g->mtime;
    vw->version = g->version;
    return 0;
}

static int load_view(void *arg, struct store_view *sv)
{
    struct loading *ld = arg;
    struct cache *c = ld->c;
    struct view *vw = &c->views[sv->view];
    struct view_members vm;
    int rc = view_members_make(sv->list, true, &vm);
    if (rc)
        return rc;
    view_members_swap(vw, &vm, false);
    view_members_free(&vm);
    vw->order = sv->order;
    vw->unsure = sv->unsure;
    vw->margin = sv->margin;
    vw->mtime = sv->mtime;
    vw->version = sv->version;
    /* known, and stale: the first use refreshes it, cheaply */
    vw->fetched_ms = vw->fetch_start_ms = mono_of(ld, sv->fetched_wall_ms);
    if (!vw->fetched_ms)
        vw->fetched_ms = vw->fetch_start_ms = 1;
    vw->full_start_ms = mono_of(ld, sv->full_wall_ms);
    vw->valid_until = 0;
    if (sv->view != VIEW_ALL)
        return 0;
    /* the groups are jobs/'s: built from it, their stored times kept */
    struct group_build gb;
    size_t n = groups_count(c->groups);
    struct timespec *t = calloc(n + 1, sizeof *t);
    uint32_t *ver = calloc(n + 1, sizeof *ver);
    rc = t && ver ? groups_build_begin_locked(c->groups, &gb) : -ENOMEM;
    if (rc == 0) {
        for (size_t g = 0; g < n; g++) {
            struct view *gv = groups_view_locked(c->groups, (uint32_t)(VIEW_COUNT + g));
            t[g] = gv->mtime;
            ver[g] = gv->version;
        }
        rc = groups_build(&gb, sv->list);
        if (rc == 0)
            groups_build_commit_locked(c->groups, &gb);
        for (size_t g = 0; rc == 0 && g < n; g++) {
            struct view *gv = groups_view_locked(c->groups, (uint32_t)(VIEW_COUNT + g));
            gv->mtime = t[g];
            gv->version = ver[g];
        }
        groups_build_free(&gb);
    }
    free(t);
    free(ver);
    return rc;
}

int persist_load(struct cache *c)
{
    if (!c->store || !store_warm(c->store))
        return 0;
    struct loading ld = {.c = c, .mono = c->clock(), .wall = clock_wall_ms()};
    struct store_loader sl = {.job = load_job, .group = load_group, .view = load_view,
                              .arg = &ld};
    lock_take(&c->lock);
    int rc = store_load(c->store, &sl);
    /* every job's groups must be among those read */
    size_t groups = groups_count(c->groups);
    for (uint32_t s = 1; rc == 0 && s <= ld.jobs; s++) {
        const struct entry *e = entry_at(&c->ents, s);
        for (int k = 0; k < GROUP_NKINDS; k++)
            if (e->group[k] && (e->group[k] < VIEW_COUNT || e->group[k] - VIEW_COUNT >= groups))
                rc = -EBADMSG;
    }
    lock_drop(&c->lock);
    if (rc == 0)
        log_info("store %s: %u jobs known from before", store_path(c->store), ld.jobs);
    else if (rc == -EBADMSG && store_warm(c->store) &&
             store_reset(c->store, "names groups it does not hold") != 0)
        rc = -EIO;
    return rc;
}

int persist_text_relocking(struct cache *c, struct entry *e)
{
    ASSERT_LOCKED(c);
    if (!c->store || !e->digest)
        return -ENOENT;
    uint32_t seq = e->seq;
    uint64_t digest = e->digest;
    lock_drop(&c->lock);
    struct job *j = NULL;
    int rc = store_text(c->store, seq, digest, time(NULL), &j);
    lock_take(&c->lock);
    if (rc)
        return rc;
    if (e->digest != digest) {
        job_unref(j); /* it changed meanwhile */
        return -ENOENT;
    }
    /* the same content as the entry's: it keeps its version and times */
    int64_t fetched = e->fetched_ms, fstart = e->fetch_start_ms;
    entry_set_text(&c->ents, e, j, fstart, fetched);
    entries_evict(&c->ents, e);
    return e->job ? 0 : -ENOENT;
}
