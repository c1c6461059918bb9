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

#include "log.h"
#include "names.h"
#include "stats.h"
#include "tree.h"

#define LONG_TIMEOUT 86400.0

/* The last listing generation handed to the kernel per view: an opendir may
 * keep the kernel's cached readdir only while it is still the same. */
static _Atomic uint64_t kernel_gen[VIEW_COUNT];

static struct fs_ctx *ctx(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- attributes ---- */

static void fill_dir(struct fs_ctx *f, struct stat *st, uint64_t ino, time_t mtime)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
    st->st_uid = f->uid;
    st->st_gid = f->gid;
    st->st_size = 4096;
    st->st_blksize = 4096;
    st->st_mtime = st->st_ctime = st->st_atime = mtime;
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

static void fill_job(struct fs_ctx *f, struct stat *st, const struct node *n,
                     const struct job_meta *m)
{
    uint64_t ino = tree_ino(n);
    if (n->kind == NK_JOBDIR)
        fill_dir(f, st, ino, m->mtime);
    else
        fill_file(f, st, ino, 0444, m->size[n->file], m->mtime);
}

static char *stats_text(struct fs_ctx *f, size_t *len)
{
    struct http_stats hs;
    struct cache_stats cs;
    http_get_stats(f->http, &hs);
    cache_get_stats(f->cache, &cs);
    return stats_render(&hs, &cs, f->api_url, len);
}

/* Attributes of any node; *timeout receives how long the kernel may keep them. */
static int node_attr(struct fs_ctx *f, const struct node *n, struct stat *st, double *timeout)
{
    uint64_t ino = tree_ino(n);
    time_t mtime;
    double fresh;
    switch (n->kind) {
    case NK_ROOT:
    case NK_BYSTATUS:
    case NK_CTL:
        fill_dir(f, st, ino, f->started);
        *timeout = LONG_TIMEOUT;
        return 0;
    case NK_BYDOMAIN:
    case NK_BYDATE:
        cache_view_info(f->cache, VIEW_ALL, &mtime, &fresh);
        fill_dir(f, st, ino, mtime);
        *timeout = fresh;
        return 0;
    case NK_JOBS:
    case NK_STATUS:
    case NK_GROUP:
        cache_view_info(f->cache, n->view, &mtime, &fresh);
        fill_dir(f, st, ino, mtime);
        *timeout = fresh;
        return 0;
    case NK_STATS: {
        size_t len = 0;
        char *t = stats_text(f, &len);
        free(t);
        fill_file(f, st, ino, 0444, len, time(NULL));
        *timeout = 0;
        return 0;
    }
    case NK_REFRESH:
        fill_file(f, st, ino, 0644, 0, f->started);
        *timeout = LONG_TIMEOUT;
        return 0;
    case NK_JOBDIR:
    case NK_JOBFILE: {
        struct entry *e = cache_entry_by_seq(f->cache, n->seq);
        struct job_meta m;
        if (!e)
            return -ENOENT;
        int rc = cache_entry_meta(f->cache, e, &m, timeout);
        if (rc)
            return rc;
        fill_job(f, st, n, &m);
        return 0;
    }
    default:
        return -ENOENT;
    }
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* ls -l should get names and attributes in one go, always */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    /* Not wanted: with it every read asks for attributes again. Final jobs
     * never change, unfinished ones are read with direct_io, and listings
     * are re-read when opendir says so or their mtime moves. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct node n;
    struct stat st;
    double timeout;
    if (!tree_decode(ino, &n)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    int rc = node_attr(ctx(req), &n, &st, &timeout);
    if (rc)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

/* The slot of the job directories listed in directory p. */
static int slot_of(struct fs_ctx *f, const struct node *p)
{
    if (p->kind != NK_GROUP)
        return p->view;
    return cache_view_kind(f->cache, p->view) == GROUP_DOMAIN ? SLOT_DOMAIN : SLOT_DATE;
}

static void reply_negative(fuse_req_t req, double timeout)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = 0; /* a negative entry: the kernel remembers the name is absent */
    e.entry_timeout = timeout;
    fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs_ctx *f = ctx(req);
    struct node p, n;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    if (!tree_decode(parent, &p)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    const struct tree_fixed *fx = tree_fixed_child(parent, name);
    if (fx) {
        tree_decode(fx->ino, &n);
        int rc = node_attr(f, &n, &e.attr, &e.attr_timeout);
        if (rc) {
            fuse_reply_err(req, -rc);
            return;
        }
        e.ino = fx->ino;
        e.entry_timeout = LONG_TIMEOUT;
        fuse_reply_entry(req, &e);
        return;
    }
    if (p.kind == NK_BYDOMAIN || p.kind == NK_BYDATE) {
        int v;
        double fresh;
        time_t mt;
        int rc = cache_group_find(f->cache, p.kind == NK_BYDOMAIN ? GROUP_DOMAIN : GROUP_DATE,
                                  name, &v);
        cache_view_info(f->cache, VIEW_ALL, &mt, &fresh);
        if (rc == -ENOENT) {
            reply_negative(req, fresh);
            return;
        }
        if (rc) {
            fuse_reply_err(req, -rc);
            return;
        }
        n = (struct node){.kind = NK_GROUP, .view = v};
        node_attr(f, &n, &e.attr, &e.attr_timeout);
        e.ino = tree_ino(&n);
        e.entry_timeout = fresh;
        fuse_reply_entry(req, &e);
        return;
    }
    if (tree_is_listing(&p)) {
        struct entry *ent;
        struct job_meta m;
        double fresh = 0;
        int rc = cache_lookup(f->cache, p.view, name, &ent, &m, &fresh);
        if (rc == -ENOENT) {
            reply_negative(req, names_is_probe(name) ? f->ttl : fresh);
            return;
        }
        if (rc) {
            fuse_reply_err(req, -rc);
            return;
        }
        n = (struct node){.kind = NK_JOBDIR, .view = slot_of(f, &p), .seq = cache_entry_seq(ent)};
        fill_job(f, &e.attr, &n, &m);
        e.ino = tree_ino(&n);
        e.attr_timeout = m.final ? LONG_TIMEOUT : fresh;
        e.entry_timeout = fresh; /* membership is as fresh as the listing */
        fuse_reply_entry(req, &e);
        return;
    }
    if (p.kind == NK_JOBDIR) {
        for (int i = 0; i < JOB_NFILES; i++) {
            if (strcmp(name, job_file_names[i]) != 0)
                continue;
            n = (struct node){.kind = NK_JOBFILE, .view = p.view, .seq = p.seq, .file = i};
            int rc = node_attr(f, &n, &e.attr, &e.attr_timeout);
            if (rc) {
                fuse_reply_err(req, -rc);
                return;
            }
            e.ino = tree_ino(&n);
            e.entry_timeout = LONG_TIMEOUT; /* a job always has its three files */
            fuse_reply_entry(req, &e);
            return;
        }
    }
    reply_negative(req, LONG_TIMEOUT);
}

/* ---- directories ---- */

struct dirent_item {
    char name[NAME_MAX_BYTES + 1];
    struct node node;
};

/* One opendir's view of a directory: fixed children first, then the
 * snapshot of a listing. Entries are never freed, so holding them is safe. */
struct dir_handle {
    struct node self;
    uint64_t parent_ino;
    const struct tree_fixed *fixed[16];
    size_t nfixed;
    struct view_snap snap;     /* listing directories */
    struct group_list groups;  /* by-domain/ and by-date/ */
    int slot;                  /* of the job directories listed */
};

static uint64_t parent_of(struct fs_ctx *f, const struct node *n)
{
    switch (n->kind) {
    case NK_JOBDIR: {
        if (n->view < SLOT_DOMAIN)
            return n->view == VIEW_ALL ? 2 : tree_ino(&(struct node){.kind = NK_STATUS, .view = n->view});
        struct entry *e = cache_entry_by_seq(f->cache, n->seq);
        int g = e ? cache_entry_group(f->cache, e, n->view == SLOT_DOMAIN ? GROUP_DOMAIN : GROUP_DATE) : 0;
        return g ? tree_ino(&(struct node){.kind = NK_GROUP, .view = g}) : 2;
    }
    case NK_GROUP:
        return cache_view_kind(f->cache, n->view) == GROUP_DOMAIN ? 12 : 13;
    default:
        for (size_t i = 0; i < tree_fixed_count; i++)
            if (tree_fixed_nodes[i].ino == tree_ino(n))
                return tree_fixed_nodes[i].parent;
        return INO_ROOT;
    }
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_ctx *f = ctx(req);
    struct node n;
    if (!tree_decode(ino, &n) || !tree_is_dir(&n)) {
        fuse_reply_err(req, tree_decode(ino, &n) ? ENOTDIR : ENOENT);
        return;
    }
    struct dir_handle *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    d->self = n;
    d->parent_ino = parent_of(f, &n);
    d->slot = slot_of(f, &n);
    for (size_t i = 1; i < tree_fixed_count && d->nfixed < 16; i++)
        if (tree_fixed_nodes[i].parent == ino)
            d->fixed[d->nfixed++] = &tree_fixed_nodes[i];
    fi->cache_readdir = 1;
    if (tree_is_listing(&n)) {
        int rc = cache_view_snapshot(f->cache, n.view, &d->snap);
        if (rc) {
            free(d);
            fuse_reply_err(req, -rc);
            return;
        }
        if (n.view < VIEW_COUNT) {
            uint64_t before = atomic_exchange(&kernel_gen[n.view], d->snap.gen);
            fi->keep_cache = before == d->snap.gen;
        }
    } else if (n.kind == NK_BYDOMAIN || n.kind == NK_BYDATE) {
        int rc = cache_groups_list(f->cache, n.kind == NK_BYDOMAIN ? GROUP_DOMAIN : GROUP_DATE,
                                   &d->groups);
        if (rc) {
            free(d);
            fuse_reply_err(req, -rc);
            return;
        }
    } else if (n.kind == NK_JOBDIR) {
        struct entry *e = cache_entry_by_seq(f->cache, n.seq);
        if (!e) {
            free(d);
            fuse_reply_err(req, ENOENT);
            return;
        }
        fi->keep_cache = 1;
    } else {
        fi->keep_cache = 1;
    }
    fi->fh = (uint64_t)(uintptr_t)d;
    fuse_reply_open(req, fi);
}

/* The idx-th entry of a directory ("." and ".." first); false past the end. */
static bool dir_item(struct fs_ctx *f, struct dir_handle *d, size_t idx, struct dirent_item *it,
                     struct stat *st, double *timeout, bool want_attr)
{
    memset(st, 0, sizeof *st);
    *timeout = 0;
    if (idx < 2) {
        strcpy(it->name, idx == 0 ? "." : "..");
        st->st_ino = idx == 0 ? tree_ino(&d->self) : d->parent_ino;
        st->st_mode = S_IFDIR;
        it->node.kind = NK_NONE;
        return true;
    }
    idx -= 2;
    if (idx < d->nfixed) {
        const struct tree_fixed *fx = d->fixed[idx];
        snprintf(it->name, sizeof it->name, "%s", fx->name);
        tree_decode(fx->ino, &it->node);
        if (want_attr && node_attr(f, &it->node, st, timeout) != 0)
            return false;
        st->st_ino = fx->ino;
        st->st_mode = tree_is_dir(&it->node) ? (S_IFDIR | 0555) : st->st_mode;
        return true;
    }
    idx -= d->nfixed;
    if (d->self.kind == NK_JOBDIR) {
        if (idx >= JOB_NFILES)
            return false;
        strcpy(it->name, job_file_names[idx]);
        it->node = (struct node){.kind = NK_JOBFILE, .view = d->self.view, .seq = d->self.seq,
                                 .file = (int)idx};
    } else if (tree_is_listing(&d->self) && idx < d->snap.n) {
        struct entry *e = d->snap.items[idx];
        if (cache_entry_name(e, it->name) < 0)
            it->name[0] = '\0';
        it->node = (struct node){.kind = NK_JOBDIR, .view = d->slot, .seq = cache_entry_seq(e)};
    } else if (idx < d->groups.n) {
        snprintf(it->name, sizeof it->name, "%s", d->groups.items[idx].name);
        it->node = (struct node){.kind = NK_GROUP, .view = d->groups.items[idx].view};
        st->st_ino = tree_ino(&it->node);
        st->st_mode = S_IFDIR;
        if (want_attr)
            node_attr(f, &it->node, st, timeout);
        return true;
    } else {
        return false;
    }
    st->st_ino = tree_ino(&it->node);
    st->st_mode = it->node.kind == NK_JOBDIR ? S_IFDIR : S_IFREG;
    if (want_attr) {
        struct job_meta m;
        struct entry *e = cache_entry_by_seq(f->cache, it->node.seq);
        if (!e)
            return false;
        cache_entry_peek(f->cache, e, &m, timeout);
        fill_job(f, st, &it->node, &m);
    }
    return true;
}

static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
    struct fs_ctx *f = ctx(req);
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    for (size_t idx = (size_t)off;; idx++) {
        struct dirent_item it;
        struct stat st;
        double timeout;
        if (!dir_item(f, d, idx, &it, &st, &timeout, plus))
            break;
        if (!it.name[0])
            continue;
        size_t n;
        if (plus) {
            struct fuse_entry_param e;
            memset(&e, 0, sizeof e);
            e.ino = st.st_ino;
            e.attr = st;
            e.attr_timeout = timeout;
            e.entry_timeout = LONG_TIMEOUT;
            if (tree_is_listing(&d->self) || d->self.kind == NK_BYDOMAIN ||
                d->self.kind == NK_BYDATE) {
                /* the names are as fresh as the listing they come from */
                double fresh;
                time_t mt;
                cache_view_info(f->cache, tree_is_listing(&d->self) ? d->self.view : VIEW_ALL,
                                &mt, &fresh);
                e.entry_timeout = fresh;
            }
            n = fuse_add_direntry_plus(req, buf + used, size - used, it.name, &e, (off_t)idx + 1);
        } else {
            n = fuse_add_direntry(req, buf + used, size - used, it.name, &st, (off_t)idx + 1);
        }
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)ino;
    do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)ino;
    do_readdir(req, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    if (d) {
        view_snap_free(&d->snap);
        group_list_free(&d->groups);
        free(d);
    }
    fuse_reply_err(req, 0);
}

/* ---- files ---- */

/* An open file: a job's render (one reference: a snapshot for the life of
 * the handle) or a generated text. */
struct open_file {
    struct job *job;
    const char *data;
    size_t len;
    char *owned;
};

static void invalidate_all(struct fs_ctx *f);

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs_ctx *f = ctx(req);
    struct node n;
    if (!tree_decode(ino, &n)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (tree_is_dir(&n)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (writing && n.kind != NK_REFRESH) {
        fuse_reply_err(req, EROFS);
        return;
    }
    struct open_file *h = calloc(1, sizeof *h);
    if (!h) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (n.kind == NK_STATS) {
        h->owned = stats_text(f, &h->len);
        h->data = h->owned;
        if (!h->owned) {
            free(h);
            fuse_reply_err(req, ENOMEM);
            return;
        }
        fi->direct_io = 1;
    } else if (n.kind == NK_REFRESH) {
        h->data = "";
        fi->direct_io = 1;
    } else {
        struct entry *e = cache_entry_by_seq(f->cache, n.seq);
        struct job_meta before;
        double fresh;
        if (!e) {
            free(h);
            fuse_reply_err(req, ENOENT);
            return;
        }
        cache_entry_peek(f->cache, e, &before, &fresh);
        int rc = cache_job_get(f->cache, e, &h->job);
        if (rc) {
            free(h);
            fuse_reply_err(req, -rc);
            return;
        }
        h->data = h->job->file[n.file];
        h->len = h->job->size[n.file];
        /* A final job never changes, so the kernel may keep its pages. An
         * unfinished one (or one whose size moved under the kernel's feet)
         * is read straight from this snapshot, so the size the kernel
         * remembers can never cut a read short. */
        if (h->job->final && before.size[n.file] == h->len)
            fi->keep_cache = 1;
        else
            fi->direct_io = 1;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    if (fuse_reply_open(req, fi) != 0) {
        job_unref(h->job);
        free(h->owned);
        free(h);
    }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (off < 0 || (size_t)off >= h->len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t n = h->len - (size_t)off;
    fuse_reply_buf(req, h->data + off, n < size ? n : size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)buf;
    (void)off;
    (void)fi;
    struct node n;
    if (!tree_decode(ino, &n) || n.kind != NK_REFRESH) {
        fuse_reply_err(req, EROFS);
        return;
    }
    invalidate_all(ctx(req));
    fuse_reply_write(req, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (h) {
        job_unref(h->job);
        free(h->owned);
        free(h);
    }
    fuse_reply_err(req, 0);
}

/* ---- refresh: drop what we and the kernel cached ---- */

struct inval_job {
    struct fuse_session *se;
};

/* Runs outside any operation: notifying the kernel from inside one on a
 * related inode can deadlock. */
static void *inval_thread(void *arg)
{
    struct inval_job *j = arg;
    for (size_t i = 0; i < tree_fixed_count; i++) {
        struct node n;
        tree_decode(tree_fixed_nodes[i].ino, &n);
        if (tree_is_listing(&n))
            fuse_lowlevel_notify_inval_inode(j->se, tree_fixed_nodes[i].ino, 0, 0);
    }
    free(j);
    return NULL;
}

static void invalidate_all(struct fs_ctx *f)
{
    cache_expire_all(f->cache);
    for (int v = 0; v < VIEW_COUNT; v++)
        atomic_store(&kernel_gen[v], UINT64_MAX);
    log_info("refresh requested: every listing and unfinished job is stale");
    struct inval_job *j = malloc(sizeof *j);
    pthread_t t;
    if (!j || !f->se)
        goto fail;
    j->se = f->se;
    if (pthread_create(&t, NULL, inval_thread, j) != 0)
        goto fail;
    pthread_detach(t);
    return;
fail:
    free(j);
}

/* ---- extended attributes ---- */

static int job_xattrs(struct fs_ctx *f, fuse_ino_t ino, struct job **out)
{
    struct node n;
    if (!tree_decode(ino, &n))
        return -ENOENT;
    if (n.kind != NK_JOBDIR && n.kind != NK_JOBFILE)
        return -ENODATA;
    struct entry *e = cache_entry_by_seq(f->cache, n.seq);
    if (!e)
        return -ENOENT;
    return cache_job_get(f->cache, e, out);
}

static const char *const xattr_names[] = {"user.xdg.origin.url", "user.scrapefs.job_id",
                                          "user.scrapefs.status", "user.scrapefs.created_at",
                                          "user.scrapefs.completed_at"};
#define NXATTR 5

static const char *xattr_value(const struct job *j, int i, size_t *len)
{
    const char *v = NULL;
    switch (i) {
    case 0: v = j->url; break;
    case 1: *len = j->id_len; return j->id;
    case 2: v = j->status_text; break;
    case 3: v = j->created_at; break;
    case 4: v = j->completed_at; break;
    }
    if (v)
        *len = strlen(v);
    return v;
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
    /* ls -l asks every entry for security.selinux and the ACLs: answer
     * those without touching the cache */
    if (strncmp(name, "user.", 5) != 0) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    int rc = job_xattrs(ctx(req), ino, &j);
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    for (int i = 0; i < NXATTR; i++) {
        size_t len = 0;
        const char *v;
        if (strcmp(name, xattr_names[i]) == 0 && (v = xattr_value(j, i, &len)) != NULL) {
            reply_xattr_data(req, v, len, size);
            job_unref(j);
            return;
        }
    }
    job_unref(j);
    fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct job *j;
    int rc = job_xattrs(ctx(req), ino, &j);
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
        size_t vl;
        if (xattr_value(j, i, &vl)) {
            size_t nl = strlen(xattr_names[i]) + 1;
            memcpy(list + len, xattr_names[i], nl);
            len += nl;
        }
    }
    job_unref(j);
    reply_xattr_data(req, list, len, size);
}

/* ---- everything that would change the tree ---- */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)attr;
    (void)fi;
    struct node n;
    /* `echo > refresh` truncates before it writes: let that through */
    if (tree_decode(ino, &n) && n.kind == NK_REFRESH && (to_set & ~FUSE_SET_ATTR_SIZE) == 0) {
        struct stat st;
        double timeout;
        node_attr(ctx(req), &n, &st, &timeout);
        fuse_reply_attr(req, &st, timeout);
        return;
    }
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

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .create = op_create,
};
