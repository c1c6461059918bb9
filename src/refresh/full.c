/* Reading a view in full: a walk over every page, closed by a second look
 * at the newest page.
 *
 * Offset paging has no snapshot: between two requests of one walk a job can
 * be created at the newest end and another, already read, deleted; every
 * total then agrees and the merge counts right, yet it holds a job that is
 * gone and misses one that is there. So the walk starts and ends with the
 * newest page (S and F). When F is S (the same elements under the same
 * total) and every page had that total, nothing was created (it would show
 * in F) and nothing deleted (the total would have moved, a creation being
 * excluded) while the pages were read, so they show one list and the merge
 * is exact. Otherwise the view is walked again, at most REFRESH_MAX_WALKS
 * times; the last walk is kept even then, marked unsure, so the next
 * refresh reads in full again rather than trust it.
 *
 * Newest first, S is the first page (which tells the total) and F that page
 * again: ceil(N / page_size) + 1 requests. Oldest first, the newest page is
 * the last one: with the total known from before, it is read first and
 * again at the end (+ 1); without, the first page tells the total and is
 * read again inside the walk (+ 2).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"

/* The pages [first, last) merged into m, in page order, after what m
 * holds. */
static int walk_pages(struct walk *w, long first, long last, long total, struct merge *m,
                      bool *same)
{
    long *offs;
    size_t n;
    *same = true;
    int rc = page_offsets(w, first, last, &offs, &n);
    if (rc == 0)
        rc = fetch_merged(w, offs, n, m, total, same);
    free(offs);
    return rc;
}

/* The newest page of a list read oldest first, whose total is about t:
 * the last page (page-aligned, so it never overlaps the others). Read
 * again when the total it brings puts the last page elsewhere. */
static int newest_oldest_first(struct walk *w, long t, struct window *s)
{
    for (int tries = 0;; tries++) {
        long off = (pages_for(w, t) - 1) * w->src->page_size;
        if (off < 0)
            off = 0;
        int rc = fetch_windows(w, &off, 1, s);
        if (rc || tries == 1)
            return rc;
        long now_at = (pages_for(w, s->total) - 1) * w->src->page_size;
        if ((now_at < 0 ? 0 : now_at) == off)
            return 0; /* the newest page is where the total it brings puts it */
        t = s->total;
        window_free(s);
    }
}

/* One walk into m. *stable: S and F agree, and so does every page. */
static int walk_once(struct walk *w, int order, long total_hint, struct merge *m, long *total,
                     bool *stable)
{
    struct window s = {0}, f = {0};
    bool same = true;
    int rc = 0;
    *stable = false;
    if (order == ORDER_OLDEST && total_hint > 0) {
        rc = newest_oldest_first(w, total_hint, &s);
    } else {
        long off = 0;
        rc = fetch_windows(w, &off, 1, &s);
        if (rc == 0 && order == ORDER_OLDEST && s.total > (long)s.n) {
            long t = s.total;
            window_free(&s);
            rc = newest_oldest_first(w, t, &s);
        }
    }
    if (rc == 0 && s.offset == 0 && s.total <= (long)s.n) {
        /* everything on one page: a single read is a snapshot */
        for (size_t i = 0; rc == 0 && i < s.n; i++)
            rc = merge_add(m, &s.m[i]);
        *total = s.total;
        *stable = rc == 0 && m->items.n == (size_t)s.total;
        window_free(&s);
        return rc;
    }
    long t = s.total, pages = pages_for(w, t);
    if (rc == 0 && order == ORDER_OLDEST) {
        /* every page but the newest, then the newest as S saw it */
        rc = walk_pages(w, 0, pages - 1, t, m, &same);
        for (size_t i = 0; rc == 0 && i < s.n; i++)
            rc = merge_add(m, &s.m[i]);
    } else if (rc == 0) {
        /* the first page (S), then the rest after it */
        for (size_t i = 0; rc == 0 && i < s.n; i++)
            rc = merge_add(m, &s.m[i]);
        if (rc == 0)
            rc = walk_pages(w, 1, pages, t, m, &same);
    }
    if (rc == 0) {
        long off = s.offset;
        rc = fetch_windows(w, &off, 1, &f);
    }
    if (rc == 0) {
        *total = f.total;
        *stable = same && window_same(&s, &f) && m->items.n == (size_t)t;
    }
    window_free(&s);
    window_free(&f);
    return rc;
}

int refresh_full(struct walk *w, int order, long total_hint, struct listing **out, bool *unsure)
{
    struct merge m = {0};
    long total = 0;
    bool stable = false;
    int rc = 0;
    *out = NULL;
    w->why[0] = '\0';
    /* Not knowing which end is the newest, the walk is closed as the API's
     * reference says (newest first); the whole listing then tells (its
     * ends: a few jobs out of created_at order do not sway it), and a list
     * that turns out oldest first is walked again the right way. */
    bool learning = order == ORDER_UNKNOWN;
    int walks = REFRESH_MAX_WALKS;
    if (learning)
        order = ORDER_NEWEST;
    for (int k = 0; k < walks && rc == 0 && !stable; k++) {
        if (k > 0)
            log_info("listing %s changed while it was read: reading it again",
                     w->status ? w->status : "all");
        merge_free(&m);
        rc = walk_once(w, order, total_hint, &m, &total, &stable);
        if (rc == 0 && learning) {
            learning = false;
            if (w->in->order(w->in, m.items.v, m.items.n) == ORDER_OLDEST) {
                /* that walk went the wrong way: it is not one of the walks */
                order = ORDER_OLDEST;
                total_hint = total;
                stable = false;
                walks++;
            }
        }
    }
    if (rc == 0 && !(*out = listing_new(m.items.n)))
        rc = -ENOMEM;
    if (rc == 0) {
        if (m.items.n)
            memcpy((*out)->m, m.items.v, m.items.n * sizeof m.items.v[0]);
        (*out)->total = total;
        *unsure = !stable;
        if (!stable)
            log_warn("listing %s kept changing while it was read (%d walks): showing the last",
                     w->status ? w->status : "all", REFRESH_MAX_WALKS);
    }
    if (rc == -ENOMEM && !w->why[0])
        snprintf(w->why, sizeof w->why, "out of memory");
    merge_free(&m);
    return rc;
}
