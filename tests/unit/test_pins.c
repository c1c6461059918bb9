/* Pinned content (pins.h): lookups counted per inode, the content pinned by
 * the first and unpinned when the kernel forgets the last, new references
 * handed out, -ESTALE for an inode that already shows something else, and
 * the accounting (pins_usage, pins_job_inodes). Reference counts are read
 * straight off the objects, so a reference taken or dropped too many shows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "job.h"
#include "jsonl.h"
#include "pins.h"

static struct job *make_job(const char *id, const char *status, const char *extra)
{
    char text[512], why[128];
    snprintf(text, sizeof text,
             "{\"job_id\": \"%s\", \"status\": \"%s\", \"url\": \"https://example.com/x\", "
             "\"created_at\": \"2026-01-02T03:04:05Z\"%s}",
             id, status, extra);
    struct job *j = NULL;
    if (job_parse(text, strlen(text), 1700000000, &j, why, sizeof why) != 0 || !j) {
        fprintf(stderr, "job_parse(%s) failed: %s\n", text, why);
        exit(2);
    }
    return j;
}

static int refs_of_job(struct job *j)
{
    return atomic_load(&j->refs);
}

static int refs_of_blob(struct blob *b)
{
    return atomic_load(&b->refs);
}

static struct pins *new_pins(void)
{
    struct pins *p = NULL;
    if (pins_new(&p) != 0 || !p) {
        fprintf(stderr, "pins_new failed\n");
        exit(2);
    }
    return p;
}

/* blob_new copies its bytes (NULs included); references count up and down. */
static void test_blob_copies_and_counts_references(void)
{
    char src[] = {'a', 0, 'b', 'c'};
    struct blob *b = blob_new(src, sizeof src);
    CHECK(b != NULL);
    src[0] = 'X'; /* a copy: the caller's buffer is not kept */
    CHECK_MEM(b->data, b->len, "a\0bc", 4);
    CHECK_INT(refs_of_blob(b), 1);
    CHECK(blob_ref(b) == b);
    CHECK_INT(refs_of_blob(b), 2);
    blob_unref(b);
    CHECK_INT(refs_of_blob(b), 1);
    blob_unref(b); /* the last: freed (valgrind would see a leak otherwise) */

    struct blob *e = blob_new("", 0);
    CHECK(e != NULL);
    CHECK_UINT(e->len, 0);
    blob_unref(e);
}

/* The first lookup pins (one new reference); later lookups only count. */
static void test_first_lookup_pins_later_ones_count(void)
{
    struct pins *p = new_pins();
    struct job *j = make_job("a", "processing", "");
    CHECK_INT(pins_add(p, 10, (struct pinned){.job = j}), 0);
    CHECK_INT(refs_of_job(j), 2);
    CHECK_INT(pins_add(p, 10, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 10, (struct pinned){.job = j}), 0);
    CHECK_INT(refs_of_job(j), 2); /* no reference per lookup */

    /* three lookups: forgetting two keeps it, the third unpins */
    pins_forget(p, 10, 2);
    struct pinned w;
    CHECK_INT(pins_get(p, 10, &w), 0);
    CHECK(w.job == j);
    pinned_unref(&w);
    CHECK_INT(refs_of_job(j), 2);
    pins_forget(p, 10, 1);
    CHECK_INT(refs_of_job(j), 1);
    CHECK_INT(pins_get(p, 10, &w), -ENOENT);

    /* pinned again after that: a fresh count of one */
    CHECK_INT(pins_add(p, 10, (struct pinned){.job = j}), 0);
    CHECK_INT(refs_of_job(j), 2);
    pins_forget(p, 10, 1);
    CHECK_INT(refs_of_job(j), 1);
    pins_free(p);
    job_unref(j);
}

/* pins_get hands out new references (the pin keeps its own), and
 * pinned_unref drops them and clears the struct. */
