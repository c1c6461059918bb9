/* The entry store (entries.h): slabs, the id index, the LRU of texts. */
#include "entries.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

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

/* The index from ids to entries: 8 bytes a slot (a part of the id's hash
 * and the entry's seq), a quarter of a general hash map's, as it is one of
 * the few things held for every job known. Entries are never removed. */
struct id_slot {
    uint32_t hash;
    uint32_t seq; /* 0: empty */
};

void entries_init(struct entries *es, struct lock *lock, size_t cap_bytes)
{
    memset(es, 0, sizeof *es);
    es->lock = lock;
    es->cap_bytes = cap_bytes;
}

void entries_free(struct entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        job_unref(es->byseq[i]->job);
    free(es->byseq);
    while (es->slabs) {
        struct slab *next = es->slabs->next;
        free(es->slabs);
        es->slabs = next;
    }
    free(es->byid);
    memset(es, 0, sizeof *es);
}

struct entry *entry_at(const struct entries *es, uint32_t seq)
{
    return seq >= 1 && seq <= es->n ? es->byseq[seq - 1] : NULL;
}

/* ---- the LRU (seqs, 32-bit links) ---- */

static bool lru_has(const struct entries *es, const struct entry *e)
{
    return e->lru_prev || es->lru_head == e->seq;
}

static void lru_unlink(struct entries *es, struct entry *e)
{
    if (e->lru_prev)
        entry_at(es, e->lru_prev)->lru_next = e->lru_next;
    else
        es->lru_head = e->lru_next;
    if (e->lru_next)
        entry_at(es, e->lru_next)->lru_prev = e->lru_prev;
    else
        es->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = 0;
}

static void lru_push(struct entries *es, struct entry *e)
{
    e->lru_prev = 0;
    e->lru_next = es->lru_head;
    if (es->lru_head)
        entry_at(es, es->lru_head)->lru_prev = e->seq;
    es->lru_head = e->seq;
    if (!es->lru_tail)
        es->lru_tail = e->seq;
}

void entry_touch(struct entries *es, struct entry *e)
{
    assert(lock_held(es->lock));
    if (e->job && lru_has(es, e) && es->lru_head != e->seq) {
        lru_unlink(es, e);
        lru_push(es, e);
    }
}

static void drop_text(struct entries *es, struct entry *e)
{
    if (!e->job)
        return;
    if (lru_has(es, e))
        lru_unlink(es, e);
    es->bytes -= e->job->bytes;
    es->texts--;
    job_unref(e->job);
    e->job = NULL;
}

void entries_evict(struct entries *es, struct entry *keep)
{
    assert(lock_held(es->lock));
    bool kept = keep && keep->job && lru_has(es, keep);
    if (kept)
        lru_unlink(es, keep);
    while (es->bytes > es->cap_bytes && es->lru_tail) {
        struct entry *e = entry_at(es, es->lru_tail);
        es->evicted_bytes += e->job->bytes;
        drop_text(es, e);
        es->evictions++;
    }
    if (kept)
        lru_push(es, keep);
}

/* Texts evicted leave holes between the ones kept: once TRIM_AFTER bytes
 * went, the free pages among them go back to the system. */
#define TRIM_AFTER (4u << 20)

bool entries_trim_due(struct entries *es)
{
    assert(lock_held(es->lock));
    bool due = es->evicted_bytes >= TRIM_AFTER;
    if (due)
        es->evicted_bytes = 0;
    return due;
}

/* ---- making entries ---- */

static struct entry *entry_alloc(struct entries *es, size_t id_len)
{
    size_t need = (sizeof(struct entry) + id_len + 1 + _Alignof(struct entry) - 1) &
                  ~(size_t)(_Alignof(struct entry) - 1);
    struct slab *sl = es->slabs;
    if (!sl || sl->used + need > SLAB_BYTES - sizeof(struct slab)) {
        if (!(sl = calloc(1, SLAB_BYTES)))
            return NULL;
        sl->next = es->slabs;
        es->slabs = sl;
    }
    struct entry *e = (struct entry *)(sl->mem + sl->used);
    sl->used += need;
    return e;
}

