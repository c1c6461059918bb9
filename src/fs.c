/* The FUSE low-level operations (fs.h): INIT, attributes, lookups, reads
 * and the table of every operation. Directories are read in fs_dir.c,
 * extended attributes in fs_xattr.c, every write path is refused in
 * fs_readonly.c; fs_nodes.c says what a node is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs_internal.h"
#include "jsonl.h"
#include "names.h"

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
    struct fs_ctx *f = fs_ctx_of(req);
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
        rc = fs_file_content(f, &n, ino, &w);
        if (rc == 0 && w.job)
            fs_fill_file(f, &st, ino, w.job->size[n.file], w.job->mtime);
        else if (rc == 0 && w.jsonl)
            fs_fill_file(f, &st, ino, w.jsonl->size, w.jsonl->mtime);
        else if (rc == 0)
            fs_fill_file(f, &st, ino, w.blob->len, f->started);
        pinned_unref(&w);
    } else {
        rc = fs_node_attr(f, &n, true, &st, &timeout);
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


/* Resolves name in directory p into e; -ENOENT with *neg_timeout set when
 * the kernel may remember that it is absent. */
static int resolve(struct fs_ctx *f, uint64_t parent, const struct node *p, const char *name,
                   struct fuse_entry_param *e, double *neg_timeout)
{
    const bool refresh = true; /* a lookup is a use: a stale listing is fetched again */
    struct node n;
    int rc;
    *neg_timeout = LONG_TIMEOUT;
    const struct tree_fixed *fx = tree_fixed_child(parent, name);
    if (fx) {
        tree_decode(fx->ino, &n);
        if (n.kind == NK_STATS)
            return fs_stats_entry(f, e);
        if (n.kind == NK_JSONL)
            return fs_jsonl_entry(f, parent, name, n.view, refresh, e);
        e->ino = fx->ino;
        e->entry_timeout = LONG_TIMEOUT;
        return fs_node_attr(f, &n, false, &e->attr, &e->attr_timeout);
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
        rc = cache_group_find(f->cache, fs_group_kind_of(p), group, &v);
        if (rc == 0 && jsonl)
            return fs_jsonl_entry(f, parent, name, v, refresh, e);
        cache_view_info(f->cache, VIEW_ALL, false, &vi);
        *neg_timeout = vi.fresh_s;
        if (rc)
            return rc;
        n = (struct node){.kind = NK_GROUP, .view = v};
        e->ino = tree_ino(&n);
        e->entry_timeout = vi.fresh_s;
        return fs_node_attr(f, &n, false, &e->attr, &e->attr_timeout);
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
        n = (struct node){.kind = NK_JOBDIR, .view = fs_slot_of(f, p), .seq = r.seq};
        struct dir_attr a = fs_job_dir(r.meta.mtime);
        fs_fill_dir(f, &e->attr, tree_ino(&n), &a);
        e->ino = tree_ino(&n);
        e->attr_timeout = fs_job_timeout(&r.meta, fresh);
        e->entry_timeout = fresh; /* membership is as fresh as the listing */
        if (!r.listed) /* a name no listing holds: a refresh must make the kernel ask again */
            notify_name(f->notify, parent, name, fresh);
        return 0;
    }
    if (p->kind == NK_JOBDIR) {
        for (int i = 0; i < JOB_NFILES; i++)
            if (strcmp(name, job_file_names[i]) == 0) {
                n = (struct node){.kind = NK_JOBFILE, .view = p->view, .seq = p->seq, .file = i};
                return fs_job_file_entry(f, &n, refresh, e);
            }
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
    int rc = resolve(fs_ctx_of(req), parent, &p, name, &e, &neg);
    if (rc == -ENOENT) {
        notify_name(fs_ctx_of(req)->notify, parent, name, neg);
        reply_negative(req, neg);
    }
    else if (rc)
        fuse_reply_err(req, -rc);
    else if (fuse_reply_entry(req, &e) != 0 && (e.ino >> 62) != 0)
        pins_forget(fs_ctx_of(req)->pins, e.ino, 1); /* the kernel never got it */
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    pins_forget(fs_ctx_of(req)->pins, ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        pins_forget(fs_ctx_of(req)->pins, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}


/* ---- reading ---- */

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    struct fs_ctx *f = fs_ctx_of(req);
    struct node n;
    if (!tree_decode(ino, &n)) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct pinned w;
    int rc = fs_file_content(f, &n, ino, &w);
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
    .setattr = fs_op_setattr,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_unlink,
    .symlink = fs_op_symlink,
    .rename = fs_op_rename,
    .link = fs_op_link,
    .read = op_read,
    .write = fs_op_write,
    .readdir = fs_op_readdir,
    .readdirplus = fs_op_readdirplus,
    .statfs = op_statfs,
    .setxattr = fs_op_setxattr,
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .removexattr = fs_op_removexattr,
    .create = fs_op_create,
};
