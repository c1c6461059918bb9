/* The index of E (recon.h): which position a member had. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "recon.h"

uint64_t member_key(const struct member *m)
{
    return m->seq ? m->seq | (uint64_t)m->birth << 32 : (m->key | (1ULL << 63));
}

static size_t slot_of(uint64_t k, size_t cap)
{
    k ^= k >> 33; /* splitmix64's finaliser: seqs are dense, digests anything */
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

int eindex_init(struct eindex *x, size_t n)
{
    x->cap = 16;
    while (x->cap < n * 2)
        x->cap *= 2;
    x->keys = calloc(x->cap, sizeof *x->keys);
    x->vals = malloc(x->cap * sizeof *x->vals);
    return x->keys && x->vals ? 0 : -ENOMEM;
}

void eindex_free(struct eindex *x)
{
    free(x->keys);
    free(x->vals);
    memset(x, 0, sizeof *x);
}

void eindex_put(struct eindex *x, uint64_t k, uint32_t v)
{
    for (size_t i = slot_of(k, x->cap);; i = (i + 1) & (x->cap - 1)) {
        if (x->keys[i] == 0) {
            x->keys[i] = k;
            x->vals[i] = v;
            return;
        }
        if (x->keys[i] == k) {
            x->vals[i] = IDX_AMBIG;
            return;
        }
    }
}

uint32_t eindex_get(const struct eindex *x, uint64_t k)
{
    for (size_t i = slot_of(k, x->cap);; i = (i + 1) & (x->cap - 1)) {
        if (x->keys[i] == 0)
            return IDX_NONE;
        if (x->keys[i] == k)
            return x->vals[i] == IDX_AMBIG ? IDX_NONE : x->vals[i];
    }
}

