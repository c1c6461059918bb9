/* The lister (lister.h) over the real HTTP client (http.h), against a tiny
 * HTTP/1.1 server run by this test: list pages reach the sink in order with
 * their total, elements that cannot be shown arrive as stand-ins in their
 * places, a detail's 404 is -ENOENT and 401/403 -EACCES, a 5xx or a body
 * that is no list page is retried and then -EIO, URLs are as documented
 * (and a detail id escaped), and the API key goes in the header asked for.
 *
 * The server runs in one thread on 127.0.0.1 (a port the kernel picks) and
 * answers one request per connection (Connection: close), so it never has
 * to juggle connections: the client's parallel requests wait in the
 * listen backlog. Each path has a script of answers (the k-th request gets
 * the k-th, the last repeats) and a count of the requests it saw.
 *
 * Retries are kept at 2 and deadlines generous: the client's backoff starts
 * at 100 ms, so a case that exhausts its retries costs about 300 ms.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "http.h"
#include "job.h"
#include "lister.h"
#include "log.h"
#include "source.h"

#define RETRIES 2
#define DEADLINE_MS 20000 /* generous: valgrind is slow; a passing case never waits for it */
#define PAGE 3

/* ---- the server ---- */

#define MAXROUTES 16
#define MAXANSWERS 4
#define MAXLOG 64

struct answer {
    int status;       /* 0: never answer; hold the connection until the client drops it */
    const char *body;
    const char *type; /* NULL: application/json */
};

struct route {
    char path[256];
    struct answer answers[MAXANSWERS];
    int nanswers;
    int hits;
};

struct server {
    int lfd, wake[2];
    int port;
    pthread_t th;
    pthread_mutex_t mu; /* guards everything below */
    struct route routes[MAXROUTES];
    int nroutes;
    int requests;
    char paths[MAXLOG][256]; /* every request's target, in arrival order */
    char api_key[128];       /* the last request's X-API-Key, "" when none */
    char auth[128];          /* its Authorization, "" when none */
};

static struct server g_srv;
static char g_base[64]; /* http://127.0.0.1:PORT/v1 */

/* Copies header `name`'s value from the head into out ("" when absent). */
static void header_value(const char *head, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

/* send, not write: a client that gave up (a body over its cap, a deadline)
 * has closed the connection, and that must be EPIPE, not SIGPIPE. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Whatever";
    }
}

/* Reads one request from c and answers it from the routes. */
static void serve_one(struct server *s, int c)
{
    char head[8192];
    size_t len = 0;
    while (len + 1 < sizeof head) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            return;
        ssize_t r = read(c, head + len, sizeof head - 1 - len);
        if (r <= 0)
            return;
        len += (size_t)r;
        head[len] = '\0';
        if (strstr(head, "\r\n\r\n"))
            break;
    }
    char target[256] = "";
    if (sscanf(head, "GET %255s HTTP/1.1", target) != 1)
        return;

    struct answer a = {404, "{\"detail\":\"not found\"}", NULL};
    pthread_mutex_lock(&s->mu);
    if (s->requests < MAXLOG)
        snprintf(s->paths[s->requests], sizeof s->paths[0], "%s", target);
    s->requests++;
    header_value(head, "X-API-Key", s->api_key, sizeof s->api_key);
    header_value(head, "Authorization", s->auth, sizeof s->auth);
    for (int i = 0; i < s->nroutes; i++) {
        struct route *r = &s->routes[i];
        if (strcmp(r->path, target) == 0) {
            a = r->answers[r->hits < r->nanswers ? r->hits : r->nanswers - 1];
            r->hits++;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);

    if (a.status == 0) {
        /* a server that never answers: wait for the client to hang up (or
         * the test to end), the request already read */
        struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        poll(p, 2, 10000);
        return;
    }
    char hdr[512];
    size_t blen = strlen(a.body);
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     a.status, reason(a.status), a.type ? a.type : "application/json", blen);
    write_all(c, hdr, (size_t)n);
    write_all(c, a.body, blen);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(s->lfd, 64) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
        pipe(s->wake) != 0) {
        perror("server");
        exit(2);
    }
    s->port = ntohs(sa.sin_port);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d/v1", s->port);
    pthread_create(&s->th, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
    if (write(s->wake[1], "x", 1) != 1) /* a pipe: write_all's send() is for sockets */
        perror("wake");
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
}

