/* Reading the store back: everything but the texts at mount
 * (store_load), each text when asked (store_text, on a few read
 * connections shared by all threads). Every row is checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "log.h"
#include "views.h"
#include "internal.h"

/* ---- loading ---- */

/* What a load is doing: the receiver, the next number expected, and how
 * many jobs there are (members may name no other). */
struct load {
    const struct store_loader *ld;
    uint32_t want;
    uint32_t njobs;
};

/* Runs sql and hands each row to row(), which returns 0 to go on or a
 * negative errno to stop. A damaged database (any SQLite error) is
 * -EBADMSG. */
static int each_row(struct store *s, const char *sql,
                    int (*row)(sqlite3_stmt *st, struct load *l), struct load *l)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = row(st, l);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc > 0 ? -EBADMSG : rc;
}

/* The jobs, in order, 1..n. */
static int job_row(sqlite3_stmt *st, struct load *l)
{
    struct store_job j;
    const void *id = sqlite3_column_blob(st, 1);
    int id_len = sqlite3_column_bytes(st, 1);
    const void *meta = sqlite3_column_blob(st, 2);
    if (sqlite3_column_int64(st, 0) != l->want || !id || sqlite3_column_bytes(st, 2) != JOB_META ||
        !unpack_job(meta, id, (size_t)id_len, l->want, &j))
        return -EBADMSG;
    int rc = l->ld->job(l->ld->arg, &j);
    l->njobs = l->want++;
    return rc;
}

/* The groups, numbered on from the fetched views. */
static int group_row(sqlite3_stmt *st, struct load *l)
{
    char name[300];
    const unsigned char *m = sqlite3_column_blob(st, 3);
    int nl = sqlite3_column_bytes(st, 2);
    const void *nb = sqlite3_column_blob(st, 2);
    int kind = sqlite3_column_int(st, 1);
    if (sqlite3_column_int64(st, 0) != l->want || nl <= 0 || nl >= (int)sizeof name || !nb ||
        memchr(nb, '\0', (size_t)nl) || (kind != 0 && kind != 1) || !m ||
        sqlite3_column_bytes(st, 3) != GROUP_META)
        return -EBADMSG;
    memcpy(name, nb, (size_t)nl);
    name[nl] = '\0';
    struct store_group g = {.view = l->want, .kind = kind, .name = name,
                            .mtime = {.tv_sec = (time_t)get64(m),
                                      .tv_nsec = get32(m + 8) % 1000000000},
                            .version = get32(m + 12)};
    unsigned char check[GROUP_META];
    pack_group(&g, check);
    if (memcmp(check, m, GROUP_META) != 0)
        return -EBADMSG;
    l->want++;
    return l->ld->group(l->ld->arg, &g);
}

/* A view's members, each naming a job that was read. */
static struct listing *members_of(const unsigned char *mb, size_t n, long total, uint32_t njobs)
{
    struct listing *l = listing_new(n);
    if (!l)
        return NULL;
    l->total = total;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = mb + 16 * i;
        struct member *x = &l->m[i];
        *x = (struct member){.seq = get32(p), .status = p[4], .final = p[5] & 1,
                             .birth = (uint16_t)(p[6] | p[7] << 8)};
        x->key = get64(p + 8);
        if (x->seq > njobs || x->status > ST_UNKNOWN)
            l->total = -1; /* refused below */
    }
    return l;
}

