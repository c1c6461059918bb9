/* A .jsonl snapshot's layout: where each line starts (kept for one line in
 * JSONL_MARK, summed for the rest), which line holds a byte, and the texts
 * it holds for unfinished jobs; against a plain running sum. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "jsonl.h"

static void check_layout(size_t n, unsigned seed)
{
    struct jsonl *s = jsonl_new(n);
    CHECK(s != NULL);
    uint64_t *off = malloc((n + 1) * sizeof *off);
    srand(seed);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        s->lines[i].len = 1 + (uint32_t)(rand() % 300); /* a newline at least */
        off[i + 1] = off[i] + s->lines[i].len;
    }
    CHECK_INT(jsonl_layout(s), 0);
    CHECK_UINT(s->size, off[n]);
    int bad = 0;
    for (size_t i = 0; i < n && bad < 5; i++) {
        if (jsonl_line_off(s, i) != off[i]) {
            CHECK_UINT(jsonl_line_off(s, i), off[i]);
            bad++;
        }
        /* the first, a middle and the last byte of the line */
        uint64_t probe[3] = {off[i], off[i] + (off[i + 1] - off[i]) / 2, off[i + 1] - 1};
        for (int k = 0; k < 3; k++)
            if (jsonl_line_at(s, probe[k]) != i) {
                CHECK_UINT(jsonl_line_at(s, probe[k]), i);
                bad++;
            }
    }
    CHECK_INT(bad, 0);
    free(off);
    jsonl_unref(s);
}

static void test_layout(void)
{
    size_t sizes[] = {1, 2, JSONL_MARK - 1, JSONL_MARK, JSONL_MARK + 1, 3 * JSONL_MARK, 10007};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        check_layout(sizes[k], (unsigned)k + 1);
}

static void test_held(void)
{
    struct jsonl *s = jsonl_new(100);
    struct job *j = NULL;
    char why[128];
    const char *text = "{\"job_id\":\"j1\",\"status\":\"pending\"}";
    CHECK_INT(job_parse(text, strlen(text), 0, &j, why, sizeof why), 0);
    for (size_t i = 3; i < 100; i += 7)
        CHECK_INT(jsonl_hold(s, i, j), 0);
    job_unref(j); /* the snapshot holds its own references */
    for (size_t i = 0; i < 100; i++)
        CHECK(jsonl_held(s, i) == (i >= 3 && (i - 3) % 7 == 0 ? j : NULL));
    CHECK(jsonl_bytes(s) > 100 * sizeof s->lines[0]);
    jsonl_unref(s); /* and lets them go: valgrind tells */
}

int main(void)
{
    test_layout();
    test_held();
    return check_done("test_jsonl");
}
