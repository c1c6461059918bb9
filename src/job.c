/* The job model (job.h): a job's compact text and what is derived from it
 * once, outside any lock (id, status, times, groups, file sizes, digest),
 * and the rendering of its three files from the text. */
#include "job.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "jsontext.h"
#include "log.h"

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

static int parse_time(const char *s, time_t *out, int64_t *usec)
{
    int Y, M, D, h = 0, m = 0, sec = 0;
    int64_t frac = 0;
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
                int nd = 0;
                for (; isdigit((unsigned char)*p); p++, nd++)
                    if (nd < 6) /* beyond microseconds: cut */
                        frac = frac * 10 + (*p - '0');
                for (; nd < 6; nd++)
                    frac *= 10;
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
    if (usec)
        *usec = frac;
    return 0;
}

int job_parse_time(const char *s, time_t *out)
{
    return parse_time(s, out, NULL);
}

int job_parse_time_us(const char *s, int64_t *out)
{
    time_t t;
    int64_t us;
    if (parse_time(s, &t, &us) != 0)
        return -1;
    *out = (int64_t)t * 1000000 + us;
    return 0;
}

struct job *job_ref(struct job *j)
{
    atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
    return j;
}

void job_unref(struct job *j)
{
    if (j && atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1)
        free(j);
}

/* Each thread builds texts and renders in one reusable scratch buffer, so
 * a job holds exactly its bytes and no slack. */
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

/* A huge one-off text does not stay around as scratch space. */
static void scratch_done(struct buf *b)
{
    if (b->oom || b->cap > (1u << 20))
        buf_free(b);
}

static struct jt_span text_of(const struct job *j)
{
    return (struct jt_span){j->text, j->text_len};
}

static struct jt_span field_of(const struct job *j, enum page_field f)
{
    return (struct jt_span){j->text + j->field[f].off, j->field[f].len};
}

/* A string field of a page element, decoded into a small buffer; false when
 * it is absent, not a string or does not fit. */
static bool small_string(struct jt_span v, char *out, size_t cap)
{
    if (jt_type_of(v) != JT_STRING || v.len > cap)
        return false;
    struct buf b = {.p = out, .cap = cap};
    jt_string_append(v, &b);
    if (b.len >= cap)
        return false;
    out[b.len] = '\0';
    return memchr(out, '\0', b.len) == NULL;
}

/* The job's by-domain directory: its url's host, lower-case, with ":port"
 * when the url names a port, as a file name; _invalid when there is none. */
