#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "stats.h"
#include "tree.h"

#define LONG_TIMEOUT 86400.0

static struct fs_ctx *ctx(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- attributes ---- */

static void fill_dir(struct fs_ctx *f, struct stat *st, uint64_t ino, struct timespec mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_uid = f->uid;
    st->st_gid = f->gid;
    st->st_size = 4096;
    st->st_blksize = 4096;
    st->st_mtim = st->st_ctim = st->st_atim = mtime;
}

static void fill_file(struct fs_ctx *f, struct stat *st, uint64_t ino, mode_t mode, size_t size,
                      time_t mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFREG | mode;
    st->st_nlink = 1;
    st->st_uid = f->uid;
    st->st_gid = f->gid;
    st->st_size = (off_t)size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

static struct timespec ts(time_t t)
{
    return (struct timespec){.tv_sec = t};
}

static int group_kind_of(const struct node *n)
{
    return n->kind == NK_BYDOMAIN ? GROUP_DOMAIN : GROUP_DATE;
}

/* A job's directory: its times are the job's (completed_at, else created_at). */
static int jobdir_attr(struct fs_ctx *f, const struct node *n, bool refresh, struct stat *st,
                       double *timeout)
{
    struct cache_rec r;
    double fresh;
    int rc = cache_job(f->cache, (uint32_t)n->seq, refresh, &r, &fresh, NULL);
    if (rc)
        return rc;
    fill_dir(f, st, tree_ino(n), ts(r.meta.mtime));
    *timeout = r.meta.final ? LONG_TIMEOUT : fresh;
    return 0;
}

/* Attributes of any node but a versioned file (job file, stats document),
 * whose inodes come from job_file_entry() and stats_entry(). */
static int node_attr(struct fs_ctx *f, const struct node *n, bool refresh, struct stat *st,
                     double *timeout)
{
    uint64_t ino = tree_ino(n);
    struct view_info vi;
    int rc;
    switch (n->kind) {
    case NK_ROOT:
    case NK_BYSTATUS:
    case NK_CTL:
        fill_dir(f, st, ino, ts(f->started));
        *timeout = LONG_TIMEOUT;
        return 0;
    case NK_BYDOMAIN:
    case NK_BYDATE:
    case NK_JOBS:
    case NK_STATUS:
    case NK_GROUP:
        rc = cache_view_info(f->cache, tree_is_listing(n) ? n->view : VIEW_ALL, refresh, &vi);
        if (rc == 0) {
            fill_dir(f, st, ino, vi.mtime);
            *timeout = vi.fresh_s;
        }
        return rc;
    case NK_JOBDIR:
        return jobdir_attr(f, n, refresh, st, timeout);
    default:
        return -ENOENT;
    }
}

/* ---- versioned files: one inode per version of the content ---- */

static _Atomic uint64_t stats_docs;

/* A new .scrapefs/stats document under a new inode: "fresh at every open",
 * since every open looks the name up (entry timeout 0) and gets a new one. */
static int stats_entry(struct fs_ctx *f, struct fuse_entry_param *e)
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
    fill_file(f, &e->attr, e->ino, 0444, len, time(NULL));
    e->attr_timeout = LONG_TIMEOUT;
    e->entry_timeout = 0;
    return rc;
}

/* The entry of one of a job's files, for lookup (refresh: an unfinished job
 * older than ttl is fetched again) and readdirplus. Its inode carries the
 * content's version, so the kernel may cache it for good; an unfinished
 * job's version is pinned until the kernel forgets the inode, while the
 * name moves on to newer versions after ttl. */
static int job_file_entry(struct fs_ctx *f, uint64_t seq, int slot, int file, bool refresh,
                          struct fuse_entry_param *e)
{
    struct cache_rec r;
    struct job *j = NULL;
    double fresh;
    int rc = cache_job(f->cache, (uint32_t)seq, refresh, &r, &fresh, &j);
    if (rc)
        return rc;
    struct node n = {.kind = NK_JOBFILE, .view = slot, .file = file, .seq = seq,
                     .version = r.meta.version};
    e->ino = tree_ino(&n);
    e->attr_timeout = LONG_TIMEOUT;
    if (j) {
        rc = pins_add(f->pins, e->ino, (struct pinned){.job = j});
        fill_file(f, &e->attr, e->ino, 0444, j->size[file], j->mtime);
        e->entry_timeout = fresh;
        job_unref(j);
    } else {
        fill_file(f, &e->attr, e->ino, 0444, r.meta.size[file], r.meta.mtime);
        e->entry_timeout = LONG_TIMEOUT;
    }
    return rc;
}

/* The entry of view v's .jsonl: the snapshot of the view as it is now
 * (refresh: a stale listing is fetched again first), under the inode of
 * its version, pinned until the kernel forgets it. The name is as fresh as
 * the listing; a refresh (SIGHUP) makes the kernel ask again. */
static int jsonl_entry(struct fs_ctx *f, uint64_t parent, const char *name, int v, bool refresh,
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
    fill_file(f, &e->attr, e->ino, 0444, s->size, s->mtime);
    e->attr_timeout = LONG_TIMEOUT;
    e->entry_timeout = vi.fresh_s;
    notify_name(f->notify, parent, name, vi.fresh_s);
    jsonl_unref(s);
    return rc;
}

/* What a versioned file inode shows: its pinned content, or the job's
 * current text when that is still the version the inode names. */
static int file_content(struct fs_ctx *f, const struct node *n, uint64_t ino, struct pinned *out)
{
    if (pins_get(f->pins, ino, out) == 0)
        return 0;
    if (n->kind != NK_JOBFILE)
        return -ENOENT;
    return cache_job_version(f->cache, (uint32_t)n->seq, n->version, &out->job);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* names and attributes in one go where they are wanted: the kernel
     * starts each listing with readdirplus and goes on with it once the
     * names are looked at (ls -l, find -type), plain readdir otherwise
     * (plain ls of a million jobs then makes no million inodes) */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    /* No OPEN or OPENDIR upcalls: the kernel then keeps pages and listings
     * cached (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR), which is right because a
     * file inode's content never changes and a listing directory's mtime
     * moves whenever its members do (auto_inval_data makes the kernel check
     * it once the attributes are older than what is left of ttl). */
    if (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
        conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
    if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)
        conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
    if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
        conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
    /* lookups and readdirs in one directory may run at once: one waiting on
     * a slow API must not hold up the others (they are thread-safe) */
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    /* O_TRUNC then comes as a SETATTR we can refuse (with no OPEN, it would
     * otherwise go unseen) */
    conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs_ctx *f = ctx(req);
    struct node n;
    struct stat st;
    double timeout = LONG_TIMEOUT;
    int rc;
    if (!tree_decode(ino, &n)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n.kind == NK_JOBFILE || n.kind == NK_STATS || n.kind == NK_JSONL) {
        struct pinned w;
        rc = file_content(f, &n, ino, &w);
        if (rc == 0 && w.job)
            fill_file(f, &st, ino, 0444, w.job->size[n.file], w.job->mtime);
        else if (rc == 0 && w.jsonl)
            fill_file(f, &st, ino, 0444, w.jsonl->size, w.jsonl->mtime);
        else if (rc == 0)
            fill_file(f, &st, ino, 0444, w.blob->len, f->started);
        pinned_unref(&w);
    } else {
        rc = node_attr(f, &n, true, &st, &timeout);
    }
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void reply_negative(fuse_req_t req, double timeout)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = 0; /* a negative entry: the kernel remembers the name is absent */
    e.entry_timeout = timeout;
    fuse_reply_entry(req, &e);
}

/* The slot of the job directories listed in directory p. */
static int slot_of(struct fs_ctx *f, const struct node *p)
{
    if (p->kind != NK_GROUP)
        return p->view;
    return cache_view_kind(f->cache, p->view) == GROUP_DOMAIN ? SLOT_DOMAIN : SLOT_DATE;
}

/* Resolves name in directory p into e; -ENOENT with *neg_timeout set when
 * the kernel may remember that it is absent. */
static int resolve(struct fs_ctx *f, uint64_t parent, const struct node *p, const char *name,
                   bool refresh, struct fuse_entry_param *e, double *neg_timeout)
{
    struct node n;
    int rc;
    *neg_timeout = LONG_TIMEOUT;
    const struct tree_fixed *fx = tree_fixed_child(parent, name);
    if (fx) {
        tree_decode(fx->ino, &n);
        if (n.kind == NK_STATS)
            return stats_entry(f, e);
        if (n.kind == NK_JSONL)
            return jsonl_entry(f, parent, name, n.view, refresh, e);
        e->ino = fx->ino;
        e->entry_timeout = LONG_TIMEOUT;
        return node_attr(f, &n, false, &e->attr, &e->attr_timeout);
    }
    if (p->kind == NK_BYDOMAIN || p->kind == NK_BYDATE) {
        int v;
        struct view_info vi = {.fresh_s = 0};
        /* a group's directory never ends in .jsonl (names.h): a name that
         * does is the file of the group without it */
        char group[NAME_MAX_BYTES + 1];
        size_t nl = strlen(name);
        bool jsonl = nl > 6 && strcmp(name + nl - 6, ".jsonl") == 0;
        snprintf(group, sizeof group, "%.*s", (int)(jsonl ? nl - 6 : nl), name);
        rc = cache_group_find(f->cache, group_kind_of(p), group, &v);
        if (rc == 0 && jsonl)
            return jsonl_entry(f, parent, name, v, refresh, e);
        cache_view_info(f->cache, VIEW_ALL, false, &vi);
        *neg_timeout = vi.fresh_s;
        if (rc)
            return rc;
        n = (struct node){.kind = NK_GROUP, .view = v};
        e->ino = tree_ino(&n);
        e->entry_timeout = vi.fresh_s;
        return node_attr(f, &n, false, &e->attr, &e->attr_timeout);
    }
    if (tree_is_listing(p)) {
        char id[NAME_MAX_BYTES + 1];
        int len = names_decode(name, id);
        struct cache_rec r;
        double fresh = 0;
        /* names that can never be ids (the .git and .swp probes of shells
         * and editors) cost nothing */
        if (names_is_probe(name)) {
            *neg_timeout = f->ttl;
            return -ENOENT;
        }
        rc = len < 0 ? -ENOENT : cache_lookup(f->cache, p->view, id, (size_t)len, &r, &fresh);
        *neg_timeout = fresh;
        if (rc)
            return rc;
        n = (struct node){.kind = NK_JOBDIR, .view = slot_of(f, p), .seq = r.seq};
        fill_dir(f, &e->attr, tree_ino(&n), ts(r.meta.mtime));
        e->ino = tree_ino(&n);
        e->attr_timeout = r.meta.final ? LONG_TIMEOUT : fresh;
        e->entry_timeout = fresh; /* membership is as fresh as the listing */
        return 0;
    }
    if (p->kind == NK_JOBDIR) {
        for (int i = 0; i < JOB_NFILES; i++)
            if (strcmp(name, job_file_names[i]) == 0)
                return job_file_entry(f, p->seq, p->view, i, refresh, e);
    }
    return -ENOENT;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct node p;
    struct fuse_entry_param e;
    double neg;
    memset(&e, 0, sizeof e);
    if (!tree_decode(parent, &p)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    int rc = resolve(ctx(req), parent, &p, name, true, &e, &neg);
    if (rc == -ENOENT) {
        notify_name(ctx(req)->notify, parent, name, neg);
        reply_negative(req, neg);
    }
    else if (rc)
        fuse_reply_err(req, -rc);
    else if (fuse_reply_entry(req, &e) != 0 && (e.ino >> 62) != 0)
        pins_forget(ctx(req)->pins, e.ino, 1); /* the kernel never got it */
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    pins_forget(ctx(req)->pins, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        pins_forget(ctx(req)->pins, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* ---- directories: no handles, each readdir call stands alone ---- */

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
    if (tree_is_listing(&d->self))
        /* the start of a listing is a use: a stale one is fetched again */
        return cache_view_window(f->cache, d->self.view, pos == 0, d->jobs_from, d->jobs,
                                 DIR_WINDOW, &d->njobs, &d->info);
    if (d->self.kind == NK_BYDOMAIN || d->self.kind == NK_BYDATE) {
        int rc = cache_groups_list(f->cache, group_kind_of(&d->self), &d->groups);
        if (rc == 0)
            rc = cache_view_info(f->cache, VIEW_ALL, false, &d->info);
        return rc;
    }
    return 0;
}

/* The name and node at position pos, and its record when it is a job of
 * the listing; false past the end. */
static bool page_item(struct fs_ctx *f, struct dir_page *d, size_t pos, char *name,
                      struct node *n, uint64_t *ino, const struct cache_rec **rec)
{
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
        *n = (struct node){.kind = NK_JOBDIR, .view = slot_of(f, &d->self), .seq = (*rec)->seq};
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
        return stats_entry(f, e);
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
        fill_dir(f, &e->attr, e->ino, ts(rec->meta.mtime));
        e->attr_timeout = rec->meta.final ? LONG_TIMEOUT : d->info.fresh_s;
    } else {
        rc = node_attr(f, n, false, &e->attr, &e->attr_timeout);
    }
    /* names in a listing (or a list of groups) are as fresh as the listing */
    e->entry_timeout = d->info.fresh_s;
    return rc;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    struct fs_ctx *f = ctx(req);
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
        char name[NAME_MAX_BYTES + 1];
        struct node n;
        uint64_t cino;
        const struct cache_rec *rec;
        if (!page_item(f, d, pos, name, &n, &cino, &rec))
            break;
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
            if (job_file_entry(f, n.seq, n.view, n.file, false, &e) != 0)
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

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, true);
}

/* ---- reading ---- */

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    struct fs_ctx *f = ctx(req);
    struct node n;
    if (!tree_decode(ino, &n)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct pinned w;
    int rc = file_content(f, &n, ino, &w);
    if (rc) {
        /* the version this inode names is gone: never show another one */
        fuse_reply_err(req, rc == -ESTALE ? EIO : -rc);
        return;
    }
    struct job *j = w.job;
    struct blob *b = w.blob;
    size_t len = j ? j->size[n.file] : b ? b->len : 0;
    if (w.jsonl) {
        /* a view's lines, as the snapshot names them */
        struct buf out = {0};
        rc = off < 0 ? -EINVAL : cache_jsonl_read(f->cache, w.jsonl, (uint64_t)off, size, &out);
        if (rc)
            fuse_reply_err(req, rc == -ESTALE ? EIO : -rc);
        else
            fuse_reply_buf(req, out.p, out.len);
        buf_free(&out);
    } else if (off < 0 || (size_t)off >= len) {
        fuse_reply_buf(req, NULL, 0);
    } else if (b) {
        fuse_reply_buf(req, b->data + off, len - (size_t)off < size ? len - (size_t)off : size);
    } else {
        /* a job's file is rendered from its text when read; the kernel keeps
         * the pages, so this happens about once per file */
        struct buf out = {0};
        job_render(j, n.file, &out);
        if (out.oom || out.len != len)
            fuse_reply_err(req, out.oom ? ENOMEM : EIO);
        else
            fuse_reply_buf(req, out.p + off, len - (size_t)off < size ? len - (size_t)off : size);
        buf_free(&out);
    }
    pinned_unref(&w);
}

/* ---- extended attributes ---- */

static const char *const xattr_names[] = {"user.xdg.origin.url", "user.scrapefs.job_id",
                                          "user.scrapefs.status", "user.scrapefs.created_at",
                                          "user.scrapefs.completed_at"};
#define NXATTR 5

/* The job whose attributes ino shows: the pinned version for a file. */
static int xattr_job(struct fs_ctx *f, fuse_ino_t ino, struct job **out)
{
    struct node n;
    struct pinned w;
    if (!tree_decode(ino, &n))
        return -ENOENT;
    if (n.kind != NK_JOBDIR && n.kind != NK_JOBFILE)
        return -ENODATA;
    if (n.kind == NK_JOBFILE && pins_get(f->pins, ino, &w) == 0) {
        *out = w.job;
        w.job = NULL;
        pinned_unref(&w);
        return *out ? 0 : -ENODATA;
    }
    struct cache_rec r;
    double fresh;
    int rc = cache_job(f->cache, (uint32_t)n.seq, false, &r, &fresh, NULL);
    return rc ? rc : cache_job_version(f->cache, r.seq, r.meta.version, out);
}

/* Appends attribute i of a job; false when the job has none. */
static bool xattr_value(const struct job *j, int i, struct buf *out)
{
    static const enum page_field fields[NXATTR] = {PF_URL, PF_JOB_ID, PF_STATUS, PF_CREATED_AT,
                                                   PF_COMPLETED_AT};
    if (i == 1) {
        buf_put(out, j->id, j->id_len);
        return true;
    }
    return job_string(j, fields[i], out);
}

static void reply_xattr_data(fuse_req_t req, const char *data, size_t len, size_t size)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, data, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct job *j;
    /* ls -l asks every entry for security.selinux and the POSIX ACLs. Only
     * user.* is supported here, and "not supported" (not "no such
     * attribute") is what makes ls stop asking for the rest of the device:
     * at 50,000 entries those three upcalls each were most of an ls -l. */
    if (strncmp(name, "user.", 5) != 0) {
        fuse_reply_err(req, EOPNOTSUPP);
        return;
    }
    int rc = xattr_job(ctx(req), ino, &j);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    for (int i = 0; i < NXATTR; i++) {
        struct buf v = {0};
        if (strcmp(name, xattr_names[i]) == 0 && xattr_value(j, i, &v)) {
            if (v.oom)
                fuse_reply_err(req, ENOMEM);
            else
                reply_xattr_data(req, v.p ? v.p : "", v.len, size);
            buf_free(&v);
            job_unref(j);
            return;
        }
        buf_free(&v);
    }
    job_unref(j);
    fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct job *j;
    int rc = xattr_job(ctx(req), ino, &j);
    if (rc == -ENODATA) {
        reply_xattr_data(req, "", 0, size);
        return;
    }
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    char list[256];
    size_t len = 0;
    for (int i = 0; i < NXATTR; i++) {
        struct buf v = {0};
        bool has = xattr_value(j, i, &v);
        buf_free(&v);
        if (has) {
            size_t nl = strlen(xattr_names[i]) + 1;
            memcpy(list + len, xattr_names[i], nl);
            len += nl;
        }
    }
    job_unref(j);
    reply_xattr_data(req, list, len, size);
}

/* ---- everything that would change the tree ---- */

/* The mount is read-only at the kernel, which refuses every write path
 * before asking: these answer for completeness (and for a mount whose
 * options were overridden). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)ino, (void)attr, (void)to_set, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino, (void)buf, (void)size, (void)off, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)parent, (void)name, (void)mode, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    memset(&sv, 0, sizeof sv);
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_namemax = NAME_MAX_BYTES;
    sv.f_flag = ST_NOSUID | ST_NODEV;
    fuse_reply_statfs(req, &sv);
}

/* The kernel stops sending OPEN (OPENDIR) after the first ENOSYS and then
 * keeps every file's pages (every directory's listing) cached: see op_init.
 * (libfuse 3.14 answers success itself when these are not set.) */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS);
}

const struct fuse_lowlevel_ops fs_ops = {
    .open = op_open,
    .opendir = op_opendir,
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .read = op_read,
    .write = op_write,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = op_create,
};
