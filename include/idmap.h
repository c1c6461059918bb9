/* A hash map from byte strings (job ids may hold NUL bytes) to pointers.
 * The map owns neither keys nor values: a key must live as long as its entry,
 * which is why callers key an entry by a string stored inside the value. */
#ifndef SCRAPEFS_IDMAP_H
#define SCRAPEFS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
    uint64_t hash; /* 0 = empty */
    const char *key;
    size_t len;
    void *val;
};

struct idmap {
    struct idmap_slot *slots;
    size_t cap, count;
};

void *idmap_get(const struct idmap *m, const char *key, size_t len);
/* Inserts or replaces. Returns 0 or -ENOMEM. */
int idmap_put(struct idmap *m, const char *key, size_t len, void *val);
/* Removes the key if present; returns its value or NULL. */
void *idmap_del(struct idmap *m, const char *key, size_t len);
/* Walks the map: start with *it = 0; each call returns the next value
 * (and its key, when key is not NULL) or NULL at the end. The map must not
 * change during the walk. */
void *idmap_next(const struct idmap *m, size_t *it, const char **key, size_t *len);
void idmap_clear(struct idmap *m);
void idmap_free(struct idmap *m);

#endif
