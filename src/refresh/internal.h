/* What the parts of the refresh share: pages fetched as windows, and the
 * merge of a walk. Private to src/refresh/. */
#ifndef SCRAPEFS_REFRESH_INTERNAL_H
#define SCRAPEFS_REFRESH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refresh.h"
#include "vec.h"

/* One list page as it came: its elements in the API's order. */
struct window {
    long offset;        /* asked for at */
    long total;         /* the API's total on it */
    size_t n;
    struct member *m;   /* owned */
};

void window_free(struct window *win);

/* Two windows hold the same elements in the same order under the same total. */
bool window_same(const struct window *a, const struct window *b);

/* Fetches the pages at offsets[0..n) (ascending, distinct), in parallel, into
 * out[0..n) (zeroed by the caller). Counts the requests in w. On failure
 * out holds nothing. */
int fetch_windows(struct walk *w, const long *offsets, size_t n, struct window *out);

/* A walk's merge: members in page order, each job once. Jobs are numbered
 * densely (seq), so "seen" is one bit a job: 125 KB for a million jobs. */
struct merge {
    uint64_t *seen;
    size_t words;
    VEC(struct member) items;
};

int merge_add(struct merge *m, const struct member *mb);
void merge_free(struct merge *m);

/* Fetches the pages at offsets[0..n) (ascending) in parallel, merging each
 * into m in page order as soon as every page before it came, so a walk of
 * a million jobs is never held twice. *same_total: every page had total. */
int fetch_merged(struct walk *w, const long *offsets, size_t n, struct merge *m, long total,
                 bool *same_total);

/* Pages of the view in [first, last) (page numbers): their offsets. */
int page_offsets(const struct walk *w, long first, long last, long **out, size_t *n);

static inline long pages_for(const struct walk *w, long total)
{
    long ps = w->src->page_size;
    return total > 0 ? (total + ps - 1) / ps : 0;
}

#endif
