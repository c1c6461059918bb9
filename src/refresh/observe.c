/* Reading windows for a cheap refresh (recon.h): where a window is asked
 * for, what it shows of E's members, the newest end (S). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

void obs_free(struct obs *o)
{
    free(o->m);
    memset(o, 0, sizeof *o);
}

void round_clear(struct recon *r)
{
    for (size_t i = 0; i < r->obs.n; i++)
        obs_free(&r->obs.v[i]);
    r->obs.n = 0;
    r->s_windows = 0;
    r->end_probed = false;
}

bool is_observed(const struct recon *r, uint32_t e)
{
    return r->observed[e / 64] >> (e % 64) & 1u;
}

/* Notes what a window shows of E's members: seen (so looked at again), and
 * as what. */
static int note_seen(struct recon *r, const struct obs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        uint32_t e = eindex_get(&r->idx, member_key(&o->m[i]));
        if (e == IDX_NONE)
            continue;
        r->observed[e / 64] |= (uint64_t)1 << (e % 64);
        uint32_t at = eindex_get(&r->latest, (uint64_t)e + 1);
        if (at != IDX_NONE) {
            r->seen.v[at] = o->m[i];
            continue;
        }
        if (r->seen.n * 2 + 2 > r->latest.cap) { /* grow: rebuild the index */
            struct eindex bigger;
            if (eindex_init(&bigger, r->seen.n * 2 + 16))
                return -ENOMEM;
            for (size_t k = 0; k < r->latest.cap; k++)
                if (r->latest.keys[k])
                    eindex_put(&bigger, r->latest.keys[k], r->latest.vals[k]);
            eindex_free(&r->latest);
            r->latest = bigger;
        }
        if (vec_push(&r->seen, o->m[i]))
            return -ENOMEM;
        eindex_put(&r->latest, (uint64_t)e + 1, (uint32_t)(r->seen.n - 1));
    }
    return 0;
}

/* E[e] as last seen. */
struct member latest_of(const struct recon *r, uint32_t e)
{
    uint32_t at = eindex_get(&r->latest, (uint64_t)e + 1);
    return at == IDX_NONE ? r->E[e] : r->seen.v[at];
}

/* ---- reading windows ---- */

/* The API offset of the window at nf `start`. Oldest first, the newest
 * end is at the total, which may have grown: the newest window is asked
 * for `ahead` elements beyond where the total known puts it, so that it
 * still starts at the newest end when up to `ahead` jobs were created. */
static long offset_of(const struct recon *r, long start, long ahead)
{
    if (r->c->order == ORDER_NEWEST)
        return start;
    long o = r->t_est + ahead - start - r->ps;
    return o > 0 ? o : 0;
}

long margin_of(const struct recon *r)
{
    long m = r->c->margin;
    return m < 0 ? 0 : m > r->ps / 2 ? r->ps / 2 : m;
}

static int to_obs(const struct recon *r, struct window *win, struct obs *o)
{
    o->total = win->total;
    o->api_off = win->offset;
    o->n = win->n;
    o->m = win->m;
    win->m = NULL;
    if (r->c->order == ORDER_NEWEST) {
        o->start = win->offset;
    } else {
        o->start = win->total - win->offset - (long)win->n;
        for (size_t i = 0; i < o->n / 2; i++) {
            struct member t = o->m[i];
            o->m[i] = o->m[o->n - 1 - i];
            o->m[o->n - 1 - i] = t;
        }
    }
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Reads the pages at API offsets offs[0..n) (in parallel; sorted and
 * made distinct in place) into out; *got: how many. */
int read_offsets(struct recon *r, long *offs, size_t n, struct obs *out, size_t *got)
{
    struct window *wins = calloc(n ? n : 1, sizeof *wins);
    int rc = wins ? 0 : -ENOMEM;
    size_t u = 0;
    if (rc == 0) {
        qsort(offs, n, sizeof *offs, cmp_long);
        for (size_t i = 0; i < n; i++)
            if (u == 0 || offs[i] != offs[u - 1])
                offs[u++] = offs[i];
        rc = fetch_windows(r->w, offs, u, wins);
    }
    *got = 0;
    for (size_t i = 0; rc == 0 && i < u; i++) {
        to_obs(r, &wins[i], &out[i]);
        rc = note_seen(r, &out[i]);
        *got = i + 1;
    }
    for (size_t i = 0; i < u; i++)
        window_free(&wins[i]);
    if (rc == -ENOMEM)
        snprintf(r->w->why, sizeof r->w->why, "out of memory");
    free(wins);
    return rc;
}

/* Reads the windows at nf starts[0..n) (the newest one `ahead`, see
 * offset_of) into out. */
int read_windows(struct recon *r, const long *starts, size_t n, long ahead,
                        struct obs *out, size_t *got)
{
    long *offs = malloc((n ? n : 1) * sizeof *offs);
    if (!offs) {
        snprintf(r->w->why, sizeof r->w->why, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        offs[i] = offset_of(r, starts[i], ahead);
    int rc = read_offsets(r, offs, n, out, got);
    free(offs);
    return rc;
}

bool over_budget(struct recon *r, size_t more)
{
    if (r->w->requests + (long)more < r->full_cost)
        return false;
    snprintf(r->w->why, sizeof r->w->why,
             "locating the changes would cost as much as reading the view in full");
    return true;
}

/* Reads the window at nf `start` into *o; for a list read oldest first,
 * again when the total moved the newest end away from where it was asked
 * for. */
int read_window_at(struct recon *r, long start, struct obs *o)
{
    for (int tries = 0;; tries++) {
        size_t got = 0;
        int rc = read_windows(r, &start, 1, start == 0 && tries == 0 ? margin_of(r) : 0, o, &got);
        if (rc)
            return rc;
        r->t_est = o->total;
        /* oldest first, the window lands where the total put it: when the
         * total was not the one asked with, it is asked for again */
        bool placed = o->start == start && o->n > 0;
        if (r->c->order == ORDER_NEWEST || placed || o->total <= start || tries == 2)
            return 0;
        obs_free(o);
    }
}

/* Reads the page at the API offset `off` again (the closing look). */
int read_again(struct recon *r, long off, struct obs *o)
{
    size_t got = 0;
    return read_offsets(r, &off, 1, o, &got);
}

/* Whether a window shows a member of E. */
bool has_known(const struct recon *r, const struct obs *o)
{
    for (size_t i = 0; i < o->n; i++)
        if (eindex_get(&r->idx, member_key(&o->m[i])) != IDX_NONE)
            return true;
    return false;
}

/* S: the newest window, and the ones after it while they hold new jobs
 * only. Becomes the round's first windows; sets the round's total. */
int read_newest(struct recon *r)
{
    for (long start = 0;; start += r->ps) {
        if (start > 0 && over_budget(r, 1))
            return -EAGAIN;
        struct obs o;
        int rc = read_window_at(r, start, &o);
        if (rc)
            return rc;
        if (start > 0 && o.total != r->T) {
            obs_free(&o);
            return -EINTR; /* it changed while reading on: start the round again */
        }
        r->T = o.total;
        if (o.total > start && (o.start != start || o.n == 0)) {
            obs_free(&o);
            snprintf(r->w->why, sizeof r->w->why, "the newest end kept moving");
            return -EAGAIN; /* new jobs could hide anywhere S did not cover */
        }
        if (vec_push(&r->obs, o)) {
            obs_free(&o);
            return -ENOMEM;
        }
        r->s_windows++;
        if (has_known(r, &o) || o.n == 0 || start + r->ps >= o.total || r->n == 0)
            return 0;
    }
}

