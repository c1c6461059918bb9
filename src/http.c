/* The HTTP client (http.h): one network thread drives a libcurl multi
 * handle; callers hand it batches and wait on their own condition
 * variable. Retries with backoff and jitter, Retry-After, the size cap and
 * per-operation deadlines all live here, and one function maps outcomes to
 * errno. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

const char *const http_err_kind_names[HE_NKINDS] = {
    "timeout", "network", "http_5xx", "http_429", "auth", "not_found", "http_other",
    "malformed", "too_big"};
const char *const http_kind_names[HTTP_NKINDS] = {"probe", "list", "detail"};

#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000

/* Everything a batch of requests waits on. */
struct batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct xfer *done, **done_tail; /* finished attempts, in finishing order */
    /* Backpressure: bodies finished and not yet handed over may number at
     * most `limit`; beyond it, no request of the batch starts. A caller
     * that parses slower than a fast network would otherwise find every
     * page of a large listing in memory at once. */
    atomic_int backlog;
    int limit;
};

/* One request as the network thread sees it. Owned by http_run_each's frame. */
struct xfer {
    struct http_req *req;
    size_t index;      /* in its batch */
    struct batch *batch;
    struct http_client *c;
    CURL *easy;
    struct buf body;
    bool too_big;
    int64_t deadline, next_try;
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *next;      /* in the network thread's lists */
    struct xfer *done_next; /* in the batch's done queue */
};

struct http_client {
    struct http_config cfg;
    char *api_key;
    char *ca_file;
    struct curl_slist *headers;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;      /* guards incoming and stopping */
    struct xfer *incoming;
    bool stopping;
    struct xfer *active;     /* in the multi handle; network thread only */
    _Atomic uint64_t requests[HTTP_NKINDS], retries, errors[HE_NKINDS], bytes;
    unsigned rng;
};

int http_errno(long status, int curl_code)
{
    if (curl_code == CURLE_OK) {
        if (status >= 200 && status < 300)
            return 0;
        if (status == 401 || status == 403)
            return -EACCES;
        if (status == 404)
            return -ENOENT;
    }
    return -EIO;
}

void http_escape(struct buf *out, const char *bytes, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)bytes[i];
        if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
            b == '-' || b == '.' || b == '_' || b == '~') {
            buf_putc(out, (char)b);
        } else {
            char e[3] = {'%', hex[b >> 4], hex[b & 15]};
            buf_put(out, e, 3);
        }
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    size_t cap = x->c->cfg.body_cap;
    if (x->body.len + n > cap) {
        x->too_big = true;
        return 0; /* aborts the transfer: refused, not buffered */
    }
    buf_put(&x->body, data, n);
    if (x->body.oom)
        return 0;
    return n;
}

static void active_remove(struct http_client *c, struct xfer *x)
{
    for (struct xfer **pp = &c->active; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            x->next = NULL;
            return;
        }
}

static void finish(struct xfer *x, int err, const char *msg)
{
    struct http_req *r = x->req;
    r->err = err;
    if (err == 0) {
        r->body = x->body.p;
        r->len = x->body.len;
        x->body.p = NULL;
        x->body.len = x->body.cap = 0;
    } else {
        snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
    }
    buf_free(&x->body);
    if (x->easy) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    atomic_fetch_add(&x->batch->backlog, 1);
    pthread_mutex_lock(&x->batch->mu);
    x->done_next = NULL;
    *x->batch->done_tail = x;
    x->batch->done_tail = &x->done_next;
    pthread_cond_broadcast(&x->batch->cv);
    pthread_mutex_unlock(&x->batch->mu);
}

static int start(struct http_client *c, struct xfer *x, int64_t now)
{
    if (!x->easy) {
        x->easy = curl_easy_init();
        if (!x->easy)
            return -ENOMEM;
        CURL *e = x->easy;
        curl_easy_setopt(e, CURLOPT_URL, x->req->url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(e, CURLOPT_PRIVATE, x);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->cfg.body_cap);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* a job id is not a path */
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "scrapefs/" SCRAPEFS_VERSION);
        if (c->ca_file)
            curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    }
    /* An attempt gets its share of what is left, so a server that trickles
     * (or never answers) still leaves time for the retries; the last one
     * gets everything that remains. */
    int64_t left = x->deadline - now;
    int tries_left = c->cfg.retries + 1 - x->req->attempts;
    int64_t budget = tries_left > 1 ? left / tries_left : left;
    if (budget < 1000 && left > 1000)
        budget = 1000;
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)(budget > 0 ? budget : 1));
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < 10000 ? left : 10000));
    buf_free(&x->body);
    x->too_big = false;
    x->errbuf[0] = '\0';
    x->req->attempts++;
    atomic_fetch_add(&c->requests[x->req->kind], 1);
    log_debug("GET %s%s", x->req->url, x->req->attempts > 1 ? " (retry)" : "");
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
        return -ENOMEM;
    return 0;
}

