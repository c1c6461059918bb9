/* Opening the store (store.h): where it lives, its name, its lock, its
 * schema, and setting aside one that cannot be used.
 *
 * Schema (application_id 'SCFS', user_version 1):
 *   jobs(seq INTEGER PRIMARY KEY, id BLOB, meta BLOB)   meta: STORE_JOB_META bytes
 *   texts(seq INTEGER PRIMARY KEY, digest, used, data BLOB)
 *   groups(view INTEGER PRIMARY KEY, kind, name BLOB, meta BLOB)
 *   views(view INTEGER PRIMARY KEY, meta BLOB, members BLOB)
 * Fixed fields are packed little-endian in the meta blobs, each ending in
 * an FNV-1a checksum of what it describes, so a flipped bit is seen on
 * load. Rows are replaced whole; one store_write is one transaction.
 */
#include <errno.h>
#include <openssl/evp.h>
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

/* ---- opening ---- */

char *store_default_dir(void)
{
    const char *cd = getenv("CACHE_DIRECTORY"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char *out = NULL;
    if (cd && *cd) {
        size_t n = strcspn(cd, ":"); /* systemd separates several with ':' */
        if (asprintf(&out, "%.*s", (int)n, cd) < 0)
            out = NULL;
    } else if (xdg && *xdg == '/') {
        if (asprintf(&out, "%s/scrapefs", xdg) < 0)
            out = NULL;
    } else if (home && *home == '/') {
        if (asprintf(&out, "%s/.cache/scrapefs", home) < 0)
            out = NULL;
    }
    return out;
}

/* The account's file name: SHA-256 of the URL and the key, in hex. */
static int fingerprint(const char *url, const char *key, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, "scrapefs store\n", 15) &&
             EVP_DigestUpdate(ctx, url, strlen(url)) && EVP_DigestUpdate(ctx, "\n", 1) &&
             EVP_DigestUpdate(ctx, key, strlen(key)) && EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    if (!ok || len != 32)
        return -EIO;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Makes dir and its parents, the last one 0700. */
static int make_dir(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -ENOMEM;
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    int rc = mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -errno;
    struct stat st;
    if (rc == 0 && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = -ENOTDIR;
    if (rc == 0 && (st.st_mode & 077) && st.st_uid == getuid())
        chmod(p, 0700); /* it holds scraped data: the owner's only */
    free(p);
    return rc;
}

int store_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        log_warn("store: %s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

int store_pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static const char *const schema_sql =
    "PRAGMA auto_vacuum = INCREMENTAL;"
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, meta BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS texts (seq INTEGER PRIMARY KEY, digest INTEGER NOT NULL, "
    "  used INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS texts_used ON texts(used);"
    "CREATE TABLE IF NOT EXISTS groups (view INTEGER PRIMARY KEY, kind INTEGER NOT NULL, "
    "  name BLOB NOT NULL, meta BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS views (view INTEGER PRIMARY KEY, meta BLOB NOT NULL, "
    "  members BLOB NOT NULL);"
    "PRAGMA application_id = 1396917843;" /* APP_ID */
    "PRAGMA user_version = 1;";

static void close_db(struct store *s)
{
    for (int i = 0; i < READERS; i++) {
        sqlite3_finalize(s->text_q[i]);
        s->text_q[i] = NULL;
        sqlite3_close(s->readers[i]);
        s->readers[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
}

/* Opens the database file (made 0600 when missing) for the writer and the
 * readers. Returns 0, 1 when it is not ours (another schema, not a
 * database at all: to set aside), or a negative errno. */
int store_open_db(struct store *s)
{
    int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    bool empty = fstat(fd, &st) == 0 && st.st_size == 0;
    fchmod(fd, 0600);
    close(fd);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK)
        return 1;
    sqlite3_busy_timeout(s->db, 5000);
    int64_t app = 0, version = 0;
    if (store_pragma_int(s->db, "PRAGMA application_id", &app) != SQLITE_OK ||
        store_pragma_int(s->db, "PRAGMA user_version", &version) != SQLITE_OK)
        return 1; /* not a database: SQLITE_NOTADB */
    if (!empty && (app != APP_ID || version != SCHEMA))
        return 1;
    /* Page caches are memory beside cache_size, and the OS caches the
     * file anyway: the writer appends (rows keyed by a growing number) and
     * needs little more than the right edge of each tree, a reader looks
     * up one text by key. 1 MiB and 128 KiB cost 0.15x of the JSON at
     * 10,000 jobs in bench/ and bought no speed. */
    if (store_exec(s->db, schema_sql) != SQLITE_OK ||
        store_exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256") != SQLITE_OK)
        return 1;
    for (int i = 0; i < READERS; i++) {
        if (sqlite3_open_v2(s->path, &s->readers[i], SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK ||
            store_exec(s->readers[i], "PRAGMA cache_size = -64") != SQLITE_OK ||
            sqlite3_prepare_v3(s->readers[i], "SELECT t.digest, t.data, j.id FROM texts t "
                               "JOIN jobs j ON j.seq = t.seq WHERE t.seq = ?", -1,
                               SQLITE_PREPARE_PERSISTENT, &s->text_q[i], NULL) != SQLITE_OK)
            return 1;
        sqlite3_busy_timeout(s->readers[i], 5000);
    }
    int64_t n = 0, pages = 0, size = 0;
    if (store_pragma_int(s->db, "SELECT count(*) FROM texts", &n) != SQLITE_OK ||
        store_pragma_int(s->db, "PRAGMA page_count", &pages) != SQLITE_OK ||
        store_pragma_int(s->db, "PRAGMA page_size", &size) != SQLITE_OK)
        return 1;
    atomic_store(&s->texts, (uint64_t)n);
    atomic_store(&s->bytes, (uint64_t)(pages * size));
    if (!empty)
        atomic_store(&s->last_write, (int64_t)st.st_mtime);
    if (store_pragma_int(s->db, "SELECT count(*) FROM views", &n) != SQLITE_OK)
        return 1;
    s->warm = n > 0;
    return 0;
}

/* Renames a store that cannot be used beside itself, with its WAL files,
 * so a person can look at it; the mount starts cold. */
void store_set_aside(struct store *s, const char *why)
{
    close_db(s);
    char *aside = NULL;
    if (asprintf(&aside, "%s.damaged-%lld", s->path, (long long)time(NULL)) < 0) {
        unlink(s->path); /* no memory even to name it: it goes */
        aside = NULL;
    }
    log_warn("store %s %s: set aside as %s; starting cold", s->path, why,
             aside ? aside : "nothing (removed)");
    if (aside)
        rename(s->path, aside);
    for (int i = 0; i < 2; i++) {
        char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s%s", s->path, i ? "-shm" : "-wal") >= 0 &&
            (!aside || asprintf(&to, "%s%s", aside, i ? "-shm" : "-wal") >= 0)) {
            if (to)
                rename(from, to);
            else
                unlink(from);
        }
        free(from);
        free(to);
    }
    free(aside);
    s->warm = false;
}

int store_open(const struct store_config *cfg, struct store **out)
{
    char fp[65];
    *out = NULL;
    int rc = fingerprint(cfg->api_url, cfg->key, fp);
    if (rc == 0)
        rc = make_dir(cfg->dir);
    if (rc) {
        log_warn("store: cannot use %s: %s; running without it", cfg->dir, strerror(-rc));
        return rc;
    }
    struct store *s = calloc(1, sizeof *s);
    if (!s || asprintf(&s->path, "%s/%s.db", cfg->dir, fp) < 0 ||
        asprintf(&s->lock_path, "%s/%s.lock", cfg->dir, fp) < 0) {
        if (s)
            free(s->path);
        free(s);
        return -ENOMEM;
    }
    s->max_bytes = cfg->max_bytes;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = s->lock_fd < 0 ? -errno : -EBUSY;
        log_warn("store %s: %s; running without it", s->path,
                 rc == -EBUSY ? "another mount of this account uses it" : strerror(-rc));
        store_close(s);
        return rc;
    }
    rc = store_open_db(s);
    if (rc == 1) {
        store_set_aside(s, "is not a store of this version");
        rc = store_open_db(s);
    }
    if (rc) {
        log_warn("store %s cannot be opened: %s; running without it", s->path,
                 rc == 1 ? "not a database" : strerror(-rc));
        store_close(s);
        return rc == 1 ? -EIO : rc;
    }
    *out = s;
    return 0;
}

bool store_peek(const struct store_config *cfg)
{
    char fp[65], *path = NULL, *lock = NULL;
    bool warm = false;
    if (fingerprint(cfg->api_url, cfg->key, fp) != 0 ||
        asprintf(&path, "%s/%s.db", cfg->dir, fp) < 0 ||
        asprintf(&lock, "%s/%s.lock", cfg->dir, fp) < 0) {
        free(path);
        return false;
    }
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    sqlite3 *db = NULL;
    int64_t app = 0, version = 0, views = 0;
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        store_pragma_int(db, "PRAGMA application_id", &app) == SQLITE_OK &&
        store_pragma_int(db, "PRAGMA user_version", &version) == SQLITE_OK && app == APP_ID &&
        version == SCHEMA && store_pragma_int(db, "SELECT count(*) FROM views", &views) == SQLITE_OK)
        warm = views > 0;
    sqlite3_close(db);
    if (fd >= 0)
        close(fd);
    free(path);
    free(lock);
    return warm;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    close_db(s);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* drops the flock */
    vec_free(&s->touched);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s->lock_path);
    free(s);
}

bool store_warm(const struct store *s)
{
    return s && s->warm;
}

const char *store_path(const struct store *s)
{
    return s->path;
}

