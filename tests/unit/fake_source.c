/* The fake API of fake_source.h. */
#include "fake_source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2026-01-01T00:00:00Z */
#define FAKE_EPOCH 1767225600

void fake_init(struct fake *f, int page_size)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->page_size = page_size;
    f->created_base = FAKE_EPOCH + 100 * 86400 + 16 * 3600; /* 16:00 UTC */
}

void fake_destroy(struct fake *f)
{
    free(f->jobs);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    memset(f, 0, sizeof *f);
}

static void insert_locked(struct fake *f, size_t at, const struct fake_job *j)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct fake_job *nj = realloc(f->jobs, cap * sizeof *nj);
        if (!nj)
            abort();
        f->jobs = nj;
        f->cap = cap;
    }
    if (at > f->n)
        at = f->n;
    memmove(f->jobs + at + 1, f->jobs + at, (f->n - at) * sizeof *f->jobs);
    f->jobs[at] = *j;
    f->n++;
}

void fake_insert(struct fake *f, size_t at, const char *id, int status, int64_t created,
                 const char *host, int rev)
{
    struct fake_job j = {.status = status, .created = created, .rev = rev};
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.host, sizeof j.host, "%s", host ? host : "");
    pthread_mutex_lock(&f->mu);
    insert_locked(f, at, &j);
    pthread_mutex_unlock(&f->mu);
}

void fake_fill(struct fake *f, const char *prefix, size_t n, int status)
{
    static const char *const hosts[] = {"a.example", "b.example", ""};
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s-%03zu", prefix, i);
        pthread_mutex_lock(&f->mu);
        int64_t created = f->created_base - (int64_t)f->n * 8 * 3600;
        pthread_mutex_unlock(&f->mu);
        fake_insert(f, SIZE_MAX, id, status, created, hosts[i % 3], 1);
    }
}

static struct fake_job *find_locked(struct fake *f, const char *id, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strlen(f->jobs[i].id) == len && memcmp(f->jobs[i].id, id, len) == 0)
            return &f->jobs[i];
    return NULL;
}

bool fake_remove(struct fake *f, const char *id)
{
    pthread_mutex_lock(&f->mu);
    struct fake_job *j = find_locked(f, id, strlen(id));
    if (j) {
        size_t at = (size_t)(j - f->jobs);
        memmove(f->jobs + at, f->jobs + at + 1, (f->n - at - 1) * sizeof *f->jobs);
        f->n--;
    }
    pthread_mutex_unlock(&f->mu);
    return j != NULL;
}

bool fake_update(struct fake *f, const char *id, int status, int rev)
{
    pthread_mutex_lock(&f->mu);
    struct fake_job *j = find_locked(f, id, strlen(id));
    if (j) {
        j->status = status;
        j->rev = rev;
    }
    pthread_mutex_unlock(&f->mu);
    return j != NULL;
}

bool fake_set_bad(struct fake *f, const char *id, bool bad)
{
    pthread_mutex_lock(&f->mu);
    struct fake_job *j = find_locked(f, id, strlen(id));
    if (j)
        j->bad = bad;
    pthread_mutex_unlock(&f->mu);
    return j != NULL;
}

static bool matches(const struct fake_job *j, const char *status)
{
    return !status || strcmp(job_status_names[j->status], status) == 0;
}

size_t fake_ids(struct fake *f, int status, char (*ids)[32], size_t max)
{
    const char *st = status < 0 ? NULL : job_status_names[status];
    size_t k = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t x = 0; x < f->n; x++) {
        size_t i = f->oldest ? f->n - 1 - x : x;
        if (!matches(&f->jobs[i], st))
            continue;
        if (k < max)
            memcpy(ids[k], f->jobs[i].id, sizeof ids[k]);
        k++;
    }
    pthread_mutex_unlock(&f->mu);
    return k;
}

