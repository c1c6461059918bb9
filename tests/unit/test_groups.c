/* by-domain/ and by-date/ (src/cache/groups.h): group views made once per
 * name and kind and numbered from VIEW_COUNT on in order; a build from the
 * jobs/ listing puts each job in its two groups in the listing's order,
 * skips members that cannot be shown and says which groups changed; find,
 * list and nonempty see only groups with members.
 *
 * The *_locked functions expect the cache's lock in the real code but do
 * not assert it, so they are called directly here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check.h"
#include "groups.h"
#include "refresh.h"
#include "views.h"

static struct groups *new_groups(void)
{
    struct groups *g = NULL;
    if (groups_new(&g) != 0 || !g) {
        fprintf(stderr, "groups_new failed\n");
        exit(2);
    }
    return g;
}

/* A job member: cache entry seq in groups dom and date. */
static struct member job_m(uint32_t seq, uint32_t dom, uint32_t date)
{
    struct member m;
    memset(&m, 0, sizeof m);
    m.seq = seq;
    m.group[GROUP_DOMAIN] = dom;
    m.group[GROUP_DATE] = date;
    return m;
}

/* An element that cannot be shown: seq 0, known by its digest. */
static struct member bad_m(uint64_t key)
{
    struct member m;
    memset(&m, 0, sizeof m);
    m.key = key;
    return m;
}

static struct listing *make_listing(const struct member *m, size_t n)
{
    struct listing *l = listing_new(n);
    if (!l) {
        fprintf(stderr, "listing_new failed\n");
        exit(2);
    }
    if (n)
        memcpy(l->m, m, n * sizeof *m);
    return l;
}

/* begin, build from all, commit, free; returns build's rc and copies out
 * the changed flags (at most nchanged). */
static int rebuild(struct groups *g, const struct member *m, size_t n, bool *changed,
                   size_t nchanged)
{
    struct listing *all = make_listing(m, n);
    struct group_build b;
    int rc = groups_build_begin_locked(g, &b);
    if (rc == 0)
        rc = groups_build(&b, all);
    if (rc == 0) {
        for (size_t i = 0; i < nchanged; i++)
            changed[i] = i < b.n ? b.changed[i] : false;
        groups_build_commit_locked(g, &b);
    }
    groups_build_free(&b);
    listing_unref(all);
    return rc;
}

/* The seqs of group view v's members, in order, as "1,2,3". */
static const char *seqs_of(struct groups *g, uint32_t v, char *out, size_t outlen)
{
    struct view *vw = groups_view_locked(g, v);
    out[0] = '\0';
    if (!vw)
        return "(no view)";
    if (!vw->mem.list)
        return "(no list)";
    size_t at = 0;
    for (size_t i = 0; i < vw->mem.list->n && at + 12 < outlen; i++)
        at += (size_t)snprintf(out + at, outlen - at, "%s%u", i ? "," : "",
                               (unsigned)vw->mem.list->m[i].seq);
    return out;
}

/* Whether the list holds name with view v (exactly once). */
static int listed(const struct group_list *l, const char *name, uint32_t v)
{
    int n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strcmp(l->items[i].name, name) == 0 && l->items[i].view == (int)v;
    return n;
}

/* One view per name and kind, numbered VIEW_COUNT, VIEW_COUNT + 1, ... in
 * the order first seen; asking again gives the same number; the same name
 * in the other kind is another group. */