static void test_get_returns_new_references(void)
{
    struct pins *p = new_pins();
    struct job *j = make_job("a", "pending", "");
    struct blob *b = blob_new("{\"x\":1}\n", 8);
    CHECK_INT(pins_add(p, 1, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 2, (struct pinned){.blob = b}), 0);
    CHECK_INT(refs_of_blob(b), 2);

    struct pinned w1, w2, w3;
    CHECK_INT(pins_get(p, 1, &w1), 0);
    CHECK_INT(pins_get(p, 1, &w2), 0);
    CHECK(w1.job == j && w1.blob == NULL && w1.jsonl == NULL);
    CHECK_INT(refs_of_job(j), 4);
    CHECK_INT(pins_get(p, 2, &w3), 0);
    CHECK(w3.blob == b && w3.job == NULL && w3.jsonl == NULL);
    CHECK_INT(refs_of_blob(b), 3);

    /* the references outlive the pin */
    pins_forget(p, 1, 1);
    pins_forget(p, 2, 1);
    CHECK_INT(refs_of_job(j), 3);
    CHECK_INT(refs_of_blob(b), 2);
    CHECK_MEM(w3.blob->data, w3.blob->len, "{\"x\":1}\n", 8);

    pinned_unref(&w1);
    CHECK(w1.job == NULL && w1.blob == NULL && w1.jsonl == NULL);
    pinned_unref(&w2);
    pinned_unref(&w3);
    CHECK_INT(refs_of_job(j), 1);
    CHECK_INT(refs_of_blob(b), 1);
    pins_free(p);
    job_unref(j);
    blob_unref(b);
}

/* Nothing pinned: -ENOENT, and the out struct is emptied. */
static void test_get_of_unpinned_inode_is_enoent(void)
{
    struct pins *p = new_pins();
    struct job *j = make_job("a", "pending", "");
    struct pinned w = {.job = j}; /* garbage from the caller's point of view */
    CHECK_INT(pins_get(p, 99, &w), -ENOENT);
    CHECK(w.job == NULL && w.blob == NULL && w.jsonl == NULL);
    CHECK_INT(refs_of_job(j), 1);
    pins_free(p);
    job_unref(j);
}

/* Forgetting more lookups than counted unpins; forgetting an inode that
 * holds nothing does nothing. */
static void test_forget_beyond_count_and_unknown_inode(void)
{
    struct pins *p = new_pins();
    struct job *j = make_job("a", "pending", "");
    CHECK_INT(pins_add(p, 7, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 7, (struct pinned){.job = j}), 0);
    pins_forget(p, 8, 5);
    pins_forget(p, 7, 0);
    struct pinned w;
    CHECK_INT(pins_get(p, 7, &w), 0);
    pinned_unref(&w);
    pins_forget(p, 7, 1000);
    CHECK_INT(pins_get(p, 7, &w), -ENOENT);
    CHECK_INT(refs_of_job(j), 1);
    size_t inodes = 1, bytes = 1;
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 0);
    CHECK_UINT(bytes, 0);
    pins_forget(p, 7, 1); /* again: nothing there */
    pins_free(p);
    job_unref(j);
}

/* An inode that shows something else refuses other content with -ESTALE,
 * and the refusal neither counts a lookup nor takes a reference. */
