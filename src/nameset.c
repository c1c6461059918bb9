/* The bounded, expiring name set of nameset.h: an idmap whose values carry
 * their own copy of the key (the map owns neither) and the time it lapses. */
#include "nameset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct name_entry {
    int64_t until;
    size_t len;
    char key[];
};

void nameset_init(struct nameset *s, size_t max)
{
    memset(s, 0, sizeof *s);
    s->max = max;
}

void nameset_clear(struct nameset *s)
{
    size_t it = 0;
    struct name_entry *e;
    while ((e = idmap_next(&s->map, &it, NULL, NULL)) != NULL)
        free(e);
    idmap_free(&s->map);
}

int nameset_put(struct nameset *s, const void *key, size_t len, int64_t until)
{
    struct name_entry *e = idmap_get(&s->map, key, len);
    if (!e) {
        if (s->map.count >= s->max)
            nameset_clear(s);
        if (!(e = malloc(sizeof *e + len + 1)))
            return -ENOMEM;
        memcpy(e->key, key, len);
        e->key[len] = '\0';
        e->len = len;
        e->until = until;
        if (idmap_put(&s->map, e->key, len, e) != 0) {
            free(e);
            return -ENOMEM;
        }
    }
    if (until > e->until)
        e->until = until;
    return 0;
}

bool nameset_has(struct nameset *s, const void *key, size_t len, int64_t now)
{
    struct name_entry *e = idmap_get(&s->map, key, len);
    if (!e)
        return false;
    if (now < e->until)
        return true;
    idmap_del(&s->map, key, len);
    free(e);
    return false;
}

void nameset_drain(struct nameset *s, int64_t now,
                   void (*fn)(void *arg, const char *key, size_t len), void *arg)
{
    size_t it = 0;
    struct name_entry *e;
    while ((e = idmap_next(&s->map, &it, NULL, NULL)) != NULL)
        if (e->until > now)
            fn(arg, e->key, e->len);
    nameset_clear(s);
}
