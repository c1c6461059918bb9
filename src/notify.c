/* Telling the kernel to forget (notify.h), from one thread: listings and
 * names at SIGHUP, the names of jobs that left a listing, the unfinished
 * jobs' file names; and the stop, which ends whatever the kernel does. */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "log.h"
#include "names.h"
#include "nameset.h"
#include "pins.h"
#include "tree.h"
#include "vec.h"

/* The kernel holds at most this many names worth telling about; beyond, the
 * oldest simply expire on their own (within ttl). */
#define MAX_NAMES 4096

/* A name the kernel may hold: its directory's inode and the name. */
struct held_name {
    uint64_t parent;
    size_t len;
    char name[256];
};
VEC_NAMED(held_names, struct held_name);

/* The names of jobs that left listings, to forget, at most this many at a
 * time (beyond, the kernel's names expire with ttl). */
#define MAX_GONE 20000

struct notify {
    int pipe[2];                /* wakes the thread: one byte per request */
    pthread_t thread;
    bool started;
    struct fuse_session *se;
    struct cache *cache;
    struct pins *pins;
    char abort_path[64];        /* /sys/fs/fuse/connections/N/abort, or "" */
    _Atomic bool stopping;
    _Atomic uint64_t passes;    /* refreshes done */
    pthread_mutex_t mu;         /* guards names and done */
    pthread_cond_t cv;          /* done changed */
    struct nameset names;       /* the parent's inode (8 bytes), then the name */
    struct held_names gone;     /* names to forget now: jobs that left a listing */
    bool done;                  /* the thread has ended */
    bool stuck;                 /* it never ended: n must outlive it */
};

int notify_new(struct notify **out)
{
    struct notify *n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    if (pipe2(n->pipe, O_CLOEXEC) != 0) {
        free(n);
        return -errno;
    }
    pthread_mutex_init(&n->mu, NULL);
    clock_cond_init(&n->cv);
    nameset_init(&n->names, MAX_NAMES);
    *out = n;
    return 0;
}

void notify_free(struct notify *n)
{
    if (!n)
        return;
    notify_stop(n);
    if (n->stuck)
        return; /* the process is ending; the thread may still wake up in n */
    nameset_clear(&n->names);
    vec_free(&n->gone);
    close(n->pipe[0]);
    close(n->pipe[1]);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

void notify_refresh(struct notify *n)
{
    char b = 'r';
    /* a full pipe already holds a request: nothing is lost */
    ssize_t r = write(n->pipe[1], &b, 1);
    (void)r;
}

void notify_name(struct notify *n, uint64_t parent, const char *name, double timeout)
{
    if (timeout <= 0)
        return;
    size_t nl = strlen(name);
    char key[sizeof parent + 256];
    if (nl > 255)
        return;
    memcpy(key, &parent, sizeof parent);
    memcpy(key + sizeof parent, name, nl);
    pthread_mutex_lock(&n->mu);
    nameset_put(&n->names, key, sizeof parent + nl, clock_mono_ms() + (int64_t)(timeout * 1000));
    pthread_mutex_unlock(&n->mu);
}

void notify_departed(void *arg, int view, const char *id, size_t len)
{
    struct notify *n = arg;
    struct held_name h;
    struct node dir = {.kind = view == VIEW_ALL ? NK_JOBS : view < VIEW_COUNT ? NK_STATUS : NK_GROUP,
                       .view = view};
    if (names_encode(id, len, h.name) < 0)
        return;
    h.parent = tree_ino(&dir);
    h.len = strlen(h.name);
    pthread_mutex_lock(&n->mu);
    bool wake = n->gone.n == 0;
    if (n->gone.n < MAX_GONE)
        vec_push(&n->gone, h); /* out of memory: the name expires with ttl */
    pthread_mutex_unlock(&n->mu);
    if (wake) {
        char b = 'd';
        ssize_t r = write(n->pipe[1], &b, 1);
        (void)r;
    }
}

uint64_t notify_passes(struct notify *n)
{
    return atomic_load(&n->passes);
}

static void take_name(void *arg, const char *key, size_t len)
{
    struct held_names *out = arg;
    struct held_name h;
    memcpy(&h.parent, key, sizeof h.parent);
    h.len = len - sizeof h.parent;
    memcpy(h.name, key + sizeof h.parent, h.len);
    h.name[h.len] = '\0';
    vec_push(out, h); /* out of memory: that name expires on its own */
}

/* One refresh: the cache first, then everything the kernel may hold of it. */
static void pass(struct notify *n)
{
    cache_expire_all(n->cache);
    log_info("refresh: every listing and unfinished job is stale");
    /* listings: the directories' cached entries and attributes */
    for (size_t i = 0; i < tree_fixed_count && !atomic_load(&n->stopping); i++) {
        struct node nd;
        tree_decode(tree_fixed_nodes[i].ino, &nd);
        if (tree_is_listing(&nd) || nd.kind == NK_BYDOMAIN || nd.kind == NK_BYDATE)
            fuse_lowlevel_notify_inval_inode(n->se, tree_fixed_nodes[i].ino, 0, 0);
    }
    /* the group directories (by-domain/<host>/, by-date/<day>/): their
     * listings and attributes too */
    size_t groups = cache_group_count(n->cache);
    for (size_t g = 0; g < groups && !atomic_load(&n->stopping); g++) {
        struct node nd = {.kind = NK_GROUP, .view = (int)(VIEW_COUNT + g)};
        fuse_lowlevel_notify_inval_inode(n->se, tree_ino(&nd), 0, 0);
    }
    /* names held as absent, or as a .jsonl's version; copied out first: a
     * notification may wait on a lookup, which may want the mutex */
    struct held_names names = {0};
    pthread_mutex_lock(&n->mu);
    nameset_drain(&n->names, clock_mono_ms(), take_name, &names);
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < names.n && !atomic_load(&n->stopping); i++)
        fuse_lowlevel_notify_inval_entry(n->se, names.v[i].parent, names.v[i].name,
                                         names.v[i].len);
    vec_free(&names);
    /* an unfinished job's file names point at the version they were looked
     * up with: the kernel must ask again */
    uint64_t *inos = NULL;
    size_t count = pins_job_inodes(n->pins, &inos);
    for (size_t i = 0; i < count && !atomic_load(&n->stopping); i++) {
        struct node f;
        if (!tree_decode(inos[i], &f) || f.kind != NK_JOBFILE)
            continue;
        struct node dir = {.kind = NK_JOBDIR, .view = f.view, .seq = f.seq};
        const char *name = job_file_names[f.file];
        fuse_lowlevel_notify_inval_entry(n->se, tree_ino(&dir), name, strlen(name));
    }
    free(inos);
    atomic_fetch_add(&n->passes, 1);
}

