/* The cheap refresh: the listing of a view now, from a listing E known to
 * have been exact, reading only what can have changed. doc/design.md
 * ("Refreshes") gives the assumptions and the argument for each step.
 *
 * Everything is worked out in newest-first positions ("nf": 0 is the
 * newest element, whichever end of the API's list that is), where new
 * jobs enter at 0 and a deletion moves every older element one place
 * towards it. A page read is a window: the exact elements of some nf
 * positions at one moment. A round of reads starts with the newest window
 * (S) and ends when the windows, aligned with E, leave no doubt:
 *
 *   - anchors: the members of E seen in windows, in E's order (the longest
 *     run that is increasing in both); a known member seen out of that
 *     order has moved (an id deleted and created again shows at the top);
 *   - a segment between two neighbouring anchors holds the positions
 *     between them and E's members between them that no window showed;
 *     when the positions no window covers are one run as long as those
 *     members, they are those members, in order; when no position is left,
 *     the members were deleted; any other segment is read further (the
 *     middle of it, or the oldest end first, where purges happen) until it
 *     is one of the two;
 *   - with `recheck`, a member that is not final and no window showed is
 *     read where it stands.
 * A round that read more than S ends with S read again: when it is the
 * same, nothing was created or deleted while the round read, so every
 * window shows the same list and the result is that list. Otherwise the
 * next round starts from E again with the newer S.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "recon.h"

/* ---- rounds ---- */

/* Plans the windows read before S, for the members that may have changed:
 * S shows E's first ps - margin members while at most `margin` jobs are
 * new; each window after it covers ps - margin members for the same
 * reason. */
static int plan_rechecks(struct recon *r, struct longs *starts)
{
    long reach = r->ps - margin_of(r), end = reach;
    size_t k = r->c->recheck ? first_nonfinal(r, reach) : r->nnonfinal, g = first_watch(r, reach);
    for (;;) {
        /* the next member to see: one that may have changed, or the older
         * neighbour of a watched gap (the window shows both neighbours) */
        long e = k < r->nnonfinal ? (long)r->nonfinal[k] : LONG_MAX;
        if (g < r->nwatch && (long)r->watch[g] - 1 < e)
            e = (long)r->watch[g] - 1;
        if (e == LONG_MAX)
            return 0;
        if (k < r->nnonfinal && (long)r->nonfinal[k] == e)
            k++;
        if (g < r->nwatch && (long)r->watch[g] - 1 == e)
            g++;
        if (e >= end && e < (long)r->n) {
            if (vec_push(starts, e))
                return -ENOMEM;
            end = e + reach;
        }
    }
}

/* Whether nf position p is in one of the windows. */
static bool covered(const struct obs *pre, size_t npre, const struct obs *s, long p)
{
    for (size_t k = 0; k <= npre; k++) {
        const struct obs *o = k < npre ? &pre[k] : s;
        if (p >= o->start && p < o->start + (long)o->n)
            return true;
    }
    return false;
}

/* The fast path: S shows E's newest members under E's total, and every
 * window read before it shows E where it stood: nothing was created or
 * deleted (a creation would show in S, a deletion in the total). */
static bool unchanged(const struct recon *r, const struct obs *pre, size_t npre)
{
    if (r->s_windows != 1 || r->T != (long)r->n)
        return false;
    for (size_t k = 0; k <= npre; k++) {
        const struct obs *o = k < npre ? &pre[k] : &r->obs.v[0];
        if (o->total != r->T)
            return false;
        for (size_t i = 0; i < o->n; i++) {
            long pos = o->start + (long)i;
            if (pos < 0 || pos >= (long)r->n || !member_same(&o->m[i], &r->E[pos]))
                return false;
        }
    }
    for (size_t k = 0; r->c->recheck && k < r->nnonfinal; k++)
        if (!is_observed(r, r->nonfinal[k]))
            return false;
    /* every watched gap seen: both its neighbours in windows that matched */
    for (size_t k = 0; k < r->nwatch; k++) {
        long g = r->watch[k];
        if ((g > 0 && !covered(pre, npre, &r->obs.v[0], g - 1)) ||
            (g < (long)r->n && !covered(pre, npre, &r->obs.v[0], g)))
            return false;
    }
    return true;
}

