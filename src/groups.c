#include "groups.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "jsonl.h"

struct groups {
    struct view **views;                /* group view v is views[v - VIEW_COUNT] */
    size_t n, cap;
    struct idmap names[GROUP_NKINDS];   /* name -> view number */
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
    for (size_t i = 0; i < g->n; i++) {
        free(g->views[i]->items);
        free(g->views[i]->name);
        jsonl_unref(g->views[i]->jsonl);
        free(g->views[i]);
    }
    free(g->views);
    for (int k = 0; k < GROUP_NKINDS; k++)
        idmap_free(&g->names[k]);
    free(g);
}

uint32_t groups_assign(struct groups *g, int kind, const char *name)
{
    size_t len = strlen(name);
    uintptr_t at = (uintptr_t)idmap_get(&g->names[kind], name, len);
    if (at)
        return (uint32_t)at;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        struct view **nv = realloc(g->views, cap * sizeof *nv);
        if (!nv)
            return 0;
        g->views = nv;
        g->cap = cap;
    }
    struct view *vw = calloc(1, sizeof *vw);
    if (!vw || !(vw->name = strdup(name))) {
        free(vw);
        return 0;
    }
    vw->kind = kind;
    clock_gettime(CLOCK_REALTIME, &vw->mtime);
    uint32_t v = (uint32_t)(VIEW_COUNT + g->n);
    if (idmap_put(&g->names[kind], vw->name, len, (void *)(uintptr_t)v)) {
        free(vw->name);
        free(vw);
        return 0;
    }
    g->views[g->n++] = vw;
    return v;
}

struct view *groups_view(struct groups *g, uint32_t v)
{
    return v >= VIEW_COUNT && v - VIEW_COUNT < g->n ? g->views[v - VIEW_COUNT] : NULL;
}

void groups_rebuild(struct groups *g, struct entry *const *all, size_t n)
{
    size_t *count = calloc(g->n ? g->n : 1, sizeof *count);
    struct entry ***items = calloc(g->n ? g->n : 1, sizeof *items);
    if (!count || !items)
        goto out;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < GROUP_NKINDS; k++)
            if (groups_view(g, all[i]->group[k]))
                count[all[i]->group[k] - VIEW_COUNT]++;
    for (size_t v = 0; v < g->n; v++)
        if (count[v] && !(items[v] = malloc(count[v] * sizeof **items)))
            goto out;
    memset(count, 0, g->n * sizeof *count);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < GROUP_NKINDS; k++) {
            uint32_t v = all[i]->group[k];
            if (groups_view(g, v))
                items[v - VIEW_COUNT][count[v - VIEW_COUNT]++] = all[i];
        }
    for (size_t v = 0; v < g->n; v++) {
        view_set_members(g->views[v], items[v], count[v]);
        items[v] = NULL;
    }
out:
    for (size_t v = 0; items && v < g->n; v++)
        free(items[v]);
    free(items);
    free(count);
}

uint32_t groups_find(struct groups *g, int kind, const char *name)
{
    uint32_t v = (uint32_t)(uintptr_t)idmap_get(&g->names[kind], name, strlen(name));
    struct view *vw = groups_view(g, v);
    return vw && vw->n > 0 ? v : 0;
}

int groups_list(struct groups *g, int kind, struct group_list *out)
{
    memset(out, 0, sizeof *out);
    out->items = calloc(g->n ? g->n : 1, sizeof *out->items);
    if (!out->items)
        return -ENOMEM;
    for (size_t i = 0; i < g->n; i++) {
        struct view *vw = g->views[i];
        if (vw->kind != kind || vw->n == 0)
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

size_t groups_count(struct groups *g, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->views[i]->kind == kind && g->views[i]->n > 0;
    return n;
}
