/* The id map: byte-string keys (NUL bytes included), and backward-shift
 * deletion checked against a plain array model over many random operations. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "idmap.h"

static void test_basics(void)
{
    struct idmap m = {0};
    int a = 1, b = 2, c = 3, d = 4;

    CHECK(idmap_get(&m, "x", 1) == NULL);
    CHECK(idmap_del(&m, "x", 1) == NULL);
    CHECK_UINT(m.count, 0);

    CHECK_INT(idmap_put(&m, "a\0b", 3, &a), 0);
    CHECK_INT(idmap_put(&m, "a\0c", 3, &b), 0);
    CHECK_INT(idmap_put(&m, "a", 1, &c), 0);
    CHECK_INT(idmap_put(&m, "a\0", 2, &d), 0);
    CHECK_UINT(m.count, 4);
    CHECK(idmap_get(&m, "a\0b", 3) == &a);
    CHECK(idmap_get(&m, "a\0c", 3) == &b);
    CHECK(idmap_get(&m, "a", 1) == &c);
    CHECK(idmap_get(&m, "a\0", 2) == &d);
    CHECK(idmap_get(&m, "a\0d", 3) == NULL);
    CHECK(idmap_get(&m, "ab", 2) == NULL);

    /* replace keeps the count */
    CHECK_INT(idmap_put(&m, "a", 1, &a), 0);
    CHECK_UINT(m.count, 4);
    CHECK(idmap_get(&m, "a", 1) == &a);

    /* keys are compared by content, not by pointer */
    char copy[3] = {'a', 0, 'b'};
    CHECK(idmap_get(&m, copy, 3) == &a);

    CHECK(idmap_del(&m, "a\0b", 3) == &a);
    CHECK(idmap_del(&m, "a\0b", 3) == NULL);
    CHECK_UINT(m.count, 3);
    CHECK(idmap_get(&m, "a\0c", 3) == &b);

    idmap_clear(&m);
    CHECK_UINT(m.count, 0);
    CHECK(idmap_get(&m, "a\0c", 3) == NULL);
    CHECK_INT(idmap_put(&m, "z", 1, &d), 0);
    CHECK(idmap_get(&m, "z", 1) == &d);
    idmap_free(&m);
    CHECK(m.slots == NULL && m.cap == 0 && m.count == 0);
    idmap_free(&m);
}

struct key {
    char bytes[24];
    size_t len;
};

/* A universe of distinct keys: short ones full of NUL bytes, prefixes of
 * one another, and longer random ones. */
static struct key *make_keys(size_t n, uint64_t *seed)
{
    struct key *k = calloc(n, sizeof *k);
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            uint64_t r = check_rand(seed);
            k[i].len = r % 4 == 0 ? r % 5 : 1 + r % 23;
            for (size_t j = 0; j < k[i].len; j++) {
                uint64_t b = check_rand(seed);
                k[i].bytes[j] = (char)(b % 3 == 0 ? 0 : b % 3 == 1 ? 'a' + (b >> 8) % 3 : (b >> 16));
            }
            size_t dup = 0;
            for (size_t j = 0; j < i && !dup; j++)
                dup = k[j].len == k[i].len && memcmp(k[j].bytes, k[i].bytes, k[i].len) == 0;
            if (!dup)
                break;
        }
    }
    return k;
}

static int check_all(const struct idmap *m, const struct key *keys, void *const *model, size_t n)
{
    size_t live = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (model[i])
            live++;
        if (idmap_get(m, keys[i].bytes, keys[i].len) != model[i])
            bad++;
    }
    int ok = CHECK_INT(bad, 0);
    ok &= CHECK_UINT(m->count, live);
    if (!ok)
        return 0;
    /* the table holds exactly the live entries, each reachable from its home */
    size_t used = 0;
    for (size_t s = 0; s < m->cap; s++)
        if (m->slots[s].hash)
            used++;
    return CHECK_UINT(used, live);
}

