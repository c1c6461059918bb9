/* A growable byte buffer. One owner: whoever holds the struct frees p.
 * An allocation failure sets oom and makes every later append a no-op, so a
 * caller checks once at the end instead of after each append. */
#ifndef SCRAPEFS_BUF_H
#define SCRAPEFS_BUF_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static inline bool buf_reserve(struct buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static inline void buf_put(struct buf *b, const void *src, size_t n)
{
    if (n && buf_reserve(b, n)) {
        memcpy(b->p + b->len, src, n);
        b->len += n;
    }
}

static inline void buf_putc(struct buf *b, char c)
{
    if (buf_reserve(b, 1))
        b->p[b->len++] = c;
}

static inline void buf_fill(struct buf *b, char c, size_t n)
{
    if (n && buf_reserve(b, n)) {
        memset(b->p + b->len, c, n);
        b->len += n;
    }
}

static inline void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

#endif