/* Forgets the routes, counts and log. */
static void server_reset(void)
{
    pthread_mutex_lock(&g_srv.mu);
    g_srv.nroutes = 0;
    g_srv.requests = 0;
    g_srv.api_key[0] = g_srv.auth[0] = '\0';
    pthread_mutex_unlock(&g_srv.mu);
}

/* Serves path (after g_base's "/v1") with the answers given in turn. */
static void route(const char *path, int nanswers, const struct answer *answers)
{
    pthread_mutex_lock(&g_srv.mu);
    struct route *r = &g_srv.routes[g_srv.nroutes++];
    snprintf(r->path, sizeof r->path, "/v1%s", path);
    memcpy(r->answers, answers, (size_t)nanswers * sizeof *answers);
    r->nanswers = nanswers;
    r->hits = 0;
    pthread_mutex_unlock(&g_srv.mu);
}

static void route1(const char *path, int status, const char *body, const char *type)
{
    struct answer a = {status, body, type};
    route(path, 1, &a);
}

static int hits(const char *path)
{
    char full[256];
    snprintf(full, sizeof full, "/v1%s", path);
    int n = -1;
    pthread_mutex_lock(&g_srv.mu);
    for (int i = 0; i < g_srv.nroutes; i++)
        if (strcmp(g_srv.routes[i].path, full) == 0)
            n = g_srv.routes[i].hits;
    pthread_mutex_unlock(&g_srv.mu);
    return n;
}

static int requests(void)
{
    pthread_mutex_lock(&g_srv.mu);
    int n = g_srv.requests;
    pthread_mutex_unlock(&g_srv.mu);
    return n;
}

/* ---- the client side ---- */

struct env {
    struct http_client *http;
    struct lister l;
    struct source src;
};

static void env_init_cap(struct env *e, enum auth_mode auth, const char *base, size_t body_cap)
{
    struct http_config cfg = {.api_key = "sekrit-key", .auth = auth, .retries = RETRIES,
                              .max_conns = 2, .body_cap = body_cap};
    if (http_client_new(&cfg, &e->http) != 0) {
        fprintf(stderr, "http_client_new failed\n");
        exit(2);
    }
    e->l = (struct lister){.http = e->http, .api_url = base, .page_size = PAGE};
    e->src = lister_source(&e->l);
    server_reset();
}

static void env_init(struct env *e, enum auth_mode auth, const char *base)
{
    env_init_cap(e, auth, base, 0);
}

static void env_free(struct env *e)
{
    http_client_free(e->http);
}

struct got_page {
    long offset, total;
    size_t n;
    char ids[8][32];
    bool bad[8];
    int status[8];
    uint64_t digest[8];
};

struct sink {
    struct page_sink ps; /* first: the callback gets this back */
    int rc;              /* what page() answers */
    int npages;
    struct got_page pages[8];
};

static int sink_page(struct page_sink *ps, long offset, struct job **jobs, size_t n, long total)
{
    struct sink *s = (struct sink *)ps;
    if (s->npages < 8) {
        struct got_page *g = &s->pages[s->npages];
        g->offset = offset;
        g->total = total;
        g->n = n;
        for (size_t i = 0; i < n && i < 8; i++) {
            g->bad[i] = jobs[i]->bad;
            g->status[i] = jobs[i]->status;
            g->digest[i] = jobs[i]->digest;
            if (jobs[i]->id)
                snprintf(g->ids[i], sizeof g->ids[i], "%.*s", (int)jobs[i]->id_len, jobs[i]->id);
        }
    }
    s->npages++;
    for (size_t i = 0; i < n; i++)
        job_unref(jobs[i]); /* the references are the sink's */
    return s->rc;
}

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof *s);
    s->ps.page = sink_page;
}

