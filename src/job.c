#include "job.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"

const char *const job_file_names[JOB_NFILES] = {"job.json", "error.txt", "data.jsonl"};
const char *const job_status_names[JOB_NSTATUS] = {"pending", "processing", "completed",
                                                   "failed", "cancelled"};

enum job_status job_status_parse(const char *s)
{
    if (s)
        for (int i = 0; i < JOB_NSTATUS; i++)
            if (strcmp(s, job_status_names[i]) == 0)
                return (enum job_status)i;
    return ST_UNKNOWN;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int job_parse_time(const char *s, time_t *out)
{
    int Y, M, D, h = 0, m = 0, sec = 0;
    const char *p = s;
    if (!s || digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
        digits(&p, 2, &D))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                if (!isdigit((unsigned char)*p))
                    return -1;
                while (isdigit((unsigned char)*p))
                    p++;
            }
        }
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600L + om * 60L);
    }
    if (*p != '\0')
        return -1;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) ||
        h > 23 || m > 59 || sec > 60)
        return -1; /* timegm would roll 2026-02-30 over into March */
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    /* timegm's -1 is also 1969-12-31T23:59:59Z: the fields were checked */
    *out = timegm(&tm) - off;
    return 0;
}

struct job *job_ref(struct job *j)
{
    atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
    return j;
}

static void job_free(struct job *j)
{
    free(j->id);
    free(j->status_text);
    free(j->url);
    free(j->created_at);
    free(j->completed_at);
    free(j->file[0]);
    free(j);
}

void job_unref(struct job *j)
{
    if (j && atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1)
        job_free(j);
}

/* A string field as decoded text; NULL when absent, null or not a string. */
static char *string_field(struct jt_span obj, const char *key, bool *oom)
{
    struct jt_span v;
    size_t n;
    if (!jt_object_get(obj, key, &v) || jt_type_of(v) != JT_STRING)
        return NULL;
    char *s = jt_string_decode(v, &n);
    if (!s)
        *oom = true;
    return s;
}

/* Renders the three files into one allocation of exactly their size: they
 * are built in a per-thread scratch buffer first, so the cache holds no
 * slack and leaves no holes behind when a render is replaced. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    buf_free(p);
    free(p);
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch buffer, emptied; NULL when out of memory. */
static struct buf *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_init);
    struct buf *b = pthread_getspecific(scratch_key);
    if (!b && (b = calloc(1, sizeof *b)) != NULL && pthread_setspecific(scratch_key, b) != 0) {
        free(b);
        b = NULL;
    }
    if (b) {
        b->len = 0;
        b->oom = false;
    }
    return b;
}

static int render(struct job *j, struct jt_span obj)
{
    struct buf *sb = scratch_get();
    struct jt_span v;
    if (!sb)
        return -ENOMEM;
    struct buf b = *sb;

    jt_pretty(obj, &b);
    buf_putc(&b, '\n');
    size_t json_len = b.len;

    if (jt_object_get(obj, "error_message", &v)) {
        enum jt_type t = jt_type_of(v);
        if (t == JT_STRING) {
            size_t n;
            char *msg = jt_string_decode(v, &n);
            if (!msg)
                b.oom = true;
            else if (n) {
                buf_put(&b, msg, n);
                buf_putc(&b, '\n');
            }
            free(msg);
        } else if (t != JT_NULL) {
            /* the wrong type still carries a message worth showing */
            jt_compact(v, &b);
            buf_putc(&b, '\n');
        }
    }
    size_t err_len = b.len - json_len;

    if (jt_object_get(obj, "extracted_data", &v)) {
        enum jt_type t = jt_type_of(v);
        struct jt_iter it;
        struct jt_span item;
        if (t == JT_ARRAY && jt_array_begin(&it, v)) {
            while (jt_array_next(&it, &item)) {
                jt_compact(item, &b);
                buf_putc(&b, '\n');
            }
        } else if (t != JT_NULL) {
            jt_compact(v, &b);
            buf_putc(&b, '\n');
        }
    }
    size_t len = b.len;
    char *p = b.oom ? NULL : malloc(len ? len : 1);
    if (p)
        memcpy(p, b.p, len);
    /* a huge one-off render does not stay around as scratch space */
    if (b.oom || b.cap > (1u << 20))
        buf_free(&b);
    *sb = b;
    if (!p)
        return -ENOMEM;
    j->file[JOB_JSON] = p;
    j->size[JOB_JSON] = json_len;
    j->file[JOB_ERROR] = p + json_len;
    j->size[JOB_ERROR] = err_len;
    j->file[JOB_DATA] = p + json_len + err_len;
    j->size[JOB_DATA] = len - json_len - err_len;
    j->bytes += len;
    return 0;
}

