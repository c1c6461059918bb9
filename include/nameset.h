/* A bounded set of byte strings, each remembered until a time: the cache's
 * "no such job" answers, and the names the notifier may have to make the
 * kernel forget. Bounded: when it holds `max` names and another comes, it
 * forgets them all (each would have expired within ttl anyway) rather than
 * grow without end. Not thread-safe: its owner's lock guards it. */
#ifndef SCRAPEFS_NAMESET_H
#define SCRAPEFS_NAMESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"

struct nameset {
    struct idmap map; /* key -> struct name_entry (owned) */
    size_t max;
};

void nameset_init(struct nameset *s, size_t max);
/* Forgets everything and frees the set's memory (the struct is reusable). */
void nameset_clear(struct nameset *s);

/* Remembers key[0..len) until `until` (a later time wins over an earlier
 * one). Returns 0 or -ENOMEM (then it is simply not remembered). */
int nameset_put(struct nameset *s, const void *key, size_t len, int64_t until);

/* Whether key is remembered at `now`; an expired one is forgotten. */
bool nameset_has(struct nameset *s, const void *key, size_t len, int64_t now);

/* Hands every name still remembered at `now` to fn, then forgets them all. */
void nameset_drain(struct nameset *s, int64_t now,
                   void (*fn)(void *arg, const char *key, size_t len), void *arg);

#endif
