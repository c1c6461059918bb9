/* The bounded expiring name set (nameset.h): a name is remembered until its
 * time (exclusive), a later time wins, a full set forgets everything when
 * another name comes, drain hands over only what is still remembered and
 * empties the set; keys are byte strings. Then the idmap walk (idmap_next)
 * the set and the flights rely on: every entry exactly once, keys and
 * lengths with it, also after deletions have shifted entries around.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "idmap.h"
#include "nameset.h"

#define BIG 1000000

/* What drain handed over, in a flat record. */
struct drained {
    int n;
    char keys[16][16];
    size_t lens[16];
};

static void collect(void *arg, const char *key, size_t len)
{
    struct drained *d = arg;
    if (d->n < 16 && len <= sizeof d->keys[0]) {
        memcpy(d->keys[d->n], key, len);
        d->lens[d->n] = len;
    }
    d->n++;
}

/* Whether drain handed over key[0..len) (exactly once). */
static int drained_has(const struct drained *d, const char *key, size_t len)
{
    int seen = 0;
    for (int i = 0; i < d->n && i < 16; i++)
        seen += d->lens[i] == len && memcmp(d->keys[i], key, len) == 0;
    return seen;
}

/* Remembered while now < until; at until it is gone, and forgotten. */
static void test_name_expires_at_its_time(void)
{
    struct nameset s;
    nameset_init(&s, 10);
    CHECK(!nameset_has(&s, "a", 1, 0));
    CHECK_INT(nameset_put(&s, "a", 1, 100), 0);
    CHECK(nameset_has(&s, "a", 1, 0));
    CHECK(nameset_has(&s, "a", 1, 99));
    CHECK_UINT(s.map.count, 1);
    CHECK(!nameset_has(&s, "a", 1, 100));
    CHECK_UINT(s.map.count, 0); /* an expired name is forgotten, not kept */
    CHECK(!nameset_has(&s, "a", 1, 50)); /* not even for an earlier clock */
    /* remembered again after that */
    CHECK_INT(nameset_put(&s, "a", 1, 300), 0);
    CHECK(nameset_has(&s, "a", 1, 299));
    nameset_clear(&s);
}

/* Putting a name again keeps the later of the two times. */
static void test_later_time_wins(void)
{
    struct nameset s;
    nameset_init(&s, 10);
    CHECK_INT(nameset_put(&s, "k", 1, 100), 0);
    CHECK_INT(nameset_put(&s, "k", 1, 50), 0); /* earlier: ignored */
    CHECK(nameset_has(&s, "k", 1, 99));
    CHECK_INT(nameset_put(&s, "k", 1, 200), 0); /* later: taken */
    CHECK(nameset_has(&s, "k", 1, 150));
    CHECK(nameset_has(&s, "k", 1, 199));
    CHECK(!nameset_has(&s, "k", 1, 200));
    CHECK_UINT(s.map.count, 0);
    nameset_clear(&s);
}

/* Full (max names) and another comes: it forgets them all and keeps the
 * new one. A name it already holds does not count as another. */
static void test_full_set_forgets_everything(void)
{
    struct nameset s;
    nameset_init(&s, 3);
    CHECK_INT(nameset_put(&s, "a", 1, BIG), 0);
    CHECK_INT(nameset_put(&s, "b", 1, BIG), 0);
    CHECK_INT(nameset_put(&s, "c", 1, BIG), 0);
    CHECK_UINT(s.map.count, 3);
    CHECK_INT(nameset_put(&s, "b", 1, BIG + 5), 0); /* known: no purge */
    CHECK_UINT(s.map.count, 3);
    CHECK(nameset_has(&s, "a", 1, 0));
    CHECK(nameset_has(&s, "c", 1, 0));

    CHECK_INT(nameset_put(&s, "d", 1, BIG), 0);
    CHECK_UINT(s.map.count, 1);
    CHECK(!nameset_has(&s, "a", 1, 0));
    CHECK(!nameset_has(&s, "b", 1, 0));
    CHECK(!nameset_has(&s, "c", 1, 0));
    CHECK(nameset_has(&s, "d", 1, 0));

    /* fills up again the same way */
    CHECK_INT(nameset_put(&s, "e", 1, BIG), 0);
    CHECK_INT(nameset_put(&s, "f", 1, BIG), 0);
    CHECK_UINT(s.map.count, 3);
    CHECK_INT(nameset_put(&s, "g", 1, BIG), 0);
    CHECK_UINT(s.map.count, 1);
    CHECK(nameset_has(&s, "g", 1, 0));
    CHECK(!nameset_has(&s, "d", 1, 0));
    nameset_clear(&s);
}

