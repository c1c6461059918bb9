/* Extended attributes of a job's directory and files: its origin url (the
 * freedesktop convention, so copies keep it) and the scrapefs.* fields.
 * Only user.* exists; other namespaces are "not supported", which makes
 * ls -l and cp -a stop asking.
 *
 * A job's directory lists all five; its files list only the url. cp -a
 * copies every listed attribute with two upcalls each (the size, then the
 * value), and FUSE caches none of them: five attributes on every file made
 * cp -a of a status view 8.5x slower than from tmpfs, the url alone about
 * 4.5x. The other four are still there to getfattr -n on a file. */
#include <errno.h>
#include <string.h>

#include "fs_internal.h"

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

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
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
    int rc = xattr_job(fs_ctx_of(req), ino, &j);
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

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct job *j;
    int rc = xattr_job(fs_ctx_of(req), ino, &j);
    if (rc == -ENODATA) {
        reply_xattr_data(req, "", 0, size);
        return;
    }
    if (rc) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct node n;
    int listed = tree_decode(ino, &n) && n.kind == NK_JOBFILE ? 1 : NXATTR;
    char list[256];
    size_t len = 0;
    for (int i = 0; i < listed; i++) {
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

