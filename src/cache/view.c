/* A view (view.h): members made and compared off the lock, swapped in
 * under it. */
#include "view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

void view_init(struct view *vw, int kind)
{
    memset(vw, 0, sizeof *vw);
    vw->kind = kind;
    clock_gettime(CLOCK_REALTIME, &vw->mtime);
}

void view_members_free(struct view_members *m)
{
    listing_unref(m->list);
    free(m->bits);
    free(m->bad_pos);
    memset(m, 0, sizeof *m);
}

void view_clear(struct view *vw)
{
    view_members_free(&vw->mem);
    jsonl_unref(vw->jsonl);
    free(vw->name);
    memset(vw, 0, sizeof *vw);
}

int view_members_make(struct listing *list, bool bits, struct view_members *out)
{
    memset(out, 0, sizeof *out);
    out->list = listing_ref(list);
    uint32_t maxseq = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (list->m[i].seq > maxseq)
            maxseq = list->m[i].seq;
        out->nbad += list->m[i].seq == 0;
    }
    out->shown = list->n - out->nbad;
    if (out->nbad && !(out->bad_pos = malloc(out->nbad * sizeof *out->bad_pos)))
        goto oom;
    if (bits) {
        out->words = maxseq / 64 + 1;
        if (!(out->bits = calloc(out->words, sizeof *out->bits)))
            goto oom;
    }
    size_t k = 0;
    for (size_t i = 0; i < list->n; i++) {
        uint32_t seq = list->m[i].seq;
        if (!seq)
            out->bad_pos[k++] = (uint32_t)i;
        else if (out->bits)
            out->bits[seq / 64] |= (uint64_t)1 << (seq % 64);
    }
    return 0;
oom:
    view_members_free(out);
    return -ENOMEM;
}

bool listing_equal(const struct listing *a, const struct listing *b)
{
    size_t na = a ? a->n : 0, nb = b ? b->n : 0;
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!member_same(&a->m[i], &b->m[i]))
            return false;
    return true;
}

void view_members_swap(struct view *vw, struct view_members *m, bool changed)
{
    struct view_members old = vw->mem;
    vw->mem = *m;
    *m = old;
    if (changed) {
        clock_gettime(CLOCK_REALTIME, &vw->mtime);
        vw->version++;
    }
}

bool view_has(const struct view *vw, uint32_t seq)
{
    size_t w = seq / 64;
    return w < vw->mem.words && (vw->mem.bits[w] >> (seq % 64) & 1u);
}

size_t view_position(const struct view *vw, size_t i)
{
    /* the bad ones are few: step over those before */
    size_t pos = i;
    for (size_t k = 0; k < vw->mem.nbad && vw->mem.bad_pos[k] <= pos; k++)
        pos++;
    return pos;
}
