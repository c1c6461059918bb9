/* The FUSE session's set-up (session.h): mount options, and the INIT hook
 * that grants parallel directory operations libfuse 3.14 forgets. */
#include "session.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* Escapes the characters fuse_opt splits or unescapes: ',' and '\'. */
static char *opt_escape(const char *prefix, const char *value)
{
    struct buf b = {0};
    buf_put(&b, prefix, strlen(prefix));
    for (const char *p = value; *p; p++) {
        if (*p == ',' || *p == '\\')
            buf_putc(&b, '\\');
        buf_putc(&b, *p);
    }
    buf_putc(&b, '\0');
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    return b.p;
}

int session_args(struct fuse_args *args, const struct options *o)
{
    char *fsname = opt_escape("-ofsname=", o->api_url);
    int rc = !fsname || fuse_opt_add_arg(args, "-oro") != 0 ||
             fuse_opt_add_arg(args, "-osubtype=scrapefs") != 0 ||
             fuse_opt_add_arg(args, fsname) != 0 ||
             (o->allow_other && fuse_opt_add_arg(args, "-odefault_permissions") != 0);
    free(fsname);
    return rc ? -ENOMEM : 0;
}

/* The INIT exchange as the hook saw it. Only the first request is INIT;
 * after its reply the hook passes everything through. */
static _Atomic uint64_t g_init_unique; /* 0: no INIT pending */
static _Atomic bool g_offered, g_granted, g_done;

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (n >= (ssize_t)(sizeof(struct fuse_in_header) + offsetof(struct fuse_init_in, flags2)) &&
        !atomic_load(&g_done)) {
        const struct fuse_in_header *in = buf;
        if (in->opcode == FUSE_INIT) {
            const struct fuse_init_in *init = (const void *)(in + 1);
            atomic_store(&g_offered, (init->flags & FUSE_PARALLEL_DIROPS) != 0);
            atomic_store(&g_init_unique, in->unique);
        }
    }
    return n;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    uint64_t unique = atomic_load(&g_init_unique);
    if (unique && count >= 2 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
        ((const struct fuse_out_header *)iov[0].iov_base)->unique == unique) {
        const struct fuse_out_header *out = iov[0].iov_base;
        /* the reply may be cut short for an old kernel: flags must be in it */
        if (out->error == 0 &&
            iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t)) {
            struct fuse_init_out *init = iov[1].iov_base;
            if (atomic_load(&g_offered))
                init->flags |= FUSE_PARALLEL_DIROPS;
            atomic_store(&g_granted, (init->flags & FUSE_PARALLEL_DIROPS) != 0);
            log_info("INIT reply flags 0x%x: lookups and readdirs in one directory run %s",
                     init->flags,
                     atomic_load(&g_granted)   ? "in parallel (FUSE_PARALLEL_DIROPS)"
                     : atomic_load(&g_offered) ? "one at a time"
                                               : "one at a time (the kernel does not offer "
                                                 "parallel directory operations)");
        }
        atomic_store(&g_init_unique, 0);
        atomic_store(&g_done, true);
    }
    return writev(fd, iov, count);
}

int session_hook_init(struct fuse_session *se)
{
    static const struct fuse_custom_io io = {.read = hook_read, .writev = hook_writev};
    int fd = fuse_session_fd(se);
    if (fd < 0)
        return -EBADF;
    return fuse_session_custom_io(se, &io, fd);
}
