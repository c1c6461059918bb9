/* A hash map from byte strings to pointers (idmap.h): open addressing,
 * linear probing, FNV-1a; removal by backward shift. */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static uint64_t hash(const char *k, size_t len)
{
    uint64_t h = fnv1a(k, len);
    h ^= h >> 29;
    return h ? h : 1;
}

static struct idmap_slot *find(const struct idmap *m, const char *key, size_t len, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct idmap_slot *s = &m->slots[i];
        if (!s->hash)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

void *idmap_get(const struct idmap *m, const char *key, size_t len)
{
    struct idmap_slot *s = find(m, key, len, hash(key, len));
    return s && s->hash ? s->val : NULL;
}

static int grow(struct idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct idmap_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        m->slots = old;
        return -ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].hash)
            *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

int idmap_put(struct idmap *m, const char *key, size_t len, void *val)
{
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m))
        return -ENOMEM;
    uint64_t h = hash(key, len);
    struct idmap_slot *s = find(m, key, len, h);
    if (!s->hash)
        m->count++;
    s->hash = h;
    s->key = key;
    s->len = len;
    s->val = val;
    return 0;
}

void *idmap_del(struct idmap *m, const char *key, size_t len)
{
    struct idmap_slot *s = find(m, key, len, hash(key, len));
    if (!s || !s->hash)
        return NULL;
    void *val = s->val;
    size_t mask = m->cap - 1, i = (size_t)(s - m->slots);
    /* backward-shift deletion keeps probe chains intact without tombstones */
    for (size_t j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    memset(&m->slots[i], 0, sizeof m->slots[i]);
    m->count--;
    return val;
}

void idmap_clear(struct idmap *m)
{
    if (m->slots)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
}

void idmap_free(struct idmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void *idmap_next(const struct idmap *m, size_t *it, const char **key, size_t *len)
{
    for (; *it < m->cap; (*it)++) {
        const struct idmap_slot *s = &m->slots[*it];
        if (s->hash) {
            (*it)++;
            if (key)
                *key = s->key;
            if (len)
                *len = s->len;
            return s->val;
        }
    }
    return NULL;
}
