/* scrapefs: mounts the Freddy scrape-jobs API as a read-only filesystem.
 *
 * main() owns start-up and shut-down: options, the key, the probe call (made
 * before daemonizing, so its errors reach the terminal), the FUSE session,
 * signals, and a clean unmount.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "control.h"
#include "fs.h"
#include "http.h"
#include "lister.h"
#include "log.h"
#include "notify.h"
#include "options.h"
#include "page.h"
#include "session.h"
#include "store.h"

#define KEY_ENV "FREDDY_API_KEY"
#define KEY_MAX 4096

/* Reads the key from the key file or the environment into a new string.
 * The environment's copy is wiped so /proc/PID/environ does not keep it. */
static char *read_key(const struct options *o)
{
    if (o->api_key_file) {
        int fd = open(o->api_key_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "scrapefs: cannot read api_key_file %s: %s\n", o->api_key_file,
                    strerror(errno));
            return NULL;
        }
        struct stat st;
        if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
            fprintf(stderr, "scrapefs: warning: api_key_file %s is readable by group or others; "
                            "chmod 600 it\n", o->api_key_file);
        char *key = calloc(1, KEY_MAX + 1);
        ssize_t n = key ? read(fd, key, KEY_MAX) : -1;
        close(fd);
        if (n < 0) {
            fprintf(stderr, "scrapefs: cannot read api_key_file %s\n", o->api_key_file);
            free(key);
            return NULL;
        }
        while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r'))
            key[--n] = '\0';
        if (n == 0 || memchr(key, '\n', (size_t)n) || memchr(key, '\0', (size_t)n)) {
            fprintf(stderr, "scrapefs: api_key_file %s does not hold one key on one line\n",
                    o->api_key_file);
            free(key);
            return NULL;
        }
        return key;
    }
    char *env = getenv(KEY_ENV);
    if (!env || !*env) {
        fprintf(stderr, "scrapefs: no API key: set " KEY_ENV " or use -o api_key_file=PATH\n");
        return NULL;
    }
    if (strchr(env, '\n') || strchr(env, '\r')) {
        fprintf(stderr, "scrapefs: " KEY_ENV " holds a line break\n");
        return NULL;
    }
    char *key = strdup(env);
    explicit_bzero(env, strlen(env));
    unsetenv(KEY_ENV);
    return key;
}

static int accept_page(struct http_req *r, void *arg)
{
    (void)arg;
    return r->err ? 0 : page_accept(r->body, r->len);
}

enum { PROBE_OK = 0, PROBE_REJECTED = 1, PROBE_FAILED = 2 };

/* One small list call before mounting: a rejected key or an unreachable API
 * is reported on the terminal and nothing gets mounted (unless a store lets
 * the mount start offline: the caller decides). */
