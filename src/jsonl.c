#include "jsonl.h"

#include <stdlib.h>

struct jsonl *jsonl_new(size_t n)
{
    struct jsonl *s = calloc(1, sizeof *s + n * sizeof s->lines[0]);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->n = n;
    return s;
}

struct jsonl *jsonl_ref(struct jsonl *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void jsonl_unref(struct jsonl *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n; i++)
        job_unref(s->lines[i].job);
    free(s);
}

void jsonl_layout(struct jsonl *s)
{
    uint64_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->lines[i].off = off;
        off += s->lines[i].len;
    }
    s->size = off;
}

size_t jsonl_line_at(const struct jsonl *s, uint64_t off)
{
    size_t lo = 0, hi = s->n; /* the last line starting at or before off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->lines[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

size_t jsonl_bytes(const struct jsonl *s)
{
    size_t b = sizeof *s + s->n * sizeof s->lines[0];
    for (size_t i = 0; i < s->n; i++)
        if (s->lines[i].job)
            b += s->lines[i].job->bytes;
    return b;
}