/* Never more than max names, whatever comes. */
static void test_never_holds_more_than_max(void)
{
    struct nameset s;
    nameset_init(&s, 50);
    size_t most = 0;
    for (int i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "id-%d", i);
        CHECK_INT(nameset_put(&s, k, (size_t)n, BIG), 0);
        if (s.map.count > most)
            most = s.map.count;
        CHECK(nameset_has(&s, k, (size_t)n, 0)); /* the newest is always kept */
    }
    CHECK_UINT(most, 50);
    nameset_clear(&s);
}

/* Drain hands over only names still remembered at now (until > now), each
 * once with its bytes, and leaves the set empty. */
static void test_drain_hands_over_unexpired_names_then_empties(void)
{
    struct nameset s;
    nameset_init(&s, 10);
    CHECK_INT(nameset_put(&s, "old", 3, 50), 0);
    CHECK_INT(nameset_put(&s, "edge", 4, 100), 0);
    CHECK_INT(nameset_put(&s, "new", 3, 200), 0);
    CHECK_INT(nameset_put(&s, "n\0l", 3, 101), 0);
    struct drained d = {0};
    nameset_drain(&s, 100, collect, &d);
    CHECK_INT(d.n, 2);
    CHECK_INT(drained_has(&d, "new", 3), 1);
    CHECK_INT(drained_has(&d, "n\0l", 3), 1);
    CHECK_INT(drained_has(&d, "edge", 4), 0);
    CHECK_INT(drained_has(&d, "old", 3), 0);
    CHECK_UINT(s.map.count, 0);
    CHECK(!nameset_has(&s, "new", 3, 0));

    /* an empty set hands over nothing; the set is usable afterwards */
    struct drained e = {0};
    nameset_drain(&s, 0, collect, &e);
    CHECK_INT(e.n, 0);
    CHECK_INT(nameset_put(&s, "x", 1, 10), 0);
    CHECK(nameset_has(&s, "x", 1, 9));
    nameset_clear(&s);
}

/* Keys are byte strings: NULs inside and prefixes are other names, and the
 * set keeps its own copy of each. */
static void test_keys_with_nul_bytes(void)
{
    struct nameset s;
    nameset_init(&s, 10);
    char key[3] = {'a', 0, 'b'};
    CHECK_INT(nameset_put(&s, key, 3, BIG), 0);
    key[2] = 'c'; /* the caller's buffer changes: the set kept a copy */
    CHECK(nameset_has(&s, "a\0b", 3, 0));
    CHECK(!nameset_has(&s, "a\0c", 3, 0));
    CHECK(!nameset_has(&s, "a", 1, 0));
    CHECK(!nameset_has(&s, "a\0", 2, 0));
    CHECK_INT(nameset_put(&s, "a", 1, BIG), 0);
    CHECK_INT(nameset_put(&s, "", 0, BIG), 0);
    CHECK_UINT(s.map.count, 3);
    CHECK(nameset_has(&s, "", 0, 0));
    struct drained d = {0};
    nameset_drain(&s, 0, collect, &d);
    CHECK_INT(d.n, 3);
    CHECK_INT(drained_has(&d, "a\0b", 3), 1);
    CHECK_INT(drained_has(&d, "a", 1), 1);
    CHECK_INT(drained_has(&d, "", 0), 1);
    nameset_clear(&s);
}

/* Cleared, the set forgets everything and keeps its bound. */
static void test_clear_forgets_and_set_is_reusable(void)
{
    struct nameset s;
    nameset_init(&s, 2);
    CHECK_INT(nameset_put(&s, "a", 1, BIG), 0);
    nameset_clear(&s);
    CHECK_UINT(s.map.count, 0);
    CHECK(!nameset_has(&s, "a", 1, 0));
    nameset_clear(&s); /* twice is fine */
    CHECK_INT(nameset_put(&s, "b", 1, BIG), 0);
    CHECK_INT(nameset_put(&s, "c", 1, BIG), 0);
    CHECK(nameset_has(&s, "b", 1, 0) && nameset_has(&s, "c", 1, 0));
    CHECK_INT(nameset_put(&s, "d", 1, BIG), 0); /* still bounded at 2 */
    CHECK_UINT(s.map.count, 1);
    nameset_clear(&s);
}