/* The page the sink got at offset, or NULL. */
static const struct got_page *page_at(const struct sink *s, long offset)
{
    for (int i = 0; i < s->npages && i < 8; i++)
        if (s->pages[i].offset == offset)
            return &s->pages[i];
    return NULL;
}

#define ERRLEN 256 /* every caller's err buffer */

static int fetch_pages(struct env *e, const char *status, const long *offsets, size_t n,
                       struct sink *s, char *err)
{
    struct source_call call = {.deadline = clock_mono_ms() + DEADLINE_MS, .now = 1700000000,
                               .err = err, .errlen = ERRLEN};
    return e->src.ops->pages(e->src.ctx, &call, status, offsets, n, &s->ps);
}

static int fetch_job(struct env *e, const char *id, size_t idlen, struct job **out, char *err)
{
    *out = NULL;
    err[0] = '\0';
    struct source_call call = {.deadline = clock_mono_ms() + DEADLINE_MS, .now = 1700000000,
                               .err = err, .errlen = ERRLEN};
    return e->src.ops->job(e->src.ctx, &call, id, idlen, out);
}

#define JOB(id, st) "{\"job_id\":\"" id "\",\"status\":\"" st "\",\"url\":\"https://a.com/\"}"

static const char *const PAGE0 =
    "{\"jobs\":[" JOB("a", "completed") "," JOB("b", "pending") "," JOB("c", "failed")
    "],\"total\":7}";
static const char *const HTML =
    "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";

/* ---- the cases ---- */

/* A list page's URL: the API's path, then status (when given), limit and
 * offset, offsets beyond 32 bits included. */
static void test_page_url_has_status_limit_and_offset(void)
{
    char *u = lister_page_url("http://h:8080/api", NULL, 50, 0);
    CHECK_STR(u, "http://h:8080/api/scrape/jobs?limit=50&offset=0");
    free(u);
    u = lister_page_url("https://x.example", "completed", 100, 12345678901L);
    CHECK_STR(u, "https://x.example/scrape/jobs?status=completed&limit=100&offset=12345678901");
    free(u);
    u = lister_page_url("http://h", "pending", 1, 7);
    CHECK_STR(u, "http://h/scrape/jobs?status=pending&limit=1&offset=7");
    free(u);
}

/* One page: its jobs reach the sink in the API's order, with the total and
 * the offset, through the documented URL. */
static void test_page_jobs_arrive_in_order_with_total(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), 0);
    CHECK_INT(s.npages, 1);
    const struct got_page *g = page_at(&s, 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_INT(g->total, 7);
        CHECK_UINT(g->n, 3);
        CHECK_STR(g->ids[0], "a");
        CHECK_STR(g->ids[1], "b");
        CHECK_STR(g->ids[2], "c");
        CHECK(!g->bad[0] && !g->bad[1] && !g->bad[2]);
        CHECK_INT(g->status[0], ST_COMPLETED);
        CHECK_INT(g->status[1], ST_PENDING);
    }
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), 1);
    CHECK_INT(requests(), 1);

    /* a status view's page, and an empty one */
    route1("/scrape/jobs?status=failed&limit=3&offset=3", 200, "{\"total\":3,\"jobs\":[]}", NULL);
    sink_init(&s);
    off = 3;
    CHECK_INT(fetch_pages(&e, "failed", &off, 1, &s, err), 0);
    CHECK_INT(s.npages, 1);
    g = page_at(&s, 3);
    CHECK(g && g->n == 0 && g->total == 3);
    CHECK_INT(hits("/scrape/jobs?status=failed&limit=3&offset=3"), 1);

    /* no offsets: no request */
    sink_init(&s);
    CHECK_INT(fetch_pages(&e, NULL, &off, 0, &s, err), 0);
    CHECK_INT(s.npages, 0);
    CHECK_INT(requests(), 2);
    env_free(&e);
}

