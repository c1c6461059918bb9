/* What a node of the tree is to the kernel: the attributes of directories
 * and files, and the entries of versioned files (a job's files, a view's
 * .jsonl, a stats document), whose inode names one version of the content
 * and pins it until the kernel forgets the inode (pins.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"
#include "jsonl.h"
#include "stats.h"

struct fs_ctx *fs_ctx_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- attributes ---- */

/* What tmpfs reports for a directory: 40 bytes, and 20 an entry. */
#define DIR_BASE 40
#define DIR_ENTRY 20

void fs_fill_dir(struct fs_ctx *f, struct stat *st, uint64_t ino, const struct dir_attr *a)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = a->known ? (nlink_t)(2 + a->subdirs) : 1;
    st->st_uid = f->uid;
    st->st_gid = f->gid;
    st->st_size = a->known ? (off_t)(DIR_BASE + DIR_ENTRY * a->entries) : 0;
    st->st_blksize = 4096;
    st->st_mtim = st->st_ctim = st->st_atim = a->mtime;
}

void fs_fill_file(struct fs_ctx *f, struct stat *st, uint64_t ino, size_t size, time_t mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFREG | 0444;
    st->st_nlink = 1;
    st->st_uid = f->uid;
    st->st_gid = f->gid;
    st->st_size = (off_t)size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

struct dir_attr fs_job_dir(time_t mtime)
{
    return (struct dir_attr){.mtime = {.tv_sec = mtime}, .entries = JOB_NFILES, .known = true};
}

double fs_job_timeout(const struct job_meta *m, double fresh)
{
    return m->final ? LONG_TIMEOUT : fresh;
}

int fs_group_kind_of(const struct node *n)
{
    return n->kind == NK_BYDOMAIN ? GROUP_DOMAIN : GROUP_DATE;
}

int fs_slot_of(struct fs_ctx *f, const struct node *p)
{
    if (p->kind != NK_GROUP)
        return p->view;
    return cache_view_kind(f->cache, p->view) == GROUP_DOMAIN ? SLOT_DOMAIN : SLOT_DATE;
}

/* A directory of the fixed part of the tree: its children from the table. */
static struct dir_attr fixed_dir(const struct fs_ctx *f, uint64_t ino)
{
    struct dir_attr a = {.mtime = {.tv_sec = f->started}, .known = true};
    for (size_t i = 1; i < tree_fixed_count; i++)
        if (tree_fixed_nodes[i].parent == ino) {
            struct node n;
            tree_decode(tree_fixed_nodes[i].ino, &n);
            a.entries++;
            a.subdirs += tree_is_dir(&n);
        }
    return a;
}

int fs_node_attr(struct fs_ctx *f, const struct node *n, bool refresh, struct stat *st,
                 double *timeout)
{
    uint64_t ino = tree_ino(n);
    struct view_info vi;
    struct cache_rec r;
    struct dir_attr a;
    double fresh;
    int rc;
    switch (n->kind) {
    case NK_ROOT:
    case NK_BYSTATUS:
    case NK_CTL:
        a = fixed_dir(f, ino);
        fs_fill_dir(f, st, ino, &a);
        *timeout = LONG_TIMEOUT;
        return 0;
    case NK_BYDOMAIN:
    case NK_BYDATE:
        /* a directory and a .jsonl per group */
        rc = cache_view_info(f->cache, VIEW_ALL, refresh, &vi);
        if (rc == 0) {
            size_t groups = cache_group_dirs(f->cache, fs_group_kind_of(n));
            a = (struct dir_attr){.mtime = vi.mtime, .entries = 2 * groups, .subdirs = groups,
                                  .known = vi.known};
            fs_fill_dir(f, st, ino, &a);
            *timeout = vi.fresh_s;
        }
        return rc;
    case NK_JOBS:
    case NK_STATUS:
    case NK_GROUP:
        /* a directory per job; jobs/ has the by-* directories too */
        rc = cache_view_info(f->cache, n->view, refresh, &vi);
        if (rc == 0) {
            a = fixed_dir(f, ino);
            a.mtime = vi.mtime;
            a.entries += vi.jobs;
            a.subdirs += vi.jobs;
            a.known = vi.known;
            fs_fill_dir(f, st, ino, &a);
            *timeout = vi.fresh_s;
        }
        return rc;
    case NK_JOBDIR:
        rc = cache_job(f->cache, (uint32_t)n->seq, refresh, &r, &fresh, NULL);
        if (rc == 0) {
            a = fs_job_dir(r.meta.mtime);
            fs_fill_dir(f, st, ino, &a);
            *timeout = fs_job_timeout(&r.meta, fresh);
        }
        return rc;
    default:
        return -ENOENT;
    }
}

/* ---- versioned files: one inode per version of the content ---- */

static _Atomic uint64_t stats_docs;

/* A new .scrapefs/stats document under a new inode: "fresh at every open",
 * since every open looks the name up (entry timeout 0) and gets a new one. */
int fs_stats_entry(struct fs_ctx *f, struct fuse_entry_param *e)
{
    struct http_stats hs;
    struct cache_stats cs;
    size_t len = 0;
    http_get_stats(f->http, &hs);
    cache_get_stats(f->cache, &cs);
    pins_usage(f->pins, &cs.pinned_inodes, &cs.pinned_bytes);
    struct stats_about about = {.api_url = f->api_url, .pid = (long)getpid(),
                                .refreshes = notify_passes(f->notify)};
    char *text = stats_render(&hs, &cs, &about, &len);
    struct blob *b = text ? blob_new(text, len) : NULL;
    free(text);
    if (!b)
        return -ENOMEM;
    struct node n = {.kind = NK_STATS, .seq = atomic_fetch_add(&stats_docs, 1) + 1};
    e->ino = tree_ino(&n);
    int rc = pins_add(f->pins, e->ino, (struct pinned){.blob = b});
    blob_unref(b);
    fs_fill_file(f, &e->attr, e->ino, len, time(NULL));
    e->attr_timeout = LONG_TIMEOUT;
    e->entry_timeout = 0;
    return rc;
}

/* One of a job's files (refresh: an unfinished job older than ttl is
 * fetched again). Its inode carries the content's version, so the kernel
 * may cache it for good; an unfinished job's version is pinned until the
 * kernel forgets the inode, while the name moves on to newer versions after
 * ttl. `file` gives the job, its slot and which file (its version is set). */
int fs_job_file_entry(struct fs_ctx *f, const struct node *file, bool refresh,
                      struct fuse_entry_param *e)
{
    struct cache_rec r;
    struct job *j = NULL;
    double fresh;
    int rc = cache_job(f->cache, (uint32_t)file->seq, refresh, &r, &fresh, &j);
    if (rc)
        return rc;
    struct node n = *file;
    n.kind = NK_JOBFILE;
    n.version = r.meta.version;
    e->ino = tree_ino(&n);
    e->attr_timeout = LONG_TIMEOUT;
    if (j) {
        rc = pins_add(f->pins, e->ino, (struct pinned){.job = j});
        fs_fill_file(f, &e->attr, e->ino, j->size[n.file], j->mtime);
        e->entry_timeout = fresh;
        job_unref(j);
    } else {
        fs_fill_file(f, &e->attr, e->ino, r.meta.size[n.file], r.meta.mtime);
        e->entry_timeout = fs_job_timeout(&r.meta, fresh);
    }
    return rc;
}

/* View v's .jsonl: the snapshot of the view as it is now (refresh: a stale
 * listing is fetched again first), under the inode of its version, pinned
 * until the kernel forgets it. The name is as fresh as the listing; a
 * refresh (SIGHUP) makes the kernel ask again. */
int fs_jsonl_entry(struct fs_ctx *f, uint64_t parent, const char *name, int v, bool refresh,
                   struct fuse_entry_param *e)
{
    struct jsonl *s;
    struct view_info vi;
    int rc = cache_jsonl(f->cache, v, refresh, &s, &vi);
    if (rc)
        return rc;
    struct node n = {.kind = NK_JSONL, .view = v, .seq = s->version};
    e->ino = tree_ino(&n);
    rc = pins_add(f->pins, e->ino, (struct pinned){.jsonl = s});
    fs_fill_file(f, &e->attr, e->ino, s->size, s->mtime);
    e->attr_timeout = LONG_TIMEOUT;
    e->entry_timeout = vi.fresh_s;
    notify_name(f->notify, parent, name, vi.fresh_s);
    jsonl_unref(s);
    return rc;
}

int fs_file_content(struct fs_ctx *f, const struct node *n, uint64_t ino, struct pinned *out)
{
    if (pins_get(f->pins, ino, out) == 0)
        return 0;
    if (n->kind != NK_JOBFILE)
        return -ENOENT;
    return cache_job_version(f->cache, (uint32_t)n->seq, n->version, &out->job);
}
