/* libFuzzer target: untrusted JSON text -> validation, re-indenting and the
 * rendering of a job's files, as they meet an API answer.
 *
 * Whatever the bytes, nothing may crash, leak or read out of bounds (ASan,
 * UBSan), and for every valid document:
 *   - jt_compact and jt_pretty give valid JSON again,
 *   - compacting the pretty form gives the compact form (same tokens),
 *   - job_parse of an object either refuses it or renders a job.json that is
 *     valid JSON ending in a newline, and a data.jsonl whose every line is
 *     valid JSON.
 * lister_page_valid and lister_job_valid see every input, valid or not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jsontext.h"
#include "lister.h"

#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_render: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static void check_job(const char *s, size_t len)
{
    /* the lister hands job_parse the exact value, without whitespace */
    while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    struct job *j = NULL;
    char why[256];
    int rc = job_parse(s, len, 1000, &j, why, sizeof why);
    if (rc != 0) {
        REQUIRE(j == NULL);
        return;
    }
    REQUIRE(j->size[JOB_JSON] >= 3 && j->file[JOB_JSON][j->size[JOB_JSON] - 1] == '\n');
    REQUIRE(jt_validate(j->file[JOB_JSON], j->size[JOB_JSON]));
    REQUIRE(j->size[JOB_ERROR] == 0 || j->file[JOB_ERROR][j->size[JOB_ERROR] - 1] == '\n');
    const char *d = j->file[JOB_DATA], *end = d + j->size[JOB_DATA];
    REQUIRE(j->size[JOB_DATA] == 0 || end[-1] == '\n');
    while (d < end) {
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        REQUIRE(nl != NULL);
        REQUIRE(jt_validate(d, (size_t)(nl - d)));
        d = nl + 1;
    }
    char group[NAME_MAX_BYTES + 1];
    REQUIRE(j->id_len > 0 && names_encode(j->id, j->id_len, group) > 0);
    REQUIRE(group[0] != '.' && strchr(group, '/') == NULL);
    job_domain(j, group);
    REQUIRE(group[0] != '\0' && strchr(group, '/') == NULL);
    job_date(j, group);
    REQUIRE(strlen(group) < 16);
    job_unref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    (void)lister_page_valid(s, size);
    (void)lister_job_valid(s, size);
    size_t depth;
    ssize_t end = jt_skip_value(s, size, 0, &depth);
    if (!jt_validate(s, size)) {
        REQUIRE(end < 0 || (size_t)end <= size);
        return 0;
    }
    REQUIRE(end > 0 && (size_t)end <= size);

    struct jt_span v = {s, size};
    while (v.len && (v.p[0] == ' ' || v.p[0] == '\t' || v.p[0] == '\r' || v.p[0] == '\n')) {
        v.p++;
        v.len--;
    }
    struct buf c = {0}, p = {0}, pc = {0};
    jt_compact(v, &c);
    REQUIRE(!c.oom && jt_validate(c.p, c.len));
    jt_pretty(v, &p);
    REQUIRE(!p.oom && jt_validate(p.p, p.len));
    struct jt_span pv = {p.p, p.len};
    jt_compact(pv, &pc);
    REQUIRE(pc.len == c.len && memcmp(pc.p, c.p, c.len) == 0);
    buf_free(&c);
    buf_free(&p);
    buf_free(&pc);

    if (jt_type_of(v) == JT_OBJECT)
        check_job(s, size);
    return 0;
}
