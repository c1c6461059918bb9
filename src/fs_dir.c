/* Reading directories: no handles, each READDIR(PLUS) stands alone. A
 * directory's names are "." and "..", its fixed children (tree.c), then its
 * listing (jobs, groups, or a job's files), taken from the cache a window
 * at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"
#include "names.h"

/* The names of a directory at positions [pos, pos + max): "." and "..",
 * the fixed children, then the listing (jobs, groups, or a job's files). */
#define DIR_WINDOW 256
#define MAX_FIXED_CHILDREN 16 /* by-status has the most: 5 views and their .jsonl */
struct dir_page {
    struct node self;
    uint64_t ino;
    size_t nfixed;
    const struct tree_fixed *fixed[MAX_FIXED_CHILDREN];
    struct cache_rec jobs[DIR_WINDOW];
    size_t njobs, jobs_from;
    struct view_info info; /* of the listing (for groups: of all jobs) */
    struct group_list groups;
};

static uint64_t parent_of(struct fs_ctx *f, const struct node *n, uint64_t ino)
{
    switch (n->kind) {
    case NK_JOBDIR: {
        if (n->view < SLOT_DOMAIN)
            return n->view == VIEW_ALL ? INO_JOBS
                                       : tree_ino(&(struct node){.kind = NK_STATUS, .view = n->view});
        struct cache_rec r;
        double fresh;
        uint32_t g = 0;
        if (cache_job(f->cache, (uint32_t)n->seq, false, &r, &fresh, NULL) == 0)
            g = r.group[n->view == SLOT_DOMAIN ? GROUP_DOMAIN : GROUP_DATE];
        return g ? tree_ino(&(struct node){.kind = NK_GROUP, .view = (int)g}) : INO_JOBS;
    }
    case NK_GROUP:
        return cache_view_kind(f->cache, n->view) == GROUP_DOMAIN ? INO_BYDOMAIN : INO_BYDATE;
    default:
        for (size_t i = 0; i < tree_fixed_count; i++)
            if (tree_fixed_nodes[i].ino == ino)
                return tree_fixed_nodes[i].parent;
        return INO_ROOT;
    }
}

static int load_page(struct fs_ctx *f, struct dir_page *d, size_t pos)
{
    for (size_t i = 1; i < tree_fixed_count && d->nfixed < MAX_FIXED_CHILDREN; i++)
        if (tree_fixed_nodes[i].parent == d->ino)
            d->fixed[d->nfixed++] = &tree_fixed_nodes[i];
    size_t first = 2 + d->nfixed;
    d->jobs_from = pos > first ? pos - first : 0;
    d->info.fresh_s = LONG_TIMEOUT;
    if (tree_is_listing(&d->self)) {
        /* the start of a listing is a use: a stale one is fetched again */
        struct cache_recs recs = {.v = d->jobs, .max = DIR_WINDOW};
        int rc = cache_view_window(f->cache, d->self.view, pos == 0, d->jobs_from, &recs, &d->info);
        d->njobs = recs.n;
        return rc;
    }
    if (d->self.kind == NK_BYDOMAIN || d->self.kind == NK_BYDATE) {
        int rc = cache_groups_list(f->cache, fs_group_kind_of(&d->self), &d->groups);
        if (rc == 0)
            rc = cache_view_info(f->cache, VIEW_ALL, false, &d->info);
        return rc;
    }
    return 0;
}

/* One entry of a directory: its name, node and inode, and its record when
 * it is a job of the listing. */
struct dir_item {
    char name[NAME_MAX_BYTES + 1];
    struct node n;
    uint64_t ino;
    const struct cache_rec *rec;
};