/* ---- idmap_next ---- */

/* An empty map (never used, or emptied) ends the walk at once. */
static void test_walk_of_empty_map_ends_at_once(void)
{
    struct idmap m = {0};
    size_t it = 0;
    CHECK(idmap_next(&m, &it, NULL, NULL) == NULL);
    int v = 1;
    CHECK_INT(idmap_put(&m, "x", 1, &v), 0);
    CHECK(idmap_del(&m, "x", 1) == &v);
    it = 0;
    CHECK(idmap_next(&m, &it, NULL, NULL) == NULL);
    idmap_free(&m);
}

/* Every entry exactly once, with its key and length (NULs included); the
 * end stays the end; key and len may be NULL. */
static void test_walk_visits_every_entry_once_with_its_key(void)
{
    static const struct {
        const char *k;
        size_t len;
    } keys[] = {{"a", 1}, {"a\0b", 3}, {"a\0", 2}, {"", 0}, {"\0\0\0", 3}, {"long key here", 13}};
    enum { NK = sizeof keys / sizeof keys[0] };
    int vals[NK];
    struct idmap m = {0};
    for (int i = 0; i < NK; i++)
        CHECK_INT(idmap_put(&m, keys[i].k, keys[i].len, &vals[i]), 0);
    int seen[NK] = {0}, stray = 0, wrong_key = 0, steps = 0;
    size_t it = 0;
    const char *k;
    size_t len;
    void *v;
    while ((v = idmap_next(&m, &it, &k, &len)) != NULL && steps++ < 100) {
        int i = (int)((int *)v - vals);
        if (i < 0 || i >= NK) {
            stray++;
            continue;
        }
        seen[i]++;
        wrong_key += len != keys[i].len || memcmp(k, keys[i].k, len) != 0;
    }
    for (int i = 0; i < NK; i++)
        CHECK_INT(seen[i], 1);
    CHECK_INT(stray, 0);
    CHECK_INT(wrong_key, 0);
    CHECK(idmap_next(&m, &it, &k, &len) == NULL);
    CHECK(idmap_next(&m, &it, &k, &len) == NULL);

    /* without key and len: the same values */
    int count = 0;
    it = 0;
    while (idmap_next(&m, &it, NULL, NULL) && count < 100)
        count++;
    CHECK_INT(count, NK);
    idmap_free(&m);
}

/* After many deletions (entries shifted back in their probe chains) the
 * walk sees exactly the entries left. */
static void test_walk_after_deletions_sees_exactly_the_rest(void)
{
    enum { N = 500 };
    static char ids[N][12];
    static int vals[N];
    struct idmap m = {0};
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "k-%d", i);
        ids[i][1] = (char)(i % 3 ? ids[i][1] : 0); /* some with a NUL for the dash */
        CHECK_INT(idmap_put(&m, ids[i], strlen(ids[i] + 2) + 2, &vals[i]), 0);
    }
    for (int i = 0; i < N; i++)
        if (i % 7)
            CHECK(idmap_del(&m, ids[i], strlen(ids[i] + 2) + 2) == &vals[i]);
    int seen[N] = {0};
    size_t it = 0, n = 0;
    void *v;
    while ((v = idmap_next(&m, &it, NULL, NULL)) != NULL && n++ < 10 * N)
        seen[(int *)v - vals]++;
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += seen[i] != (i % 7 ? 0 : 1);
    CHECK_INT(bad, 0);
    CHECK_UINT(n, m.count);
    idmap_free(&m);
}

int main(void)
{
    test_name_expires_at_its_time();
    test_later_time_wins();
    test_full_set_forgets_everything();
    test_never_holds_more_than_max();
    test_drain_hands_over_unexpired_names_then_empties();
    test_keys_with_nul_bytes();
    test_clear_forgets_and_set_is_reusable();
    test_walk_of_empty_map_ends_at_once();
    test_walk_visits_every_entry_once_with_its_key();
    test_walk_after_deletions_sees_exactly_the_rest();
    return check_done("test_nameset");
}
