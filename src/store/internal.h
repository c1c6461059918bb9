/* What the store's parts (the files in src/store) share: the handle, the row
 * layouts' sizes, little-endian packing and the records' blobs. */
#ifndef SCRAPEFS_STORE_INTERNAL_H
#define SCRAPEFS_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "vec.h"

#define APP_ID 0x53434653 /* "SCFS" */
#define SCHEMA 1
#define READERS 4
#define JOB_META 80
#define VIEW_META 64
#define GROUP_META 24

struct store {
    char *path, *lock_path;
    int lock_fd;
    sqlite3 *db;                 /* the writer's */
    pthread_mutex_t mu;          /* guards readers' use flags, touched */
    pthread_cond_t cv;
    sqlite3 *readers[READERS];
    sqlite3_stmt *text_q[READERS]; /* each reader's text query, prepared once */
    bool busy[READERS];
    VEC(uint32_t) touched;       /* texts read since the last write */
    size_t max_bytes;
    bool warm;
    _Atomic uint64_t texts, reads, bytes;
    _Atomic int64_t last_write;
};

static inline void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* open.c */
int store_exec(sqlite3 *db, const char *sql);
int store_pragma_int(sqlite3 *db, const char *sql, int64_t *out);
void store_set_aside(struct store *s, const char *why);
/* Opens the database file for the writer and the readers: 0, 1 when it is
 * not ours (to set aside), or a negative errno. */
int store_open_db(struct store *s);

/* records.c: the blobs, each ending in its checksum */
void pack_job(const struct store_job *j, unsigned char m[JOB_META]);
bool unpack_job(const unsigned char *m, const void *id, size_t id_len, uint32_t seq,
                struct store_job *j);
void pack_view(const struct store_view *v, uint64_t members_sum, unsigned char m[VIEW_META]);
void pack_members(const struct listing *l, unsigned char *out);
void pack_group(const struct store_group *g, unsigned char m[GROUP_META]);

#endif