/* Several pages at once: each arrives once, at its offset, with its jobs. */
static void test_each_of_several_pages_reaches_the_sink(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    route1("/scrape/jobs?limit=3&offset=3", 200,
           "{\"jobs\":[" JOB("d", "completed") "," JOB("e", "completed") "," JOB("f", "completed")
           "],\"total\":7}",
           NULL);
    route1("/scrape/jobs?limit=3&offset=6", 200, "{\"jobs\":[" JOB("g", "processing") "],\"total\":7}",
           NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long offs[] = {0, 3, 6};
    CHECK_INT(fetch_pages(&e, NULL, offs, 3, &s, err), 0);
    CHECK_INT(s.npages, 3);
    const struct got_page *p0 = page_at(&s, 0), *p3 = page_at(&s, 3), *p6 = page_at(&s, 6);
    CHECK(p0 && p3 && p6);
    if (p0 && p3 && p6) {
        CHECK_STR(p0->ids[2], "c");
        CHECK_UINT(p3->n, 3);
        CHECK_STR(p3->ids[0], "d");
        CHECK_STR(p3->ids[2], "f");
        CHECK_UINT(p6->n, 1);
        CHECK_STR(p6->ids[0], "g");
    }
    CHECK_INT(requests(), 3);
    env_free(&e);
}

/* Elements that cannot be shown (a number, an object without a string
 * job_id, one with an empty id) arrive as stand-ins (bad, no id) in their
 * places, a readable status kept; the jobs around them are intact. */
static void test_element_that_cannot_be_shown_keeps_its_place(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200,
           "{\"jobs\":[" JOB("a", "completed") ",42,{\"job_id\":7,\"status\":\"failed\"},"
           "{\"status\":\"pending\"},{\"job_id\":\"\"}," JOB("z", "pending") "],\"total\":6}",
           NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), 0);
    const struct got_page *g = page_at(&s, 0);
    CHECK(g != NULL);
    if (g) {
        CHECK_UINT(g->n, 6);
        CHECK_INT(g->total, 6);
        CHECK(!g->bad[0]);
        CHECK_STR(g->ids[0], "a");
        CHECK(g->bad[1] && g->bad[2] && g->bad[3] && g->bad[4]);
        CHECK_STR(g->ids[1], "");
        CHECK_STR(g->ids[2], "");
        CHECK_INT(g->status[2], ST_FAILED);
        CHECK_INT(g->status[3], ST_PENDING);
        CHECK_INT(g->status[1], ST_UNKNOWN);
        /* told apart by their digests */
        CHECK(g->digest[1] != g->digest[2] && g->digest[2] != g->digest[3]);
        CHECK(!g->bad[5]);
        CHECK_STR(g->ids[5], "z");
    }
    CHECK_INT(requests(), 1); /* not a malformed page: not retried */
    env_free(&e);
}

/* A detail call returns the job the API sent. */
static void test_detail_returns_the_job(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/abc", 200, JOB("abc", "processing"), NULL);
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "abc", 3, &j, err), 0);
    CHECK(j != NULL);
    if (j) {
        CHECK_MEM(j->id, j->id_len, "abc", 3);
        CHECK_INT(j->status, ST_PROCESSING);
        CHECK(!j->bad);
        job_unref(j);
    }
    CHECK_INT(hits("/scrape/jobs/abc"), 1);
    env_free(&e);
}

/* 404 on a detail is -ENOENT at once (no retry). */
static void test_detail_404_is_enoent(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/gone", 404, "{\"detail\":\"Job not found\"}", NULL);
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "gone", 4, &j, err), -ENOENT);
    CHECK(j == NULL);
    CHECK_INT(hits("/scrape/jobs/gone"), 1);
    env_free(&e);
}

