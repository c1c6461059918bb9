/* Writing the store: one transaction per batch from the persist thread,
 * then the texts least recently used go beyond the size bound. */
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

/* ---- writing ---- */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_jobs(struct store *s, const struct store_batch *b, int64_t now)
{
    sqlite3_stmt *job = NULL, *text = NULL, *add = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?)", -1, &job,
                                NULL);
    /* a text replaces the one kept, or is added (and counted) */
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "UPDATE texts SET digest = ?2, used = ?3, data = ?4 "
                                       "WHERE seq = ?1", -1, &text, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "INSERT INTO texts VALUES (?, ?, ?, ?)", -1, &add, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < b->njobs; i++) {
        const struct store_job *j = &b->jobs[i];
        unsigned char m[JOB_META];
        pack_job(j, m);
        sqlite3_bind_int64(job, 1, j->seq);
        sqlite3_bind_blob(job, 2, j->id, (int)j->id_len, SQLITE_STATIC);
        sqlite3_bind_blob(job, 3, m, JOB_META, SQLITE_STATIC);
        rc = step_done(job);
        for (int k = 0; rc == SQLITE_OK && j->text && k < 2; k++) {
            sqlite3_stmt *st = k ? add : text;
            sqlite3_bind_int64(st, 1, j->seq);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)j->text->digest);
            sqlite3_bind_int64(st, 3, now);
            sqlite3_bind_blob(st, 4, j->text->text, (int)j->text->text_len, SQLITE_STATIC);
            rc = step_done(st);
            if (rc == SQLITE_OK && sqlite3_changes(s->db) > 0) {
                if (k)
                    atomic_fetch_add(&s->texts, 1);
                break;
            }
        }
    }
    sqlite3_finalize(job);
    sqlite3_finalize(text);
    sqlite3_finalize(add);
    return rc;
}

static int write_views(struct store *s, const struct store_batch *b)
{
    sqlite3_stmt *view = NULL, *group = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO views VALUES (?, ?, ?)", -1, &view,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?)", -1,
                                &group, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < b->ngroups; i++) {
        const struct store_group *g = &b->groups[i];
        unsigned char m[GROUP_META];
        pack_group(g, m);
        sqlite3_bind_int64(group, 1, g->view);
        sqlite3_bind_int(group, 2, g->kind);
        sqlite3_bind_blob(group, 3, g->name, (int)strlen(g->name), SQLITE_STATIC);
        sqlite3_bind_blob(group, 4, m, GROUP_META, SQLITE_STATIC);
        rc = step_done(group);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < b->nviews; i++) {
        const struct store_view *v = &b->views[i];
        size_t len = v->list->n * 16;
        unsigned char *mb = malloc(len ? len : 1), m[VIEW_META];
        if (!mb) {
            rc = SQLITE_NOMEM;
            break;
        }
        pack_members(v->list, mb);
        pack_view(v, fnv1a(mb, len), m);
        sqlite3_bind_int(view, 1, v->view);
        sqlite3_bind_blob(view, 2, m, VIEW_META, SQLITE_STATIC);
        sqlite3_bind_blob(view, 3, mb, (int)len, SQLITE_STATIC);
        rc = step_done(view);
        free(mb);
    }
    sqlite3_finalize(view);
    sqlite3_finalize(group);
    return rc;
}

/* The texts read since the last write are used now. */
static int write_touched(struct store *s, int64_t now)
{
    pthread_mutex_lock(&s->mu);
    struct { uint32_t *v; size_t n, cap; } t = {s->touched.v, s->touched.n, s->touched.cap};
    memset(&s->touched, 0, sizeof s->touched);
    pthread_mutex_unlock(&s->mu);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "UPDATE texts SET used = ? WHERE seq = ?", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < t.n; i++) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, t.v[i]);
        rc = step_done(st);
    }
    sqlite3_finalize(st);
    free(t.v);
    return rc;
}

/* Beyond max_bytes, the least recently used texts go (listings stay). */
static void keep_under(struct store *s)
{
    int64_t pages = 0, size = 0, free_pages = 0;
    if (store_pragma_int(s->db, "PRAGMA page_count", &pages) != SQLITE_OK ||
        store_pragma_int(s->db, "PRAGMA page_size", &size) != SQLITE_OK ||
        store_pragma_int(s->db, "PRAGMA freelist_count", &free_pages) != SQLITE_OK)
        return;
    uint64_t bytes = (uint64_t)((pages - free_pages) * size);
    if (bytes > s->max_bytes) {
        /* a tenth more than needed, by the texts' average size, so that
         * this is not done at every write */
        int64_t n = (int64_t)atomic_load(&s->texts);
        uint64_t avg = n ? bytes / (uint64_t)n : bytes;
        int64_t k = avg ? (int64_t)((bytes - s->max_bytes + s->max_bytes / 10) / avg) + 1 : n;
        char sql[160];
        snprintf(sql, sizeof sql, "DELETE FROM texts WHERE seq IN "
                 "(SELECT seq FROM texts ORDER BY used LIMIT %lld)", (long long)k);
        if (store_exec(s->db, sql) == SQLITE_OK && store_pragma_int(s->db, "SELECT count(*) FROM texts", &n) ==
                                                 SQLITE_OK)
            atomic_store(&s->texts, (uint64_t)n);
        store_exec(s->db, "PRAGMA incremental_vacuum");
        store_pragma_int(s->db, "PRAGMA page_count", &pages);
        store_pragma_int(s->db, "PRAGMA freelist_count", &free_pages);
    }
    atomic_store(&s->bytes, (uint64_t)(pages * size));
}

static int failed(struct store *s, int rc)
{
    log_warn("store %s: a write failed: %s", s->path, sqlite3_errstr(rc));
    store_exec(s->db, "ROLLBACK");
    return -EIO;
}

int store_begin(struct store *s)
{
    int rc = store_exec(s->db, "BEGIN IMMEDIATE");
    return rc == SQLITE_OK ? 0 : failed(s, rc);
}

int store_put_jobs(struct store *s, const struct store_job *jobs, size_t n)
{
    struct store_batch b = {.jobs = (struct store_job *)jobs, .njobs = n};
    int rc = write_jobs(s, &b, clock_wall_ms());
    return rc == SQLITE_OK ? 0 : failed(s, rc);
}

int store_commit(struct store *s, const struct store_batch *b)
{
    int64_t now = clock_wall_ms();
    int rc = write_jobs(s, b, now);
    if (rc == SQLITE_OK)
        rc = write_views(s, b);
    if (rc == SQLITE_OK)
        rc = write_touched(s, now);
    if (rc == SQLITE_OK)
        rc = store_exec(s->db, "COMMIT");
    if (rc != SQLITE_OK)
        return failed(s, rc);
    keep_under(s);
    atomic_store(&s->last_write, now / 1000);
    return 0;
}

int store_write(struct store *s, const struct store_batch *b)
{
    int rc = store_begin(s);
    return rc ? rc : store_commit(s, b);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
    out->path = s->path;
    out->bytes = atomic_load(&s->bytes);
    out->texts = atomic_load(&s->texts);
    out->reads = atomic_load(&s->reads);
    out->last_write = (time_t)atomic_load(&s->last_write);
}

