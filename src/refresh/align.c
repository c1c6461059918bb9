/* Aligning a round's windows with E (recon.h, reconcile.c's opening
 * comment): anchors, segments, and what each segment calls for. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

struct cov {
    long pos;
    uint32_t e;    /* E index, or IDX_NONE */
    bool anchor;
    struct member m;
};
VEC_NAMED(covs, struct cov);

static int cmp_cov(const void *a, const void *b)
{
    const struct cov *x = a, *y = b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Every covered position once, in order; false when two windows disagree
 * on one, or show one job at two positions (the list changed meanwhile). */
static int coverage(struct recon *r, struct covs *cov, bool *consistent)
{
    *consistent = true;
    for (size_t k = 0; k < r->obs.n; k++) {
        const struct obs *o = &r->obs.v[k];
        for (size_t i = 0; i < o->n; i++) {
            long pos = o->start + (long)i;
            if (pos < 0 || pos >= r->T)
                continue;
            struct cov c = {.pos = pos, .m = o->m[i]};
            if (vec_push(cov, c))
                return -ENOMEM;
        }
    }
    qsort(cov->v, cov->n, sizeof *cov->v, cmp_cov);
    size_t u = 0;
    for (size_t i = 0; i < cov->n; i++) {
        if (u && cov->v[u - 1].pos == cov->v[i].pos) {
            if (!member_same(&cov->v[u - 1].m, &cov->v[i].m))
                *consistent = false;
            continue;
        }
        cov->v[u++] = cov->v[i];
    }
    cov->n = u;
    /* one job at two positions */
    struct eindex at;
    if (eindex_init(&at, cov->n + 1))
        return -ENOMEM;
    for (size_t i = 0; i < cov->n && *consistent; i++) {
        if (!cov->v[i].m.seq)
            continue;
        if (eindex_get(&at, cov->v[i].m.seq) != IDX_NONE)
            *consistent = false;
        eindex_put(&at, cov->v[i].m.seq, (uint32_t)i);
    }
    eindex_free(&at);
    return 0;
}

/* Marks the anchors: the longest run of covered members of E increasing
 * in E index (positions increase along cov). Returns how many. */
static size_t mark_anchors(struct cov *cov, size_t n)
{
    size_t *tail = malloc((n ? n : 1) * sizeof *tail); /* cov index ending a run of length k+1 */
    size_t *prev = malloc((n ? n : 1) * sizeof *prev);
    size_t len = 0;
    if (!tail || !prev) {
        free(tail);
        free(prev);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (cov[i].e == IDX_NONE)
            continue;
        size_t lo = 0, hi = len;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cov[tail[mid]].e < cov[i].e)
                lo = mid + 1;
            else
                hi = mid;
        }
        prev[i] = lo ? tail[lo - 1] : SIZE_MAX;
        tail[lo] = i;
        if (lo == len)
            len++;
    }
    for (size_t i = len ? tail[len - 1] : SIZE_MAX, k = 0; k < len; k++, i = prev[i])
        cov[i].anchor = true;
    free(tail);
    free(prev);
    return len;
}

/* A stretch between two anchors (or the ends: e -1 at pos -1, n at T). */
struct seg {
    long ea, eb;      /* E indices of its anchors */
    long pa, pb;      /* their positions */
    size_t ca, cb;    /* cov[ca..cb): the covered positions strictly between */
    long cand;        /* E's members between the anchors that no window showed */
    long uncovered;   /* positions between the anchors no window covered */
    long runs;        /* in how many runs */
    long run0;        /* where the first run starts */
};


struct plan {
    struct longs starts;
    VEC(struct seg) segs;
    uint32_t *moved;  /* E indices of members seen out of order, ascending */
    size_t nmoved;
};