static int probe(struct http_client *h, const struct options *o, char *why, size_t whylen)
{
    char *url = lister_page_url(o->api_url, NULL, 1, 0);
    if (!url)
        return -1;
    struct http_req r = {.url = url, .kind = HTTP_PROBE};
    http_run_each(h, &r, 1, clock_mono_ms() + (int64_t)o->timeout * 1000, accept_page, NULL);
    int rc = PROBE_OK;
    if (r.err) {
        rc = PROBE_FAILED;
        if (r.status == 401 || r.status == 403) {
            rc = PROBE_REJECTED;
            snprintf(why, whylen, "API key rejected by %s (HTTP %ld)", o->api_url, r.status);
        } else if (r.status == 0) {
            snprintf(why, whylen, "cannot reach %s: %s", o->api_url, r.errmsg);
        } else if (r.status >= 200 && r.status < 300) {
            snprintf(why, whylen, "%s does not answer like the Freddy API: %s", o->api_url,
                     r.errmsg);
        } else {
            snprintf(why, whylen, "%s answered %s", o->api_url, r.errmsg);
        }
    }
    http_req_clear(&r);
    free(url);
    return rc;
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts fo;
    struct options o;
    struct fuse_session *se = NULL;
    struct http_client *http = NULL;
    struct cache *cache = NULL;
    struct pins *pins = NULL;
    struct notify *notify = NULL;
    struct control *control = NULL;
    struct store *store = NULL;
    char *key = NULL, *mnt_abs = NULL;
    char err[512];
    int ret = 1;

    memset(&fo, 0, sizeof fo);
    options_init(&o);
    /* many FUSE workers, little allocation each: per-thread malloc arenas
     * would mostly hold fragments */
    mallopt(M_ARENA_MAX, 2);
    /* response bodies (a list page is ~100 KiB) always come from mmap and go
     * back on free; with glibc's sliding threshold they would soon come from
     * the heap, between job texts, and pin its pages */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "scrapefs: cannot initialise libcurl\n");
        return 1;
    }
    if (options_parse(&args, &o, err, sizeof err) != 0) {
        fprintf(stderr, "scrapefs: %s\n", err);
        goto out;
    }
    if (o.show_help) {
        fputs(options_usage, stdout);
        ret = 0;
        goto out;
    }
    if (o.show_version) {
        printf("scrapefs %s (libfuse %s, %s)\n", SCRAPEFS_VERSION, fuse_pkgversion(),
               curl_version());
        ret = 0;
        goto out;
    }
    if (fuse_opt_add_arg(&args, o.mountpoint) != 0 || session_args(&args, &o) != 0) {
        fprintf(stderr, "scrapefs: out of memory\n");
        goto out;
    }
    if (fuse_parse_cmdline(&args, &fo) != 0)
        goto out;
    if (!fo.mountpoint) {
        fprintf(stderr, "scrapefs: no mount point given\n");
        goto out;
    }
    log_init(fo.debug ? LOGL_DEBUG : (enum log_level)o.log_level, false);
    if (!(key = read_key(&o)))
        goto out;
    log_set_secret(key);

    struct http_config hc = {.api_key = key, .auth = o.auth, .retries = o.retries,
                             .max_conns = o.max_conns, .ca_file = o.ca_file};
    if (http_client_new(&hc, &http) != 0) {
        fprintf(stderr, "scrapefs: cannot start the HTTP client\n");
        goto out;
    }
    char why[512] = "";
    int probed = probe(http, &o, why, sizeof why);
    /* threads do not survive fuse_daemonize()'s fork: start again after it */
    http_client_free(http);
    http = NULL;
    /* the store: where, and whether it knows this account already (looked
     * at, not kept open: an SQLite connection must not cross the fork) */
    if (!o.no_store && !o.cache_dir)
        o.cache_dir = store_default_dir();
    struct store_config sc = {.dir = o.cache_dir, .api_url = o.api_url, .key = key,
                              .max_bytes = (size_t)o.disk_cache_size_mib << 20};
    bool offline = probed == PROBE_FAILED && sc.dir && store_peek(&sc);
    if (probed != PROBE_OK && !offline) {
        fprintf(stderr, "scrapefs: %s\n", why);
        goto out;
    }
    if (offline)
        fprintf(stderr, "scrapefs: %s; mounting offline from the store\n", why);

    /* fuse_daemonize() changes to /: keep the mount point's absolute path */
    mnt_abs = realpath(fo.mountpoint, NULL);
    struct fs_ctx fsx = {.api_url = o.api_url, .uid = getuid(), .gid = getgid(),
                         .started = time(NULL), .ttl = o.ttl};
    if (notify_new(&notify) != 0)
        goto out;
    fsx.notify = notify;
    se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, &fsx);
    if (!se)
        goto out;
    signal(SIGPIPE, SIG_IGN);
    if (fuse_session_mount(se, fo.mountpoint) != 0)
        goto out_session;
    if (session_hook_init(se) != 0) {
        fprintf(stderr, "scrapefs: cannot set up the session's I/O\n");
        goto out_unmount;
    }
    if (fuse_daemonize(fo.foreground) != 0)
        goto out_unmount;
    log_init(fo.debug ? LOGL_DEBUG : (enum log_level)o.log_level, !fo.foreground);

    if (http_client_new(&hc, &http) != 0) {
        log_error("cannot start the HTTP client");
        goto out_unmount;
    }
    struct lister lister = {.http = http, .api_url = o.api_url, .page_size = o.page_size};
    struct source src = lister_source(&lister);
    struct cache_config cc = {.ttl_s = o.ttl, .timeout_s = o.timeout,
                              .cap_bytes = (size_t)o.cache_size_mib << 20,
                              .full_refresh_s = o.full_refresh,
                              .departed = notify_departed, .departed_arg = notify};
    if (sc.dir && store_open(&sc, &store) == 0)
        cc.store = store;
    if (cache_new(&cc, &src, &cache) != 0 || pins_new(&pins) != 0) {
        log_error("out of memory");
        goto out_unmount;
    }
    int opened = store ? cache_open_store(cache) : 0;
    if (opened != 0) {
        /* damaged (set aside: start cold on the new one) or unusable (run
         * without it): never a half-loaded cache, never no mount */
        cache_free(cache);
        cache = NULL;
        if (opened != -EBADMSG || cache_new(&cc, &src, &cache) != 0 ||
            cache_open_store(cache) != 0) {
            if (opened != -EBADMSG)
                log_warn("store %s cannot be used: running without it", store_path(store));
            cache_free(cache);
            cache = NULL;
            cc.store = NULL;
            store_close(store);
            store = NULL;
            if (cache_new(&cc, &src, &cache) != 0) {
                log_error("out of memory");
                goto out_unmount;
            }
        }
    }
    if (offline) {
        cache_set_offline(cache);
        log_warn("offline: %s; serving what the store holds until the API answers", why);
    }
    fsx.cache = cache;
    fsx.pins = pins;
    fsx.http = http;
    if (notify_start(notify, se, cache, pins, mnt_abs) != 0 ||
        control_start(se, http, notify, &control) != 0) {
        log_error("cannot start the notifier and control threads");
        goto out_unmount;
    }
    log_info("mounted %s on %s", o.api_url, fo.mountpoint);

    if (fo.singlethread) {
        ret = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        if (!lc) {
            log_error("out of memory");
            goto out_unmount;
        }
        fuse_loop_cfg_set_clone_fd(lc, fo.clone_fd);
        /* -1 (unset) from fuse_parse_cmdline means "the default" */
        if (fo.max_idle_threads != UINT_MAX)
            fuse_loop_cfg_set_idle_threads(lc, fo.max_idle_threads);
        fuse_loop_cfg_set_max_threads(lc, 64);
        ret = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
    }
    ret = ret != 0;

out_unmount:
    /* the stop first (nothing waits on the network or the kernel any more),
     * then the unmount */
    control_finish(control);
    notify_stop(notify);
    http_client_stop(http);
    fuse_session_unmount(se);
out_session:
    fuse_session_destroy(se);
out:
    notify_free(notify);
    pins_free(pins);
    cache_free(cache); /* writes what the store lacks first */
    store_close(store);
    http_client_free(http);
    free(mnt_abs);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    log_shutdown();
    free(fo.mountpoint);
    fuse_opt_free_args(&args);
    options_free(&o);
    curl_global_cleanup();
    return ret;
}
