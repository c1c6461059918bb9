/* Fetching list pages for a refresh: as windows (each page kept whole, for
 * the cheap refresh to compare), or merged in page order as they arrive
 * (a walk of the whole view), and the listing's lifecycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct listing *listing_new(size_t n)
{
    if (n > (SIZE_MAX - sizeof(struct listing)) / sizeof(struct member))
        return NULL;
    struct listing *l = malloc(sizeof *l + n * sizeof l->m[0]);
    if (!l)
        return NULL;
    atomic_init(&l->refs, 1);
    l->n = n;
    l->total = (long)n;
    return l;
}

struct listing *listing_ref(struct listing *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

void listing_unref(struct listing *l)
{
    if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
        free(l);
}

void window_free(struct window *win)
{
    free(win->m);
    memset(win, 0, sizeof *win);
}

bool window_same(const struct window *a, const struct window *b)
{
    if (a->total != b->total || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!member_same(&a->m[i], &b->m[i]))
            return false;
    return true;
}

static bool merge_has(const struct merge *m, uint32_t seq)
{
    size_t w = seq / 64;
    return w < m->words && (m->seen[w] >> (seq % 64) & 1u);
}

int merge_add(struct merge *m, const struct member *mb)
{
    if (mb->seq && merge_has(m, mb->seq))
        return 0;
    size_t w = mb->seq / 64;
    if (mb->seq && w >= m->words) {
        size_t words = m->words ? m->words : 64;
        while (words <= w)
            words *= 2;
        uint64_t *ns = realloc(m->seen, words * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        memset(ns + m->words, 0, (words - m->words) * sizeof *ns);
        m->seen = ns;
        m->words = words;
    }
    if (vec_push(&m->items, *mb))
        return -ENOMEM;
    if (mb->seq)
        m->seen[w] |= (uint64_t)1 << (mb->seq % 64);
    return 0;
}

void merge_free(struct merge *m)
{
    free(m->seen);
    vec_free(&m->items);
    memset(m, 0, sizeof *m);
}

int page_offsets(const struct walk *w, long first, long last, long **out, size_t *n)
{
    *n = last > first ? (size_t)(last - first) : 0;
    *out = malloc((*n ? *n : 1) * sizeof **out);
    if (!*out)
        return -ENOMEM;
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = (first + (long)i) * w->src->page_size;
    return 0;
}

/* The pages of one fetch, as they arrive. */
struct collector {
    struct page_sink sink; /* first: the sink is the collector */
    struct walk *w;
    const long *offsets;
    size_t n;
    struct window *wins;   /* [n]: by position in offsets */
    bool *got;
    struct merge *into;    /* set: windows are merged in order and freed */
    size_t merged;         /* windows [0, merged) went into `into` */
    long total;            /* fetch_merged: the total every page must have */
    bool same_total;
};

/* Where the page at offset goes: offsets are ascending. */
static size_t index_of(const struct collector *c, long offset)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->offsets[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->offsets[lo] == offset ? lo : c->n;
}

static int merge_ready(struct collector *c)
{
    for (; c->merged < c->n && c->got[c->merged]; c->merged++) {
        struct window *win = &c->wins[c->merged];
        for (size_t i = 0; i < win->n; i++) {
            int rc = merge_add(c->into, &win->m[i]);
            if (rc)
                return rc;
        }
        if (win->total != c->total)
            c->same_total = false;
        window_free(win);
    }
    return 0;
}

static int on_page(struct page_sink *s, long offset, struct job **jobs, size_t n, long total)
{
    struct collector *c = (struct collector *)s;
    size_t at = index_of(c, offset);
    struct member *m = malloc((n ? n : 1) * sizeof *m);
    int rc = m ? c->w->in->jobs(c->w->in, jobs, n, m) : -ENOMEM;
    if (!m)
        for (size_t i = 0; i < n; i++)
            job_unref(jobs[i]);
    if (rc == 0 && (at >= c->n || c->got[at]))
        rc = -EIO; /* a page nobody asked for: the source misbehaves */
    if (rc) {
        free(m);
        return rc;
    }
    c->wins[at] = (struct window){.offset = offset, .total = total, .n = n, .m = m};
    c->got[at] = true;
    return c->into ? merge_ready(c) : 0;
}

static int collect(struct walk *w, struct collector *c)
{
    c->sink.page = on_page;
    c->w = w;
    c->got = calloc(c->n ? c->n : 1, sizeof *c->got);
    if (!c->got) {
        snprintf(w->why, sizeof w->why, "out of memory");
        return -ENOMEM;
    }
    struct source_call call = {.deadline = w->deadline, .now = w->now, .err = w->why,
                               .errlen = sizeof w->why};
    int rc = c->n ? w->src->ops->pages(w->src->ctx, &call, w->status, c->offsets, c->n, &c->sink)
                  : 0;
    w->requests += (int)c->n;
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        if (!c->got[i]) {
            snprintf(w->why, sizeof w->why, "list page at offset %ld never came", c->offsets[i]);
            rc = -EIO;
        }
    if (rc == -ENOMEM && !w->why[0])
        snprintf(w->why, sizeof w->why, "out of memory");
    free(c->got);
    return rc;
}

int fetch_windows(struct walk *w, const long *offsets, size_t n, struct window *out)
{
    struct collector c = {.offsets = offsets, .n = n, .wins = out};
    int rc = collect(w, &c);
    if (rc)
        for (size_t i = 0; i < n; i++)
            window_free(&out[i]);
    return rc;
}

int fetch_merged(struct walk *w, const long *offsets, size_t n, struct merge *m, long total,
                 bool *same_total)
{
    struct window *wins = calloc(n ? n : 1, sizeof *wins);
    if (!wins) {
        snprintf(w->why, sizeof w->why, "out of memory");
        return -ENOMEM;
    }
    struct collector c = {.offsets = offsets, .n = n, .wins = wins, .into = m, .total = total,
                          .same_total = true};
    int rc = collect(w, &c);
    for (size_t i = 0; i < n; i++)
        window_free(&wins[i]);
    free(wins);
    *same_total = c.same_total;
    return rc;
}

int refresh_pages(struct walk *w, const long *offsets, size_t n)
{
    struct window *wins = calloc(n ? n : 1, sizeof *wins);
    if (!wins)
        return -ENOMEM;
    int rc = fetch_windows(w, offsets, n, wins);
    for (size_t i = 0; i < n; i++)
        window_free(&wins[i]);
    free(wins);
    return rc;
}
