/* A growable array of any element type, for the places that collect an
 * unknown number of things (members of a listing, windows read, pages
 * wanted). One owner: whoever holds the struct frees v with vec_free.
 *
 *   VEC(struct member) ms = {0};
 *   if (vec_push(&ms, m) != 0) ...          -ENOMEM, ms unchanged
 *   for (size_t i = 0; i < ms.n; i++) ... ms.v[i]
 *   vec_free(&ms);
 *
 * An array passed between functions needs a named type:
 *   VEC_NAMED(longs, long);   ...   int f(struct longs *v);
 */
#ifndef SCRAPEFS_VEC_H
#define SCRAPEFS_VEC_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

#define VEC_NAMED(name, T)                                                                         \
    struct name {                                                                                  \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

/* Makes room for `need` elements of `size` bytes in *v (capacity *cap).
 * Returns 0 or -ENOMEM (then *v is untouched). */
static inline int vec_reserve_(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size)
            return -ENOMEM;
        c *= 2;
    }
    void *p = realloc(*v, c * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

#define vec_reserve(vec, need)                                                                     \
    vec_reserve_((void **)&(vec)->v, &(vec)->cap, (need), sizeof *(vec)->v)

/* Appends x; 0 or -ENOMEM. */
#define vec_push(vec, x)                                                                           \
    (vec_reserve((vec), (vec)->n + 1) ? -ENOMEM : ((vec)->v[(vec)->n++] = (x), 0))

#define vec_free(vec)                                                                              \
    do {                                                                                           \
        free((vec)->v);                                                                            \
        (vec)->v = NULL;                                                                           \
        (vec)->n = (vec)->cap = 0;                                                                 \
    } while (0)

#endif