static void domain_of(struct jt_span url, char *out)
{
    char u[4096];
    strcpy(out, JOB_GROUP_INVALID);
    if (!small_string(url, u, sizeof u))
        return;
    /* libcurl reads "http:///x" as host "x": an empty authority is no host */
    const char *sep = strstr(u, "://");
    if (!sep || sep[3] == '/' || sep[3] == '\0')
        return;
    CURLU *cu = curl_url();
    char *host = NULL, *port = NULL;
    if (!cu || curl_url_set(cu, CURLUPART_URL, u, 0) != CURLUE_OK ||
        curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
        goto out;
    curl_url_get(cu, CURLUPART_PORT, &port, 0); /* only a port the url names */
    char name[NAME_MAX_BYTES + 1];
    int n = snprintf(name, sizeof name, "%s%s%s", host, port ? ":" : "", port ? port : "");
    if (n <= 0 || (size_t)n >= sizeof name)
        goto out;
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (names_encode_group(name, (size_t)n, out) < 0)
        strcpy(out, JOB_GROUP_INVALID);
out:
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(cu);
}

/* The by-date directory: the UTC day of created_at, or _invalid. */
static void date_of(const struct job *j, char *out)
{
    struct tm tm;
    time_t t = (time_t)(j->created_us / 1000000 - (j->created_us % 1000000 < 0));
    /* %Y does not pad years below 1000: format by hand, four digits only */
    if (!j->created_ok || !gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        strcpy(out, JOB_GROUP_INVALID);
        return;
    }
    snprintf(out, 16, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100);
}

/* Sizes of the three files, from the text (scratch: a buffer to render
 * job.json into, for its length). orig_len is the length of the object as
 * sent, which sets when job.json gives up indenting. */
static void size_files(struct job *j, size_t orig_len, struct buf *scratch)
{
    size_t before = scratch->len;
    j->compact_whole = !jt_pretty_limit(text_of(j), scratch, jt_pretty_budget(orig_len));
    j->size[JOB_JSON] = scratch->len - before + 1;
    scratch->len = before;

    struct jt_span v = field_of(j, PF_ERROR_MESSAGE);
    enum jt_type t = jt_type_of(v);
    size_t n = t == JT_STRING ? jt_string_decoded_len(v) : v.len;
    j->size[JOB_ERROR] = t == JT_INVALID || t == JT_NULL || n == 0 ? 0 : n + 1;

    v = field_of(j, PF_EXTRACTED_DATA);
    t = jt_type_of(v);
    j->size[JOB_DATA] = 0;
    if (t == JT_ARRAY) {
        struct jt_iter it;
        struct jt_span item;
        jt_array_begin(&it, v);
        while (jt_array_next(&it, &item))
            j->size[JOB_DATA] += item.len + 1;
    } else if (t != JT_INVALID && t != JT_NULL) {
        j->size[JOB_DATA] = v.len + 1;
    }
}

void job_render(const struct job *j, enum job_file f, struct buf *out)
{
    struct jt_span v;
    switch (f) {
    case JOB_JSON:
        if (j->compact_whole)
            buf_put(out, j->text, j->text_len);
        else
            jt_pretty_limit(text_of(j), out, SIZE_MAX);
        buf_putc(out, '\n');
        break;
    case JOB_ERROR:
        if (!j->size[JOB_ERROR])
            break;
        v = field_of(j, PF_ERROR_MESSAGE);
        if (jt_type_of(v) == JT_STRING)
            jt_string_append(v, out); /* the wrong type still carries a message */
        else
            buf_put(out, v.p, v.len);
        buf_putc(out, '\n');
        break;
    case JOB_DATA:
        v = field_of(j, PF_EXTRACTED_DATA);
        if (jt_type_of(v) == JT_ARRAY) {
            struct jt_iter it;
            struct jt_span item;
            jt_array_begin(&it, v);
            while (jt_array_next(&it, &item)) {
                buf_put(out, item.p, item.len);
                buf_putc(out, '\n');
            }
        } else if (j->size[JOB_DATA]) {
            buf_put(out, v.p, v.len);
            buf_putc(out, '\n');
        }
        break;
    default:
        break;
    }
}

bool job_string(const struct job *j, enum page_field f, struct buf *out)
{
    struct jt_span v = field_of(j, f);
    if (jt_type_of(v) != JT_STRING)
        return false;
    jt_string_append(v, out);
    return true;
}

/* Writes the element's text without whitespace (mending bad UTF-8) and
 * notes where each field's value lands in it: the text is compacted in
 * pieces cut at the field values, which never fall inside a string. */
static void compact_fields(const struct page_job *pj, struct buf *b, struct job_ref *ref)
{
    int order[PF_NFIELDS], n = 0;
    for (int f = 0; f < PF_NFIELDS; f++)
        if (pj->field[f].len)
            order[n++] = f;
    for (int a = 1; a < n; a++) /* a handful: insertion sort by position */
        for (int k = a; k > 0 && pj->field[order[k]].p < pj->field[order[k - 1]].p; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    void (*put)(struct jt_span, struct buf *) = pj->bad_utf8 ? jt_compact_mend : jt_compact;
    const char *at = pj->text.p, *end = pj->text.p + pj->text.len;
    for (int k = 0; k < n; k++) {
        struct jt_span v = pj->field[order[k]];
        put((struct jt_span){at, (size_t)(v.p - at)}, b);
        size_t start = b->len;
        put(v, b);
        ref[order[k]] = (struct job_ref){(uint32_t)start, (uint32_t)(b->len - start)};
        at = v.p + v.len;
    }
    put((struct jt_span){at, (size_t)(end - at)}, b);
}

int job_new(const struct page_job *pj, time_t now, struct job **out, char *why, size_t whylen)
{
    char name[NAME_MAX_BYTES + 1], domain[NAME_MAX_BYTES + 1], tmp[64];
    struct jt_span idv = pj->field[PF_JOB_ID];
    *out = NULL;
    if (!pj->object) {
        snprintf(why, whylen, "a job that is not a JSON object");
        return -EINVAL;
    }
    if (jt_type_of(idv) != JT_STRING) {
        snprintf(why, whylen, "a job without a string job_id");
        return -EINVAL;
    }
    if (pj->text.len > UINT32_MAX / 2) {
        snprintf(why, whylen, "a job larger than 2 GiB");
        return -EINVAL;
    }
    struct buf *sb = scratch_get();
    if (!sb)
        return -ENOMEM;
    struct buf b = *sb;
    struct job_ref ref[PF_NFIELDS] = {{0, 0}};
    compact_fields(pj, &b, ref);
    size_t text_len = b.len;
    /* the id as sent, not mended: it names the job to the API */
    jt_string_append(idv, &b);
    size_t id_len = b.len - text_len;
    int rc = -EINVAL;
    if (b.oom) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = names_encode(b.p + text_len, id_len, name)) < 0) {
        snprintf(why, whylen, "%s",
                 rc == -EINVAL ? "an empty job_id" : "a job_id longer than 255 bytes once encoded");
        rc = -EINVAL;
        goto out;
    }
    domain_of(pj->field[PF_URL], domain);
    size_t dlen = strlen(domain);
    struct job *j = malloc(sizeof *j + text_len + id_len + 1 + dlen + 1);
    if (!j) {
        rc = -ENOMEM;
        goto out;
    }
    memset(j, 0, sizeof *j);
    atomic_init(&j->refs, 1);
    memcpy(j->mem, b.p, text_len + id_len);
    j->mem[text_len + id_len] = '\0';
    memcpy(j->mem + text_len + id_len + 1, domain, dlen + 1);
    j->text = j->mem;
    j->text_len = text_len;
    j->id = j->mem + text_len;
    j->id_len = id_len;
    j->domain = j->mem + text_len + id_len + 1;
    memcpy(j->field, ref, sizeof ref);
    j->bytes = sizeof *j + text_len + id_len + 1 + dlen + 1;
    j->digest = fnv1a(j->text, j->text_len);

    j->status = ST_UNKNOWN;
    if (small_string(field_of(j, PF_STATUS), tmp, sizeof tmp))
        j->status = (uint8_t)job_status_parse(tmp);
    j->final = job_status_final(j->status);
    j->created_ok = small_string(field_of(j, PF_CREATED_AT), tmp, sizeof tmp) &&
                    job_parse_time_us(tmp, &j->created_us) == 0;
    time_t done;
    if (small_string(field_of(j, PF_COMPLETED_AT), tmp, sizeof tmp) &&
        job_parse_time(tmp, &done) == 0)
        j->mtime = done;
    else if (j->created_ok)
        j->mtime = (time_t)(j->created_us / 1000000 - (j->created_us % 1000000 < 0));
    else
        j->mtime = now;
    date_of(j, j->date);
    b.len = text_len; /* the id's bytes are copied: render job.json for its size */
    size_files(j, pj->text.len, &b);
    if (b.oom) {
        free(j);
        rc = -ENOMEM;
        goto out;
    }
    if (pj->bad_utf8 && log_once("badutf8", j->id, j->id_len))
        log_warn("job %.*s: bytes that are not UTF-8 are shown as U+FFFD",
                 (int)(j->id_len > 300 ? 300 : j->id_len), j->id);
    *out = j;
    rc = 0;
out:
    scratch_done(&b);
    *sb = b;
    return rc;
}