bool fake_get(struct fake *f, const char *id, struct fake_job *out)
{
    pthread_mutex_lock(&f->mu);
    struct fake_job *j = find_locked(f, id, strlen(id));
    if (j)
        *out = *j;
    pthread_mutex_unlock(&f->mu);
    return j != NULL;
}

static void iso(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

size_t fake_json(const struct fake_job *j, char *buf, size_t cap)
{
    const char *st = job_status_names[j->status];
    if (j->bad) /* no string id; its name makes its text (its identity) its own */
        return (size_t)snprintf(buf, cap, "{\"job_id\": 42, \"status\": \"%s\", \"name\": \"%s\"}",
                                st, j->id);
    char created[32], completed[48] = "null", url[96] = "null";
    iso(j->created, created, sizeof created);
    bool final = j->status == ST_COMPLETED || j->status == ST_FAILED || j->status == ST_CANCELLED;
    if (final) {
        char t[32];
        iso(j->created + 3600, t, sizeof t);
        snprintf(completed, sizeof completed, "\"%s\"", t);
    }
    if (j->host[0])
        snprintf(url, sizeof url, "\"https://%s/p/%s\"", j->host, j->id);
    return (size_t)snprintf(buf, cap,
                            "{\"job_id\": \"%s\", \"status\": \"%s\", \"url\": %s, "
                            "\"created_at\": \"%s\", \"completed_at\": %s, "
                            "\"error_message\": %s, \"extracted_data\": {\"rev\": %d}}",
                            j->id, st, url, created, completed,
                            j->status == ST_FAILED ? "\"boom\"" : "null", j->rev);
}

struct job *fake_build(const struct fake_job *j)
{
    char text[512], why[128];
    size_t len = fake_json(j, text, sizeof text);
    struct job *out = NULL;
    if (len >= sizeof text || job_parse(text, len, time(NULL), &out, why, sizeof why) != 0)
        return NULL;
    return out;
}

/* Whether this call fails, and with what (lock held). */
static int take_failure(struct fake_fail *fl)
{
    if (fl->all)
        return fl->err;
    if (fl->next > 0) {
        fl->next--;
        return fl->err;
    }
    return 0;
}

static void gate_pass(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    if (f->gate_hold > 0) {
        f->gate_hold--;
        f->gate_blocked++;
        unsigned gen = f->gate_gen;
        pthread_cond_broadcast(&f->cv);
        while (f->gate_gen == gen)
            pthread_cond_wait(&f->cv, &f->mu);
        f->gate_blocked--;
    }
    pthread_mutex_unlock(&f->mu);
}

struct built {
    struct job **jobs;
    size_t n;
    long total;
};

/* Builds the page at offset of the view (lock held). */
static void build_page(struct fake *f, const char *status, long offset, time_t now,
                       struct built *b)
{
    b->jobs = calloc((size_t)f->page_size, sizeof *b->jobs);
    if (!b->jobs)
        abort();
    long k = 0;
    for (size_t x = 0; x < f->n; x++) {
        const struct fake_job *j = &f->jobs[f->oldest ? f->n - 1 - x : x];
        if (!matches(j, status))
            continue;
        if (k >= offset && k < offset + f->page_size) {
            char text[512];
            size_t len = fake_json(j, text, sizeof text);
            struct job *job = NULL;
            /* an element that cannot be shown comes as its stand-in */
            if (len >= sizeof text || job_parse_element(text, len, now, &job) != 0)
                abort();
            b->jobs[b->n++] = job;
        }
        k++;
    }
    b->total = k;
}

static int view_index(const char *status)
{
    if (!status)
        return 0;
    int s = (int)job_status_parse(status);
    return s < JOB_NSTATUS ? 1 + s : 0;
}

static int fake_pages(void *ctx, const struct source_call *call, const char *status,
                      const long *offsets, size_t n, struct page_sink *sink)
{
    struct fake *f = ctx;
    time_t now = call->now;
    char *err = call->err;
    size_t errlen = call->errlen;
    pthread_mutex_lock(&f->mu);
    f->counts.pages_calls++;
    f->counts.list_calls += (int)n;
    f->counts.list_by_view[view_index(status)] += (int)n;
    int rc = take_failure(&f->fail_pages);
    pthread_mutex_unlock(&f->mu);
    if (rc) {
        gate_pass(f);
        snprintf(err, errlen, "fake: injected list failure (%s)", strerror(-rc));
        return rc;
    }
    /* each page is taken from the model as it is now, just before it is
     * handed over, so a hook can change the model between two pages */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct built b = {0};
        pthread_mutex_lock(&f->mu);
        build_page(f, status, offsets[i], now, &b);
        fake_hook h = f->after_page;
        void *arg = f->hook_arg;
        pthread_mutex_unlock(&f->mu);
        if (i == 0)
            gate_pass(f); /* held with its first page's answer in hand */
        rc = sink->page(sink, offsets[i], b.jobs, b.n, b.total);
        free(b.jobs);
        if (rc)
            snprintf(err, errlen, "fake: the sink refused the page at %ld", offsets[i]);
        else if (h)
            h(f, status, offsets[i], arg);
    }
    return rc;
}