/* Tells the kernel to forget the names of jobs that left listings. */
static void forget_gone(struct notify *n)
{
    pthread_mutex_lock(&n->mu);
    struct held_names gone = n->gone;
    memset(&n->gone, 0, sizeof n->gone);
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < gone.n && !atomic_load(&n->stopping); i++)
        fuse_lowlevel_notify_inval_entry(n->se, gone.v[i].parent, gone.v[i].name, gone.v[i].len);
    vec_free(&gone);
}

static void *run(void *arg)
{
    struct notify *n = arg;
    for (;;) {
        char buf[64];
        ssize_t r = read(n->pipe[0], buf, sizeof buf); /* requests merge here */
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || atomic_load(&n->stopping))
            break;
        bool refresh = memchr(buf, 'r', (size_t)r) != NULL;
        if (refresh)
            pass(n);
        forget_gone(n);
    }
    pthread_mutex_lock(&n->mu);
    n->done = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* The fusectl file that aborts our connection: its number is the mount's
 * device number, read from mountinfo (stat would ask ourselves). */
static void find_abort_path(struct notify *n, const char *mountpoint)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    unsigned maj = 0, min = 0;
    bool found = false;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned a, b;
        char mp[4096], dec[4096];
        if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mp) != 3)
            continue;
        size_t o = 0; /* mountinfo writes space, tab, newline, \ as \ooo */
        for (size_t i = 0; mp[i] && o + 1 < sizeof dec; i++) {
            if (mp[i] == '\\' && mp[i + 1] && mp[i + 2] && mp[i + 3]) {
                dec[o++] = (char)((mp[i + 1] - '0') * 64 + (mp[i + 2] - '0') * 8 + (mp[i + 3] - '0'));
                i += 3;
            } else {
                dec[o++] = mp[i];
            }
        }
        dec[o] = '\0';
        if (strcmp(dec, mountpoint) == 0) {
            maj = a;
            min = b;
            found = true; /* the last one wins: it is the mount on top */
        }
    }
    fclose(f);
    if (found)
        snprintf(n->abort_path, sizeof n->abort_path, "/sys/fs/fuse/connections/%u/abort",
                 maj << 20 | min);
}

int notify_start(struct notify *n, struct fuse_session *se, struct cache *c, struct pins *p,
                 const char *mountpoint)
{
    n->se = se;
    n->cache = c;
    n->pins = p;
    if (mountpoint)
        find_abort_path(n, mountpoint);
    int rc = pthread_create(&n->thread, NULL, run, n);
    if (rc)
        return -rc;
    n->started = true;
    return 0;
}

/* Waits for the thread to end, until deadline (CLOCK_MONOTONIC ms). */
static bool wait_done(struct notify *n, int64_t deadline)
{
    struct timespec ts = clock_mono_ts(deadline);
    pthread_mutex_lock(&n->mu);
    while (!n->done && pthread_cond_timedwait(&n->cv, &n->mu, &ts) != ETIMEDOUT)
        ;
    bool done = n->done;
    pthread_mutex_unlock(&n->mu);
    return done;
}

void notify_stop(struct notify *n)
{
    if (!n->started)
        return;
    n->started = false;
    atomic_store(&n->stopping, true);
    char b = 'q';
    ssize_t r = write(n->pipe[1], &b, 1);
    (void)r;
    if (!wait_done(n, clock_mono_ms() + 3000)) {
        /* a notification waits on a lookup that will never be answered:
         * abort the connection, which fails both */
        int fd = n->abort_path[0] ? open(n->abort_path, O_WRONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            log_warn("a kernel notification is stuck: aborting the connection");
            r = write(fd, "1", 1);
            close(fd);
        } else {
            log_warn("a kernel notification is stuck and %s cannot be opened",
                     n->abort_path[0] ? n->abort_path : "the connection's abort file");
        }
        if (!wait_done(n, clock_mono_ms() + 3000)) {
            pthread_detach(n->thread);
            n->stuck = true;
            return;
        }
    }
    pthread_join(n->thread, NULL);
}
