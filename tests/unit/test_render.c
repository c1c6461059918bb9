/* Rendering of a job's three files against golden files.
 *
 * Usage: test_render RENDER_DIR. Every subdirectory of RENDER_DIR is a case:
 * job.json.in is the job object as the API sends it (surrounding whitespace
 * is trimmed, as the lister hands job_parse the exact value), job.json,
 * error.txt and data.jsonl are the expected files, compared byte for byte.
 * Then come the cases that are generated rather than written: deep nesting,
 * the compact fallback, and jobs that cannot be shown.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "job.h"
#include "jsontext.h"
#include "page.h"

/* A job's three files, rendered; each must be exactly its announced size. */
struct files {
    struct buf f[JOB_NFILES];
};

static void render_all(const struct job *j, struct files *out, int line)
{
    for (int f = 0; f < JOB_NFILES; f++) {
        memset(&out->f[f], 0, sizeof out->f[f]);
        job_render(j, f, &out->f[f]);
        buf_putc(&out->f[f], '\0'); /* for printing; not part of the file */
        out->f[f].len--;
        check_int((long long)out->f[f].len, (long long)j->size[f], __FILE__, line,
                  "rendered length", "size[f]");
    }
}

static void files_free(struct files *fl)
{
    for (int f = 0; f < JOB_NFILES; f++)
        buf_free(&fl->f[f]);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_put(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    *len = b.len - 1;
    return b.p;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void run_case(const char *dir, const char *name)
{
    char path[4096];
    size_t inlen;
    snprintf(path, sizeof path, "%s/%s/job.json.in", dir, name);
    char *in = read_file(path, &inlen);
    if (!CHECK(in != NULL)) {
        fprintf(stderr, "    cannot read %s\n", path);
        return;
    }
    const char *p = in;
    size_t len = inlen;
    while (len && is_ws(*p)) {
        p++;
        len--;
    }
    while (len && is_ws(p[len - 1]))
        len--;
    if (!CHECK(jt_validate(p, len)))
        fprintf(stderr, "    case %s: job.json.in is not valid JSON\n", name);

    struct job *j = NULL;
    char why[256] = "";
    int rc = job_parse(p, len, 1000, &j, why, sizeof why);
    if (!CHECK_INT(rc, 0)) {
        fprintf(stderr, "    case %s: job_parse refused it: %s\n", name, why);
        free(in);
        return;
    }
    struct files fl;
    render_all(j, &fl, __LINE__);
    for (int f = 0; f < JOB_NFILES; f++) {
        size_t wlen;
        snprintf(path, sizeof path, "%s/%s/%s", dir, name, job_file_names[f]);
        char *want = read_file(path, &wlen);
        if (!CHECK(want != NULL)) {
            fprintf(stderr, "    cannot read %s\n", path);
            continue;
        }
        if (!CHECK_MEM(fl.f[f].p, fl.f[f].len, want, wlen))
            fprintf(stderr, "    case %s, file %s\n", name, job_file_names[f]);
        free(want);
    }
    if (!CHECK(jt_validate(fl.f[JOB_JSON].p, fl.f[JOB_JSON].len)))
        fprintf(stderr, "    case %s: job.json is not valid JSON\n", name);
    /* the job keeps the object with its whitespace removed, nothing else */
    struct buf compact = {0};
    jt_compact((struct jt_span){p, len}, &compact);
    if (!CHECK_MEM(j->text, j->text_len, compact.p, compact.len))
        fprintf(stderr, "    case %s: the kept text\n", name);
    buf_free(&compact);
    files_free(&fl);
    job_unref(j);
    free(in);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_golden(const char *dir)
{
    DIR *d = opendir(dir);
    if (!CHECK(d != NULL)) {
        fprintf(stderr, "    cannot open %s\n", dir);
        return;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/job.json.in", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fclose(f);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    CHECK(n >= 12);
    for (size_t i = 0; i < n; i++) {
        int before = check_failures;
        run_case(dir, names[i]);
        printf("render case %-24s %s\n", names[i], check_failures == before ? "ok" : "FAILED");
        free(names[i]);
    }
}

/* A job whose extracted_data is one value nested `depth` levels deep. */
static void deep_job(struct buf *b, size_t depth, int objects)
{
    const char *head = "{\"job_id\":\"deep\",\"status\":\"completed\",\"extracted_data\":[";
    buf_put(b, head, strlen(head));
    for (size_t i = 0; i < depth; i++)
        buf_put(b, objects ? "{\"k\":" : "[", objects ? 5 : 1);
    buf_put(b, "1", 1);
    buf_fill(b, objects ? '}' : ']', depth);
    buf_put(b, "],\"error_message\":null}", 23);
}

static void test_deep(void)
{
    for (int objects = 0; objects < 2; objects++) {
        struct buf in = {0};
        deep_job(&in, 10000, objects);
        CHECK(jt_validate(in.p, in.len));
        struct job *j = NULL;
        char why[256] = "";
        if (!CHECK_INT(job_parse(in.p, in.len, 0, &j, why, sizeof why), 0)) {
            fprintf(stderr, "    %s\n", why);
            buf_free(&in);
            continue;
        }
        struct files fl;
        render_all(j, &fl, __LINE__);
        const struct buf *js = &fl.f[JOB_JSON], *data = &fl.f[JOB_DATA];
        CHECK(jt_validate(js->p, js->len));
        CHECK(js->len > 0 && js->p[js->len - 1] == '\n');
        /* data.jsonl: the one element, compact, on one line */
        CHECK(data->len > 1);
        CHECK(memchr(data->p, '\n', data->len) == data->p + data->len - 1);
        CHECK(jt_validate(data->p, data->len - 1));
        CHECK_UINT(j->size[JOB_ERROR], 0);
        /* the indentation is bounded */
        size_t run = 0, maxrun = 0;
        for (size_t i = 0; i < js->len; i++) {
            run = js->p[i] == ' ' ? run + 1 : 0;
            if (run > maxrun)
                maxrun = run;
        }
        CHECK(maxrun <= 2 * JT_PRETTY_MAX_DEPTH + 1);
        /* compacting job.json gives back the input's tokens */
        struct buf c1 = {0}, c2 = {0};
        struct jt_span jv = {js->p, js->len - 1};
        struct jt_span iv = {in.p, in.len};
        jt_compact(jv, &c1);
        jt_compact(iv, &c2);
        CHECK_MEM(c1.p, c1.len, c2.p, c2.len);
        buf_free(&c1);
        buf_free(&c2);
        files_free(&fl);
        job_unref(j);
        buf_free(&in);
    }
}

/* A job whose pretty form would be far larger than itself (a wide array at
 * the deepest indented level) is written compactly, whole (jsontext.h: past
 * 16 times its size plus 1 MiB). */
static void test_compact_fallback(void)
{
    struct buf in = {0};
    const char *head = "{\"job_id\":\"wide\",\"status\":\"completed\",\"extracted_data\":";
    buf_put(&in, head, strlen(head));
    buf_fill(&in, '[', JT_PRETTY_MAX_DEPTH - 1);
    for (int i = 0; i < 5000; i++)
        buf_put(&in, i ? ",0" : "0", i ? 2 : 1);
    buf_fill(&in, ']', JT_PRETTY_MAX_DEPTH - 1);
    buf_putc(&in, '}');
    CHECK(jt_validate(in.p, in.len));

    struct job *j = NULL;
    char why[256] = "";
    if (!CHECK_INT(job_parse(in.p, in.len, 0, &j, why, sizeof why), 0)) {
        buf_free(&in);
        return;
    }
    struct buf want = {0};
    struct jt_span v = {in.p, in.len};
    jt_compact(v, &want);
    buf_putc(&want, '\n');
    struct files fl;
    render_all(j, &fl, __LINE__);
    CHECK_MEM(fl.f[JOB_JSON].p, fl.f[JOB_JSON].len, want.p, want.len);
    CHECK(j->size[JOB_JSON] <= 8 * in.len);
    files_free(&fl);
    job_unref(j);
    buf_free(&want);

    /* a tenth of it stays pretty */
    buf_free(&in);
    buf_put(&in, head, strlen(head));
    buf_fill(&in, '[', JT_PRETTY_MAX_DEPTH - 1);
    for (int i = 0; i < 100; i++)
        buf_put(&in, i ? ",0" : "0", i ? 2 : 1);
    buf_fill(&in, ']', JT_PRETTY_MAX_DEPTH - 1);
    buf_putc(&in, '}');
    if (CHECK_INT(job_parse(in.p, in.len, 0, &j, why, sizeof why), 0)) {
        render_all(j, &fl, __LINE__);
        const struct buf *js = &fl.f[JOB_JSON];
        CHECK(memchr(js->p, '\n', js->len) != js->p + js->len - 1);
        CHECK(jt_validate(js->p, js->len));
        files_free(&fl);
        job_unref(j);
    }
    buf_free(&in);
}

static void refused(const char *text, const char *why_part, int line)
{
    struct job *j = (struct job *)&j; /* must be reset to NULL */
    char why[256] = "";
    int rc = job_parse(text, strlen(text), 0, &j, why, sizeof why);
    check_int(rc, -EINVAL, __FILE__, line, "job_parse", "-EINVAL");
    check_count++;
    if (j != NULL)
        check_fail_begin(__FILE__, line, "job_parse left *out set on failure");
    check_contains(why, why_part, __FILE__, line, "why", "why_part");
    if (rc == 0)
        job_unref(j);
}

static void test_refused(void)
{
    refused("[1,2]", "object", __LINE__);
    refused("\"job\"", "object", __LINE__);
    refused("{}", "job_id", __LINE__);
    refused("{\"job_id\":null}", "job_id", __LINE__);
    refused("{\"job_id\":12}", "job_id", __LINE__);
    refused("{\"id\":\"x\"}", "job_id", __LINE__);
    refused("{\"job_id\":\"\"}", "empty", __LINE__);
    /* 86 slashes are 258 bytes once encoded */
    char big[400];
    strcpy(big, "{\"job_id\":\"");
    size_t n = strlen(big);
    for (int i = 0; i < 86; i++)
        big[n++] = '/';
    strcpy(big + n, "\"}");
    refused(big, "255", __LINE__);
}

static void test_fields(void)
{
    const char *t = "{\"job_id\":\"a\\/b\\u0000c\",\"status\":\"cancelled\","
                    "\"url\":\"https:\\/\\/x.example\\/\",\"created_at\":\"2026-11-28T10:00:00Z\"}";
    struct job *j = NULL;
    char why[128];
    if (!CHECK_INT(job_parse(t, strlen(t), 7, &j, why, sizeof why), 0))
        return;
    CHECK_MEM(j->id, j->id_len, "a/b\0c", 5);
    char name[NAME_MAX_BYTES + 1];
    CHECK_INT(names_encode(j->id, j->id_len, name), 9);
    CHECK_STR(name, "a%2Fb%00c");
    CHECK_INT(j->status, ST_CANCELLED);
    CHECK(j->final);
    static const struct {
        enum page_field f;
        const char *want; /* NULL: no string */
    } fields[] = {{PF_STATUS, "cancelled"}, {PF_URL, "https://x.example/"},
                  {PF_CREATED_AT, "2026-11-28T10:00:00Z"}, {PF_COMPLETED_AT, NULL},
                  {PF_ERROR_MESSAGE, NULL}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        struct buf v = {0};
        bool has = job_string(j, fields[i].f, &v);
        buf_putc(&v, '\0');
        CHECK_INT(has, fields[i].want != NULL);
        if (fields[i].want)
            CHECK_STR(v.p, fields[i].want);
        buf_free(&v);
    }
    CHECK_INT(j->created_us, 1795860000LL * 1000000);
    CHECK_INT(j->mtime, 1795860000);
    CHECK_STR(j->domain, "x.example");
    CHECK_STR(j->date, "2026-11-28");
    /* the job holds its text once: no rendered file is kept */
    CHECK(j->bytes < sizeof *j + 2 * j->text_len + 64);

    /* a reference keeps the snapshot alive */
    struct job *r = job_ref(j);
    CHECK(r == j);
    job_unref(j);
    CHECK_MEM(r->id, r->id_len, "a/b\0c", 5);
    job_unref(r);
    job_unref(NULL);

    static const struct {
        const char *status;
        enum job_status st;
        bool final;
    } st[] = {{"pending", ST_PENDING, false},     {"processing", ST_PROCESSING, false},
              {"completed", ST_COMPLETED, true},  {"failed", ST_FAILED, true},
              {"cancelled", ST_CANCELLED, true},  {"Completed", ST_UNKNOWN, false},
              {"archived", ST_UNKNOWN, false}};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"job_id\":\"s\",\"status\":\"%s\"}", st[i].status);
        if (CHECK_INT(job_parse(text, strlen(text), 0, &j, why, sizeof why), 0)) {
            CHECK_INT(j->status, st[i].st);
            CHECK_INT(j->final, st[i].final);
            job_unref(j);
        }
    }
}

#define PAGE(lit) (page_accept((lit), sizeof(lit) - 1) == 0)
static bool detail_ok(const char *body, size_t len)
{
    struct page_job pj;
    return page_parse_job(body, len, &pj) == 0;
}
#define DETAIL(lit) detail_ok((lit), sizeof(lit) - 1)

/* What counts as a well-formed answer (anything else is retried). */
static void test_pages(void)
{
    CHECK(PAGE("{\"jobs\":[],\"total\":0}"));
    CHECK(PAGE("{\"jobs\":[{\"job_id\":\"a\"}],\"total\":1,\"limit\":50,\"offset\":0}"));
    CHECK(PAGE(" \r\n{ \"total\" : 12 , \"jobs\" : [ 1 ] }\n"));
    CHECK(PAGE("{\"jobs\":[\"odd\", null, {}],\"total\":3}")); /* odd entries are left out later */
    CHECK(!PAGE(""));
    CHECK(!PAGE("<html><body>502 Bad Gateway</body></html>"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":0"));          /* truncated */
    CHECK(!PAGE("{\"jobs\":[{\"job_id\":\"a\"},"));
    CHECK(!PAGE("{\"jobs\":[]}"));                      /* no total */
    CHECK(!PAGE("{\"total\":3}"));                      /* no jobs */
    CHECK(!PAGE("{\"jobs\":null,\"total\":0}"));
    CHECK(!PAGE("{\"jobs\":{},\"total\":0}"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":\"3\"}"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":-1}"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":1.5}"));
    CHECK(!PAGE("[{\"jobs\":[],\"total\":0}]"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":0} {}"));
    CHECK(!PAGE("{\"jobs\":[],\"total\":99999999999999999999999999}"));
    CHECK(!PAGE("{\"jobs\":["));                        /* cut after the bracket */
    CHECK(!PAGE("{\"jobs\":[{\"job_id\":\"a\"}"));
    /* one job's bad UTF-8 does not fail its page */
    CHECK(PAGE("{\"jobs\":[{\"job_id\":\"a\",\"url\":\"x\xff\"},{\"job_id\":\"b\"}],\"total\":2}"));

    CHECK(DETAIL("{\"job_id\":\"a\"}"));
    CHECK(DETAIL(" {}\n"));
    CHECK(!DETAIL("[]"));
    CHECK(!DETAIL("\"job\""));
    CHECK(!DETAIL("{\"job_id\":"));
    CHECK(!DETAIL(""));
    CHECK(!DETAIL("  "));
    CHECK(!DETAIL("Not Found"));
}

/* A page is cut into jobs in one pass: each element with its fields. */
static void test_page_parse(void)
{
    const char *body = "{\"total\": 3, \"jobs\": [ {\"job_id\":\"a\", \"status\":\"completed\","
                       " \"job_id\":\"dup\", \"extracted_data\":[1, 2]}, 42,"
                       " {\"status\":\"x\", \"url\":\"bad \xff utf8\"} ], \"limit\": 3}";
    struct page pg;
    if (!CHECK_INT(page_parse(body, strlen(body), &pg), 0))
        return;
    CHECK_INT(pg.total, 3);
    if (CHECK_UINT(pg.n, 3)) {
        const struct page_job *a = &pg.jobs[0], *b = &pg.jobs[1], *c = &pg.jobs[2];
        CHECK(a->object && !a->bad_utf8);
        CHECK_MEM(a->field[PF_JOB_ID].p, a->field[PF_JOB_ID].len, "\"a\"", 3); /* first wins */
        CHECK_MEM(a->field[PF_EXTRACTED_DATA].p, a->field[PF_EXTRACTED_DATA].len, "[1, 2]", 6);
        CHECK_UINT(a->field[PF_URL].len, 0);
        CHECK(!b->object);
        CHECK_MEM(b->text.p, b->text.len, "42", 2);
        CHECK(c->object && c->bad_utf8);
        CHECK_UINT(c->field[PF_JOB_ID].len, 0);

        /* the job built from a mends its text and knows where its fields are */
        struct job *j = NULL;
        char why[128];
        if (CHECK_INT(job_new(a, 0, &j, why, sizeof why), 0)) {
            CHECK_MEM(j->text, j->text_len,
                      "{\"job_id\":\"a\",\"status\":\"completed\",\"job_id\":\"dup\","
                      "\"extracted_data\":[1,2]}", 73);
            CHECK_MEM(j->text + j->field[PF_EXTRACTED_DATA].off, j->field[PF_EXTRACTED_DATA].len,
                      "[1,2]", 5);
            CHECK_UINT(j->size[JOB_DATA], 4);
            job_unref(j);
        }
        CHECK_INT(job_new(b, 0, &j, why, sizeof why), -EINVAL);
        CHECK_INT(job_new(c, 0, &j, why, sizeof why), -EINVAL);
    }
    page_free(&pg);

    const char *bad = "{\"job_id\":\"m\xc3\",\"url\":\"https://h.example/\xff\"}";
    struct job *j = NULL;
    char why[128];
    if (CHECK_INT(job_parse(bad, strlen(bad), 0, &j, why, sizeof why), 0)) {
        CHECK(jt_validate(j->text, j->text_len)); /* mended: valid UTF-8 JSON */
        CHECK_MEM(j->id, j->id_len, "m\xc3", 2); /* the id stays what names the job */
        struct files fl;
        render_all(j, &fl, __LINE__);
        CHECK(jt_validate(fl.f[JOB_JSON].p, fl.f[JOB_JSON].len));
        CHECK_CONTAINS(fl.f[JOB_JSON].p, "\"m\xef\xbf\xbd\"");
        files_free(&fl);
        job_unref(j);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s RENDER_DIR\n", argv[0]);
        return 2;
    }
    run_golden(argv[1]);
    test_deep();
    test_compact_fallback();
    test_refused();
    test_fields();
    test_pages();
    test_page_parse();
    return check_done("test_render");
}