int job_new_bad(const struct page_job *pj, struct job **out)
{
    char tmp[64];
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    atomic_init(&j->refs, 1);
    j->bad = true;
    j->final = true; /* nothing to look at again: it has no id to ask for */
    j->status = ST_UNKNOWN;
    if (pj->object && small_string(pj->field[PF_STATUS], tmp, sizeof tmp))
        j->status = (uint8_t)job_status_parse(tmp);
    j->digest = fnv1a(pj->text.p, pj->text.len);
    j->bytes = sizeof *j;
    *out = j;
    return 0;
}

int job_parse(const char *text, size_t len, time_t now, struct job **out, char *why,
              size_t whylen)
{
    struct page_job pj;
    *out = NULL;
    if (page_parse_job(text, len, &pj) != 0) {
        /* a valid value that is not an object is shown as such below */
        struct jt_scan sc = {.utf8 = JT_UTF8_REPORT};
        size_t i = jt_skip_ws(text, len, 0);
        ssize_t end = jt_skip(text, len, i, &sc);
        if (end < 0 || jt_skip_ws(text, len, (size_t)end) != len || text[i] == '{') {
            snprintf(why, whylen, "text that is not JSON");
            return -EINVAL;
        }
        memset(&pj, 0, sizeof pj);
        pj.text = (struct jt_span){text + i, (size_t)end - i};
    }
    return job_new(&pj, now, out, why, whylen);
}

int job_parse_element(const char *text, size_t len, time_t now, struct job **out)
{
    char why[128];
    struct page_job pj;
    int rc = job_parse(text, len, now, out, why, sizeof why);
    if (rc != -EINVAL)
        return rc;
    if (page_parse_job(text, len, &pj) != 0) {
        struct jt_scan sc = {.utf8 = JT_UTF8_REPORT};
        size_t i = jt_skip_ws(text, len, 0);
        ssize_t end = jt_skip(text, len, i, &sc);
        if (end < 0)
            return -EINVAL;
        memset(&pj, 0, sizeof pj);
        pj.text = (struct jt_span){text + i, (size_t)end - i};
    }
    return job_new_bad(&pj, out);
}
