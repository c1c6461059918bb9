/* The command line (options.h): scrapefs's options taken out of FUSE's
 * arguments, every value checked, every default in one place. */
#include "options.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Raw strings as fuse_opt stores them; validated in one place afterwards. */
struct raw_opts {
    char *api_url, *api_key_file, *auth, *ttl, *timeout, *retries, *max_conns,
        *cache_size, *page_size, *full_refresh, *ca_file, *log_level, *api_key, *cache_dir,
        *disk_cache_size;
    char *pos[3];
    int npos;
    bool help, version, allow_other;
};

#define OPT(name, field) \
    {"--" name "=%s", offsetof(struct raw_opts, field), 0}, \
    {name "=%s", offsetof(struct raw_opts, field), 0}

enum { KEY_HELP, KEY_VERSION, KEY_ALLOW_OTHER };

static const struct fuse_opt opt_table[] = {
    OPT("api_url", api_url),
    OPT("api_key_file", api_key_file),
    OPT("auth", auth),
    OPT("ttl", ttl),
    OPT("timeout", timeout),
    OPT("retries", retries),
    OPT("max_conns", max_conns),
    OPT("cache_size", cache_size),
    OPT("page_size", page_size),
    OPT("full_refresh", full_refresh),
    OPT("ca_file", ca_file),
    OPT("log_level", log_level),
    OPT("api_key", api_key),
    OPT("cache_dir", cache_dir),
    OPT("disk_cache_size", disk_cache_size),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END
};

const char options_usage[] =
    "usage: scrapefs [OPTIONS] [API_URL] MOUNTPOINT\n"
    "\n"
    "Mounts the Freddy scrape-jobs API as a read-only filesystem.\n"
    "The API key comes from $FREDDY_API_KEY or -o api_key_file=PATH.\n"
    "\n"
    "scrapefs options (-o NAME=VALUE or --NAME=VALUE):\n"
    "    api_url=URL        base URL (default " DEFAULT_API_URL ")\n"
    "    api_key_file=PATH  file holding the API key (trailing newline ignored)\n"
    "    auth=MODE          x-api-key (default) or bearer\n"
    "    ttl=SECONDS        freshness of listings and unfinished jobs (default 30)\n"
    "    timeout=SECONDS    longest wait of one operation on the network (default 30)\n"
    "    retries=N          retries of a failed request (default 3)\n"
    "    max_conns=N        requests in flight at once (default 8)\n"
    "    cache_size=MIB     memory for job data (default 256)\n"
    "    page_size=N        jobs per list call, 1-100 (default 100)\n"
    "    full_refresh=SECONDS  read a listing in full at least this often; between,\n"
    "                       a refresh re-reads only what changed (default 600; 0: always)\n"
    "    cache_dir=DIR      where the store of what was learned lives (default\n"
    "                       $CACHE_DIRECTORY, else $XDG_CACHE_HOME/scrapefs, else\n"
    "                       ~/.cache/scrapefs); none: keep everything in memory\n"
    "    disk_cache_size=MIB  disk the store may take (default 1024); the least\n"
    "                       recently used job texts go first, listings stay\n"
    "    ca_file=PATH       extra CA bundle for TLS (verification is always on)\n"
    "    log_level=LEVEL    error, warn (default), info or debug (-d implies debug)\n"
    "\n"
    "FUSE options:\n"
    "    -f                 stay in the foreground, log to stderr\n"
    "    -d                 debug output (implies -f)\n"
    "    -s                 single-threaded\n"
    "    -o allow_other     let other users see the mount (implies default_permissions)\n"
    "    -h, --help         this text\n"
    "    -V, --version      the version\n";

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    struct raw_opts *r = data;
    switch (key) {
    case KEY_HELP:
        r->help = true;
        return 0;
    case KEY_VERSION:
        r->version = true;
        return 0;
    case KEY_ALLOW_OTHER:
        r->allow_other = true;
        return 1; /* libfuse needs it too */
    case FUSE_OPT_KEY_NONOPT:
        if (r->npos < 3)
            r->pos[r->npos] = strdup(arg);
        r->npos++;
        return 0;
    default:
        return 1;
    }
}

void options_init(struct options *o)
{
    memset(o, 0, sizeof *o);
    o->auth = AUTH_X_API_KEY;
    o->ttl = 30;
    o->timeout = 30;
    o->retries = 3;
    o->max_conns = 8;
    o->cache_size_mib = 256;
    o->page_size = 100;
    o->full_refresh = 600;
    o->disk_cache_size_mib = 1024;
    o->log_level = LOGL_WARN;
}

void options_free(struct options *o)
{
    free(o->api_url);
    free(o->api_key_file);
    free(o->ca_file);
    free(o->cache_dir);
    free(o->mountpoint);
    memset(o, 0, sizeof *o);
}

struct bounds {
    long lo, hi;
};

