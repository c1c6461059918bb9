/* The validated configuration of one mount, with every default in one place.
 *
 * options_parse() consumes scrapefs's own options from a fuse_args vector and
 * leaves the FUSE ones (-f, -d, -s, -o allow_other, ...) in it for libfuse.
 */
#ifndef SCRAPEFS_OPTIONS_H
#define SCRAPEFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"

struct fuse_args;


#define DEFAULT_API_URL "https://api.aitronos.com/api/v1"

struct options {
    char *api_url;       /* owned; no trailing '/' */
    char *api_key_file;  /* owned, absolute path or NULL */
    char *ca_file;       /* owned or NULL: extra CA bundle, verification stays on */
    enum auth_mode auth;
    int ttl;             /* seconds */
    int timeout;         /* seconds */
    int retries;
    int max_conns;
    long cache_size_mib;
    int page_size;
    int full_refresh;    /* seconds; 0: every refresh reads in full */
    char *cache_dir;     /* owned, absolute, or NULL: the default (store.h) */
    bool no_store;       /* cache_dir=none: memory only */
    long disk_cache_size_mib;
    int log_level;       /* enum log_level */
    char *mountpoint;    /* owned, as given */
    bool show_help;
    bool show_version;
    bool allow_other;    /* then default_permissions is added */
};

/* Fills in the defaults; every pointer NULL. */
void options_init(struct options *o);
/* Frees what the struct owns. */
void options_free(struct options *o);

/* Parses and validates argv. On error returns -1 and writes one line (without
 * "scrapefs: " and without newline) into err. The positional arguments
 * ([API_URL] MOUNTPOINT) are taken out of args; the mountpoint is left in
 * o->mountpoint. */
int options_parse(struct fuse_args *args, struct options *o, char *err, size_t errlen);

/* The text of --help for scrapefs's own options. */
extern const char options_usage[];

#endif