/* 401 and 403 are -EACCES at once (no retry), for details and pages. */
static void test_401_and_403_are_eacces(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/x", 401, "{\"detail\":\"bad key\"}", NULL);
    route1("/scrape/jobs/y", 403, "{\"detail\":\"forbidden\"}", NULL);
    route1("/scrape/jobs?limit=3&offset=0", 401, "{\"detail\":\"bad key\"}", NULL);
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "x", 1, &j, err), -EACCES);
    CHECK(j == NULL);
    CHECK_CONTAINS(err, "401");
    CHECK_INT(fetch_job(&e, "y", 1, &j, err), -EACCES);
    CHECK_INT(hits("/scrape/jobs/x"), 1);
    CHECK_INT(hits("/scrape/jobs/y"), 1);

    struct sink s;
    sink_init(&s);
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -EACCES);
    CHECK_INT(s.npages, 0);
    CHECK_CONTAINS(err, "offset 0");
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), 1);
    env_free(&e);
}

/* A 500 is retried: with retries 2 the server sees 3 requests, then the
 * call fails with -EIO and says so. */
static void test_500_is_retried_then_eio(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/boom", 500, "{\"detail\":\"oops\"}", NULL);
    route1("/scrape/jobs?limit=3&offset=0", 500, "oops", "text/plain");
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "boom", 4, &j, err), -EIO);
    CHECK(j == NULL);
    CHECK_INT(hits("/scrape/jobs/boom"), RETRIES + 1);
    CHECK_CONTAINS(err, "HTTP 500");
    CHECK_CONTAINS(err, "after 3 attempts");

    struct sink s;
    sink_init(&s);
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -EIO);
    CHECK_INT(s.npages, 0);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), RETRIES + 1);
    CHECK_CONTAINS(err, "HTTP 500");

    struct http_stats st;
    http_get_stats(e.http, &st);
    CHECK_UINT(st.requests[HTTP_DETAIL], RETRIES + 1);
    CHECK_UINT(st.requests[HTTP_LIST], RETRIES + 1);
    CHECK_UINT(st.retries, 2 * RETRIES);
    env_free(&e);
}

/* A 500 followed by a good answer: the retry's answer is taken. */
static void test_500_then_success_is_taken(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    struct answer page[] = {{500, "{}", NULL}, {200, PAGE0, NULL}};
    route("/scrape/jobs?limit=3&offset=0", 2, page);
    struct answer det[] = {{503, "{}", NULL}, {200, JOB("q", "pending"), NULL}};
    route("/scrape/jobs/q", 2, det);

    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), 0);
    CHECK_INT(s.npages, 1);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), 2);
    const struct got_page *g = page_at(&s, 0);
    CHECK(g && g->n == 3 && g->total == 7);

    struct job *j;
    CHECK_INT(fetch_job(&e, "q", 1, &j, err), 0);
    CHECK_INT(hits("/scrape/jobs/q"), 2);
    job_unref(j);
    env_free(&e);
}

/* A 2xx body that is no list page (an HTML error page from a proxy) is
 * retried like a 5xx: the good page after it is taken; when it persists,
 * -EIO after every attempt. A detail body that is no object likewise. */
static void test_body_that_is_not_a_list_page_is_retried(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    struct answer once[] = {{200, HTML, "text/html"}, {200, PAGE0, NULL}};
    route("/scrape/jobs?limit=3&offset=0", 2, once);
    route1("/scrape/jobs?limit=3&offset=3", 200, HTML, "text/html");
    route1("/scrape/jobs/h", 200, HTML, "text/html");

    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), 0);
    CHECK_INT(s.npages, 1);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), 2);

    sink_init(&s);
    off = 3;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -EIO);
    CHECK_INT(s.npages, 0);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=3"), RETRIES + 1);
    CHECK_CONTAINS(err, "malformed");

    struct job *j;
    CHECK_INT(fetch_job(&e, "h", 1, &j, err), -EIO);
    CHECK(j == NULL);
    CHECK_INT(hits("/scrape/jobs/h"), RETRIES + 1);
    env_free(&e);
}

/* A detail id is escaped into one path segment: '/' as %2F, '.' and '..'
 * (which URL handling would resolve) as %2E, NUL and space as %00 and %20,
 * '%' as %25; the job comes back under its own id. */