static uint32_t id_hash(const char *id, size_t len)
{
    uint64_t h = fnv1a(id, len);
    return (uint32_t)(h ^ (h >> 32));
}

static struct id_slot *byid_find(const struct entries *es, const char *id, size_t len, uint32_t h)
{
    size_t mask = es->byid_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct id_slot *s = &es->byid[i];
        if (s->seq == 0)
            return s;
        struct entry *e = es->byseq[s->seq - 1];
        if (s->hash == h && e->id_len == len && memcmp(e->id, id, len) == 0)
            return s;
    }
}

/* Room for one more (load at most 3/4). Returns 1 when the table grew
 * (slots moved), 0 when it did not, or -ENOMEM. */
static int byid_reserve(struct entries *es)
{
    if ((es->n + 1) * 4 <= es->byid_cap * 3)
        return 0;
    size_t cap = es->byid_cap ? es->byid_cap * 2 : 1024;
    struct id_slot *old = es->byid, *n = calloc(cap, sizeof *n);
    if (!n)
        return -ENOMEM;
    size_t oldcap = es->byid_cap;
    es->byid = n;
    es->byid_cap = cap;
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

struct entry *entry_of(struct entries *es, const char *id, size_t len, bool create)
{
    assert(lock_held(es->lock));
    uint32_t h = id_hash(id, len);
    struct id_slot *s = es->byid_cap ? byid_find(es, id, len, h) : NULL;
    if (s && s->seq)
        return es->byseq[s->seq - 1];
    if (!create)
        return NULL;
    int grew = len > UINT16_MAX || es->n >= UINT32_MAX - 1 ? -ENOMEM : byid_reserve(es);
    if (grew < 0)
        return NULL;
    if (es->n == es->cap) {
        size_t cap = es->cap ? es->cap * 2 : 1024;
        struct entry **n = realloc(es->byseq, cap * sizeof *n);
        if (!n)
            return NULL;
        es->byseq = n;
        es->cap = cap;
    }
    struct entry *e = entry_alloc(es, len);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    memcpy(e->id, id, len);
    e->id[len] = '\0';
    e->id_len = (uint16_t)len;
    es->byseq[es->n++] = e;
    e->seq = (uint32_t)es->n; /* 1-based: 0 never names an entry */
    if (grew)
        s = byid_find(es, id, len, h);
    *s = (struct id_slot){.hash = h, .seq = e->seq};
    return e;
}

int entry_set_text(struct entries *es, struct entry *e, struct job *j, int64_t start, int64_t now)
{
    assert(lock_held(es->lock));
    if (e->fetched_ms && e->fetch_start_ms > start) {
        job_unref(j); /* a later fetch got here first */
        return TEXT_KEPT;
    }
    e->fetched_ms = now;
    e->fetch_start_ms = start;
    if (e->job && j->digest == e->digest) {
        /* the same content again: keep the text the kernel and the LRU
         * already know, and let the new copy go */
        job_unref(j);
        return TEXT_SAME;
    }
    int what = !e->meta.size[JOB_JSON] ? TEXT_NEW : j->digest != e->digest ? TEXT_CHANGED
                                                                            : TEXT_SAME;
    if (what == TEXT_CHANGED)
        e->meta.version++; /* new content gets new inodes (tree.h) */
    e->digest = j->digest;
    j->version = e->meta.version;
    drop_text(es, e);
    e->job = j;
    for (int f = 0; f < JOB_NFILES; f++)
        e->meta.size[f] = (uint32_t)j->size[f];
    e->meta.line = (uint32_t)j->text_len + 1;
    e->meta.mtime = j->mtime;
    e->meta.final = j->final;
    e->meta.status = j->status;
    e->created_ok = j->created_ok;
    e->created_us = j->created_us;
    es->bytes += j->bytes;
    es->texts++;
    if (j->final)
        lru_push(es, e);
    return what;
}

void entry_record(const struct entry *e, struct cache_rec *r)
{
    r->seq = e->seq;
    r->listed = false;
    r->id = e->id;
    r->id_len = e->id_len;
    r->meta = e->meta;
    memcpy(r->group, e->group, sizeof r->group);
}
