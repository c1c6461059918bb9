/* The Job model: one job as the API sent it, and its three files.
 *
 * A job keeps one thing: its object's text with the whitespace between
 * tokens removed (numbers, strings, escapes and key order byte for byte).
 * Everything scrapefs needs to know about it (id, status, times, its
 * by-domain and by-date directories, the exact size of each file, a digest)
 * is computed once, when it is built from a parsed page, outside any lock.
 * The files themselves are rendered from the text when they are read: the
 * kernel keeps what it read, so a file is rendered about once.
 *
 * A job is immutable and reference-counted: the cache holds one reference,
 * every pinned inode another, so a reader keeps a consistent snapshot while
 * the cache moves on to a newer version.
 */
#ifndef SCRAPEFS_JOB_H
#define SCRAPEFS_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "names.h"
#include "page.h"
#include "status.h"

enum job_file { JOB_JSON = 0, JOB_ERROR = 1, JOB_DATA = 2, JOB_NFILES = 3 };
extern const char *const job_file_names[JOB_NFILES];


/* Where a field's value sits in a job's text (len 0: absent). */
struct job_ref {
    uint32_t off, len;
};

struct job {
    atomic_int refs;
    uint16_t version;       /* set by the cache before the job is shared */
    uint8_t status;         /* enum job_status */
    bool final;             /* completed, failed or cancelled: never changes */
    bool created_ok;        /* created_at parsed */
    bool compact_whole;     /* job.json is written compact (hostile nesting) */
    bool bad;               /* an element of a list that cannot be shown (job_new_bad):
                               no id, no text, no files; only its digest and status */
    const char *id;         /* decoded bytes, NUL-terminated, may hold NULs */
    size_t id_len;
    const char *text;       /* the object, whitespace removed, bad UTF-8 mended */
    size_t text_len;
    struct job_ref field[PF_NFIELDS];
    size_t size[JOB_NFILES]; /* exact sizes of the rendered files */
    time_t mtime;           /* completed_at, else created_at, else fetch time */
    int64_t created_us;     /* created_at in microseconds, when created_ok */
    uint64_t digest;        /* of text: tells a changed job from the same one */
    const char *domain;     /* its by-domain directory (a file name) */
    char date[16];          /* its by-date directory: YYYY-MM-DD or _invalid */
    size_t bytes;           /* memory held, for the cache's accounting */
    char mem[];             /* text, id and domain */
};

/* Builds a job from one parsed element of a page (or a detail answer).
 * Returns 0 and a new job with one reference, -EINVAL with a reason in why
 * when it cannot be shown (not an object, no string job_id, an id that is
 * no file name), or -ENOMEM. `now` is the fallback time. Logs bad UTF-8
 * once per job. */
int job_new(const struct page_job *pj, time_t now, struct job **out, char *why, size_t whylen);

/* The stand-in for a list element job_new refused: it has no identity but
 * its place in the list, so it is kept as the digest of its text (what
 * tells it from another) and its status, when it has a readable one (a
 * status view lists it). Returns 0 or -ENOMEM. */
int job_new_bad(const struct page_job *pj, struct job **out);

/* Parses one job object from JSON text and builds it (tests and tools). */
int job_parse(const char *text, size_t len, time_t now, struct job **out, char *why,
              size_t whylen);

/* Parses one list element: a job, or the stand-in of one that cannot be
 * shown (job_new_bad). Returns 0, -EINVAL for text that is not JSON, or
 * -ENOMEM (tests). */
int job_parse_element(const char *text, size_t len, time_t now, struct job **out);

struct job *job_ref(struct job *j);
/* Drops one reference; frees the job with the last. NULL is fine. */
void job_unref(struct job *j);

/* Appends file f of the job, exactly size[f] bytes. */
void job_render(const struct job *j, enum job_file f, struct buf *out);

/* Appends the decoded value of a string field; false when the field is
 * absent, null or not a string. */
bool job_string(const struct job *j, enum page_field f, struct buf *out);

/* Parses an ISO 8601 / RFC 3339 timestamp ("2026-11-28T10:00:00Z", fractions,
 * "+02:00" offsets, a space instead of T; no zone means UTC). Returns 0 and
 * the UTC time, or -1. */
int job_parse_time(const char *s, time_t *out);
/* The same, in microseconds (fractions beyond them are cut). */
int job_parse_time_us(const char *s, int64_t *out);

#define JOB_GROUP_INVALID "_invalid"


#endif