static void test_detail_id_is_escaped_in_the_url(void)
{
    static const struct {
        const char *id;
        size_t len;
        const char *path;
        const char *body;
    } cases[] = {
        {"a/b", 3, "/scrape/jobs/a%2Fb", JOB("a/b", "pending")},
        {"..", 2, "/scrape/jobs/%2E%2E", JOB("..", "pending")},
        {".", 1, "/scrape/jobs/%2E", JOB(".", "pending")},
        {"../etc", 6, "/scrape/jobs/..%2Fetc", JOB("../etc", "pending")},
        {"a b\0c", 5, "/scrape/jobs/a%20b%00c", "{\"job_id\":\"a b\\u0000c\",\"status\":\"pending\"}"},
        {"100%", 4, "/scrape/jobs/100%25", JOB("100%", "pending")},
        {"x?y#z&w=1", 9, "/scrape/jobs/x%3Fy%23z%26w%3D1", JOB("x?y#z&w=1", "pending")},
    };
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        route1(cases[i].path, 200, cases[i].body, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct job *j;
        char err[256];
        int rc = fetch_job(&e, cases[i].id, cases[i].len, &j, err);
        if (!CHECK_INT(rc, 0))
            fprintf(stderr, "    (id %zu: %s)\n", i, err);
        if (j) {
            CHECK_MEM(j->id, j->id_len, cases[i].id, cases[i].len);
            job_unref(j);
        }
        if (!CHECK_INT(hits(cases[i].path), 1)) {
            pthread_mutex_lock(&g_srv.mu);
            int n = g_srv.requests;
            fprintf(stderr, "    (the server saw %s)\n", n > 0 && n <= MAXLOG ? g_srv.paths[n - 1] : "?");
            pthread_mutex_unlock(&g_srv.mu);
        }
    }
    env_free(&e);
}

/* A detail answer for another id is not taken as the job asked for. */
static void test_detail_answer_with_another_id_is_refused(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/mine", 200, JOB("theirs", "pending"), NULL);
    struct job *j;
    char err[256];
    int rc = fetch_job(&e, "mine", 4, &j, err);
    CHECK(rc < 0 && rc != -ENOENT);
    CHECK(j == NULL);
    env_free(&e);
}

/* The key goes as X-API-Key by default and as a bearer token with
 * AUTH_BEARER, never both; list and detail calls alike. */
static void test_api_key_is_sent_in_the_header_asked_for(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/abc", 200, JOB("abc", "pending"), NULL);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "abc", 3, &j, err), 0);
    job_unref(j);
    pthread_mutex_lock(&g_srv.mu);
    CHECK_STR(g_srv.api_key, "sekrit-key");
    CHECK_STR(g_srv.auth, "");
    pthread_mutex_unlock(&g_srv.mu);
    env_free(&e);

    env_init(&e, AUTH_BEARER, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    struct sink s;
    sink_init(&s);
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), 0);
    pthread_mutex_lock(&g_srv.mu);
    CHECK_STR(g_srv.auth, "Bearer sekrit-key");
    CHECK_STR(g_srv.api_key, "");
    pthread_mutex_unlock(&g_srv.mu);
    env_free(&e);
}

/* A total beyond SOURCE_MAX_TOTAL is refused (-EIO), the page not handed
 * over. */
static void test_implausible_total_is_refused(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, "{\"jobs\":[" JOB("a", "pending") "],\"total\":5000001}",
           NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -EIO);
    CHECK_INT(s.npages, 0);
    CHECK_CONTAINS(err, "total");
    env_free(&e);
}

/* The sink's error fails the fetch with that error. */
static void test_sink_error_fails_the_fetch(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    struct sink s;
    sink_init(&s);
    s.rc = -ENOSPC;
    char err[256];
    long off = 0;
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -ENOSPC);
    CHECK_INT(s.npages, 1);
    env_free(&e);
}

/* One page failing fails the fetch with its error, naming its offset. */
static void test_failed_page_fails_the_fetch(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL);
    route1("/scrape/jobs?limit=3&offset=3", 404, "{}", NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long offs[] = {0, 3};
    CHECK_INT(fetch_pages(&e, NULL, offs, 2, &s, err), -ENOENT);
    CHECK_CONTAINS(err, "offset 3");
    CHECK(page_at(&s, 3) == NULL);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=3"), 1);
    env_free(&e);
}