static struct listing *as_listed(const struct recon *r)
{
    struct listing *l = listing_new(r->n);
    if (!l)
        return NULL;
    l->total = r->T;
    for (size_t i = 0; i < r->n; i++)
        l->m[i] = latest_of(r, (uint32_t)i);
    return l;
}

/* The round from S on: reads until nothing is in doubt, then closes. */
static int run_round(struct recon *r, struct listing **out)
{
    struct longs starts = {0};
    int rc;
    size_t reads = r->s_windows;
    for (;;) {
        rc = align(r, &starts, out);
        if (rc != P_READ)
            break;
        if (over_budget(r, starts.n)) {
            rc = P_GIVEUP;
            break;
        }
        size_t got = 0;
        if ((rc = vec_reserve(&r->obs, r->obs.n + starts.n)) != 0)
            break;
        rc = read_windows(r, starts.v, starts.n, 0, r->obs.v + r->obs.n, &got);
        bool moved = false;
        for (size_t i = 0; i < got; i++)
            moved = moved || r->obs.v[r->obs.n + i].total != r->T;
        r->obs.n += got;
        reads += got;
        if (rc)
            break;
        if (moved) {
            rc = P_RESTART;
            break;
        }
    }
    vec_free(&starts);
    if (rc != P_DONE || reads == 1)
        return rc;
    /* the walk is closed by S read again */
    struct obs f;
    if (over_budget(r, 1)) {
        listing_unref(*out);
        *out = NULL;
        return P_GIVEUP;
    }
    if ((rc = read_again(r, r->obs.v[0].api_off, &f)) != 0) {
        listing_unref(*out);
        *out = NULL;
        return rc;
    }
    const struct obs *s = &r->obs.v[0];
    bool same = f.total == s->total && f.n == s->n && f.start == s->start;
    for (size_t i = 0; same && i < f.n; i++)
        same = member_same(&f.m[i], &s->m[i]);
    if (same) {
        obs_free(&f);
        return P_DONE;
    }
    listing_unref(*out);
    *out = NULL;
    /* it changed while the round read: the next round starts from f */
    round_clear(r);
    r->T = f.total;
    if (vec_push(&r->obs, f)) {
        obs_free(&f);
        return -ENOMEM;
    }
    r->s_windows = 1;
    return P_NEXT;
}

static int recon_init(struct recon *r, struct walk *w, const struct cheap *c,
                      struct cheap_report *rep)
{
    const struct listing *prev = c->prev;
    memset(r, 0, sizeof *r);
    r->w = w;
    r->c = c;
    r->rep = rep;
    r->ps = w->src->page_size;
    r->n = prev->n;
    r->t_est = (long)prev->n;
    r->E = prev->m;
    if (c->order == ORDER_OLDEST) {
        if (!(r->ebuf = malloc((r->n ? r->n : 1) * sizeof *r->ebuf)))
            return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
            r->ebuf[i] = prev->m[r->n - 1 - i];
        r->E = r->ebuf;
    }
    r->observed = calloc(r->n / 64 + 1, sizeof *r->observed);
    if (!r->observed || eindex_init(&r->idx, r->n) || eindex_init(&r->latest, 64))
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        eindex_put(&r->idx, member_key(&r->E[i]), (uint32_t)i);
        r->nnonfinal += !r->E[i].final;
    }
    if (!(r->nonfinal = malloc((r->nnonfinal + 1) * sizeof *r->nonfinal)) ||
        !(r->watch = malloc((c->nwatch + 1) * sizeof *r->watch)))
        return -ENOMEM;
    /* the gaps in nf terms: gap k of the API's order is before E[n - k] */
    for (size_t i = 0; i < c->nwatch; i++) {
        uint32_t g = c->watch[c->order == ORDER_OLDEST ? c->nwatch - 1 - i : i];
        if (g <= r->n)
            r->watch[r->nwatch++] = c->order == ORDER_OLDEST ? (uint32_t)r->n - g : g;
    }
    r->nnonfinal = 0;
    for (size_t i = 0; i < r->n; i++)
        if (!r->E[i].final)
            r->nonfinal[r->nnonfinal++] = (uint32_t)i;
    r->full_cost = pages_for(w, (long)r->n) + 1;
    return 0;
}

