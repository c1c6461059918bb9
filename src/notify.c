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

#include "idmap.h"
#include "log.h"
#include "tree.h"

/* The kernel holds at most this many names worth telling about; beyond, the
 * oldest simply expire on their own (within ttl). */
#define MAX_NEGATIVES 4096

struct negative {
    int64_t until;   /* CLOCK_MONOTONIC ms */
    size_t len;      /* of key */
    char key[];      /* the parent's inode (8 bytes), then the name and a
                        NUL (libfuse sends it along) */
};

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
    pthread_mutex_t mu;         /* guards negatives and done */
    pthread_cond_t cv;          /* done changed */
    struct idmap negatives;     /* key -> struct negative */
    bool done;                  /* the thread has ended */
    bool stuck;                 /* it never ended: n must outlive it */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = n;
    return 0;
}

static void negatives_clear(struct notify *n)
{
    for (size_t i = 0; i < n->negatives.cap; i++)
        if (n->negatives.slots[i].hash)
            free(n->negatives.slots[i].val);
    idmap_clear(&n->negatives);
}

void notify_free(struct notify *n)
{
    if (!n)
        return;
    notify_stop(n);
    if (n->stuck)
        return; /* the process is ending; the thread may still wake up in n */
    negatives_clear(n);
    idmap_free(&n->negatives);
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
    size_t nl = strlen(name), len = sizeof parent + nl;
    char key[sizeof parent + 256];
    if (nl > 255)
        return;
    memcpy(key, &parent, sizeof parent);
    memcpy(key + sizeof parent, name, nl);
    int64_t until = mono_ms() + (int64_t)(timeout * 1000);
    pthread_mutex_lock(&n->mu);
    struct negative *ng = idmap_get(&n->negatives, key, len);
    if (!ng && n->negatives.count >= MAX_NEGATIVES)
        negatives_clear(n);
    if (!ng && (ng = malloc(sizeof *ng + len + 1)) != NULL) {
        memcpy(ng->key, key, len);
        ng->key[len] = '\0';
        ng->len = len;
        if (idmap_put(&n->negatives, ng->key, len, ng)) {
            free(ng);
            ng = NULL;
        }
    }
    if (ng && until > ng->until)
        ng->until = until;
    pthread_mutex_unlock(&n->mu);
}

uint64_t notify_passes(struct notify *n)
{
    return atomic_load(&n->passes);
}

/* Takes the negative names that have not expired yet, as one array. */
static struct negative **take_negatives(struct notify *n, size_t *count)
{
    int64_t now = mono_ms();
    *count = 0;
    pthread_mutex_lock(&n->mu);
    struct negative **out = malloc((n->negatives.count ? n->negatives.count : 1) * sizeof *out);
    for (size_t i = 0; i < n->negatives.cap; i++) {
        struct negative *ng = n->negatives.slots[i].val;
        if (!n->negatives.slots[i].hash)
            continue;
        if (out && ng->until > now)
            out[(*count)++] = ng;
        else
            free(ng);
    }
    idmap_clear(&n->negatives);
    pthread_mutex_unlock(&n->mu);
    return out;
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
    /* names held as absent, or as a .jsonl's version */
    size_t count;
    struct negative **neg = take_negatives(n, &count);
    for (size_t i = 0; i < count; i++) {
        uint64_t parent;
        memcpy(&parent, neg[i]->key, sizeof parent);
        if (!atomic_load(&n->stopping))
            fuse_lowlevel_notify_inval_entry(n->se, parent, neg[i]->key + sizeof parent,
                                             neg[i]->len - sizeof parent);
        free(neg[i]);
    }
    free(neg);
    /* an unfinished job's file names point at the version they were looked
     * up with: the kernel must ask again */
    uint64_t *inos = NULL;
    count = pins_job_inodes(n->pins, &inos);
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
        pass(n);
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
    struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
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
    if (!wait_done(n, mono_ms() + 3000)) {
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
        if (!wait_done(n, mono_ms() + 3000)) {
            pthread_detach(n->thread);
            n->stuck = true;
            return;
        }
    }
    pthread_join(n->thread, NULL);
}
