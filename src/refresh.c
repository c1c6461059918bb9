#include "refresh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "log.h"

/* The pages of one fetch, collected by page number as they arrive. */
struct collect {
    struct page_sink sink; /* first: the sink is the collector */
    struct install *in;
    long first;            /* offset of page 0 of this fetch */
    int page_size;
    struct member **pages;
    size_t *counts;
    size_t npages;
    size_t bad;            /* elements that cannot be shown */
    long total;            /* the first total seen (-1 before) */
    bool total_changed;
};

static int collect_page(struct page_sink *s, long offset, struct job **jobs, size_t n,
                        size_t bad, long total)
{
    struct collect *c = (struct collect *)s;
    size_t idx = (size_t)((offset - c->first) / c->page_size);
    struct member *m = malloc((n ? n : 1) * sizeof *m);
    size_t kept = 0;
    int rc = m ? c->in->jobs(c->in, jobs, n, m, &kept) : -ENOMEM;
    if (!m)
        for (size_t i = 0; i < n; i++)
            job_unref(jobs[i]);
    if (rc) {
        free(m);
        return rc;
    }
    if (idx >= c->npages || c->pages[idx]) {
        free(m); /* a page nobody asked for: the source misbehaves */
        return -EIO;
    }
    c->pages[idx] = m;
    c->counts[idx] = kept;
    c->bad += bad;
    if (c->total < 0) {
        c->total = total;
    } else if (total != c->total) {
        c->total_changed = true;
        if (total > c->total)
            c->total = total;
    }
    return 0;
}

/* Fetches pages [first, last) into c. */
static int fetch_pages(const struct source *src, const char *status, long first, long last,
                       int64_t deadline, time_t now, struct collect *c, int *requests, char *err,
                       size_t errlen)
{
    if (last <= first)
        return 0;
    size_t n = (size_t)(last - first);
    long *offsets = malloc(n * sizeof *offsets);
    c->pages = calloc(n, sizeof *c->pages);
    c->counts = calloc(n, sizeof *c->counts);
    c->npages = n;
    c->first = first * src->page_size;
    if (!offsets || !c->pages || !c->counts) {
        free(offsets);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        offsets[i] = (first + (long)i) * src->page_size;
    int rc = src->ops->pages(src->ctx, status, offsets, n, deadline, now, &c->sink, err, errlen);
    *requests += (int)n;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!c->pages[i]) {
            snprintf(err, errlen, "list page at offset %ld never came", offsets[i]);
            rc = -EIO;
        }
    free(offsets);
    return rc;
}

static void collect_free(struct collect *c)
{
    for (size_t i = 0; c->pages && i < c->npages; i++)
        free(c->pages[i]);
    free(c->pages);
    free(c->counts);
    c->pages = NULL;
    c->counts = NULL;
    c->npages = 0;
}

/* The merged listing: members in list order, each entry once. */
struct merge {
    struct idmap seen; /* keyed by the entry's seq (its identity) */
    struct member *items;
    size_t n, cap;
};

static const char *key_of(const struct entry *e)
{
    return (const char *)&e->seq;
}

static bool merge_has(const struct merge *m, const struct entry *e)
{
    return idmap_get(&m->seen, key_of(e), sizeof e->seq) != NULL;
}

static int merge_add(struct merge *m, const struct member *mb)
{
    if (merge_has(m, mb->e))
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct member *ni = realloc(m->items, cap * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        m->items = ni;
        m->cap = cap;
    }
    if (idmap_put(&m->seen, key_of(mb->e), sizeof mb->e->seq, mb->e))
        return -ENOMEM;
    m->items[m->n++] = *mb;
    return 0;
}

static void merge_free(struct merge *m)
{
    idmap_free(&m->seen);
    free(m->items);
    memset(m, 0, sizeof *m);
}

/* Appends a round's pages to the merge, in page order. */
static int merge_round(struct merge *m, struct collect *c)
{
    for (size_t p = 0; p < c->npages; p++)
        for (size_t i = 0; i < c->counts[p]; i++) {
            int rc = merge_add(m, &c->pages[p][i]);
            if (rc)
                return rc;
        }
    return 0;
}

/* -1 when the members are in descending created_at order (newest first),
 * 1 ascending, 0 when neither (or a time is missing). */
