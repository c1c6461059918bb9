/* Option parsing (README "Command line"): defaults, the three spellings of an option, the
 * positional arguments, every refusal, and what is left for libfuse. */
#include <fuse_opt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "options.h"

/* Parses a NULL-terminated argv. The caller frees o and args. */
static int parse(const char *const *argv, struct options *o, struct fuse_args *args, char *err,
                 size_t errlen)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    struct fuse_args a = FUSE_ARGS_INIT(argc, (char **)argv);
    *args = a;
    options_init(o);
    err[0] = '\0';
    return options_parse(args, o, err, errlen);
}

/* The arguments left for libfuse, joined by spaces. */
static void joined(const struct fuse_args *args, char *out, size_t outlen)
{
    out[0] = '\0';
    for (int i = 0; i < args->argc; i++) {
        if (i)
            strncat(out, " ", outlen - strlen(out) - 1);
        strncat(out, args->argv[i], outlen - strlen(out) - 1);
    }
}

static void test_defaults(void)
{
    const char *argv[] = {"scrapefs", "/mnt/jobs", NULL};
    struct options o;
    struct fuse_args args;
    char err[512], rest[512];
    CHECK_INT(parse(argv, &o, &args, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_STR(o.api_url, DEFAULT_API_URL);
    CHECK_STR(o.api_url, "https://api.aitronos.com/api/v1");
    CHECK(o.api_key_file == NULL);
    CHECK(o.ca_file == NULL);
    CHECK_INT(o.auth, AUTH_X_API_KEY);
    CHECK_INT(o.ttl, 30);
    CHECK_INT(o.full_refresh, 600);
    CHECK_INT(o.timeout, 30);
    CHECK_INT(o.retries, 3);
    CHECK_INT(o.max_conns, 8);
    CHECK_INT(o.cache_size_mib, 256);
    CHECK_INT(o.page_size, 100);
    CHECK_INT(o.log_level, LOGL_WARN);
    CHECK_STR(o.mountpoint, "/mnt/jobs");
    CHECK(!o.show_help && !o.show_version && !o.allow_other);
    joined(&args, rest, sizeof rest);
    CHECK_STR(rest, "scrapefs");
    options_free(&o);
    CHECK(o.api_url == NULL && o.mountpoint == NULL);
    fuse_opt_free_args(&args);
}

static void test_spellings(void)
{
    struct options o;
    struct fuse_args args;
    char err[512], rest[512];

    const char *a1[] = {"scrapefs", "-o", "ttl=5,page_size=10", "/mnt", NULL};
    CHECK_INT(parse(a1, &o, &args, err, sizeof err), 0);
    CHECK_INT(o.ttl, 5);
    CHECK_INT(o.page_size, 10);
    CHECK_INT(o.timeout, 30);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a2[] = {"scrapefs", "--ttl=5", "--page_size=7", "/mnt", NULL};
    CHECK_INT(parse(a2, &o, &args, err, sizeof err), 0);
    CHECK_INT(o.ttl, 5);
    CHECK_INT(o.page_size, 7);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a3[] = {"scrapefs", "-ottl=9", "-o", "auth=bearer", "-o",
                        "timeout=60,retries=0,max_conns=64,cache_size=1,log_level=debug",
                        "/mnt", NULL};
    CHECK_INT(parse(a3, &o, &args, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(o.ttl, 9);
    CHECK_INT(o.auth, AUTH_BEARER);
    CHECK_INT(o.timeout, 60);
    CHECK_INT(o.retries, 0);
    CHECK_INT(o.max_conns, 64);
    CHECK_INT(o.cache_size_mib, 1);
    CHECK_INT(o.log_level, LOGL_DEBUG);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a4[] = {"scrapefs", "-o", "auth=x-api-key,ttl=0,page_size=1,retries=20",
                        "--log_level=error", "--full_refresh=0", "/mnt", NULL};
    CHECK_INT(parse(a4, &o, &args, err, sizeof err), 0);
    CHECK_INT(o.full_refresh, 0);
    CHECK_INT(o.auth, AUTH_X_API_KEY);
    CHECK_INT(o.ttl, 0);
    CHECK_INT(o.page_size, 1);
    CHECK_INT(o.retries, 20);
    CHECK_INT(o.log_level, LOGL_ERROR);
    options_free(&o);
    fuse_opt_free_args(&args);

    /* the last of repeated options wins (and the earlier copies are freed:
     * valgrind's leak check would say otherwise) */
    const char *a6[] = {"scrapefs", "-o", "ttl=5,ttl=6", "--ttl=7", "-o", "auth=bearer",
                        "-o", "auth=x-api-key", "/mnt", NULL};
    CHECK_INT(parse(a6, &o, &args, err, sizeof err), 0);
    CHECK_INT(o.ttl, 7);
    CHECK_INT(o.auth, AUTH_X_API_KEY);
    options_free(&o);
    fuse_opt_free_args(&args);

    /* the FUSE options stay for libfuse */
    const char *a5[] = {"scrapefs", "-f", "-d", "-s", "-o", "ttl=3,fsname=x,allow_other", "/mnt", NULL};
    CHECK_INT(parse(a5, &o, &args, err, sizeof err), 0);
    CHECK_INT(o.ttl, 3);
    CHECK(o.allow_other);
    joined(&args, rest, sizeof rest);
    CHECK_CONTAINS(rest, "-f");
    CHECK_CONTAINS(rest, "-d");
    CHECK_CONTAINS(rest, "-s");
    CHECK_CONTAINS(rest, "fsname=x");
    CHECK_CONTAINS(rest, "allow_other");
    CHECK(strstr(rest, "ttl") == NULL);
    CHECK(strstr(rest, "/mnt") == NULL);
    options_free(&o);
    fuse_opt_free_args(&args);
}

static void test_positionals(void)
{
    struct options o;
    struct fuse_args args;
    char err[512];

    const char *a1[] = {"scrapefs", "http://127.0.0.1:8080/api/v1", "/mnt/x", NULL};
    CHECK_INT(parse(a1, &o, &args, err, sizeof err), 0);
    CHECK_STR(o.api_url, "http://127.0.0.1:8080/api/v1");
    CHECK_STR(o.mountpoint, "/mnt/x");
    options_free(&o);
    fuse_opt_free_args(&args);

    /* fstab through mount.fuse3: "scrapefs#URL" */
    const char *a2[] = {"scrapefs", "scrapefs#https://api.example.com/api/v1/", "/mnt/y", "-o", "ttl=2", NULL};
    CHECK_INT(parse(a2, &o, &args, err, sizeof err), 0);
    CHECK_STR(o.api_url, "https://api.example.com/api/v1");
    CHECK_STR(o.mountpoint, "/mnt/y");
    CHECK_INT(o.ttl, 2);
    options_free(&o);
    fuse_opt_free_args(&args);

    /* trailing slashes go, from either spelling */
    const char *a3[] = {"scrapefs", "-o", "api_url=https://x.example/base///", "/m", NULL};
    CHECK_INT(parse(a3, &o, &args, err, sizeof err), 0);
    CHECK_STR(o.api_url, "https://x.example/base");
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a4[] = {"scrapefs", "--api_url=http://h/", "/m", NULL};
    CHECK_INT(parse(a4, &o, &args, err, sizeof err), 0);
    CHECK_STR(o.api_url, "http://h");
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a5[] = {"scrapefs", NULL};
    CHECK_INT(parse(a5, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "mount point");
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a6[] = {"scrapefs", "-o", "ttl=5", "-f", NULL};
    CHECK_INT(parse(a6, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "mount point");
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a7[] = {"scrapefs", "http://a", "/m1", "/m2", NULL};
    CHECK_INT(parse(a7, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "too many");
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a8[] = {"scrapefs", "a", "b", "c", "d", "e", NULL};
    CHECK_INT(parse(a8, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "too many");
    options_free(&o);
    fuse_opt_free_args(&args);
}

static void bad(const char *opt, const char *name, int line)
{
    const char *argv[] = {"scrapefs", "-o", opt, "/mnt", NULL};
    struct options o;
    struct fuse_args args;
    char err[512];
    int rc = parse(argv, &o, &args, err, sizeof err);
    if (!check_int(rc, -1, __FILE__, line, "options_parse", "-1"))
        fprintf(stderr, "    -o %s was accepted\n", opt);
    else if (!check_contains(err, name, __FILE__, line, "err", "name"))
        fprintf(stderr, "    (for -o %s)\n", opt);
    options_free(&o);
    fuse_opt_free_args(&args);

    /* and the same as --NAME=V */
    char dashed[256];
    snprintf(dashed, sizeof dashed, "--%s", opt);
    const char *argv2[] = {"scrapefs", dashed, "/mnt", NULL};
    rc = parse(argv2, &o, &args, err, sizeof err);
    if (!check_int(rc, -1, __FILE__, line, "options_parse", "-1"))
        fprintf(stderr, "    %s was accepted\n", dashed);
    options_free(&o);
    fuse_opt_free_args(&args);
}
#define BAD(opt, name) bad((opt), (name), __LINE__)

static void test_bad_values(void)
{
    BAD("ttl=-1", "ttl");
    BAD("ttl=abc", "ttl");
    BAD("ttl=", "ttl");
    BAD("ttl=5s", "ttl");
    BAD("ttl=99999999999999999999", "ttl");
    BAD("page_size=0", "page_size");
    BAD("page_size=101", "page_size");
    BAD("full_refresh=-1", "full_refresh");
    BAD("full_refresh=10m", "full_refresh");
    BAD("max_conns=0", "max_conns");
    BAD("max_conns=65", "max_conns");
    BAD("timeout=0", "timeout");
    BAD("timeout=-5", "timeout");
    BAD("auth=foo", "auth");
    BAD("auth=Bearer", "auth");
    BAD("auth=", "auth");
    BAD("retries=21", "retries");
    BAD("retries=-1", "retries");
    BAD("cache_size=0", "cache_size");
    BAD("cache_size=x", "cache_size");
    BAD("log_level=loud", "log_level");
    BAD("log_level=", "log_level");
    BAD("api_url=ftp://x", "api_url");
    BAD("api_url=example.com", "api_url");
    BAD("api_url=", "api_url");

    /* a bad positional URL too */
    const char *argv[] = {"scrapefs", "ftp://x/", "/mnt", NULL};
    struct options o;
    struct fuse_args args;
    char err[512];
    CHECK_INT(parse(argv, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "api_url");
    options_free(&o);
    fuse_opt_free_args(&args);
}

static void test_api_key_refused(void)
{
    struct options o;
    struct fuse_args args;
    char err[512];
    const char *a1[] = {"scrapefs", "-o", "api_key=secret", "/mnt", NULL};
    CHECK_INT(parse(a1, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "API key");
    CHECK(strstr(err, "secret") == NULL);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a2[] = {"scrapefs", "--api_key=hunter2", "/mnt", NULL};
    CHECK_INT(parse(a2, &o, &args, err, sizeof err), -1);
    CHECK_CONTAINS(err, "API key");
    CHECK(strstr(err, "hunter2") == NULL);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a3[] = {"scrapefs", "-o", "ttl=5,api_key=k3y,page_size=5", "/mnt", NULL};
    CHECK_INT(parse(a3, &o, &args, err, sizeof err), -1);
    CHECK(strstr(err, "k3y") == NULL);
    options_free(&o);
    fuse_opt_free_args(&args);
}

static void test_flags(void)
{
    struct options o;
    struct fuse_args args;
    char err[512];
    static const char *const flags[] = {"--help", "-h", "--version", "-V"};
    for (int i = 0; i < 4; i++) {
        const char *argv[] = {"scrapefs", flags[i], NULL};
        CHECK_INT(parse(argv, &o, &args, err, sizeof err), 0);
        CHECK_INT(o.show_help, i < 2);
        CHECK_INT(o.show_version, i >= 2);
        options_free(&o);
        fuse_opt_free_args(&args);
    }
    /* --help wins over bad values and missing arguments */
    const char *a1[] = {"scrapefs", "-o", "ttl=abc", "--help", NULL};
    CHECK_INT(parse(a1, &o, &args, err, sizeof err), 0);
    CHECK(o.show_help);
    options_free(&o);
    fuse_opt_free_args(&args);

    const char *a2[] = {"scrapefs", "-o", "allow_other", "/mnt", NULL};
    CHECK_INT(parse(a2, &o, &args, err, sizeof err), 0);
    CHECK(o.allow_other);
    options_free(&o);
    fuse_opt_free_args(&args);

    CHECK_CONTAINS(options_usage, "api_key_file");
    CHECK_CONTAINS(options_usage, "page_size");
}

static void test_paths(void)
{
    char tmpl[] = "/tmp/scrapefs-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char cwd[PATH_MAX];
    if (!CHECK(dir != NULL) || !CHECK(getcwd(cwd, sizeof cwd) != NULL))
        return;
    if (!CHECK(chdir(dir) == 0))
        return;
    FILE *f = fopen("key", "w");
    CHECK(f != NULL);
    if (f) {
        fputs("k\n", f);
        fclose(f);
    }
    struct options o;
    struct fuse_args args;
    char err[512], want[PATH_MAX + 8];
    const char *argv[] = {"scrapefs", "-o", "api_key_file=key,ca_file=/etc/ssl/x.pem", "/mnt", NULL};
    CHECK_INT(parse(argv, &o, &args, err, sizeof err), 0);
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "%s/key", real ? real : dir);
    CHECK_STR(o.api_key_file, want);
    CHECK_STR(o.ca_file, "/etc/ssl/x.pem");
    free(real);
    options_free(&o);
    fuse_opt_free_args(&args);
    unlink("key");
    CHECK(chdir(cwd) == 0);
    rmdir(dir);
}

int main(void)
{
    test_defaults();
    test_spellings();
    test_positionals();
    test_bad_values();
    test_api_key_refused();
    test_flags();
    test_paths();
    return check_done("test_options");
}
