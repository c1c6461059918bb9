/* The API's answers, parsed in one pass: list pages and detail answers.
 *
 * A list page is validated and cut into jobs in a single walk over its
 * bytes: each element of "jobs" comes out as its span plus the spans of the
 * fields scrapefs reads, so nothing walks the page again. Bytes inside a
 * job's strings that are not UTF-8 do not fail the page (one odd job never
 * fails its page): the job is marked, and its text is mended when the job is
 * built (job.h). Nothing here knows about HTTP; every span points into the
 * body it was parsed from, which must outlive it.
 */
#ifndef SCRAPEFS_PAGE_H
#define SCRAPEFS_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "jsontext.h"

/* The members of a job object scrapefs reads; the first occurrence wins. */
enum page_field {
    PF_JOB_ID,
    PF_STATUS,
    PF_URL,
    PF_CREATED_AT,
    PF_COMPLETED_AT,
    PF_ERROR_MESSAGE,
    PF_EXTRACTED_DATA,
    PF_NFIELDS
};
extern const char *const page_field_names[PF_NFIELDS];

struct page_job {
    struct jt_span text;              /* the element as sent */
    struct jt_span field[PF_NFIELDS]; /* raw values; len 0 when absent */
    bool object;                      /* the element is an object */
    bool bad_utf8;                    /* some string holds bytes that are not UTF-8 */
};

struct page {
    long total;            /* "total", an integer >= 0 */
    struct page_job *jobs; /* owned by the page */
    size_t n, cap;
};

/* Parses a list page: a JSON object with a "jobs" array and an integer
 * "total" >= 0. Returns 0, -EBADMSG when the body is anything else (a
 * malformed answer, which is retried), or -ENOMEM. */
int page_parse(const char *body, size_t len, struct page *out);
void page_free(struct page *pg);

/* Parses a detail answer: one JSON object. Returns 0 or -EBADMSG. */
int page_parse_job(const char *body, size_t len, struct page_job *out);

/* 0 when the body is a list page, else -EBADMSG (the probe's check). */
int page_accept(const char *body, size_t len);

#endif
