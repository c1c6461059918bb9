/* A view's .jsonl snapshot (jsonl.h): its lines, where each starts (a
 * mark every JSONL_MARK lines, the rest summed from the lengths), and the
 * unfinished jobs' texts it holds. */
#include "jsonl.h"

#include <errno.h>
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
    for (size_t i = 0; i < s->nheld; i++)
        job_unref(s->held[i].job);
    free(s->held);
    free(s->marks);
    free(s);
}

int jsonl_hold(struct jsonl *s, size_t i, struct job *j)
{
    if (s->nheld == s->capheld) {
        size_t cap = s->capheld ? s->capheld * 2 : 16;
        struct jsonl_held *h = realloc(s->held, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        s->held = h;
        s->capheld = cap;
    }
    s->held[s->nheld++] = (struct jsonl_held){.line = i, .job = job_ref(j)};
    return 0;
}

struct job *jsonl_held(const struct jsonl *s, size_t i)
{
    size_t lo = 0, hi = s->nheld;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->held[mid].line < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nheld && s->held[lo].line == i ? s->held[lo].job : NULL;
}

int jsonl_layout(struct jsonl *s)
{
    free(s->marks);
    s->marks = malloc((s->n / JSONL_MARK + 1) * sizeof *s->marks);
    if (!s->marks)
        return -ENOMEM;
    uint64_t off = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i % JSONL_MARK == 0)
            s->marks[i / JSONL_MARK] = off;
        off += s->lines[i].len;
    }
    s->size = off;
    return 0;
}

uint64_t jsonl_line_off(const struct jsonl *s, size_t i)
{
    uint64_t off = s->marks[i / JSONL_MARK];
    for (size_t k = i - i % JSONL_MARK; k < i; k++)
        off += s->lines[k].len;
    return off;
}

size_t jsonl_line_at(const struct jsonl *s, uint64_t off)
{
    size_t lo = 0, hi = (s->n + JSONL_MARK - 1) / JSONL_MARK; /* the last mark at or before off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->marks[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    size_t i = lo * JSONL_MARK;
    uint64_t at = s->marks[lo];
    while (i + 1 < s->n && at + s->lines[i].len <= off)
        at += s->lines[i++].len;
    return i;
}

size_t jsonl_bytes(const struct jsonl *s)
{
    size_t b = sizeof *s + s->n * sizeof s->lines[0] +
               (s->n / JSONL_MARK + 1) * sizeof *s->marks + s->capheld * sizeof *s->held;
    for (size_t i = 0; i < s->nheld; i++)
        b += s->held[i].job->bytes;
    return b;
}