static int fake_job_call(void *ctx, const struct source_call *call, const char *id,
                         size_t idlen, struct job **out)
{
    struct fake *f = ctx;
    time_t now = call->now;
    char *err = call->err;
    size_t errlen = call->errlen;
    struct job *j = NULL;
    *out = NULL;
    pthread_mutex_lock(&f->mu);
    f->counts.detail_calls++;
    int frc = take_failure(&f->fail_job);
    struct fake_job *fj = frc ? NULL : find_locked(f, id, idlen);
    if (fj) {
        char text[512], why[128];
        size_t len = fake_json(fj, text, sizeof text);
        if (len >= sizeof text || job_parse(text, len, now, &j, why, sizeof why) != 0)
            frc = -EIO; /* a detail answer that cannot be shown */
    }
    pthread_mutex_unlock(&f->mu);

    gate_pass(f);

    if (frc) {
        snprintf(err, errlen, "fake: injected job failure (%s)", strerror(-frc));
        return frc;
    }
    if (!j) {
        snprintf(err, errlen, "fake: 404");
        return -ENOENT;
    }
    *out = j;
    return 0;
}

static const struct source_ops fake_ops = {.pages = fake_pages, .job = fake_job_call};

struct source fake_source(struct fake *f)
{
    return (struct source){.ops = &fake_ops, .ctx = f, .page_size = f->page_size};
}

struct fake_counts fake_counts(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    struct fake_counts c = f->counts;
    pthread_mutex_unlock(&f->mu);
    return c;
}

void fake_fail_pages(struct fake *f, int next, bool all, int err)
{
    pthread_mutex_lock(&f->mu);
    f->fail_pages = (struct fake_fail){.next = next, .all = all, .err = err};
    pthread_mutex_unlock(&f->mu);
}

void fake_fail_jobs(struct fake *f, int next, bool all, int err)
{
    pthread_mutex_lock(&f->mu);
    f->fail_job = (struct fake_fail){.next = next, .all = all, .err = err};
    pthread_mutex_unlock(&f->mu);
}

void fake_set_hook(struct fake *f, fake_hook h, void *arg)
{
    pthread_mutex_lock(&f->mu);
    f->after_page = h;
    f->hook_arg = arg;
    pthread_mutex_unlock(&f->mu);
}

void fake_gate_hold(struct fake *f, int n)
{
    pthread_mutex_lock(&f->mu);
    f->gate_hold = n;
    pthread_mutex_unlock(&f->mu);
}

bool fake_gate_wait(struct fake *f, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&f->mu);
    int rc = 0;
    while (f->gate_blocked < n && rc == 0)
        rc = pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    bool ok = f->gate_blocked >= n;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

void fake_gate_open(struct fake *f)
{
    pthread_mutex_lock(&f->mu);
    f->gate_hold = 0;
    f->gate_gen++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}