static void test_assign_makes_one_view_per_name_and_kind_in_order(void)
{
    struct groups *g = new_groups();
    CHECK_UINT(groups_count(g), 0);
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    uint32_t d1 = groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    uint32_t b = groups_assign_locked(g, GROUP_DOMAIN, "b.com");
    CHECK_UINT(a, VIEW_COUNT);
    CHECK_UINT(d1, VIEW_COUNT + 1);
    CHECK_UINT(b, VIEW_COUNT + 2);
    CHECK_UINT(groups_assign_locked(g, GROUP_DOMAIN, "a.com"), VIEW_COUNT);
    CHECK_UINT(groups_assign_locked(g, GROUP_DATE, "2026-01-01"), VIEW_COUNT + 1);
    CHECK_UINT(groups_count(g), 3);
    uint32_t x = groups_assign_locked(g, GROUP_DATE, "a.com");
    CHECK_UINT(x, VIEW_COUNT + 3);
    CHECK_UINT(groups_count(g), 4);

    struct view *va = groups_view_locked(g, a), *vx = groups_view_locked(g, x);
    CHECK(va != NULL && vx != NULL && va != vx);
    if (va && vx) {
        CHECK_INT(va->kind, GROUP_DOMAIN);
        CHECK_STR(va->name, "a.com");
        CHECK_INT(vx->kind, GROUP_DATE);
        CHECK_STR(vx->name, "a.com");
        CHECK_UINT(va->mem.shown, 0);
    }
    /* numbers that are no group view */
    CHECK(groups_view_locked(g, 0) == NULL);
    CHECK(groups_view_locked(g, VIEW_COUNT - 1) == NULL);
    CHECK(groups_view_locked(g, VIEW_COUNT + 4) == NULL);
    CHECK(groups_view_locked(g, UINT32_MAX) == NULL);

    /* many more: still one each, in order */
    int bad = 0;
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "host%d.example", i);
        bad += groups_assign_locked(g, GROUP_DOMAIN, name) != (uint32_t)(VIEW_COUNT + 4 + i);
    }
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "host%d.example", i);
        bad += groups_assign_locked(g, GROUP_DOMAIN, name) != (uint32_t)(VIEW_COUNT + 4 + i);
    }
    CHECK_INT(bad, 0);
    CHECK_UINT(groups_count(g), 304);
    groups_free(g);
}

/* Groups with no members yet are invisible to find, list and nonempty. */
static void test_empty_groups_are_not_found_or_listed(void)
{
    struct groups *g = new_groups();
    groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "a.com"), 0);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "never.seen"), 0);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DOMAIN), 0);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DATE), 0);
    struct group_list l;
    CHECK_INT(groups_list_locked(g, GROUP_DOMAIN, &l), 0);
    CHECK_UINT(l.n, 0);
    group_list_free(&l);

    /* a build from an empty listing leaves them empty, and unchanged */
    bool changed[2] = {true, true};
    CHECK_INT(rebuild(g, NULL, 0, changed, 2), 0);
    CHECK(!changed[0] && !changed[1]);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "a.com"), 0);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DATE), 0);
    groups_free(g);
}

/* Each job lands in its domain group and its date group, in the listing's
 * order; members that cannot be shown (seq 0) are in neither, even when
 * their digest's bytes look like group numbers. */
static void test_build_puts_jobs_in_their_two_groups_in_order(void)
{
    struct groups *g = new_groups();
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    uint32_t d1 = groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    uint32_t b = groups_assign_locked(g, GROUP_DOMAIN, "b.com");
    uint32_t d2 = groups_assign_locked(g, GROUP_DATE, "2026-01-02");
    uint32_t none = groups_assign_locked(g, GROUP_DOMAIN, "c.com"); /* no job */

    /* a digest whose halves, read as group[], name a.com and 2026-01-01 */
    uint64_t looks_like_a = (uint64_t)a | ((uint64_t)d1 << 32);
    struct member all[] = {
        job_m(7, a, d2), bad_m(looks_like_a), job_m(3, b, d1), job_m(9, a, d1),
        bad_m(12345),    job_m(4, b, d2),     job_m(5, a, d1),
    };
    bool changed[5] = {false};
    CHECK_INT(rebuild(g, all, sizeof all / sizeof all[0], changed, 5), 0);
    CHECK(changed[a - VIEW_COUNT]);
    CHECK(changed[b - VIEW_COUNT]);
    CHECK(changed[d1 - VIEW_COUNT]);
    CHECK(changed[d2 - VIEW_COUNT]);
    CHECK(!changed[none - VIEW_COUNT]);

    char buf[256];
    CHECK_STR(seqs_of(g, a, buf, sizeof buf), "7,9,5");
    CHECK_STR(seqs_of(g, b, buf, sizeof buf), "3,4");
    CHECK_STR(seqs_of(g, d1, buf, sizeof buf), "3,9,5");
    CHECK_STR(seqs_of(g, d2, buf, sizeof buf), "7,4");
    struct view *va = groups_view_locked(g, a);
    CHECK(va && va->mem.shown == 3 && va->mem.nbad == 0);
    /* a member keeps what the listing said of it */
    if (va && va->mem.list && va->mem.list->n == 3) {
        CHECK_UINT(va->mem.list->m[0].group[GROUP_DATE], d2);
        CHECK_UINT(va->mem.list->m[1].group[GROUP_DOMAIN], a);
    }
    struct view *vn = groups_view_locked(g, none);
    CHECK(vn && vn->mem.shown == 0);

    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "a.com"), a);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "b.com"), b);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "c.com"), 0);
    CHECK_UINT(groups_find_locked(g, GROUP_DATE, "2026-01-02"), d2);
    CHECK_UINT(groups_find_locked(g, GROUP_DATE, "a.com"), 0); /* kinds apart */
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "2026-01-01"), 0);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DOMAIN), 2);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DATE), 2);

    struct group_list l;
    CHECK_INT(groups_list_locked(g, GROUP_DOMAIN, &l), 0);
    CHECK_UINT(l.n, 2);
    CHECK_INT(listed(&l, "a.com", a), 1);
    CHECK_INT(listed(&l, "b.com", b), 1);
    CHECK_INT(listed(&l, "c.com", none), 0);
    if (va && l.n == 2)
        for (size_t i = 0; i < l.n; i++)
            if (l.items[i].view == (int)a)
                CHECK_INT(l.items[i].mtime, va->mtime.tv_sec);
    group_list_free(&l);
    CHECK_INT(groups_list_locked(g, GROUP_DATE, &l), 0);
    CHECK_UINT(l.n, 2);
    CHECK_INT(listed(&l, "2026-01-01", d1), 1);
    CHECK_INT(listed(&l, "2026-01-02", d2), 1);
    group_list_free(&l);
    groups_free(g);
}

