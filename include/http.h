/* The HTTP client: one network thread owning a libcurl multi handle.
 *
 * Callers (FUSE workers, the lister) hand it a batch of GET requests and block
 * until every one is finished; the network thread runs up to max_conns at
 * once over reused connections, retries failures with exponential backoff and
 * jitter (5xx, 429 and 503 with Retry-After, resets, timeouts, truncated or
 * malformed bodies), refuses bodies above the size cap, and never lets a
 * request outlive the deadline of the operation that asked for it.
 */
#ifndef SCRAPEFS_HTTP_H
#define SCRAPEFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define HTTP_BODY_CAP (64u << 20)

enum http_kind { HTTP_PROBE, HTTP_LIST, HTTP_DETAIL, HTTP_NKINDS };

struct http_config {
    const char *api_key;  /* copied; never logged */
    enum auth_mode auth;
    int retries;
    int max_conns;
    const char *ca_file;  /* NULL: the system's CA store */
    size_t body_cap;      /* 0: HTTP_BODY_CAP */
};

/* Counters for .scrapefs/stats, read without locks. */
enum http_err_kind { HE_TIMEOUT, HE_NETWORK, HE_HTTP_5XX, HE_HTTP_429, HE_AUTH, HE_NOT_FOUND,
                     HE_HTTP_OTHER, HE_MALFORMED, HE_TOO_BIG, HE_NKINDS };
extern const char *const http_err_kind_names[HE_NKINDS];
extern const char *const http_kind_names[HTTP_NKINDS];

struct http_stats {
    uint64_t requests[HTTP_NKINDS]; /* attempts sent, retries included */
    uint64_t retries;
    uint64_t errors[HE_NKINDS];     /* per failed attempt */
    uint64_t bytes;                 /* body bytes received */
};

struct http_req {
    /* in: set by the caller */
    const char *url;                            /* borrowed until http_run_each returns */
    enum http_kind kind;
    /* out: filled by http_run_each */
    long status;    /* last HTTP status, 0 when none */
    char *body;     /* owned by the request: free with http_req_clear() */
    size_t len;
    int err;        /* 0 on a 2xx with a valid body, else negative errno */
    char errmsg[256];
    int attempts;
};

struct http_client;

/* Starts the network thread. curl_global_init() must have run before.
 * Returns 0 or a negative errno. */
int http_client_new(const struct http_config *cfg, struct http_client **out);
/* Fails everything in flight and every request made later, at once, and
 * ends the network thread. Safe to call more than once. */
void http_client_stop(struct http_client *c);
/* Stops and frees everything. */
void http_client_free(struct http_client *c);

/* Runs n requests concurrently and returns when all are finished or the
 * deadline (CLOCK_MONOTONIC milliseconds, clock.h) has passed, calling
 * each(request, arg) (when not NULL) in the caller's thread as soon as a
 * request is finished, while the others are still in flight. For a 2xx
 * answer (r->err == 0) each judges the body: it returns 0 to take it, or
 * -EBADMSG for a malformed body, which is then retried like a 5xx (each
 * runs again with the next outcome; when no attempt is left it runs once
 * more with r->err set). The body stays the request's (http_req_clear). */
void http_run_each(struct http_client *c, struct http_req *reqs, size_t n, int64_t deadline_ms,
                   int (*each)(struct http_req *r, void *arg), void *arg);
/* Frees a request's body and resets its outputs. */
void http_req_clear(struct http_req *r);

/* The one mapping from an outcome to an errno: 2xx 0, 401/403 -EACCES,
 * 404 -ENOENT, everything else (5xx, 429, network, timeout, garbage) -EIO. */
int http_errno(long status, int curl_code);

void http_get_stats(struct http_client *c, struct http_stats *out);

/* Appends the percent-encoding of bytes (everything but A-Z a-z 0-9 - . _ ~). */
struct buf;
void http_escape(struct buf *out, const char *bytes, size_t len);

#endif