static void recon_free(struct recon *r)
{
    round_clear(r);
    vec_free(&r->obs);
    vec_free(&r->seen);
    eindex_free(&r->idx);
    eindex_free(&r->latest);
    free(r->observed);
    free(r->nonfinal);
    free(r->watch);
    free(r->ebuf);
}

/* A listing in nf order, as the API lists it. */
static void to_api_order(const struct recon *r, struct listing *l)
{
    if (r->c->order != ORDER_OLDEST)
        return;
    for (size_t i = 0; i < l->n / 2; i++) {
        struct member t = l->m[i];
        l->m[i] = l->m[l->n - 1 - i];
        l->m[l->n - 1 - i] = t;
    }
}

int refresh_cheap(struct walk *w, const struct cheap *c, struct listing **out,
                  struct cheap_report *rep)
{
    struct recon r;
    struct cheap_report ignored;
    struct longs starts = {0};
    struct obs *pre = NULL;
    size_t npre = 0;
    *out = NULL;
    w->why[0] = '\0';
    rep = rep ? rep : &ignored;
    memset(rep, 0, sizeof *rep);
    if (c->order != ORDER_NEWEST && c->order != ORDER_OLDEST) {
        snprintf(w->why, sizeof w->why, "the API's order is not known");
        return -EAGAIN;
    }
    int rc = recon_init(&r, w, c, rep);
    /* the members that may have changed, read before S (their statuses
     * count whatever the round finds; their places only on the fast path) */
    if (rc == 0)
        rc = plan_rechecks(&r, &starts);
    if (rc == 0 && starts.n) {
        if (over_budget(&r, starts.n + 1)) {
            rc = -EAGAIN;
        } else if (!(pre = calloc(starts.n, sizeof *pre))) {
            rc = -ENOMEM;
        } else {
            rc = read_windows(&r, starts.v, starts.n, 0, pre, &npre);
        }
    }
    for (int round = 0; rc == 0; round++) {
        rep->rounds = round + 1;
        if (round >= REFRESH_MAX_ROUNDS) {
            snprintf(w->why, sizeof w->why, "the list kept changing while it was read");
            rc = -EAGAIN;
            break;
        }
        if (r.obs.n == 0) {
            rc = read_newest(&r);
            if (rc == -EINTR) {
                round_clear(&r);
                rc = 0;
                continue;
            }
            if (rc)
                break;
        }
        if (round == 0 && unchanged(&r, pre, npre)) {
            if (!(*out = as_listed(&r)))
                rc = -ENOMEM;
            break;
        }
        int v = run_round(&r, out);
        if (v == P_DONE) {
            break;
        } else if (v == P_NEXT) {
            /* the closing read starts the next round, unless it holds new
             * jobs only (then S is read again, and on) */
            const struct obs *f = &r.obs.v[0];
            if (!has_known(&r, f) && f->n > 0 && r.ps < f->total && r.n > 0)
                round_clear(&r);
        } else if (v == P_RESTART) {
            round_clear(&r);
        } else if (v == P_GIVEUP) {
            rc = -EAGAIN;
        } else {
            rc = v;
        }
    }
    if (rc == 0 && *out)
        to_api_order(&r, *out);
    if (rc == -ENOMEM && !w->why[0])
        snprintf(w->why, sizeof w->why, "out of memory");
    for (size_t i = 0; i < npre; i++)
        obs_free(&pre[i]);
    free(pre);
    vec_free(&starts);
    recon_free(&r);
    if (rc) {
        listing_unref(*out);
        *out = NULL;
    }
    return rc;
}
