#include "refresh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The merged listing: members in list order, each entry once. Entries are
 * numbered densely from 1 (seq), so "seen" is one bit per entry: 125 KB for
 * a million jobs, where a hash set would take tens of MB. */
struct merge {
    uint64_t *seen; /* bit seq: the entry is in items */
    size_t words;
    struct member *items;
    size_t n, cap;
};

static bool merge_has(const struct merge *m, const struct entry *e)
{
    size_t w = e->seq / 64;
    return w < m->words && (m->seen[w] >> (e->seq % 64) & 1u);
}

/* Appends a member to a growing array. */
static int push_member(struct member **items, size_t *n, size_t *cap, const struct member *m)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        struct member *ni = realloc(*items, c * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        *items = ni;
        *cap = c;
    }
    (*items)[(*n)++] = *m;
    return 0;
}

static int merge_add(struct merge *m, const struct member *mb)
{
    if (merge_has(m, mb->e))
        return 0;
    size_t w = mb->e->seq / 64;
    if (w >= m->words) {
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
    int rc = push_member(&m->items, &m->n, &m->cap, mb);
    if (rc == 0)
        m->seen[w] |= (uint64_t)1 << (mb->e->seq % 64);
    return rc;
}

static void merge_free(struct merge *m)
{
    free(m->seen);
    free(m->items);
    memset(m, 0, sizeof *m);
}

/* The pages of one fetch, collected by page number as they arrive. */
struct collect {
    struct page_sink sink; /* first: the sink is the collector */
    struct install *in;
    const long *offsets;   /* page i is the one at offsets[i] (ascending) */
    struct member **pages;
    size_t *counts;
    size_t npages;
    size_t bad;            /* elements that cannot be shown */
    long total;            /* the first total seen (-1 before) */
    bool total_changed;
    struct merge *into;    /* when set, pages are merged (and freed) in page
                              order as soon as all before them came */
    size_t merged;         /* pages [0, merged) went into `into` */
};

static int collect_page(struct page_sink *s, long offset, struct job **jobs, size_t n,
                        size_t bad, long total);

static struct collect collect_new(struct install *in, struct merge *into)
{
    return (struct collect){.sink = {.page = collect_page}, .in = in, .total = -1, .into = into};
}

static int merge_ready(struct collect *c)
{
    for (; c->merged < c->npages && c->pages[c->merged]; c->merged++) {
        size_t p = c->merged;
        for (size_t i = 0; i < c->counts[p]; i++) {
            int rc = merge_add(c->into, &c->pages[p][i]);
            if (rc)
                return rc;
        }
        free(c->pages[p]);
        c->pages[p] = NULL;
    }
    return 0;
}

/* The index of the page asked for at offset; npages when none was. */
static size_t page_index(const struct collect *c, long offset)
{
    size_t lo = 0, hi = c->npages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->offsets[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->npages && c->offsets[lo] == offset ? lo : c->npages;
}

static int collect_page(struct page_sink *s, long offset, struct job **jobs, size_t n,
                        size_t bad, long total)
{
    struct collect *c = (struct collect *)s;
    size_t idx = page_index(c, offset);
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
    if (idx >= c->npages || idx < c->merged || c->pages[idx]) {
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
    return c->into ? merge_ready(c) : 0;
}

/* Fetches the pages at offsets[0..n) (ascending) into c (collect_new), in
 * parallel. */
static int collect_fetch(const struct source *src, const char *status, const long *offsets,
                         size_t n, int64_t deadline, time_t now, struct collect *c, int *requests,
                         char *err, size_t errlen)
{
    c->offsets = offsets;
    c->npages = n;
    c->pages = calloc(n ? n : 1, sizeof *c->pages);
    c->counts = calloc(n ? n : 1, sizeof *c->counts);
    if (!c->pages || !c->counts) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = n ? src->ops->pages(src->ctx, status, offsets, n, deadline, now, &c->sink, err,
                                 errlen)
               : 0;
    *requests += (int)n;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (i >= c->merged && !c->pages[i]) {
            snprintf(err, errlen, "list page at offset %ld never came", offsets[i]);
            rc = -EIO;
        }
    c->offsets = NULL; /* the caller's, and only needed while pages come */
    return rc;
}

/* Fetches the pages [first, last) (in page numbers) into c. */
static int fetch_pages(const struct source *src, const char *status, long first, long last,
                       int64_t deadline, time_t now, struct collect *c, int *requests, char *err,
                       size_t errlen)
{
    size_t n = last > first ? (size_t)(last - first) : 0;
    long *offsets = malloc((n ? n : 1) * sizeof *offsets);
    if (!offsets) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        offsets[i] = (first + (long)i) * src->page_size;
    int rc = collect_fetch(src, status, offsets, n, deadline, now, c, requests, err, errlen);
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

/* A later round's order (fresh) is the API's order of now: the merge is
 * rebuilt from it, keeping what only earlier rounds saw. *added gets how
 * many entries the round found that were not seen before. */
static int merge_again(struct merge *m, struct merge *fresh, size_t *added)
{
    size_t main = fresh->n;
    int rc = 0;
    *added = 0;
    for (size_t i = 0; i < fresh->n; i++)
        *added += !merge_has(m, fresh->items[i].e);
    for (size_t i = 0; rc == 0 && i < m->n; i++)
        rc = merge_add(fresh, &m->items[i]);
    if (rc == 0)
        place_leftovers(fresh->items, fresh->n, main);
    merge_free(m);
    *m = *fresh;
    memset(fresh, 0, sizeof *fresh);
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

    /* the first page tells how many there are; the others come in
     * parallel, into the merge as they come, so a listing of a million jobs
     * is not held twice (pages, then merge) */
    c = collect_new(in, &m);
    rc = fetch_pages(src, status, 0, 1, deadline, now, &c, &requests, err, errlen);
    total = c.total;
    bad = c.bad;
    collect_free(&c);
    c = collect_new(in, &m);
    if (rc == 0)
        rc = fetch_pages(src, status, 1, (total + src->page_size - 1) / src->page_size, deadline,
                         now, &c, &requests, err, errlen);
    changed = c.total_changed || (c.total >= 0 && c.total != total);
    if (c.total > total)
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
        struct merge fresh = {0};
        c = collect_new(in, &fresh);
        rc = fetch_pages(src, status, 0, (total + src->page_size - 1) / src->page_size, deadline,
                         now, &c, &requests, err, errlen);
        if (rc == 0)
            rc = merge_again(&m, &fresh, &added);
        merge_free(&fresh);
        changed = c.total_changed;
        if (c.total >= 0)
            total = c.total;
        bad = c.bad;
        collect_free(&c);
        if (rc == 0 && added == 0 && !changed)
            break;
    }
    free(m.seen);
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

/* ---- the cheap refresh ---- */

int refresh_order(const struct member *items, size_t n)
{
    bool differ = false;
    for (size_t i = 1; i < n; i++)
        differ = differ || items[i - 1].created_us != items[i].created_us;
    if (!differ) /* fewer than two distinct times (or none): no way to tell */
        return ORDER_UNKNOWN;
    int dir = order_of(items, n);
    return dir < 0 ? ORDER_NEWEST : dir > 0 ? ORDER_OLDEST : ORDER_UNKNOWN;
}

/* Where m's entry is in prev, which is in created_at order: a binary search
 * by its creation time, then a look along the ties. -1 when absent. */
static ssize_t find_prev(const struct delta *d, const struct member *m)
{
    if (!m->created_ok)
        return -1;
    bool desc = d->order == ORDER_NEWEST;
    size_t lo = 0, hi = d->nprev;
    while (lo < hi) { /* the first index not before m's time */
        size_t mid = lo + (hi - lo) / 2;
        int64_t t = d->prev[mid].created_us;
        if (desc ? t > m->created_us : t < m->created_us)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < d->nprev && d->prev[i].created_us == m->created_us; i++)
        if (d->prev[i].e == m->e)
            return (ssize_t)i;
    return -1;
}

int refresh_pages(const struct source *src, const char *status, const long *offsets, size_t n,
                  int64_t deadline, time_t now, struct install *in, char *err, size_t errlen)
{
    struct collect c = collect_new(in, NULL);
    int requests = 0;
    int rc = collect_fetch(src, status, offsets, n, deadline, now, &c, &requests, err, errlen);
    collect_free(&c);
    return rc;
}

struct checked {
    struct member *items; /* the new jobs, in the order they will be listed */
    size_t n, cap;
    long total;           /* the API's, the same on every page read */
    int64_t last;         /* created_at of the last job walked */
    bool any;
};

static int push_new(struct checked *ck, const struct member *m)
{
    return push_member(&ck->items, &ck->n, &ck->cap, m);
}

/* Takes one page's members in, in the order walked, checking the order by
 * created_at and that the total did not move. */
static bool walk_order(const struct delta *d, struct checked *ck, const struct member *m,
                       char *why, size_t whylen)
{
    if (!m->created_ok) {
        snprintf(why, whylen, "a job without a readable created_at");
        return false;
    }
    if (ck->any && (d->order == ORDER_NEWEST ? m->created_us > ck->last
                                             : m->created_us < ck->last)) {
        snprintf(why, whylen, "the API's order is not %s first any more",
                 d->order == ORDER_NEWEST ? "newest" : "oldest");
        return false;
    }
    ck->last = m->created_us;
    ck->any = true;
    return true;
}

static bool same_total(struct checked *ck, long total, char *why, size_t whylen)
{
    if (ck->total >= 0 && total != ck->total) {
        snprintf(why, whylen, "the total moved while paging (%ld, then %ld)", ck->total, total);
        return false;
    }
    ck->total = total;
    return true;
}

/* One page of a cheap refresh, at offset: its total must be the one every
 * page read so far had. On failure, c holds nothing. */
static int delta_page(const struct source *src, const char *status, long offset,
                      int64_t deadline, time_t now, struct install *in, struct checked *ck,
                      struct collect *c, int *requests, char *why, size_t whylen)
{
    *c = collect_new(in, NULL);
    int rc = collect_fetch(src, status, &offset, 1, deadline, now, c, requests, why, whylen);
    if (rc == 0 && !same_total(ck, c->total, why, whylen))
        rc = -EAGAIN;
    if (rc)
        collect_free(c);
    return rc;
}

/* After a page of new jobs only: reading on is worth it while it costs
 * less than half of reading the whole view. */
static bool read_on(const struct source *src, const struct checked *ck, int requests, char *why,
                    size_t whylen)
{
    long full_pages = (ck->total + src->page_size - 1) / src->page_size;
    if (requests < full_pages / 2 + 1)
        return true;
    snprintf(why, whylen, "more than half the view is new");
    return false;
}

/* Newest first: pages from offset 0 until the newest known job. */
static int delta_newest(const struct source *src, const char *status, const struct delta *d,
                        int64_t deadline, time_t now, struct install *in, struct checked *ck,
                        size_t *covered, int *requests, char *why, size_t whylen)
{
    bool met = false;
    size_t next = 0; /* the index in prev the next known job must have */
    for (long offset = 0;; offset += src->page_size) {
        struct collect c;
        int rc = delta_page(src, status, offset, deadline, now, in, ck, &c, requests, why, whylen);
        if (rc)
            return rc;
        bool ok = true;
        for (size_t i = 0; ok && i < c.counts[0]; i++) {
            const struct member *m = &c.pages[0][i];
            ssize_t at = find_prev(d, m);
            ok = walk_order(d, ck, m, why, whylen);
            if (!ok)
                break;
            if (!met && at < 0) {
                if ((rc = push_new(ck, m)) != 0)
                    break;
            } else if (!met && at != 0) {
                snprintf(why, whylen, "the newest known job is gone or moved");
                ok = false;
            } else if (met && at != (ssize_t)next) {
                snprintf(why, whylen, "a known job is missing or moved (at %zu of %zu)", next,
                         d->nprev);
                ok = false;
            } else {
                met = true;
                next = (size_t)at + 1;
            }
        }
        size_t got = c.counts[0];
        collect_free(&c);
        if (rc)
            return rc;
        if (!ok)
            return -EAGAIN;
        if (met || d->nprev == 0 || offset + src->page_size >= ck->total || got == 0)
            break;
        /* a whole page of new jobs */
        if (!read_on(src, ck, *requests, why, whylen))
            return -EAGAIN;
    }
    if (!met && d->nprev > 0) {
        snprintf(why, whylen, "the newest known job is gone");
        return -EAGAIN;
    }
    *covered = next;
    return 0;
}

/* Oldest first: pages from the last known job to the end. Elements that
 * cannot be shown may sit anywhere, so the page read may start a few known
 * jobs early: those must be the last ones of prev, in order. */
static int delta_oldest(const struct source *src, const char *status, const struct delta *d,
                        int64_t deadline, time_t now, struct install *in, struct checked *ck,
                        size_t *covered, int *requests, char *why, size_t whylen)
{
    long offset = d->nprev > 0 ? (long)d->nprev - 1 : 0;
    ssize_t first = -1, last = -1; /* the first and last known jobs met */
    for (;;) {
        struct collect c;
        int rc = delta_page(src, status, offset, deadline, now, in, ck, &c, requests, why, whylen);
        if (rc)
            return rc;
        bool ok = true, met_all;
        for (size_t i = 0; ok && i < c.counts[0]; i++) {
            const struct member *m = &c.pages[0][i];
            ssize_t at = find_prev(d, m);
            ok = walk_order(d, ck, m, why, whylen);
            if (!ok)
                break;
            met_all = d->nprev == 0 || last == (ssize_t)d->nprev - 1;
            if (!met_all && (at < 0 || (last >= 0 && at != last + 1))) {
                snprintf(why, whylen, "the newest known jobs are gone or moved");
                ok = false;
            } else if (!met_all) {
                if (first < 0)
                    first = at;
                last = at;
            } else if (at >= 0) {
                snprintf(why, whylen, "a known job came back after the newest one");
                ok = false;
            } else {
                rc = push_new(ck, m);
                ok = rc == 0;
            }
        }
        size_t got = c.counts[0] + c.bad;
        collect_free(&c);
        if (rc)
            return rc;
        if (!ok)
            return -EAGAIN;
        offset += (long)got;
        if (got == 0 || offset >= ck->total)
            break;
        if (!read_on(src, ck, *requests, why, whylen))
            return -EAGAIN;
    }
    if (d->nprev > 0 && last != (ssize_t)d->nprev - 1) {
        snprintf(why, whylen, "the newest known job is gone");
        return -EAGAIN;
    }
    /* the known jobs re-read: from the first one met to the newest */
    *covered = first >= 0 ? d->nprev - (size_t)first : 0;
    return 0;
}

/* Fetching the unfinished jobs no page covered. */
struct recheck {
    struct page_sink sink; /* first */
    struct install *in;
    int gone;              /* a 404: the job was deleted */
    int err;
};

static int recheck_job(struct page_sink *s, size_t index, struct job *j, int rc)
{
    (void)index;
    struct recheck *r = (struct recheck *)s;
    if (rc == -ENOENT || !j) {
        r->gone++;
        return 0;
    }
    struct member m;
    size_t kept = 0;
    return r->in->jobs(r->in, &j, 1, &m, &kept);
}

static bool unfinished(uint8_t status)
{
    return status == ST_PENDING || status == ST_PROCESSING;
}

/* How the unfinished jobs of prev[from, to) are looked at again: a window
 * re-reads one list page starting at an unfinished job (page_size known jobs
 * for one request), a single fetches the job alone. A window is taken where
 * it covers two unfinished jobs or more, and only when every element of the
 * view is known (an element that cannot be shown sits nobody knows where and
 * shifts the offsets). With plan NULL, only the cost is counted. */
struct plan {
    size_t *win; /* the prev index each window starts at, ascending */
    size_t nwin;
    struct job_id *ids;
    size_t nids;
};

static size_t plan_rechecks(const struct delta *d, size_t from, size_t to, size_t ps,
                            struct plan *p)
{
    size_t cost = 0;
    for (size_t i = from; i < to; i++) {
        if (!unfinished(d->prev[i].status))
            continue;
        size_t end = i + ps < to ? i + ps : to, u = 0;
        for (size_t k = i; k < end && u < 2; k++)
            u += unfinished(d->prev[k].status);
        if (u >= 2 && d->prev_bad == 0) {
            if (p)
                p->win[p->nwin++] = i;
            i = end - 1;
        } else if (p) {
            p->ids[p->nids++] = (struct job_id){d->prev[i].e->id, d->prev[i].e->id_len};
        }
        cost++;
    }
    return cost;
}

/* Re-reads the windows of p, all at once: each page must hold the known jobs
 * from its start on, in prev's order, under the same total. base is the
 * API offset of prev[0]. */
static int recheck_windows(const struct source *src, const char *status, const struct delta *d,
                           const struct plan *p, long base, int64_t deadline, time_t now,
                           struct install *in, struct checked *ck, int *requests, char *why,
                           size_t whylen)
{
    long *offsets = malloc(p->nwin * sizeof *offsets);
    struct collect c = collect_new(in, NULL);
    if (!offsets) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    for (size_t w = 0; w < p->nwin; w++)
        offsets[w] = base + (long)p->win[w];
    int rc = collect_fetch(src, status, offsets, p->nwin, deadline, now, &c, requests, why,
                           whylen);
    for (size_t w = 0; rc == 0 && w < p->nwin; w++) {
        size_t at = p->win[w], want = d->nprev - at;
        if (want > (size_t)src->page_size)
            want = (size_t)src->page_size;
        bool same = c.counts[w] >= want;
        for (size_t k = 0; same && k < want; k++)
            same = c.pages[w][k].e == d->prev[at + k].e;
        if (!same || c.bad || c.total_changed) {
            snprintf(why, whylen, "the known jobs at offset %ld moved", offsets[w]);
            rc = -EAGAIN;
        } else if (!same_total(ck, c.total, why, whylen)) {
            rc = -EAGAIN;
        }
    }
    free(offsets);
    collect_free(&c);
    return rc;
}

/* The part of prev no page re-read covered, when `covered` known jobs at the
 * newest end were: [from, to). */
static void uncovered(const struct delta *d, size_t covered, size_t *from, size_t *to)
{
    if (covered > d->nprev)
        covered = d->nprev;
    *from = d->order == ORDER_NEWEST ? covered : 0;
    *to = d->order == ORDER_NEWEST ? d->nprev : d->nprev - covered;
}

int refresh_delta(const struct source *src, const char *status, const struct delta *d,
                  int64_t deadline, time_t now, struct install *in, struct listing *out,
                  char *why, size_t whylen)
{
    struct checked ck = {.total = -1};
    size_t covered = 0; /* prev[0..covered) (newest first) or its last, were re-read */
    int requests = 0, rc;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    size_t ps = (size_t)src->page_size, from, to;
    if (d->check_unfinished) {
        /* the unfinished jobs beyond the newest page cost a request or a
         * page each: when that alone is as dear as a full read, do not start */
        uncovered(d, ps, &from, &to);
        size_t cost = plan_rechecks(d, from, to, ps, NULL);
        size_t full_pages = (d->nprev + d->prev_bad + ps - 1) / ps;
        if (cost && cost + 1 >= full_pages) {
            snprintf(why, whylen, "%zu requests for the unfinished jobs: reading in full is "
                     "cheaper", cost);
            return -EAGAIN;
        }
    }
    if (d->order == ORDER_NEWEST)
        rc = delta_newest(src, status, d, deadline, now, in, &ck, &covered, &requests, why,
                          whylen);
    else if (d->order == ORDER_OLDEST)
        rc = delta_oldest(src, status, d, deadline, now, in, &ck, &covered, &requests, why,
                          whylen);
    else {
        snprintf(why, whylen, "the API's order is not known");
        rc = -EAGAIN;
    }
    /* the totals must add up: a deletion, or a job that moved in or out
     * unseen, shows here (elements that cannot be shown have no identity:
     * their number is taken to be the same; a new one costs a full read) */
    long want = (long)(d->nprev + d->prev_bad + ck.n);
    if (rc == 0 && ck.total != want) {
        snprintf(why, whylen, "the totals do not add up (%ld, expected %ld: %zu known, %zu new)",
                 ck.total, want, d->nprev, ck.n);
        rc = -EAGAIN;
    }
    size_t n = d->nprev + ck.n;
    struct member *items = rc ? NULL : malloc((n ? n : 1) * sizeof *items);
    if (rc == 0 && !items)
        rc = -ENOMEM;
    if (rc == 0) {
        /* the new jobs go at the newest end (memcpy of NULL, 0 is undefined) */
        size_t at_new = d->order == ORDER_NEWEST ? 0 : d->nprev;
        size_t at_prev = d->order == ORDER_NEWEST ? ck.n : 0;
        if (ck.n)
            memcpy(items + at_new, ck.items, ck.n * sizeof *items);
        if (d->nprev)
            memcpy(items + at_prev, d->prev, d->nprev * sizeof *items);
    }
    /* unfinished jobs no page covered may have moved on: their pages are
     * read again, or they are fetched one by one, unless reading the whole
     * view costs less */
    struct plan p = {0};
    if (rc == 0 && d->check_unfinished) {
        uncovered(d, covered, &from, &to);
        size_t u = 0;
        for (size_t i = from; i < to; i++)
            u += unfinished(d->prev[i].status);
        if (u && (!(p.win = malloc(u * sizeof *p.win)) || !(p.ids = malloc(u * sizeof *p.ids))))
            rc = -ENOMEM;
        size_t cost = rc == 0 && u ? plan_rechecks(d, from, to, ps, &p) : 0;
        long full_pages = (ck.total + src->page_size - 1) / src->page_size;
        if (cost && (long)cost + requests >= full_pages) {
            snprintf(why, whylen, "%zu requests for the unfinished jobs: reading in full is "
                     "cheaper", cost);
            rc = -EAGAIN;
        }
    }
    if (rc == 0 && p.nwin)
        rc = recheck_windows(src, status, d, &p, d->order == ORDER_NEWEST ? (long)ck.n : 0,
                             deadline, now, in, &ck, &requests, why, whylen);
    if (rc == 0 && p.nids) {
        struct recheck r = {.sink = {.job = recheck_job}, .in = in};
        rc = src->ops->jobs(src->ctx, p.ids, p.nids, deadline, now, &r.sink, why, whylen);
        requests += (int)p.nids;
        if (rc == 0 && r.gone) {
            snprintf(why, whylen, "%d known job%s deleted", r.gone, r.gone == 1 ? " was" : "s were");
            rc = -EAGAIN;
        }
    }
    free(p.win);
    free(p.ids);
    free(ck.items);
    out->requests = requests;
    if (rc) {
        free(items);
        return rc;
    }
    out->items = items;
    out->n = n;
    out->total = ck.total;
    return 0;
}
