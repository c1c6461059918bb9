/* The Job model: one job's fields and its three rendered files.
 *
 * A job is parsed once from the API's JSON text, its files are rendered, and
 * the text is dropped. The result is immutable and reference-counted: the
 * cache holds one reference, every open file handle holds one, so a reader
 * keeps a consistent snapshot while the cache moves on to a newer version.
 */
#ifndef SCRAPEFS_JOB_H
#define SCRAPEFS_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "names.h"

enum job_file { JOB_JSON = 0, JOB_ERROR = 1, JOB_DATA = 2, JOB_NFILES = 3 };
extern const char *const job_file_names[JOB_NFILES];

enum job_status { ST_PENDING, ST_PROCESSING, ST_COMPLETED, ST_FAILED, ST_CANCELLED, ST_UNKNOWN };
#define JOB_NSTATUS 5
extern const char *const job_status_names[JOB_NSTATUS];

struct job {
    atomic_int refs;
    char *id;               /* decoded bytes, NUL-terminated, may hold NULs */
    size_t id_len;
    enum job_status status;
    bool final;             /* completed, failed or cancelled: never changes */
    char *status_text;      /* as sent, or NULL */
    char *url;              /* decoded, or NULL */
    char *created_at;       /* as sent (decoded), or NULL */
    char *completed_at;
    time_t mtime;           /* completed_at, else created_at, else fetch time */
    time_t created;         /* created_at, when created_ok */
    bool created_ok;
    char *file[JOB_NFILES]; /* rendered files, one allocation: file[0] owns it */
    size_t size[JOB_NFILES];
    size_t bytes;           /* memory held, for the cache's accounting */
    uint16_t version;       /* set by the cache before the job is shared */
};

/* Parses one job object from JSON text (which must be a valid JSON value, as
 * jt_skip_value checked) and renders its files. Returns 0 and a new job with
 * one reference, or -EINVAL with a reason in why (the job cannot be shown:
 * not an object, no usable job_id), or -ENOMEM. `now` is the fallback time. */
int job_parse(const char *text, size_t len, time_t now, struct job **out, char *why, size_t whylen);

struct job *job_ref(struct job *j);
/* Drops one reference; frees the job with the last. NULL is fine. */
void job_unref(struct job *j);

/* Parses an ISO 8601 / RFC 3339 timestamp ("2026-11-28T10:00:00Z", fractions,
 * "+02:00" offsets, a space instead of T; no zone means UTC). Returns 0 and
 * the UTC time, or -1. */
int job_parse_time(const char *s, time_t *out);

/* The by-domain directory of a job: its url's host, lower-case, with
 * ":port" when the url names a port, encoded as a file name; "_invalid" when
 * the url is missing or does not parse. out holds NAME_MAX_BYTES + 1. */
void job_domain(const struct job *j, char *out);
/* The by-date directory of a job: the UTC day of created_at (YYYY-MM-DD),
 * or "_invalid". out holds at least 16 bytes. */
void job_date(const struct job *j, char *out);
#define JOB_GROUP_INVALID "_invalid"

/* Maps a status string to the enum; ST_UNKNOWN for anything else. */
enum job_status job_status_parse(const char *s);

#endif