int job_parse(const char *text, size_t len, time_t now, struct job **out, char *why, size_t whylen)
{
    struct jt_span obj = {text, len};
    struct jt_span v;
    bool oom = false;
    int rc;

    *out = NULL;
    if (jt_type_of(obj) != JT_OBJECT) {
        snprintf(why, whylen, "a job that is not a JSON object");
        return -EINVAL;
    }
    if (!jt_object_get(obj, "job_id", &v) || jt_type_of(v) != JT_STRING) {
        snprintf(why, whylen, "a job without a string job_id");
        return -EINVAL;
    }
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    atomic_init(&j->refs, 1);
    j->id = jt_string_decode(v, &j->id_len);
    if (!j->id) {
        rc = -ENOMEM;
        goto fail;
    }
    char name[NAME_MAX_BYTES + 1];
    rc = names_encode(j->id, j->id_len, name);
    if (rc < 0) {
        snprintf(why, whylen, "%s", rc == -EINVAL ? "an empty job_id" : "a job_id longer than 255 bytes once encoded");
        rc = -EINVAL;
        goto fail;
    }
    j->status_text = string_field(obj, "status", &oom);
    j->url = string_field(obj, "url", &oom);
    j->created_at = string_field(obj, "created_at", &oom);
    j->completed_at = string_field(obj, "completed_at", &oom);
    if (oom) {
        rc = -ENOMEM;
        goto fail;
    }
    j->status = job_status_parse(j->status_text);
    j->final = j->status == ST_COMPLETED || j->status == ST_FAILED || j->status == ST_CANCELLED;
    j->created_ok = job_parse_time(j->created_at, &j->created) == 0;
    time_t done;
    if (job_parse_time(j->completed_at, &done) == 0)
        j->mtime = done;
    else if (j->created_ok)
        j->mtime = j->created;
    else
        j->mtime = now;
    j->bytes = sizeof *j + j->id_len + 1;
    j->bytes += j->status_text ? strlen(j->status_text) + 1 : 0;
    j->bytes += j->url ? strlen(j->url) + 1 : 0;
    j->bytes += j->created_at ? strlen(j->created_at) + 1 : 0;
    j->bytes += j->completed_at ? strlen(j->completed_at) + 1 : 0;
    rc = render(j, obj);
    if (rc)
        goto fail;
    *out = j;
    return 0;
fail:
    job_free(j);
    return rc;
}

void job_domain(const struct job *j, char *out)
{
    strcpy(out, JOB_GROUP_INVALID);
    /* libcurl reads "http:///x" as host "x": an empty authority is no host */
    const char *sep = j->url ? strstr(j->url, "://") : NULL;
    if (!sep || sep[3] == '/' || sep[3] == '\0')
        return;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, j->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
        goto out;
    curl_url_get(u, CURLUPART_PORT, &port, 0); /* only a port the url names */
    char name[NAME_MAX_BYTES + 1];
    int n = snprintf(name, sizeof name, "%s%s%s", host, port ? ":" : "", port ? port : "");
    if (n <= 0 || (size_t)n >= sizeof name)
        goto out;
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (names_encode(name, (size_t)n, out) < 0)
        strcpy(out, JOB_GROUP_INVALID);
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

void job_date(const struct job *j, char *out)
{
    struct tm tm;
    /* %Y does not pad years below 1000: format by hand, four digits only */
    if (!j->created_ok || !gmtime_r(&j->created, &tm) || tm.tm_year < -1900 ||
        tm.tm_year > 9999 - 1900) {
        strcpy(out, JOB_GROUP_INVALID);
        return;
    }
    snprintf(out, 16, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100);
}
