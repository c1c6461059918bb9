/* What the kernel's inodes show (pins.h): a table from inode to its
 * lookup count and pinned content, kept until FORGET. */
#include "pins.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

struct pin {
    uint64_t ino;     /* the map's key */
    uint64_t nlookup;
    struct pinned what;
};

struct pins {
    pthread_mutex_t mu;
    struct idmap map;
    size_t bytes;
};

struct blob *blob_new(const char *data, size_t len)
{
    struct blob *b = malloc(sizeof *b + len + 1);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, data, len);
    b->data[len] = '\0';
    return b;
}

struct blob *blob_ref(struct blob *b)
{
    atomic_fetch_add(&b->refs, 1);
    return b;
}

void blob_unref(struct blob *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

int pins_new(struct pins **out)
{
    struct pins *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

static size_t pin_bytes(const struct pin *pn)
{
    const struct pinned *w = &pn->what;
    return w->job ? w->job->bytes : w->blob ? w->blob->len : w->jsonl ? jsonl_bytes(w->jsonl) : 0;
}

void pinned_unref(struct pinned *w)
{
    job_unref(w->job);
    blob_unref(w->blob);
    jsonl_unref(w->jsonl);
    memset(w, 0, sizeof *w);
}

static struct pinned pinned_ref(const struct pinned *w)
{
    return (struct pinned){.job = w->job ? job_ref(w->job) : NULL,
                           .blob = w->blob ? blob_ref(w->blob) : NULL,
                           .jsonl = w->jsonl ? jsonl_ref(w->jsonl) : NULL};
}

static void pin_free(struct pin *pn)
{
    pinned_unref(&pn->what);
    free(pn);
}

void pins_free(struct pins *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->map.cap; i++)
        if (p->map.slots[i].hash)
            pin_free(p->map.slots[i].val);
    idmap_free(&p->map);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Does pin pn show what job (or blob) shows? A render fetched again after
 * eviction is another object with the same bytes. */
static bool same_content(const struct pin *pn, const struct pinned *w)
{
    if (pn->what.blob || w->blob)
        return pn->what.blob == w->blob;
    if (pn->what.jsonl || w->jsonl)
        return pn->what.jsonl == w->jsonl;
    if (pn->what.job == w->job)
        return true;
    const struct job *a = pn->what.job, *b = w->job;
    return a && b && a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
}

int pins_add(struct pins *p, uint64_t ino, struct pinned what)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    struct pin *pn = idmap_get(&p->map, (const char *)&ino, sizeof ino);
    if (pn && !same_content(pn, &what)) {
        /* the inode number came round again (a version counter wrapped)
         * while the kernel still holds the old content: refuse, never show
         * one version's size with another's bytes */
        rc = -ESTALE;
    } else if (pn) {
        pn->nlookup++;
    } else if (!(pn = calloc(1, sizeof *pn))) {
        rc = -ENOMEM;
    } else {
        pn->ino = ino;
        pn->nlookup = 1;
        pn->what = pinned_ref(&what);
        if (idmap_put(&p->map, (const char *)&pn->ino, sizeof pn->ino, pn)) {
            pin_free(pn);
            rc = -ENOMEM;
        } else {
            p->bytes += pin_bytes(pn);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int pins_get(struct pins *p, uint64_t ino, struct pinned *out)
{
    int rc = -ENOENT;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    struct pin *pn = idmap_get(&p->map, (const char *)&ino, sizeof ino);
    if (pn) {
        *out = pinned_ref(&pn->what);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void pins_forget(struct pins *p, uint64_t ino, uint64_t n)
{
    pthread_mutex_lock(&p->mu);
    struct pin *pn = idmap_get(&p->map, (const char *)&ino, sizeof ino);
    if (pn) {
        pn->nlookup -= n < pn->nlookup ? n : pn->nlookup;
    }
    if (pn && pn->nlookup == 0) {
        idmap_del(&p->map, (const char *)&ino, sizeof ino);
        p->bytes -= pin_bytes(pn);
        pin_free(pn);
    }
    pthread_mutex_unlock(&p->mu);
}

void pins_usage(struct pins *p, size_t *inodes, size_t *bytes)
{
    pthread_mutex_lock(&p->mu);
    *inodes = p->map.count;
    *bytes = p->bytes;
    pthread_mutex_unlock(&p->mu);
}

size_t pins_job_inodes(struct pins *p, uint64_t **out)
{
    size_t n = 0;
    pthread_mutex_lock(&p->mu);
    *out = malloc((p->map.count ? p->map.count : 1) * sizeof **out);
    for (size_t i = 0; *out && i < p->map.cap; i++) {
        struct pin *pn = p->map.slots[i].val;
        if (p->map.slots[i].hash && pn->what.job)
            (*out)[n++] = pn->ino;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}