/* Exponential backoff with jitter before attempt attempts + 1. */
static int64_t backoff_ms(unsigned *rng, int attempts)
{
    int64_t d = (int64_t)BACKOFF_BASE_MS << (attempts - 1 < 10 ? attempts - 1 : 10);
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    *rng = *rng * 1103515245u + 12345u;
    return d / 2 + (int64_t)((*rng >> 8) % (unsigned)(d / 2 + 1));
}

/* Decides what a finished attempt means: done, or another try later. */
static void on_done(struct http_client *c, struct xfer *x, CURLcode res, int64_t now,
                    struct xfer **waiting)
{
    struct http_req *r = x->req;
    long status = 0;
    curl_off_t retry_after = 0;
    char msg[256];
    bool retryable = false;
    enum http_err_kind kind = HE_NETWORK;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(c->multi, x->easy);
    active_remove(c, x);
    r->status = status;
    atomic_fetch_add(&c->bytes, x->body.len);

    log_debug("%s: HTTP %ld, %zu bytes%s%s", r->url, status, x->body.len,
              res == CURLE_OK ? "" : ", ", res == CURLE_OK ? "" : curl_easy_strerror(res));
    if (res == CURLE_OK) {
        if (status >= 200 && status < 300) {
            finish(x, 0, NULL); /* the caller judges the body (http_run_each) */
            return;
        } else {
            snprintf(msg, sizeof msg, "HTTP %ld", status);
            if (status == 429 || status == 503) {
                curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after);
                retryable = true;
                kind = status == 429 ? HE_HTTP_429 : HE_HTTP_5XX;
            } else if (status >= 500) {
                retryable = true;
                kind = HE_HTTP_5XX;
            } else if (status == 401 || status == 403) {
                kind = HE_AUTH;
            } else if (status == 404) {
                kind = HE_NOT_FOUND;
            } else {
                kind = HE_HTTP_OTHER;
            }
        }
    } else if (x->too_big || res == CURLE_FILESIZE_EXCEEDED) {
        kind = HE_TOO_BIG;
        snprintf(msg, sizeof msg, "response body larger than %zu MiB refused",
                 c->cfg.body_cap >> 20);
    } else {
        snprintf(msg, sizeof msg, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
        switch (res) {
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
        case CURLE_OUT_OF_MEMORY:
            break; /* retrying cannot help */
        case CURLE_OPERATION_TIMEDOUT:
            kind = HE_TIMEOUT;
            retryable = true;
            break;
        default:
            retryable = true;
            break;
        }
    }
    atomic_fetch_add(&c->errors[kind], 1);

    if (retryable && r->attempts <= c->cfg.retries) {
        int64_t delay;
        if (retry_after > 0) {
            /* a hostile Retry-After is bounded by the deadline below */
            delay = (retry_after > 86400 ? 86400 : (int64_t)retry_after) * 1000;
        } else {
            delay = backoff_ms(&c->rng, r->attempts);
        }
        if (now + delay < x->deadline) {
            log_debug("%s: %s; retry %d in %lld ms", http_kind_names[r->kind], msg, r->attempts,
                      (long long)delay);
            atomic_fetch_add(&c->retries, 1);
            x->next_try = now + delay;
            x->next = *waiting;
            *waiting = x;
            return;
        }
    }
    if (retryable && r->attempts > 1) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, " (after %d attempts)", r->attempts);
    }
    finish(x, http_errno(status, res), msg);
}

/* A slot is free, and x's batch is not behind in taking its bodies (the
 * caller wakes the network thread when it catches up). */
static bool may_start(const struct http_client *c, struct xfer *x, int inflight)
{
    return inflight < c->cfg.max_conns && atomic_load(&x->batch->backlog) < x->batch->limit;
}