/* A body above the client's cap is refused (-EIO), not retried. */
static void test_body_above_the_cap_is_refused(void)
{
    struct env e;
    env_init_cap(&e, AUTH_X_API_KEY, g_base, 64);
    route1("/scrape/jobs?limit=3&offset=0", 200, PAGE0, NULL); /* > 64 bytes */
    route1("/scrape/jobs/small", 200, "{\"job_id\":\"small\"}", NULL);
    struct sink s;
    sink_init(&s);
    char err[256];
    long off = 0;
    CHECK(strlen(PAGE0) > 64);
    CHECK_INT(fetch_pages(&e, NULL, &off, 1, &s, err), -EIO);
    CHECK_INT(s.npages, 0);
    CHECK_INT(hits("/scrape/jobs?limit=3&offset=0"), 1);
    /* a body within the cap still passes */
    struct job *j;
    CHECK_INT(fetch_job(&e, "small", 5, &j, err), 0);
    job_unref(j);
    env_free(&e);
}

/* A server that never answers costs the caller its deadline, not more:
 * -EIO soon after it. (Last among the server's cases: the attempts the
 * client gave up on may still be in the server's queue afterwards.) */
static void test_silent_server_fails_at_the_deadline(void)
{
    struct env e;
    env_init(&e, AUTH_X_API_KEY, g_base);
    route1("/scrape/jobs/mute", 0, "", NULL);
    struct job *j = NULL;
    char err[256] = "";
    int64_t t0 = clock_mono_ms();
    struct source_call call = {.deadline = t0 + 300, .now = 1700000000, .err = err,
                               .errlen = sizeof err};
    int rc = e.src.ops->job(e.src.ctx, &call, "mute", 4, &j);
    int64_t took = clock_mono_ms() - t0;
    CHECK_INT(rc, -EIO);
    CHECK(j == NULL);
    CHECK(hits("/scrape/jobs/mute") >= 1); /* it did ask, and waited */
    CHECK(took < 2000);                     /* the server would hold it for 10 s */
    env_free(&e);
}

/* Nobody listening: a network failure, retried, then -EIO. */
static void test_connection_refused_is_eio(void)
{
    /* a port that was just free: nothing listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("socket");
        exit(2);
    }
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    close(fd);

    struct env e;
    env_init(&e, AUTH_X_API_KEY, base);
    struct job *j;
    char err[256];
    CHECK_INT(fetch_job(&e, "abc", 3, &j, err), -EIO);
    CHECK(j == NULL);
    struct http_stats st;
    http_get_stats(e.http, &st);
    CHECK_UINT(st.requests[HTTP_DETAIL], RETRIES + 1);
    env_free(&e);
}

int main(void)
{
    log_init(LOGL_ERROR, false); /* the stand-ins are logged as warnings */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "curl_global_init failed\n");
        return 2;
    }
    server_start(&g_srv);
    test_page_url_has_status_limit_and_offset();
    test_page_jobs_arrive_in_order_with_total();
    test_each_of_several_pages_reaches_the_sink();
    test_element_that_cannot_be_shown_keeps_its_place();
    test_detail_returns_the_job();
    test_detail_404_is_enoent();
    test_401_and_403_are_eacces();
    test_500_is_retried_then_eio();
    test_500_then_success_is_taken();
    test_body_that_is_not_a_list_page_is_retried();
    test_detail_id_is_escaped_in_the_url();
    test_detail_answer_with_another_id_is_refused();
    test_api_key_is_sent_in_the_header_asked_for();
    test_implausible_total_is_refused();
    test_sink_error_fails_the_fetch();
    test_failed_page_fails_the_fetch();
    test_body_above_the_cap_is_refused();
    test_silent_server_fails_at_the_deadline();
    test_connection_refused_is_eio();
    server_stop(&g_srv);
    curl_global_cleanup();
    log_shutdown();
    return check_done("test_lister");
}
