/* The on-disk store: what scrapefs learned, kept in an SQLite database (WAL)
 * per account, so a remount (or a mount with the network down) starts from
 * what was known.
 *
 * The database is named by a one-way fingerprint (SHA-256) of the API URL
 * and the key: a different key or URL never opens another's data, and
 * neither the file nor its name gives the key back. It holds every job
 * known (its entry number, id, what `ls -l` needs, the group views it is
 * in) and its compact text, every listing (members in the API's order,
 * total, order, times) and every group view's number, name and times, so
 * inode numbers and times stay the same across remounts. Not the key, not
 * 404s, not failures.
 *
 * A file is input like any other: everything read back is checked (each
 * row's checksum, each listing's, each text's digest, sizes, numbering)
 * and a store that fails a check, or that SQLite finds damaged, or that is
 * another version's or not a database at all, is set aside (renamed
 * beside itself) with one log line: the mount starts cold. A second mount
 * of the same account finds the store locked and runs without it.
 *
 * Threads: store_load runs before the first request; one writer (the cache's
 * persist thread) calls store_write; any thread may call store_text (each
 * call takes one of a few read connections). Nothing here knows the cache:
 * it deals in plain records.
 */
#ifndef SCRAPEFS_STORE_H
#define SCRAPEFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "job.h"
#include "refresh.h"

struct store;

#define STORE_DEFAULT_MIB 1024

/* Where stores live by default: $CACHE_DIRECTORY (set by systemd's
 * CacheDirectory=; its first path), else $XDG_CACHE_HOME/scrapefs, else
 * $HOME/.cache/scrapefs. A new string, or NULL when none can be made. */
char *store_default_dir(void);

struct store_config {
    const char *dir;       /* made (0700) when missing */
    const char *api_url;
    const char *key;       /* only its fingerprint is kept */
    size_t max_bytes;      /* the texts go, least recently used first, beyond it */
};

/* Opens the account's store, making it when there is none. Returns 0 and
 * the store; -EBUSY when another mount holds it; another negative errno
 * when it cannot be opened or made (each logged once). A damaged store is
 * set aside and a new one made (0). */
int store_open(const struct store_config *cfg, struct store **out);
/* Whether the account has a store that holds listings and that no other
 * mount uses, looked at without keeping anything open (before the daemon
 * forks): whether a mount may start offline. */
bool store_peek(const struct store_config *cfg);

/* Closes (the writer must have stopped). NULL is fine. */
void store_close(struct store *s);

/* Whether the store held anything when it was opened (a listing). */
bool store_warm(const struct store *s);
const char *store_path(const struct store *s);

/* ---- records ---- */

/* A job as stored, without its text. */
struct store_job {
    uint32_t seq;
    const char *id;            /* not NUL-terminated on load; len bytes */
    size_t id_len;
    uint16_t birth, version;
    uint8_t status;
    bool final, created_ok;
    uint32_t size[JOB_NFILES];
    uint32_t line;
    int64_t mtime;
    int64_t created_us;
    uint64_t digest;
    uint32_t group[2];
    int64_t fetched_wall_ms;   /* when its data came in (wall clock) */
    const struct job *text;    /* store_write: the text to keep too, or NULL */
};

/* A fetched view's listing. */
struct store_view {
    int view;
    struct listing *list;      /* store_load: a new reference for the receiver */
    int order;
    bool unsure;
    int margin;
    int64_t fetched_wall_ms, full_wall_ms;
    struct timespec mtime;
    uint32_t version;
};

/* A group view: its number, kind, name and times (its members come from
 * the jobs/ listing). */
struct store_group {
    uint32_t view;
    int kind;
    const char *name;
    struct timespec mtime;
    uint32_t version;
};

/* Receives what store_load reads, in this order: every job (by seq, 1 to
 * n, none missing), every group (by number), every view. A callback's
 * non-zero return stops the load and is returned. */
struct store_loader {
    int (*job)(void *arg, const struct store_job *j);
    int (*group)(void *arg, const struct store_group *g);
    int (*view)(void *arg, struct store_view *v);
    void *arg;
};

/* Reads everything back but the texts. On any damage the store is set
 * aside (a new, empty one takes its place) and -EBADMSG returned: the
 * receiver drops what it got and starts cold. */
int store_load(struct store *s, const struct store_loader *ld);

/* Sets the store aside (renamed beside itself, one log line saying why)
 * and makes a new, empty one: for what store_load read but its receiver
 * found inconsistent. 0, or -EIO when no new one can be made (the store
 * must not be used then). */
int store_reset(struct store *s, const char *why);

/* The text of job seq as kept, when its digest is `digest`: 0 and a new
 * job (parsed from the text, its id checked), -ENOENT when the store does
 * not hold that text. Any thread. */
int store_text(struct store *s, uint32_t seq, uint64_t digest, time_t now, struct job **out);

/* One transaction: jobs (texts with them), groups, views. */
struct store_batch {
    struct store_job *jobs;
    size_t njobs;
    struct store_group *groups;
    size_t ngroups;
    struct store_view *views;
    size_t nviews;
};

/* Writes a batch in one transaction, then keeps the store under max_bytes.
 * Returns 0 or a negative errno (logged). The writer thread only. */
int store_write(struct store *s, const struct store_batch *b);

/* The same transaction in parts, so that a large one need not hold every
 * text at once: store_begin, any number of store_put_jobs (each text may
 * be let go when it returns), then store_commit with the rest. A failure
 * of any part rolls the whole back (and is logged); after it, nothing
 * more is called until the next store_begin. */
int store_begin(struct store *s);
int store_put_jobs(struct store *s, const struct store_job *jobs, size_t n);
int store_commit(struct store *s, const struct store_batch *b);

struct store_stats {
    const char *path;
    uint64_t bytes;        /* the database's size on disk */
    uint64_t texts;        /* texts held */
    uint64_t reads;        /* texts served from disk */
    time_t last_write;     /* 0: none yet */
};
void store_get_stats(struct store *s, struct store_stats *out);

#endif