static void *net_main(void *arg)
{
    struct http_client *c = arg;
    struct xfer *waiting = NULL;
    int inflight = 0;

    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stopping = c->stopping;
        if (c->incoming) {
            /* appended, so requests start in the order they came */
            struct xfer **tail = &waiting;
            while (*tail)
                tail = &(*tail)->next;
            *tail = c->incoming;
            c->incoming = NULL;
        }
        pthread_mutex_unlock(&c->mu);

        int64_t now = clock_mono_ms();
        if (stopping) {
            while (waiting) {
                struct xfer *x = waiting;
                waiting = x->next;
                finish(x, -EIO, "shutting down");
            }
            while (c->active) {
                struct xfer *x = c->active;
                curl_multi_remove_handle(c->multi, x->easy);
                active_remove(c, x);
                finish(x, -EIO, "shutting down");
            }
            return NULL;
        }

        /* Fail what is past its deadline, waiting for a slot or not; then
         * start what is due, oldest first (waiting is in arrival order). */
        struct xfer **pp = &waiting;
        while (*pp) {
            struct xfer *x = *pp;
            if (now >= x->deadline) {
                *pp = x->next;
                atomic_fetch_add(&c->errors[HE_TIMEOUT], 1);
                finish(x, -EIO, "timed out");
            } else if (x->next_try <= now && may_start(c, x, inflight)) {
                *pp = x->next;
                if (start(c, x, now) != 0) {
                    finish(x, -ENOMEM, "cannot start request");
                } else {
                    x->next = c->active;
                    c->active = x;
                    inflight++;
                }
            } else {
                pp = &x->next;
            }
        }

        int running;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int q;
        while ((m = curl_multi_info_read(c->multi, &q)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct xfer *x;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode res = m->data.result;
            inflight--;
            on_done(c, x, res, clock_mono_ms(), &waiting);
        }

        now = clock_mono_ms();
        long wait = 1000;
        for (struct xfer *x = waiting; x; x = x->next) {
            int64_t d = x->next_try - now;
            if (d <= 0 && !may_start(c, x, inflight))
                d = x->deadline - now; /* waits for a slot, or its deadline */
            if (d < wait)
                wait = d < 0 ? 0 : (long)d;
        }
        long ct = -1;
        curl_multi_timeout(c->multi, &ct);
        if (ct >= 0 && ct < wait)
            wait = ct;
        if (wait > 0)
            curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
    }
}

int http_client_new(const struct http_config *cfg, struct http_client **out)
{
    struct http_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    if (!c->cfg.body_cap)
        c->cfg.body_cap = HTTP_BODY_CAP;
    if (c->cfg.max_conns < 1)
        c->cfg.max_conns = 1;
    c->rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
    pthread_mutex_init(&c->mu, NULL);
    c->api_key = strdup(cfg->api_key ? cfg->api_key : "");
    c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    c->cfg.api_key = NULL;
    c->cfg.ca_file = NULL;

    struct buf h = {0};
    if (cfg->auth == AUTH_BEARER)
        buf_put(&h, "Authorization: Bearer ", 22);
    else
        buf_put(&h, "X-API-Key: ", 11);
    if (c->api_key)
        buf_put(&h, c->api_key, strlen(c->api_key));
    buf_putc(&h, '\0');
    if (h.oom || !c->api_key)
        goto nomem;
    struct curl_slist *l = curl_slist_append(NULL, h.p);
    explicit_bzero(h.p, h.len);
    buf_free(&h);
    if (!l)
        goto nomem;
    c->headers = l;
    if (!(l = curl_slist_append(c->headers, "Accept: application/json")))
        goto nomem;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto nomem;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->cfg.max_conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.max_conns * 2);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    if (pthread_create(&c->thread, NULL, net_main, c) != 0)
        goto nomem;
    *out = c;
    return 0;
nomem:
    buf_free(&h);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    free(c->ca_file);
    free(c->api_key);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return -ENOMEM;
}