/* Group numbers that are no group (0: none, a fetched view, one beyond the
 * last) put the job in no group on that side. */
static void test_build_ignores_members_without_a_group(void)
{
    struct groups *g = new_groups();
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    uint32_t d = groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    struct member all[] = {job_m(1, 0, d), job_m(2, a, 1), job_m(3, a + 50, d),
                           job_m(4, UINT32_MAX, VIEW_COUNT - 1)};
    CHECK_INT(rebuild(g, all, 4, NULL, 0), 0);
    char buf[64];
    CHECK_STR(seqs_of(g, a, buf, sizeof buf), "2");
    CHECK_STR(seqs_of(g, d, buf, sizeof buf), "1,3");
    groups_free(g);
}

/* A rebuild with the same members changes nothing (no version or mtime
 * move); one that moves a job changes exactly the groups it left and
 * entered; a group left empty disappears from find, list and nonempty but
 * keeps its number. */
static void test_rebuild_reports_only_real_changes(void)
{
    struct groups *g = new_groups();
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    uint32_t b = groups_assign_locked(g, GROUP_DOMAIN, "b.com");
    uint32_t d = groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    struct member one[] = {job_m(1, a, d), job_m(2, b, d), bad_m(99)};
    bool changed[3];
    CHECK_INT(rebuild(g, one, 3, changed, 3), 0);
    CHECK(changed[0] && changed[1] && changed[2]);
    struct view *va = groups_view_locked(g, a), *vb = groups_view_locked(g, b),
                *vd = groups_view_locked(g, d);
    if (!va || !vb || !vd) {
        CHECK(!"group views missing");
        groups_free(g);
        return;
    }
    uint32_t ver_a = va->version, ver_b = vb->version, ver_d = vd->version;
    struct timespec mt_a = va->mtime;

    /* the same members (the bad one's digest changed: it is in no group) */
    struct member same[] = {job_m(1, a, d), bad_m(100), job_m(2, b, d)};
    CHECK_INT(rebuild(g, same, 3, changed, 3), 0);
    CHECK(!changed[0] && !changed[1] && !changed[2]);
    CHECK_UINT(va->version, ver_a);
    CHECK_UINT(vb->version, ver_b);
    CHECK_UINT(vd->version, ver_d);
    CHECK(va->mtime.tv_sec == mt_a.tv_sec && va->mtime.tv_nsec == mt_a.tv_nsec);

    /* job 2 moves from b.com to a.com; the date group's members stay */
    struct member moved[] = {job_m(1, a, d), job_m(2, a, d)};
    CHECK_INT(rebuild(g, moved, 2, changed, 3), 0);
    CHECK(changed[a - VIEW_COUNT]);
    CHECK(changed[b - VIEW_COUNT]);
    CHECK(!changed[d - VIEW_COUNT]);
    CHECK(va->version != ver_a);
    CHECK(vb->version != ver_b);
    CHECK_UINT(vd->version, ver_d);
    char buf[64];
    CHECK_STR(seqs_of(g, a, buf, sizeof buf), "1,2");
    CHECK_STR(seqs_of(g, b, buf, sizeof buf), "");
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "b.com"), 0);
    CHECK_UINT(groups_nonempty_locked(g, GROUP_DOMAIN), 1);
    struct group_list l;
    CHECK_INT(groups_list_locked(g, GROUP_DOMAIN, &l), 0);
    CHECK_UINT(l.n, 1);
    CHECK_INT(listed(&l, "a.com", a), 1);
    group_list_free(&l);
    /* the empty group keeps its view and number */
    CHECK(groups_view_locked(g, b) == vb);
    CHECK_UINT(groups_assign_locked(g, GROUP_DOMAIN, "b.com"), b);

    /* the same jobs in another order is a change of order */
    struct member swapped[] = {job_m(2, a, d), job_m(1, a, d)};
    CHECK_INT(rebuild(g, swapped, 2, changed, 3), 0);
    CHECK(changed[a - VIEW_COUNT]);
    CHECK(changed[d - VIEW_COUNT]);
    CHECK(!changed[b - VIEW_COUNT]);
    CHECK_STR(seqs_of(g, a, buf, sizeof buf), "2,1");

    /* b.com back: found again under its old number */
    struct member back[] = {job_m(2, b, d), job_m(1, a, d)};
    CHECK_INT(rebuild(g, back, 2, changed, 3), 0);
    CHECK(changed[b - VIEW_COUNT]);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "b.com"), b);
    groups_free(g);
}