static void test_inode_showing_something_else_is_estale(void)
{
    struct pins *p = new_pins();
    struct job *a = make_job("a", "processing", "");
    struct job *a2 = make_job("a", "processing", ", \"error_message\": \"boom\"");
    struct blob *b = blob_new("stats", 5);
    struct blob *b2 = blob_new("other", 5);
    struct jsonl *s = jsonl_new(2);
    CHECK(s != NULL);

    CHECK_INT(pins_add(p, 5, (struct pinned){.job = a}), 0);
    CHECK_INT(pins_add(p, 5, (struct pinned){.job = a2}), -ESTALE);
    CHECK_INT(pins_add(p, 5, (struct pinned){.blob = b}), -ESTALE);
    CHECK_INT(pins_add(p, 5, (struct pinned){.jsonl = s}), -ESTALE);
    CHECK_INT(refs_of_job(a2), 1);
    CHECK_INT(refs_of_blob(b), 1);
    CHECK_INT(atomic_load(&s->refs), 1);

    CHECK_INT(pins_add(p, 6, (struct pinned){.blob = b}), 0);
    CHECK_INT(pins_add(p, 6, (struct pinned){.blob = b2}), -ESTALE);
    CHECK_INT(pins_add(p, 6, (struct pinned){.job = a}), -ESTALE);
    CHECK_INT(pins_add(p, 7, (struct pinned){.jsonl = s}), 0);
    CHECK_INT(pins_add(p, 7, (struct pinned){.blob = b}), -ESTALE);
    CHECK_INT(pins_add(p, 7, (struct pinned){.jsonl = s}), 0);
    CHECK_INT(atomic_load(&s->refs), 2);

    /* still what it was, with one lookup: one forget unpins it */
    struct pinned w;
    CHECK_INT(pins_get(p, 5, &w), 0);
    CHECK(w.job == a);
    pinned_unref(&w);
    pins_forget(p, 5, 1);
    CHECK_INT(pins_get(p, 5, &w), -ENOENT);
    CHECK_INT(refs_of_job(a), 1);
    /* once unpinned, the inode may show the other content */
    CHECK_INT(pins_add(p, 5, (struct pinned){.job = a2}), 0);
    CHECK_INT(pins_get(p, 5, &w), 0);
    CHECK(w.job == a2);
    pinned_unref(&w);

    pins_free(p);
    CHECK_INT(refs_of_job(a2), 1);
    CHECK_INT(refs_of_blob(b), 1);
    CHECK_INT(atomic_load(&s->refs), 1);
    job_unref(a);
    job_unref(a2);
    blob_unref(b);
    blob_unref(b2);
    jsonl_unref(s);
}

/* A job fetched again (another object with the same bytes) shows the same
 * thing: it is another lookup, not -ESTALE, and the pin keeps the first. */
static void test_same_text_in_another_job_object_is_the_same_content(void)
{
    struct pins *p = new_pins();
    struct job *a = make_job("a", "processing", "");
    struct job *again = make_job("a", "processing", "");
    CHECK(a != again);
    CHECK_INT(pins_add(p, 3, (struct pinned){.job = a}), 0);
    CHECK_INT(pins_add(p, 3, (struct pinned){.job = again}), 0);
    CHECK_INT(refs_of_job(again), 1);
    pins_forget(p, 3, 1);
    struct pinned w;
    CHECK_INT(pins_get(p, 3, &w), 0); /* two lookups were counted */
    CHECK(w.job == a);
    pinned_unref(&w);
    pins_forget(p, 3, 1);
    CHECK_INT(pins_get(p, 3, &w), -ENOENT);
    pins_free(p);
    job_unref(a);
    job_unref(again);
}

/* pins_usage: inodes pinned and the bytes of what they show, a job counted
 * at job->bytes, a blob at its length, a snapshot at jsonl_bytes; lookups
 * after the first add nothing. */
static void test_usage_counts_inodes_and_bytes(void)
{
    struct pins *p = new_pins();
    size_t inodes = 1, bytes = 1;
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 0);
    CHECK_UINT(bytes, 0);

    struct job *j = make_job("a", "processing", "");
    struct blob *b = blob_new("0123456789", 10);
    struct jsonl *s = jsonl_new(3);
    size_t sb = jsonl_bytes(s);
    CHECK_INT(pins_add(p, 1, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 1, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 2, (struct pinned){.blob = b}), 0);
    CHECK_INT(pins_add(p, 3, (struct pinned){.jsonl = s}), 0);
    CHECK_INT(pins_add(p, 4, (struct pinned){.job = j}), 0); /* the same job, another inode */
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 4);
    CHECK_UINT(bytes, 2 * j->bytes + 10 + sb);

    pins_forget(p, 1, 1); /* one of two lookups: still pinned */
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 4);
    pins_forget(p, 1, 1);
    pins_forget(p, 3, 1);
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 2);
    CHECK_UINT(bytes, j->bytes + 10);
    pins_forget(p, 2, 1);
    pins_forget(p, 4, 1);
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, 0);
    CHECK_UINT(bytes, 0);
    pins_free(p);
    job_unref(j);
    blob_unref(b);
    jsonl_unref(s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* pins_job_inodes: exactly the inodes that show a job's text (not blobs,
 * not snapshots), as a new array. */