static void run_random(size_t nkeys, size_t ops, uint64_t seed)
{
    struct key *keys = make_keys(nkeys, &seed);
    void **model = calloc(nkeys, sizeof *model);
    int *vals = calloc(nkeys * 4, sizeof *vals);
    struct idmap m = {0};
    int failed = 0;

    for (size_t op = 0; op < ops && !failed; op++) {
        uint64_t r = check_rand(&seed);
        size_t i = (size_t)(r >> 8) % nkeys;
        switch (r % 8) {
        case 0:
        case 1:
        case 2: { /* put, new or replace */
            void *v = &vals[i * 4 + (r >> 40) % 4];
            if (!CHECK_INT(idmap_put(&m, keys[i].bytes, keys[i].len, v), 0))
                failed = 1;
            model[i] = v;
            break;
        }
        case 3:
        case 4:
        case 5: { /* delete */
            void *got = idmap_del(&m, keys[i].bytes, keys[i].len);
            if (!CHECK(got == model[i]))
                failed = 1;
            model[i] = NULL;
            break;
        }
        default: /* get */
            if (!CHECK(idmap_get(&m, keys[i].bytes, keys[i].len) == model[i]))
                failed = 1;
            break;
        }
        if (op % 97 == 0 || op + 1 == ops)
            if (!check_all(&m, keys, model, nkeys))
                failed = 1;
    }
    if (failed)
        fprintf(stderr, "    (random run with %zu keys, seed %llu)\n", nkeys, (unsigned long long)seed);

    /* empty it completely, in a random order */
    for (size_t k = 0; k < nkeys && !failed; k++) {
        size_t i = (k * 7919) % nkeys;
        CHECK(idmap_del(&m, keys[i].bytes, keys[i].len) == model[i]);
        model[i] = NULL;
    }
    if (!failed)
        check_all(&m, keys, model, nkeys);
    CHECK_UINT(m.count, 0);
    idmap_free(&m);
    free(vals);
    free(model);
    free(keys);
}

/* Many keys: growth, then deletions of most of them. */
static void test_many(void)
{
    enum { N = 20000 };
    char(*ids)[16] = malloc(N * sizeof *ids);
    struct idmap m = {0};
    for (int i = 0; i < N; i++) {
        int n = snprintf(ids[i], sizeof ids[i], "job-%d", i);
        ids[i][n + 1] = '\0';
        ids[i][2] = (char)(i % 2 ? 0 : 'b'); /* a NUL in the middle of half of them */
        CHECK_INT(idmap_put(&m, ids[i], (size_t)n, ids[i]), 0);
    }
    CHECK_UINT(m.count, N);
    CHECK(m.cap >= N * 4 / 3);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int n = (int)strlen(ids[i] + 3) + 3;
        bad += idmap_get(&m, ids[i], (size_t)n) != ids[i];
    }
    CHECK_INT(bad, 0);
    for (int i = 0; i < N; i++)
        if (i % 10) {
            int n = (int)strlen(ids[i] + 3) + 3;
            bad += idmap_del(&m, ids[i], (size_t)n) != ids[i];
        }
    CHECK_INT(bad, 0);
    CHECK_UINT(m.count, N / 10);
    for (int i = 0; i < N; i++) {
        int n = (int)strlen(ids[i] + 3) + 3;
        bad += idmap_get(&m, ids[i], (size_t)n) != (i % 10 ? NULL : ids[i]);
    }
    CHECK_INT(bad, 0);
    idmap_free(&m);
    free(ids);
}

int main(void)
{
    test_basics();
    /* a small universe keeps the table at 64 slots: long probe chains that
     * wrap around the end, where backward shifting is easiest to get wrong */
    run_random(40, 200000, 0x1d3a9b77u);
    run_random(47, 200000, 0x77aa0011u);
    run_random(300, 200000, 0x5eed5eedu);
    run_random(3000, 300000, 0xfeedbeefu);
    test_many();
    return check_done("test_idmap");
}
