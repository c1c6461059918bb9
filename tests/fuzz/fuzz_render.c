/* libFuzzer target: untrusted bytes as a list page, a detail answer and a
 * JSON document, through parsing, re-indenting and the rendering of a job's
 * files.
 *
 * Whatever the bytes, nothing may crash, leak or read out of bounds (ASan,
 * UBSan), and:
 *   - for every valid document, jt_compact and jt_pretty give valid JSON
 *     again, and compacting the pretty form gives the compact form;
 *   - every job a page (or a detail answer) yields renders files of exactly
 *     their announced sizes: a job.json that is valid UTF-8 JSON ending in a
 *     newline, an error.txt ending in a newline, a data.jsonl whose every
 *     line is valid UTF-8 JSON; its kept text is valid UTF-8 JSON too, even
 *     when the input's strings were not UTF-8;
 *   - its file name and group names are names (no '/', no leading '.').
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jsontext.h"
#include "page.h"

#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_render: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static void check_job(const struct page_job *pj)
{
    struct job *j = NULL;
    char why[256];
    int rc = job_new(pj, 1000, &j, why, sizeof why);
    if (rc != 0) {
        REQUIRE(j == NULL);
        return;
    }
    REQUIRE(jt_validate(j->text, j->text_len));
    struct buf f[JOB_NFILES] = {{0}};
    for (int k = 0; k < JOB_NFILES; k++) {
        job_render(j, k, &f[k]);
        REQUIRE(!f[k].oom && f[k].len == j->size[k]);
    }
    REQUIRE(f[JOB_JSON].len >= 3 && f[JOB_JSON].p[f[JOB_JSON].len - 1] == '\n');
    REQUIRE(jt_validate(f[JOB_JSON].p, f[JOB_JSON].len));
    REQUIRE(f[JOB_ERROR].len == 0 || f[JOB_ERROR].p[f[JOB_ERROR].len - 1] == '\n');
    const char *d = f[JOB_DATA].p, *end = d ? d + f[JOB_DATA].len : NULL;
    REQUIRE(f[JOB_DATA].len == 0 || end[-1] == '\n');
    while (d && d < end) {
        const char *nl = memchr(d, '\n', (size_t)(end - d));
        REQUIRE(nl != NULL);
        REQUIRE(jt_validate(d, (size_t)(nl - d)));
        d = nl + 1;
    }
    char name[NAME_MAX_BYTES + 1];
    REQUIRE(j->id_len > 0 && names_encode(j->id, j->id_len, name) > 0);
    REQUIRE(name[0] != '.' && strchr(name, '/') == NULL);
    REQUIRE(j->domain[0] != '\0' && j->domain[0] != '.' && strchr(j->domain, '/') == NULL);
    size_t dl = strlen(j->domain);
    REQUIRE(dl < 6 || strcmp(j->domain + dl - 6, ".jsonl") != 0);
    REQUIRE(strlen(j->date) < 16);
    for (int k = 0; k < JOB_NFILES; k++)
        buf_free(&f[k]);
    job_unref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct page pg;
    if (page_parse(s, size, &pg) == 0) {
        for (size_t i = 0; i < pg.n; i++)
            check_job(&pg.jobs[i]);
        page_free(&pg);
    }
    struct page_job pj;
    if (page_parse_job(s, size, &pj) == 0)
        check_job(&pj);

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
    return 0;
}