/* The first index of the ascending v[0, n) whose value is >= key. */
static size_t first_at_least(const uint32_t *v, size_t n, long key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((long)v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* How many members seen out of order lie strictly between ea and eb. */
static size_t moved_between(const struct plan *p, long ea, long eb)
{
    return first_at_least(p->moved, p->nmoved, eb) - first_at_least(p->moved, p->nmoved, ea + 1);
}

static bool is_moved(const struct plan *p, uint32_t e)
{
    size_t k = first_at_least(p->moved, p->nmoved, e);
    return k < p->nmoved && p->moved[k] == e;
}

/* The member of E that an element not in E replaces, when its entry is
 * E's with an earlier birth: the id was deleted and created again. */
static uint32_t earlier_birth(const struct recon *r, const struct member *m)
{
    for (uint16_t b = m->birth; m->seq && b-- > 0;) {
        struct member old = *m;
        old.birth = b;
        uint32_t e = eindex_get(&r->idx, member_key(&old));
        if (e != IDX_NONE)
            return e;
    }
    return IDX_NONE;
}

/* Whether a listing names one entry twice. The API lists an id once, so
 * a result that does is wrong however the windows added up (a broken
 * assumption balanced by a change in the same stretch): a last check
 * that costs a bit a job. -ENOMEM when it cannot tell. */
static int lists_twice(const struct listing *l)
{
    uint32_t max = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->m[i].seq > max)
            max = l->m[i].seq;
    uint64_t *bits = calloc(max / 64 + 1, sizeof *bits);
    if (!bits)
        return -ENOMEM;
    int twice = 0;
    for (size_t i = 0; i < l->n && !twice; i++) {
        uint32_t q = l->m[i].seq;
        if (q && (bits[q / 64] >> (q % 64) & 1u))
            twice = 1;
        else if (q)
            bits[q / 64] |= (uint64_t)1 << (q % 64);
    }
    free(bits);
    return twice;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The segments, in order. */
static int segments(struct recon *r, const struct cov *cov, size_t ncov, struct plan *p)
{
    long ea = -1, pa = -1;
    size_t ca = 0;
    for (size_t i = 0; i <= ncov; i++) {
        if (i < ncov && !cov[i].anchor)
            continue;
        long eb = i < ncov ? (long)cov[i].e : (long)r->n;
        long pb = i < ncov ? cov[i].pos : r->T;
        struct seg s = {.ea = ea, .eb = eb, .pa = pa, .pb = pb, .ca = ca, .cb = i};
        s.cand = eb - ea - 1 - (long)moved_between(p, ea, eb);
        long at = pa + 1;
        for (size_t k = ca; k <= i; k++) {
            long next = k < i ? cov[k].pos : pb;
            if (next > at) {
                if (s.runs == 0)
                    s.run0 = at;
                s.runs++;
                s.uncovered += next - at;
            }
            at = next + 1;
        }
        if (vec_push(&p->segs, s))
            return -ENOMEM;
        ea = eb;
        pa = pb;
        ca = i + 1;
    }
    return 0;
}

/* Where to read next in an unresolved segment: all of it when it fits a
 * window, the oldest end first (purges), else its middle. */
static long probe_at(struct recon *r, const struct seg *s, const struct cov *cov)
{
    long first = -1, last = -1, best = -1, best_len = 0, at = s->pa + 1;
    for (size_t k = s->ca; k <= s->cb; k++) {
        long next = k < s->cb ? cov[k].pos : s->pb;
        if (next > at) {
            if (first < 0)
                first = at;
            last = next;
            if (next - at > best_len) {
                best = at;
                best_len = next - at;
            }
        }
        at = next + 1;
    }
    if (first < 0)
        return -1;
    if (last - first <= r->ps)
        return first;
    if (s->eb == (long)r->n && last == r->T && !r->end_probed && r->T - r->ps > first) {
        r->end_probed = true;
        return r->T - r->ps;
    }
    long mid = best + (best_len - r->ps) / 2;
    return mid > best ? mid : best;
}

/* The first index into r->nonfinal whose E index is >= e. */
size_t first_nonfinal(const struct recon *r, long e)
{
    return first_at_least(r->nonfinal, r->nnonfinal, e);
}

/* The first index into r->watch whose gap is >= g. */
size_t first_watch(const struct recon *r, long g)
{
    return first_at_least(r->watch, r->nwatch, g);
}

/* Whether a watched gap lies inside the segment: between its anchors. */
static bool watched(const struct recon *r, const struct seg *s)
{
    size_t k = first_watch(r, s->ea + 1);
    return k < r->nwatch && (long)r->watch[k] <= s->eb;
}

/* Plans windows at the trusted segment s where its members must be seen:
 * those that may have changed (recheck) and the neighbours of each watched
 * gap. */
static int plan_in_run(struct recon *r, const struct seg *s, struct plan *p)
{
    long win_end = -1;
    size_t k = first_nonfinal(r, s->ea + 1), g = first_watch(r, s->ea + 1);
    for (;;) {
        long e = LONG_MAX; /* the next E index to see */
        if (r->c->recheck)
            while (k < r->nnonfinal && (long)r->nonfinal[k] < s->eb &&
                   (is_observed(r, r->nonfinal[k]) || is_moved(p, r->nonfinal[k])))
                k++;
        if (r->c->recheck && k < r->nnonfinal && (long)r->nonfinal[k] < s->eb)
            e = r->nonfinal[k];
        if (g < r->nwatch && (long)r->watch[g] <= s->eb) {
            long ge = (long)r->watch[g] - 1 > s->ea ? (long)r->watch[g] - 1 : s->ea + 1;
            if (ge < e)
                e = ge;
        }
        if (e == LONG_MAX)
            return 0;
        if (k < r->nnonfinal && (long)r->nonfinal[k] == e)
            k++;
        while (g < r->nwatch && (long)r->watch[g] - 1 <= e)
            g++;
        if (e >= s->eb)
            continue;
        long pos = s->run0 + (e - s->ea - 1) - (long)moved_between(p, s->ea, e);
        if (pos >= win_end) {
            if (vec_push(&p->starts, pos))
                return -ENOMEM;
            win_end = pos + r->ps;
        }
    }
}

/* Aligns the round's windows with E: the listing now (P_DONE), what to read
 * next (P_READ), or that the round or the cheap path cannot go on. */
static int process(struct recon *r, struct plan *p, struct listing **out)
{
    struct covs cov = {0};
    bool consistent;
    int rc = coverage(r, &cov, &consistent), verdict = P_DONE;
    if (rc)
        goto out;
    if (!consistent) {
        verdict = P_RESTART;
        goto out;
    }
    size_t matched = 0;
    for (size_t i = 0; i < cov.n; i++) {
        cov.v[i].e = eindex_get(&r->idx, member_key(&cov.v[i].m));
        matched += cov.v[i].e != IDX_NONE;
    }
    size_t anchors = mark_anchors(cov.v, cov.n);
    if (matched >= 8 && anchors * 2 < matched) {
        snprintf(r->w->why, sizeof r->w->why, "the known jobs come in another order");
        verdict = P_GIVEUP;
        goto out;
    }
    p->nmoved = 0;
    p->moved = malloc((cov.n - anchors + 1) * sizeof *p->moved);
    if (!p->moved) {
        rc = -ENOMEM;
        goto out;
    }
    long first_anchor = r->T;
    for (size_t i = 0; i < cov.n; i++) {
        if (cov.v[i].anchor && first_anchor == r->T)
            first_anchor = cov.v[i].pos;
        if (cov.v[i].e != IDX_NONE && !cov.v[i].anchor)
            p->moved[p->nmoved++] = cov.v[i].e;
        /* an id created again: the API lists an id once, so its member
         * of E left its place, wherever that was, like a member seen
         * elsewhere (counted in its stretch, a job that took that place
         * shows as one too many). It cannot be seen itself: one entry
         * at two places is not a consistent round. */
        uint32_t old = cov.v[i].e == IDX_NONE ? earlier_birth(r, &cov.v[i].m) : IDX_NONE;
        if (old != IDX_NONE)
            p->moved[p->nmoved++] = old;
    }
    qsort(p->moved, p->nmoved, sizeof *p->moved, cmp_u32);
    /* what is neither an anchor nor at the newest end entered between
     * known jobs: a job finishing into a status view; in jobs/, where new
     * jobs appear at the newest end only, a broken assumption */
    size_t created = 0, entered = 0;
    for (size_t i = 0; i < cov.n; i++) {
        if (cov.v[i].anchor)
            continue;
        if (cov.v[i].pos < first_anchor)
            created++;
        else
            entered++;
    }
    if (entered && !r->c->moves_in) {
        snprintf(r->w->why, sizeof r->w->why, "a job appeared between known ones");
        verdict = P_GIVEUP;
        goto out;
    }
    p->segs.n = 0;
    if ((rc = segments(r, cov.v, cov.n, p)) != 0)
        goto out;
    p->starts.n = 0;
    long deleted = (long)p->nmoved;
    for (size_t k = 0; k < p->segs.n; k++) {
        const struct seg *s = &p->segs.v[k];
        if (s->uncovered == 0) {
            deleted += s->cand;
        } else if (s->uncovered != s->cand || s->runs != 1 || s->ea < 0) {
            /* (before the first anchor, where new jobs enter, nothing is
             * taken on trust: an id created again shows there too, and
             * can look like an anchor until more is read) */
            long at = probe_at(r, s, cov.v);
            if (at < 0 || vec_push(&p->starts, at)) {
                rc = at < 0 ? 0 : -ENOMEM;
                if (at < 0) {
                    snprintf(r->w->why, sizeof r->w->why, "nothing left to read in a doubtful stretch");
                    verdict = P_GIVEUP;
                }
                goto out;
            }
        } else if (r->c->recheck || watched(r, s)) {
            /* trusted: E's members fill the run in order; those that may
             * have changed and the places jobs may have entered are read
             * where they stand */
            if ((rc = plan_in_run(r, s, p)) != 0)
                goto out;
        }
    }
    if (p->starts.n) {
        verdict = P_READ;
        goto out;
    }
    /* the listing: covered positions as seen, trusted runs from E */
    struct listing *l = listing_new((size_t)r->T);
    if (!l) {
        rc = -ENOMEM;
        goto out;
    }
    l->total = r->T;
    long pos = 0;
    for (size_t k = 0; k < p->segs.n; k++) {
        const struct seg *s = &p->segs.v[k];
        long e = s->ea + 1;
        for (size_t c = s->ca; c <= s->cb; c++) {
            long next = c < s->cb ? cov.v[c].pos : s->pb;
            for (; pos < next && s->uncovered; pos++) { /* a trusted run */
                while (is_moved(p, (uint32_t)e))
                    e++;
                l->m[pos] = latest_of(r, (uint32_t)e++);
            }
            pos = next;
            if (c < s->cb)
                l->m[pos++] = cov.v[c].m;
        }
        if (k + 1 < p->segs.n) /* the anchor closing this segment */
            l->m[pos++] = cov.v[s->cb].m;
    }
    int twice = lists_twice(l);
    if (twice) {
        listing_unref(l);
        if (twice > 0) {
            snprintf(r->w->why, sizeof r->w->why, "a job would be listed twice");
            verdict = P_GIVEUP;
        } else {
            rc = twice;
        }
        goto out;
    }
    r->rep->created = created;
    r->rep->entered = entered;
    r->rep->deleted = (size_t)deleted;
    *out = l;
out:
    free(p->moved);
    p->moved = NULL;
    vec_free(&cov);
    return rc ? rc : verdict;
}


int align(struct recon *r, struct longs *starts, struct listing **out)
{
    struct plan p = {.starts = *starts};
    p.starts.n = 0;
    int rc = process(r, &p, out);
    *starts = p.starts;
    vec_free(&p.segs);
    return rc;
}