static int view_row(sqlite3_stmt *st, struct load *ld)
{
    const unsigned char *m = sqlite3_column_blob(st, 1);
    const unsigned char *mb = sqlite3_column_blob(st, 2);
    int mlen = sqlite3_column_bytes(st, 1), blen = sqlite3_column_bytes(st, 2);
    int view = sqlite3_column_int(st, 0);
    if (view < 0 || view >= VIEW_COUNT || !m || mlen != VIEW_META ||
        get64(m + 56) != fnv1a(m, 56) || blen % 16 || (blen && !mb) ||
        get64(m + 48) != fnv1a(mb ? mb : (const unsigned char *)"", (size_t)blen))
        return -EBADMSG;
    size_t n = (size_t)blen / 16;
    long total = (long)get64(m);
    if (total < (long)n || total > SOURCE_MAX_TOTAL || m[8] > ORDER_OLDEST)
        return -EBADMSG;
    struct listing *l = members_of(mb, n, total, ld->njobs);
    if (!l)
        return -ENOMEM;
    struct store_view v = {.view = view, .list = l, .order = m[8], .unsure = m[9] & 1,
                           .margin = (int)get32(m + 12),
                           .fetched_wall_ms = (int64_t)get64(m + 16),
                           .full_wall_ms = (int64_t)get64(m + 24),
                           .mtime = {.tv_sec = (time_t)get64(m + 32),
                                     .tv_nsec = get32(m + 40) % 1000000000},
                           .version = get32(m + 44)};
    int rc = l->total < 0 ? -EBADMSG : ld->ld->view(ld->ld->arg, &v);
    listing_unref(v.list); /* the receiver took its own reference */
    return rc;
}

int store_load(struct store *s, const struct store_loader *ld)
{
    struct load l = {.ld = ld, .want = 1};
    int rc = each_row(s, "SELECT seq, id, meta FROM jobs ORDER BY seq", job_row, &l);
    l.want = VIEW_COUNT;
    if (rc == 0)
        rc = each_row(s, "SELECT view, kind, name, meta FROM groups ORDER BY view", group_row,
                      &l);
    if (rc == 0)
        rc = each_row(s, "SELECT view, meta, members FROM views ORDER BY view", view_row, &l);
    if (rc == -EBADMSG && store_reset(s, "is damaged") != 0)
        return -EIO;
    return rc;
}

int store_reset(struct store *s, const char *why)
{
    store_set_aside(s, why);
    if (store_open_db(s) != 0) {
        log_warn("store %s cannot be made again: running without it", s->path);
        return -EIO;
    }
    return 0;
}

/* ---- texts ---- */

static int reader_take(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < READERS; i++)
            if (!s->busy[i]) {
                s->busy[i] = true;
                pthread_mutex_unlock(&s->mu);
                return i;
            }
        pthread_cond_wait(&s->cv, &s->mu);
    }
}

static void reader_give(struct store *s, int i)
{
    pthread_mutex_lock(&s->mu);
    s->busy[i] = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int store_text(struct store *s, uint32_t seq, uint64_t digest, time_t now, struct job **out)
{
    int r = reader_take(s);
    sqlite3_stmt *st = s->text_q[r];
    int rc = -ENOENT;
    {
        sqlite3_bind_int64(st, 1, seq);
        if (sqlite3_step(st) == SQLITE_ROW && (uint64_t)sqlite3_column_int64(st, 0) == digest) {
            const char *data = sqlite3_column_blob(st, 1);
            size_t len = (size_t)sqlite3_column_bytes(st, 1);
            const void *id = sqlite3_column_blob(st, 2);
            size_t id_len = (size_t)sqlite3_column_bytes(st, 2);
            struct job *j = NULL;
            char why[128];
            /* a text is input too: its digest (of the text parsed) and its
             * id must be what the entry says, else it is not used */
            if (data && job_parse(data, len, now, &j, why, sizeof why) == 0 && j->digest == digest &&
                j->id_len == id_len && memcmp(j->id, id, id_len) == 0) {
                *out = j;
                rc = 0;
            } else {
                job_unref(j);
            }
        }
        sqlite3_reset(st); /* ends the read transaction */
    }
    reader_give(s, r);
    if (rc == 0) {
        atomic_fetch_add(&s->reads, 1);
        pthread_mutex_lock(&s->mu);
        vec_push(&s->touched, seq); /* its use time, at the next write */
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