static void test_job_inodes_lists_only_job_pins(void)
{
    struct pins *p = new_pins();
    uint64_t *inos = NULL;
    CHECK_UINT(pins_job_inodes(p, &inos), 0);
    free(inos);

    struct job *j = make_job("a", "processing", "");
    struct job *k = make_job("b", "pending", "");
    struct blob *b = blob_new("x", 1);
    struct jsonl *s = jsonl_new(1);
    CHECK_INT(pins_add(p, 100, (struct pinned){.job = j}), 0);
    CHECK_INT(pins_add(p, 0xffffffffffffull, (struct pinned){.job = k}), 0);
    CHECK_INT(pins_add(p, 7, (struct pinned){.blob = b}), 0);
    CHECK_INT(pins_add(p, 8, (struct pinned){.jsonl = s}), 0);
    CHECK_INT(pins_add(p, 9, (struct pinned){.job = j}), 0);

    size_t n = pins_job_inodes(p, &inos);
    CHECK_UINT(n, 3);
    if (inos && n == 3) {
        qsort(inos, n, sizeof *inos, cmp_u64);
        CHECK_UINT(inos[0], 9);
        CHECK_UINT(inos[1], 100);
        CHECK_UINT(inos[2], 0xffffffffffffull);
    }
    free(inos);

    pins_forget(p, 100, 1);
    inos = NULL;
    n = pins_job_inodes(p, &inos);
    CHECK_UINT(n, 2);
    if (inos && n == 2) {
        qsort(inos, n, sizeof *inos, cmp_u64);
        CHECK_UINT(inos[0], 9);
        CHECK_UINT(inos[1], 0xffffffffffffull);
    }
    free(inos);
    pins_free(p); /* drops the pins still held */
    CHECK_INT(refs_of_job(j), 1);
    CHECK_INT(refs_of_job(k), 1);
    CHECK_INT(refs_of_blob(b), 1);
    CHECK_INT(atomic_load(&s->refs), 1);
    job_unref(j);
    job_unref(k);
    blob_unref(b);
    jsonl_unref(s);
}

/* Many inodes (the table grows): each keeps its own content and count. */
static void test_many_inodes_keep_their_own_content(void)
{
    enum { N = 2000 };
    struct pins *p = new_pins();
    struct job *jobs[4];
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "j%d", i);
        jobs[i] = make_job(id, "processing", "");
    }
    int bad = 0;
    for (uint64_t ino = 1; ino <= N; ino++)
        for (uint64_t k = 0; k < ino % 3 + 1; k++)
            bad += pins_add(p, ino * 977, (struct pinned){.job = jobs[ino % 4]}) != 0;
    CHECK_INT(bad, 0);
    size_t inodes, bytes;
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, N);
    for (uint64_t ino = 1; ino <= N; ino++) {
        struct pinned w;
        bad += pins_get(p, ino * 977, &w) != 0 || w.job != jobs[ino % 4];
        pinned_unref(&w);
        pins_forget(p, ino * 977, ino % 3); /* one lookup left each */
    }
    CHECK_INT(bad, 0);
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, N);
    for (uint64_t ino = 1; ino <= N; ino += 2)
        pins_forget(p, ino * 977, 1);
    pins_usage(p, &inodes, &bytes);
    CHECK_UINT(inodes, N / 2);
    uint64_t *inos = NULL;
    CHECK_UINT(pins_job_inodes(p, &inos), N / 2);
    free(inos);
    pins_free(p);
    for (int i = 0; i < 4; i++) {
        CHECK_INT(refs_of_job(jobs[i]), 1);
        job_unref(jobs[i]);
    }
}

int main(void)
{
    test_blob_copies_and_counts_references();
    test_first_lookup_pins_later_ones_count();
    test_get_returns_new_references();
    test_get_of_unpinned_inode_is_enoent();
    test_forget_beyond_count_and_unknown_inode();
    test_inode_showing_something_else_is_estale();
    test_same_text_in_another_job_object_is_the_same_content();
    test_usage_counts_inodes_and_bytes();
    test_job_inodes_lists_only_job_pins();
    test_many_inodes_keep_their_own_content();
    return check_done("test_pins");
}
