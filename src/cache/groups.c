/* by-domain/ and by-date/ (groups.h): a registry of group names and the
 * group views, rebuilt from each jobs/ listing. */
#include "groups.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "vec.h"

struct groups {
    VEC(struct view *) views;          /* group view v is views.v[v - VIEW_COUNT] */
    _Atomic size_t count;              /* views.n, readable without the lock */
    struct idmap names[GROUP_NKINDS];  /* name -> view number */
};

int groups_new(struct groups **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void groups_free(struct groups *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->views.n; i++) {
        view_clear(g->views.v[i]);
        free(g->views.v[i]);
    }
    vec_free(&g->views);
    for (int k = 0; k < GROUP_NKINDS; k++)
        idmap_free(&g->names[k]);
    free(g);
}

uint32_t groups_assign_locked(struct groups *g, int kind, const char *name)
{
    size_t len = strlen(name);
    uintptr_t at = (uintptr_t)idmap_get(&g->names[kind], name, len);
    if (at)
        return (uint32_t)at;
    struct view *vw = malloc(sizeof *vw);
    if (!vw || vec_reserve(&g->views, g->views.n + 1)) {
        free(vw);
        return 0;
    }
    view_init(vw, kind);
    if (!(vw->name = strdup(name))) {
        free(vw);
        return 0;
    }
    uint32_t v = (uint32_t)(VIEW_COUNT + g->views.n);
    if (idmap_put(&g->names[kind], vw->name, len, (void *)(uintptr_t)v)) {
        view_clear(vw);
        free(vw);
        return 0;
    }
    g->views.v[g->views.n++] = vw;
    atomic_store(&g->count, g->views.n);
    return v;
}

struct view *groups_view_locked(struct groups *g, uint32_t v)
{
    return v >= VIEW_COUNT && v - VIEW_COUNT < g->views.n ? g->views.v[v - VIEW_COUNT] : NULL;
}

size_t groups_count(const struct groups *g)
{
    return atomic_load(&g->count);
}

int groups_build_begin_locked(struct groups *g, struct group_build *b)
{
    memset(b, 0, sizeof *b);
    b->n = g->views.n;
    b->old = calloc(b->n + 1, sizeof *b->old);
    b->mem = calloc(b->n + 1, sizeof *b->mem);
    b->changed = calloc(b->n + 1, sizeof *b->changed);
    if (!b->old || !b->mem || !b->changed) {
        groups_build_free(b);
        return -ENOMEM;
    }
    for (size_t i = 0; i < b->n; i++)
        b->old[i] = g->views.v[i]->mem.list ? listing_ref(g->views.v[i]->mem.list) : NULL;
    return 0;
}

int groups_build(struct group_build *b, const struct listing *all)
{
    size_t *count = calloc(b->n + 1, sizeof *count);
    struct listing **lists = calloc(b->n + 1, sizeof *lists);
    int rc = count && lists ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < all->n; i++)
        for (int k = 0; k < GROUP_NKINDS && all->m[i].seq; k++) {
            uint32_t v = all->m[i].group[k];
            if (v >= VIEW_COUNT && v - VIEW_COUNT < b->n)
                count[v - VIEW_COUNT]++;
        }
    for (size_t v = 0; rc == 0 && v < b->n; v++) {
        if (!(lists[v] = listing_new(count[v])))
            rc = -ENOMEM;
        count[v] = 0;
    }
    for (size_t i = 0; rc == 0 && i < all->n; i++)
        for (int k = 0; k < GROUP_NKINDS && all->m[i].seq; k++) {
            uint32_t v = all->m[i].group[k];
            if (v >= VIEW_COUNT && v - VIEW_COUNT < b->n)
                lists[v - VIEW_COUNT]->m[count[v - VIEW_COUNT]++] = all->m[i];
        }
    for (size_t v = 0; rc == 0 && v < b->n; v++) {
        rc = view_members_make(lists[v], false, &b->mem[v]);
        b->changed[v] = !listing_equal(b->old[v], lists[v]);
    }
    for (size_t v = 0; lists && v < b->n; v++)
        listing_unref(lists[v]);
    free(lists);
    free(count);
    return rc;
}

void groups_build_commit_locked(struct groups *g, struct group_build *b)
{
    for (size_t i = 0; i < b->n && i < g->views.n; i++) {
        struct view *vw = g->views.v[i];
        /* another build landed since this one began: compare with that */
        bool changed = vw->mem.list != b->old[i] ? true : b->changed[i];
        view_members_swap(vw, &b->mem[i], changed);
    }
}

void groups_build_free(struct group_build *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->old)
            listing_unref(b->old[i]);
        if (b->mem)
            view_members_free(&b->mem[i]);
    }
    free(b->old);
    free(b->mem);
    free(b->changed);
    memset(b, 0, sizeof *b);
}

uint32_t groups_find_locked(struct groups *g, int kind, const char *name)
{
    uint32_t v = (uint32_t)(uintptr_t)idmap_get(&g->names[kind], name, strlen(name));
    struct view *vw = groups_view_locked(g, v);
    return vw && vw->mem.shown > 0 ? v : 0;
}

int groups_list_locked(struct groups *g, int kind, struct group_list *out)
{
    memset(out, 0, sizeof *out);
    out->items = calloc(g->views.n ? g->views.n : 1, sizeof *out->items);
    if (!out->items)
        return -ENOMEM;
    for (size_t i = 0; i < g->views.n; i++) {
        struct view *vw = g->views.v[i];
        if (vw->kind != kind || vw->mem.shown == 0)
            continue;
        struct group_item *it = &out->items[out->n];
        if (!(it->name = strdup(vw->name)))
            return -ENOMEM;
        it->view = (int)(VIEW_COUNT + i);
        it->mtime = vw->mtime.tv_sec;
        out->n++;
    }
    return 0;
}

size_t groups_nonempty_locked(struct groups *g, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < g->views.n; i++)
        n += g->views.v[i]->kind == kind && g->views.v[i]->mem.shown > 0;
    return n;
}
