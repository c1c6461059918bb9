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
    struct job *job;
    struct blob *blob;
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
    return pn->job ? pn->job->bytes : pn->blob ? pn->blob->len : 0;
}

static void pin_free(struct pin *pn)
{
    job_unref(pn->job);
    blob_unref(pn->blob);
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
static bool same_content(const struct pin *pn, const struct job *job, const struct blob *blob)
{
    if (pn->blob || blob)
        return pn->blob == blob;
    if (pn->job == job)
        return true;
    const struct job *a = pn->job;
    return a && job && a->text_len == job->text_len &&
           memcmp(a->text, job->text, a->text_len) == 0;
}

int pins_add(struct pins *p, uint64_t ino, struct job *job, struct blob *blob)
{
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    struct pin *pn = idmap_get(&p->map, (const char *)&ino, sizeof ino);
    if (pn && !same_content(pn, job, blob)) {
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
        pn->job = job ? job_ref(job) : NULL;
        pn->blob = blob ? blob_ref(blob) : NULL;
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

int pins_get(struct pins *p, uint64_t ino, struct job **job, struct blob **blob)
{
    int rc = -ENOENT;
    *job = NULL;
    *blob = NULL;
    pthread_mutex_lock(&p->mu);
    struct pin *pn = idmap_get(&p->map, (const char *)&ino, sizeof ino);
    if (pn) {
        *job = pn->job ? job_ref(pn->job) : NULL;
        *blob = pn->blob ? blob_ref(pn->blob) : NULL;
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
        if (p->map.slots[i].hash && pn->job)
            (*out)[n++] = pn->ino;
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}