/* A group assigned after a build began is not in that build (its members
 * come with the next one), and the commit leaves it alone. */
static void test_group_made_during_a_build_waits_for_the_next(void)
{
    struct groups *g = new_groups();
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    uint32_t d = groups_assign_locked(g, GROUP_DATE, "2026-01-01");
    struct group_build bld;
    CHECK_INT(groups_build_begin_locked(g, &bld), 0);
    CHECK_UINT(bld.n, 2);
    uint32_t n = groups_assign_locked(g, GROUP_DOMAIN, "new.com");
    struct member m[] = {job_m(1, a, d), job_m(2, n, d)};
    struct listing *all = make_listing(m, 2);
    CHECK_INT(groups_build(&bld, all), 0);
    groups_build_commit_locked(g, &bld);
    groups_build_free(&bld);
    char buf[64];
    CHECK_STR(seqs_of(g, a, buf, sizeof buf), "1");
    CHECK_STR(seqs_of(g, d, buf, sizeof buf), "1,2");
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "new.com"), 0);

    CHECK_INT(rebuild(g, m, 2, NULL, 0), 0);
    CHECK_STR(seqs_of(g, n, buf, sizeof buf), "2");
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "new.com"), n);
    listing_unref(all);
    groups_free(g);
}

/* A build that is begun and built but never committed changes nothing,
 * and frees what it made. */
static void test_uncommitted_build_changes_nothing(void)
{
    struct groups *g = new_groups();
    uint32_t a = groups_assign_locked(g, GROUP_DOMAIN, "a.com");
    struct member m[] = {job_m(1, a, 0)};
    struct listing *all = make_listing(m, 1);
    struct group_build bld;
    CHECK_INT(groups_build_begin_locked(g, &bld), 0);
    CHECK_INT(groups_build(&bld, all), 0);
    CHECK(bld.changed[0]);
    groups_build_free(&bld);
    CHECK_UINT(groups_find_locked(g, GROUP_DOMAIN, "a.com"), 0);
    listing_unref(all);
    groups_free(g);
}

int main(void)
{
    test_assign_makes_one_view_per_name_and_kind_in_order();
    test_empty_groups_are_not_found_or_listed();
    test_build_puts_jobs_in_their_two_groups_in_order();
    test_build_ignores_members_without_a_group();
    test_rebuild_reports_only_real_changes();
    test_group_made_during_a_build_waits_for_the_next();
    test_uncommitted_build_changes_nothing();
    return check_done("test_groups");
}