static int order_of(const struct member *it, size_t n)
{
    bool desc = true, asc = true;
    for (size_t i = 0; i < n; i++) {
        if (!it[i].created_ok)
            return 0;
        if (i > 0) {
            desc = desc && it[i - 1].created_us >= it[i].created_us;
            asc = asc && it[i - 1].created_us <= it[i].created_us;
        }
    }
    return desc ? -1 : asc ? 1 : 0;
}

/* Puts the members the last round missed (appended at the end) where their
 * creation time says, when the rest is in created_at order. */
static void place_leftovers(struct member *it, size_t n, size_t main)
{
    int dir = order_of(it, main);
    if (dir == 0 || order_of(it + main, n - main) == 0)
        return;
    for (size_t i = main; i < n; i++) { /* insertion: leftovers are few */
        struct member x = it[i];
        size_t j = i;
        while (j > 0 && (dir < 0 ? it[j - 1].created_us < x.created_us
                                 : it[j - 1].created_us > x.created_us)) {
            it[j] = it[j - 1];
            j--;
        }
        it[j] = x;
    }
}

/* A later round's order is the API's order of now: the merge is rebuilt
 * from it, keeping what only earlier rounds saw. *added gets how many
 * entries the round found that were not seen before. */
static int merge_again(struct merge *m, struct collect *c, size_t *added)
{
    struct merge fresh = {0};
    int rc = merge_round(&fresh, c);
    size_t main = fresh.n;
    *added = 0;
    for (size_t i = 0; rc == 0 && i < fresh.n; i++)
        *added += !merge_has(m, fresh.items[i].e);
    for (size_t i = 0; rc == 0 && i < m->n; i++)
        rc = merge_add(&fresh, &m->items[i]);
    if (rc == 0)
        place_leftovers(fresh.items, fresh.n, main);
    merge_free(m);
    *m = fresh;
    return rc;
}

int refresh_full(const struct source *src, const char *status, int64_t deadline, time_t now,
                 struct install *in, struct listing *out, char *err, size_t errlen)
{
    struct merge m = {0};
    struct collect c;
    int requests = 0, rc;
    long total;
    size_t bad;
    bool changed;
    memset(out, 0, sizeof *out);
#define NEW_COLLECT(t) (struct collect){.sink = {.page = collect_page}, .in = in, .total = (t), \
                                        .page_size = src->page_size}

    /* the first page tells how many there are; the others come in parallel */
    c = NEW_COLLECT(-1);
    rc = fetch_pages(src, status, 0, 1, deadline, now, &c, &requests, err, errlen);
    if (rc == 0)
        rc = merge_round(&m, &c);
    total = c.total;
    bad = c.bad;
    collect_free(&c);
    c = NEW_COLLECT(total);
    if (rc == 0)
        rc = fetch_pages(src, status, 1, (total + src->page_size - 1) / src->page_size, deadline,
                         now, &c, &requests, err, errlen);
    if (rc == 0)
        rc = merge_round(&m, &c);
    changed = c.total_changed;
    total = c.total;
    bad += c.bad;
    collect_free(&c);

    /* Drift: read everything again until a round adds nothing. */
    for (int round = 1; rc == 0 && round < REFRESH_MAX_ROUNDS; round++) {
        size_t distinct = m.n + bad, added = 0;
        if (!changed && distinct >= (size_t)total)
            break;
        log_info("%s listing drifted while paging (total %ld, %zu distinct): reading again",
                 status ? status : "all", total, distinct);
        c = NEW_COLLECT(-1);
        rc = fetch_pages(src, status, 0, (total + src->page_size - 1) / src->page_size, deadline,
                         now, &c, &requests, err, errlen);
        if (rc == 0)
            rc = merge_again(&m, &c, &added);
        changed = c.total_changed;
        if (c.total >= 0)
            total = c.total;
        bad = c.bad;
        collect_free(&c);
        if (rc == 0 && added == 0 && !changed)
            break;
    }
#undef NEW_COLLECT
    idmap_free(&m.seen);
    if (rc) {
        free(m.items);
        if (rc == -ENOMEM && !err[0])
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    out->items = m.items;
    out->n = m.n;
    out->total = total;
    out->requests = requests;
    return 0;
}

void listing_free(struct listing *ls)
{
    free(ls->items);
    memset(ls, 0, sizeof *ls);
}