void http_client_stop(struct http_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    bool first = !c->stopping;
    c->stopping = true;
    pthread_mutex_unlock(&c->mu);
    if (first) {
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
    }
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    http_client_stop(c);
    curl_multi_cleanup(c->multi);
    /* the header list holds the key: scrub it before it goes back to malloc */
    for (struct curl_slist *l = c->headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(c->headers);
    explicit_bzero(c->api_key, strlen(c->api_key));
    free(c->api_key);
    free(c->ca_file);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Hands x back to the network thread for another attempt at `when`. */
static void requeue(struct http_client *c, struct xfer *x, int64_t when)
{
    buf_free(&x->body);
    x->next_try = when;
    x->next = NULL;
    pthread_mutex_lock(&c->mu);
    bool stopping = c->stopping;
    if (!stopping) {
        struct xfer **tail = &c->incoming;
        while (*tail)
            tail = &(*tail)->next;
        *tail = x;
    }
    pthread_mutex_unlock(&c->mu);
    if (stopping)
        finish(x, -EIO, "shutting down");
    else
        curl_multi_wakeup(c->multi);
}

/* A 2xx body the caller found malformed: another attempt when one fits in
 * the deadline (true), else the request fails for good. */
static bool retry_malformed(struct http_client *c, struct xfer *x, unsigned *rng)
{
    struct http_req *r = x->req;
    atomic_fetch_add(&c->errors[HE_MALFORMED], 1);
    int64_t now = clock_mono_ms();
    if (r->attempts <= c->cfg.retries) {
        int64_t delay = backoff_ms(rng, r->attempts);
        if (now + delay < x->deadline) {
            log_debug("%s: malformed response body; retry %d in %lld ms", http_kind_names[r->kind],
                      r->attempts, (long long)delay);
            atomic_fetch_add(&c->retries, 1);
            free(r->body);
            r->body = NULL;
            r->len = 0;
            requeue(c, x, now + delay);
            return true;
        }
    }
    int n = snprintf(r->errmsg, sizeof r->errmsg, "malformed response body (HTTP %ld, %zu bytes)",
                     r->status, r->len);
    if (r->attempts > 1 && n > 0 && (size_t)n < sizeof r->errmsg)
        snprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, " (after %d attempts)", r->attempts);
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->err = -EIO;
    return false;
}

void http_run_each(struct http_client *c, struct http_req *reqs, size_t n, int64_t deadline_ms,
                   int (*each)(struct http_req *r, void *arg), void *arg)
{
    if (n == 0)
        return;
    struct xfer *xs = calloc(n, sizeof *xs);
    if (!xs) {
        for (size_t i = 0; i < n; i++) {
            reqs[i].err = -ENOMEM;
            snprintf(reqs[i].errmsg, sizeof reqs[i].errmsg, "out of memory");
            if (each)
                each(&reqs[i], arg);
        }
        return;
    }
    struct batch b = {.done = NULL, .limit = each ? c->cfg.max_conns : INT_MAX};
    b.done_tail = &b.done;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (size_t i = 0; i < n; i++) {
        http_req_clear(&reqs[i]);
        xs[i].req = &reqs[i];
        xs[i].index = i;
        xs[i].batch = &b;
        xs[i].c = c;
        xs[i].deadline = deadline_ms;
        xs[i].next = i + 1 < n ? &xs[i + 1] : NULL;
    }
    pthread_mutex_lock(&c->mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < n; i++)
            finish(&xs[i], -EIO, "shutting down");
    } else {
        struct xfer **tail = &c->incoming;
        while (*tail)
            tail = &(*tail)->next;
        *tail = &xs[0];
        pthread_mutex_unlock(&c->mu);
        curl_multi_wakeup(c->multi);
    }
    /* judge and hand over each finished request while the rest are in
     * flight; a malformed body goes back for another attempt */
    unsigned rng = (unsigned)clock_mono_ms() ^ (unsigned)(uintptr_t)xs;
    size_t handled = 0;
    pthread_mutex_lock(&b.mu);
    while (handled < n) {
        while (!b.done)
            pthread_cond_wait(&b.cv, &b.mu);
        struct xfer *x = b.done;
        b.done = x->done_next;
        if (!b.done)
            b.done_tail = &b.done;
        pthread_mutex_unlock(&b.mu);
        struct http_req *r = x->req;
        bool again = false;
        if (each && r->err == 0 && each(r, arg) == -EBADMSG) {
            again = retry_malformed(c, x, &rng);
            if (!again)
                each(r, arg); /* the failure, for good */
        } else if (each && r->err) {
            each(r, arg);
        }
        if (!again)
            handled++;
        /* the body was handed over (or went back): one more may start */
        if (atomic_fetch_sub(&b.backlog, 1) == b.limit)
            curl_multi_wakeup(c->multi);
        pthread_mutex_lock(&b.mu);
    }
    pthread_mutex_unlock(&b.mu);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    free(xs);
}

void http_req_clear(struct http_req *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
    r->err = 0;
    r->errmsg[0] = '\0';
    r->attempts = 0;
}

void http_get_stats(struct http_client *c, struct http_stats *out)
{
    for (int i = 0; i < HTTP_NKINDS; i++)
        out->requests[i] = atomic_load(&c->requests[i]);
    for (int i = 0; i < HE_NKINDS; i++)
        out->errors[i] = atomic_load(&c->errors[i]);
    out->retries = atomic_load(&c->retries);
    out->bytes = atomic_load(&c->bytes);
}