/* Parses a whole decimal integer in [b.lo, b.hi]; anything else is an error. */
static int parse_int(const char *name, const char *s, struct bounds b, long *out, char *err,
                     size_t errlen)
{
    long lo = b.lo, hi = b.hi;
    char *end;
    errno = 0;
    long v = s && *s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || errno || *end || v < lo || v > hi) {
        snprintf(err, errlen, "invalid value for %s: '%s' (expected an integer from %ld to %ld)",
                 name, s ? s : "", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static char *absolute_path(const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    char *abs = realpath(p, NULL), cwd[PATH_MAX];
    if (abs)
        return abs;
    /* not there yet (a directory to make): from the working directory */
    if (!getcwd(cwd, sizeof cwd) || asprintf(&abs, "%s/%s", cwd, p) < 0)
        return NULL;
    return abs;
}

static int validate(struct raw_opts *r, struct options *o, char *err, size_t errlen)
{
    long v;
    if (r->api_key) {
        snprintf(err, errlen, "the API key is not accepted on the command line; "
                              "use $FREDDY_API_KEY or -o api_key_file=PATH");
        return -1;
    }
    if (r->npos > 2) {
        snprintf(err, errlen, "too many arguments (usage: scrapefs [OPTIONS] [API_URL] MOUNTPOINT)");
        return -1;
    }
    if (r->npos == 0) {
        snprintf(err, errlen, "no mount point given (usage: scrapefs [OPTIONS] [API_URL] MOUNTPOINT)");
        return -1;
    }
    const char *url = r->api_url;
    if (r->npos == 2) {
        url = r->pos[0];
        /* fstab through mount.fuse3 passes the source as "scrapefs#URL" or just URL */
        if (strncmp(url, "scrapefs#", 9) == 0)
            url += 9;
    }
    o->mountpoint = strdup(r->pos[r->npos - 1]);
    o->api_url = strdup(url ? url : DEFAULT_API_URL);
    if (!o->mountpoint || !o->api_url)
        goto nomem;
    size_t ul = strlen(o->api_url);
    while (ul > 0 && o->api_url[ul - 1] == '/')
        o->api_url[--ul] = '\0';
    if (strncmp(o->api_url, "http://", 7) != 0 && strncmp(o->api_url, "https://", 8) != 0) {
        snprintf(err, errlen, "invalid value for api_url: '%s' (expected an http:// or https:// URL)",
                 o->api_url);
        return -1;
    }
    if (r->auth) {
        if (strcmp(r->auth, "x-api-key") == 0)
            o->auth = AUTH_X_API_KEY;
        else if (strcmp(r->auth, "bearer") == 0)
            o->auth = AUTH_BEARER;
        else {
            snprintf(err, errlen, "invalid value for auth: '%s' (expected x-api-key or bearer)", r->auth);
            return -1;
        }
    }
    if (r->ttl) {
        if (parse_int("ttl", r->ttl, (struct bounds){0, 86400 * 365}, &v, err, errlen))
            return -1;
        o->ttl = (int)v;
    }
    if (r->timeout) {
        if (parse_int("timeout", r->timeout, (struct bounds){1, 3600}, &v, err, errlen))
            return -1;
        o->timeout = (int)v;
    }
    if (r->retries) {
        if (parse_int("retries", r->retries, (struct bounds){0, 20}, &v, err, errlen))
            return -1;
        o->retries = (int)v;
    }
    if (r->max_conns) {
        if (parse_int("max_conns", r->max_conns, (struct bounds){1, 64}, &v, err, errlen))
            return -1;
        o->max_conns = (int)v;
    }
    if (r->cache_size) {
        if (parse_int("cache_size", r->cache_size, (struct bounds){1, 1024L * 1024},
                      &v, err, errlen))
            return -1;
        o->cache_size_mib = v;
    }
    if (r->page_size) {
        if (parse_int("page_size", r->page_size, (struct bounds){1, 100}, &v, err, errlen))
            return -1;
        o->page_size = (int)v;
    }
    if (r->full_refresh) {
        if (parse_int("full_refresh", r->full_refresh, (struct bounds){0, 86400 * 365},
                      &v, err, errlen))
            return -1;
        o->full_refresh = (int)v;
    }
    if (r->disk_cache_size) {
        if (parse_int("disk_cache_size", r->disk_cache_size,
                      (struct bounds){1, 1024L * 1024 * 16}, &v, err, errlen))
            return -1;
        o->disk_cache_size_mib = v;
    }
    if (r->cache_dir && !*r->cache_dir) {
        snprintf(err, errlen, "invalid value for cache_dir: '' (expected a directory or none)");
        return -1;
    }
    if (r->cache_dir && strcmp(r->cache_dir, "none") == 0) {
        o->no_store = true;
    } else if (r->cache_dir && !(o->cache_dir = absolute_path(r->cache_dir))) {
        goto nomem;
    }
    if (r->log_level) {
        int l = log_level_parse(r->log_level);
        if (l < 0) {
            snprintf(err, errlen, "invalid value for log_level: '%s' (expected error, warn, info or debug)",
                     r->log_level);
            return -1;
        }
        o->log_level = l;
    }
    /* fuse_daemonize() changes to "/": resolve relative paths now. */
    if (r->api_key_file && !(o->api_key_file = absolute_path(r->api_key_file)))
        goto nomem;
    if (r->ca_file && !(o->ca_file = absolute_path(r->ca_file)))
        goto nomem;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int options_parse(struct fuse_args *args, struct options *o, char *err, size_t errlen)
{
    struct raw_opts r;
    memset(&r, 0, sizeof r);
    int rc = 0;
    if (fuse_opt_parse(args, &r, opt_table, opt_proc) != 0) {
        snprintf(err, errlen, "cannot parse the command line");
        rc = -1;
        goto out;
    }
    o->show_help = r.help;
    o->show_version = r.version;
    o->allow_other = r.allow_other;
    if (r.help || r.version)
        goto out;
    rc = validate(&r, o, err, errlen);
out:
    free(r.api_url);
    free(r.api_key_file);
    free(r.auth);
    free(r.ttl);
    free(r.timeout);
    free(r.retries);
    free(r.max_conns);
    free(r.cache_size);
    free(r.page_size);
    free(r.full_refresh);
    free(r.ca_file);
    free(r.log_level);
    free(r.cache_dir);
    free(r.disk_cache_size);
    if (r.api_key) {
        explicit_bzero(r.api_key, strlen(r.api_key));
        free(r.api_key);
    }
    for (int i = 0; i < 3 && i < r.npos; i++)
        free(r.pos[i]);
    return rc;
}