/* The entry at position pos; false past the end. */
static bool page_item(struct fs_ctx *f, struct dir_page *d, size_t pos, struct dir_item *it)
{
    char *name = it->name;
    struct node *n = &it->n;
    uint64_t *ino = &it->ino;
    const struct cache_rec **rec = &it->rec;
    *rec = NULL;
    if (pos < 2) {
        strcpy(name, pos == 0 ? "." : "..");
        n->kind = NK_NONE;
        *ino = pos == 0 ? d->ino : parent_of(f, &d->self, d->ino);
        return true;
    }
    pos -= 2;
    if (pos < d->nfixed) {
        snprintf(name, NAME_MAX_BYTES + 1, "%s", d->fixed[pos]->name);
        *ino = d->fixed[pos]->ino;
        tree_decode(*ino, n);
        return true;
    }
    pos -= d->nfixed;
    if (d->self.kind == NK_JOBDIR) {
        if (pos >= JOB_NFILES)
            return false;
        strcpy(name, job_file_names[pos]);
        *n = (struct node){.kind = NK_JOBFILE, .view = d->self.view, .seq = d->self.seq,
                           .file = (int)pos};
    } else if (tree_is_listing(&d->self)) {
        if (pos < d->jobs_from || pos - d->jobs_from >= d->njobs)
            return false;
        *rec = &d->jobs[pos - d->jobs_from];
        if (names_encode((*rec)->id, (*rec)->id_len, name) < 0)
            name[0] = '\0';
        *n = (struct node){.kind = NK_JOBDIR, .view = fs_slot_of(f, &d->self), .seq = (*rec)->seq};
    } else if (pos < 2 * d->groups.n) {
        /* each group's directory, then its .jsonl */
        const struct group_item *g = &d->groups.items[pos / 2];
        snprintf(name, NAME_MAX_BYTES + 1, "%s%s", g->name, pos % 2 ? ".jsonl" : "");
        *n = (struct node){.kind = pos % 2 ? NK_JSONL : NK_GROUP, .view = g->view};
    } else {
        return false;
    }
    *ino = tree_ino(n);
    return true;
}

/* The entry of a child readdirplus already knows: no name to resolve, and
 * for a job of the listing no second trip to the cache. */
static int known_entry(struct fs_ctx *f, const struct dir_page *d, const struct node *n,
                       const struct cache_rec *rec, struct fuse_entry_param *e)
{
    int rc = 0;
    if (n->kind == NK_STATS)
        return fs_stats_entry(f, e);
    if (n->kind == NK_JSONL) {
        /* its size needs the view: rather than fetch it for an `ls -l` of
         * the parent, give no attributes; a stat looks the name up */
        e->ino = 0;
        e->attr.st_ino = tree_ino(n);
        e->attr.st_mode = S_IFREG | 0444;
        return 0;
    }
    e->ino = tree_ino(n);
    if (rec) {
        struct dir_attr a = fs_job_dir(rec->meta.mtime);
        fs_fill_dir(f, &e->attr, e->ino, &a);
        e->attr_timeout = fs_job_timeout(&rec->meta, d->info.fresh_s);
    } else {
        rc = fs_node_attr(f, n, false, &e->attr, &e->attr_timeout);
    }
    /* names in a listing (or a list of groups) are as fresh as the listing */
    e->entry_timeout = d->info.fresh_s;
    return rc;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    struct fs_ctx *f = fs_ctx_of(req);
    struct dir_page *d = calloc(1, sizeof *d);
    char *buf = malloc(size);
    int rc = 0;
    if (!d || !buf) {
        rc = -ENOMEM;
        goto out;
    }
    if (!tree_decode(ino, &d->self) || !tree_is_dir(&d->self)) {
        rc = -ENOTDIR;
        goto out;
    }
    d->ino = ino;
    if ((rc = load_page(f, d, (size_t)off)) != 0)
        goto out;
    size_t used = 0;
    for (size_t pos = (size_t)off;; pos++) {
        struct dir_item it;
        if (!page_item(f, d, pos, &it))
            break;
        const char *name = it.name;
        const struct node n = it.n;
        uint64_t cino = it.ino;
        const struct cache_rec *rec = it.rec;
        if (!name[0])
            continue;
        size_t need, rem = size - used;
        if (!plus) {
            struct stat st = {.st_ino = cino, .st_mode = tree_is_dir(&n) || n.kind == NK_NONE ? S_IFDIR : S_IFREG};
            need = fuse_add_direntry(req, buf + used, rem, name, &st, (off_t)pos + 1);
            if (need > rem)
                break;
            used += need;
            continue;
        }
        /* an entry handed out counts as a lookup: only make (and pin) it once
         * it is sure to fit */
        if (fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0) > rem)
            break;
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        if (n.kind == NK_NONE) {
            e.attr.st_ino = cino;
            e.attr.st_mode = S_IFDIR;
        } else if (n.kind == NK_JOBFILE) {
            if (fs_job_file_entry(f, &n, false, &e) != 0)
                continue;
        } else if (known_entry(f, d, &n, rec, &e) != 0) {
            continue;
        }
        used += fuse_add_direntry_plus(req, buf + used, rem, name, &e, (off_t)pos + 1);
    }
    group_list_free(&d->groups);
    fuse_reply_buf(req, buf, used);
    free(buf);
    free(d);
    return;
out:
    if (d)
        group_list_free(&d->groups);
    free(d);
    free(buf);
    fuse_reply_err(req, -rc);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, true);
}

