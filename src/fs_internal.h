/* What the parts of the FUSE side share (fs.c, fs_nodes.c, fs_dir.c,
 * fs_xattr.c, fs_readonly.c): a node's attributes and the entries of the
 * files whose inode is a version of their content. Private to them. */
#ifndef SCRAPEFS_FS_INTERNAL_H
#define SCRAPEFS_FS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "tree.h"

/* How long the kernel may keep what never changes: a final job's files and
 * attributes, the fixed directories. */
#define LONG_TIMEOUT 86400.0

struct fs_ctx *fs_ctx_of(fuse_req_t req);

/* What a directory's attributes say besides its times. */
struct dir_attr {
    struct timespec mtime;
    size_t entries; /* names listed, "." and ".." aside */
    size_t subdirs; /* how many of them are directories */
    bool known;     /* the listing was read: the counts mean something */
};

/* A directory: 0555, the mounting user's; st_nlink 2 + its subdirectories
 * and st_size 40 + 20 bytes an entry (what tmpfs reports) when its listing
 * is known, st_nlink 1 (which tells tools not to count) and st_size 0
 * before. */
void fs_fill_dir(struct fs_ctx *f, struct stat *st, uint64_t ino, const struct dir_attr *a);
void fs_fill_file(struct fs_ctx *f, struct stat *st, uint64_t ino, size_t size, time_t mtime);

/* A job's directory: its three files; its times are the job's. */
struct dir_attr fs_job_dir(time_t mtime);

/* How long a job's attributes may be cached: for good when it is final. */
double fs_job_timeout(const struct job_meta *m, double fresh);

/* GROUP_DOMAIN for by-domain/, GROUP_DATE for by-date/. */
int fs_group_kind_of(const struct node *n);
/* The slot of the job directories listed in directory p. */
int fs_slot_of(struct fs_ctx *f, const struct node *p);

/* Attributes of any node but a versioned file (refresh: a stale listing or
 * unfinished job is fetched again first). */
int fs_node_attr(struct fs_ctx *f, const struct node *n, bool refresh, struct stat *st,
                 double *timeout);

/* The entries of versioned files: a new stats document; one of a job's
 * files; a view's .jsonl (its snapshot now). Each pins what it shows. */
int fs_stats_entry(struct fs_ctx *f, struct fuse_entry_param *e);
int fs_job_file_entry(struct fs_ctx *f, const struct node *file, bool refresh,
                      struct fuse_entry_param *e);
int fs_jsonl_entry(struct fs_ctx *f, uint64_t parent, const char *name, int v, bool refresh,
                   struct fuse_entry_param *e);

/* What a versioned file inode shows. */
int fs_file_content(struct fs_ctx *f, const struct node *n, uint64_t ino, struct pinned *out);

/* The operations of the other parts, for the table in fs.c. */
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
/* every write path (fs_readonly.c): EROFS */
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                   struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                 struct fuse_file_info *fi);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                  const char *newname, unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                  struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                    size_t size, int flags);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
