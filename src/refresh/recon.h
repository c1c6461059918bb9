/* The cheap refresh's state and its parts, shared by src/refresh/
 * eindex.c (E's index), observe.c (reading windows), align.c (aligning
 * them with E) and reconcile.c (rounds). reconcile.c's opening comment
 * says how it works; doc/design.md ("Refreshes") why. */
#ifndef SCRAPEFS_REFRESH_RECON_H
#define SCRAPEFS_REFRESH_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A window in nf positions. */
struct obs {
    long start;       /* the nf position of m[0] */
    long api_off;     /* the offset it was asked for at */
    long total;
    size_t n;
    struct member *m; /* nf order, owned */
};

/* ---- an index of E: which position a member had ---- */

#define IDX_NONE UINT32_MAX
#define IDX_AMBIG (UINT32_MAX - 1)

/* Open addressing over 64-bit keys: a job by its seq and birth, an
 * element that cannot be shown by its digest with the top bit set (seq and
 * birth take 48 bits); two such elements with the same text are ambiguous
 * and never match. */
struct eindex {
    uint64_t *keys; /* 0: empty */
    uint32_t *vals;
    size_t cap;
};

uint64_t member_key(const struct member *m);
int eindex_init(struct eindex *x, size_t n);
void eindex_free(struct eindex *x);
void eindex_put(struct eindex *x, uint64_t k, uint32_t v);
uint32_t eindex_get(const struct eindex *x, uint64_t k);

/* The state of one cheap refresh. */
struct recon {
    struct walk *w;
    const struct cheap *c;
    long ps;
    size_t n;
    const struct member *E;   /* nf order */
    struct member *ebuf;      /* E reversed, when the API lists oldest first */
    struct eindex idx;
    uint64_t *observed;       /* bit i: E[i] was in a window of this refresh */
    uint32_t *nonfinal;       /* E indices of the members that may change, ascending */
    size_t nnonfinal;
    uint32_t *watch;          /* gaps to see (before E[g], nf), ascending */
    size_t nwatch;
    struct eindex latest;     /* E index + 1 -> its member as last seen */
    VEC(struct member) seen;
    VEC(struct obs) obs;      /* the round's windows, S first */
    size_t s_windows;         /* how many windows S took (reading on past new jobs) */
    long T;                   /* the round's total */
    long t_est;               /* the total to place the next read by */
    bool end_probed;
    long full_cost;           /* what reading in full would cost */
    struct cheap_report *rep;
};

VEC_NAMED(longs, long);

/* What a step of a round comes to: the listing; more to read; start the
 * round again (the list changed under it); the closing read showed a
 * change, and starts the next round; or read in full. */
enum { P_DONE, P_READ, P_RESTART, P_NEXT, P_GIVEUP };

/* observe.c */
void obs_free(struct obs *o);
void round_clear(struct recon *r);
bool is_observed(const struct recon *r, uint32_t e);
struct member latest_of(const struct recon *r, uint32_t e);
long margin_of(const struct recon *r);
int read_offsets(struct recon *r, long *offs, size_t n, struct obs *out, size_t *got);
int read_windows(struct recon *r, const long *starts, size_t n, long ahead, struct obs *out,
                 size_t *got);
bool over_budget(struct recon *r, size_t more);
int read_window_at(struct recon *r, long start, struct obs *o);
int read_again(struct recon *r, long off, struct obs *o);
bool has_known(const struct recon *r, const struct obs *o);
int read_newest(struct recon *r);

/* align.c: what the round's windows say (P_DONE with the listing, P_READ
 * with where to read next, P_RESTART or P_GIVEUP). */
int align(struct recon *r, struct longs *starts, struct listing **out);
size_t first_nonfinal(const struct recon *r, long e);
/* The first watched gap >= g. */
size_t first_watch(const struct recon *r, long g);

#endif
