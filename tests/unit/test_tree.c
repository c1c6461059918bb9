/* The tree: inode numbers computed from nodes and back, the fixed table, and
 * which inodes name nothing. */
#include <string.h>

#include "cache.h"
#include "check.h"
#include "job.h"
#include "tree.h"

#define JOB_TAG (1ULL << 62)
#define GROUP_TAG (2ULL << 62)

static void test_fixed(void)
{
    CHECK(tree_fixed_count == 18);
    CHECK_UINT(tree_fixed_nodes[0].ino, INO_ROOT);
    CHECK_INT(tree_fixed_nodes[0].kind, NK_ROOT);
    for (size_t i = 0; i < tree_fixed_count; i++) {
        const struct tree_fixed *f = &tree_fixed_nodes[i];
        struct node n;
        CHECK(f->ino >= 1 && f->ino <= 31);
        if (!CHECK(tree_decode(f->ino, &n)))
            continue;
        CHECK_INT(n.kind, f->kind);
        CHECK_INT(n.view, f->view);
        /* a .jsonl's name finds its view; its inodes carry the version */
        if (f->kind != NK_JSONL)
            CHECK_UINT(tree_ino(&n), f->ino);
        for (size_t k = 0; k < i; k++)
            CHECK(tree_fixed_nodes[k].ino != f->ino);
        /* every fixed node but the root is the child of a fixed directory */
        if (i) {
            struct node p;
            CHECK(tree_decode(f->parent, &p) && tree_is_dir(&p));
            CHECK(tree_fixed_child(f->parent, f->name) == f);
        }
    }

    const struct tree_fixed *f;
    f = tree_fixed_child(INO_ROOT, "jobs");
    CHECK(f && f->kind == NK_JOBS && f->view == VIEW_ALL);
    f = tree_fixed_child(INO_ROOT, ".scrapefs");
    CHECK(f && f->kind == NK_CTL);
    uint64_t jobs = tree_fixed_child(INO_ROOT, "jobs") ? tree_fixed_child(INO_ROOT, "jobs")->ino : 0;
    f = tree_fixed_child(jobs, "by-status");
    CHECK(f && f->kind == NK_BYSTATUS);
    uint64_t bystatus = f ? f->ino : 0;
    CHECK(tree_fixed_child(jobs, "by-domain") && tree_fixed_child(jobs, "by-domain")->kind == NK_BYDOMAIN);
    CHECK(tree_fixed_child(jobs, "by-date") && tree_fixed_child(jobs, "by-date")->kind == NK_BYDATE);
    for (int s = 0; s < JOB_NSTATUS; s++) {
        f = tree_fixed_child(bystatus, job_status_names[s]);
        if (CHECK(f != NULL)) {
            CHECK_INT(f->kind, NK_STATUS);
            CHECK_INT(f->view, VIEW_STATUS0 + s);
        }
    }
    uint64_t ctl = tree_fixed_child(INO_ROOT, ".scrapefs") ? tree_fixed_child(INO_ROOT, ".scrapefs")->ino : 0;
    CHECK(tree_fixed_child(ctl, "stats") && tree_fixed_child(ctl, "stats")->kind == NK_STATS);
    /* no writable file: a refresh is SIGHUP (the mount is read-only) */
    CHECK(tree_fixed_child(ctl, "refresh") == NULL);

    CHECK(tree_fixed_child(INO_ROOT, "") == NULL);
    CHECK(tree_fixed_child(INO_ROOT, "nope") == NULL);
    CHECK(tree_fixed_child(INO_ROOT, "by-status") == NULL);
    CHECK(tree_fixed_child(INO_ROOT, "Jobs") == NULL);
    CHECK(tree_fixed_child(jobs, "completed") == NULL);
    CHECK(tree_fixed_child(bystatus, "unknown") == NULL);
    CHECK(tree_fixed_child(bystatus, "complete") == NULL);
    CHECK(tree_fixed_child(ctl, "jobs") == NULL);
    CHECK(tree_fixed_child(12345, "jobs") == NULL);
}

static void test_jobs(void)
{
    /* seq has 41 bits; a file's content version 16 (tree.h) */
    static const uint64_t seqs[] = {1, 2, 3, 31, 32, 1000, 123456789, 1ULL << 32, (1ULL << 40) + 5,
                                    (1ULL << 41) - 1};
    static const uint16_t versions[] = {0, 1, 2, 255, 65535};
    enum { NSEQ = sizeof seqs / sizeof seqs[0], NVER = sizeof versions / sizeof versions[0] };
    static uint64_t seen[NSEQ * 8 * (1 + JOB_NFILES * NVER)];
    size_t nseen = 0;
    int bad = 0;
    for (size_t s = 0; s < NSEQ; s++)
        for (int slot = 0; slot < 8; slot++)
            for (int k = 0; k <= JOB_NFILES; k++)
                for (size_t v = 0; v < (k ? NVER : 1); v++) {
                    struct node n = {.kind = k ? NK_JOBFILE : NK_JOBDIR, .view = slot,
                                     .file = k ? k - 1 : 0, .seq = seqs[s],
                                     .version = versions[v]};
                    uint64_t ino = tree_ino(&n);
                    struct node back;
                    int b = 0;
                    b += (ino & (3ULL << 62)) != JOB_TAG;
                    b += !tree_decode(ino, &back);
                    b += back.kind != n.kind || back.view != n.view || back.file != n.file ||
                         back.seq != n.seq || back.version != n.version;
                    for (size_t i = 0; i < nseen; i++)
                        b += seen[i] == ino;
                    seen[nseen++] = ino;
                    b += tree_is_dir(&back) != (k == 0);
                    b += tree_is_listing(&back);
                    if (b && bad < 5)
                        fprintf(stderr, "    job node seq %llu slot %d k %d version %u: inode 0x%llx\n",
                                (unsigned long long)seqs[s], slot, k, versions[v],
                                (unsigned long long)ino);
                    bad += b;
                }
    CHECK_INT(bad, 0);
    /* no job inode collides with a fixed one */
    for (size_t i = 0; i < nseen; i++)
        CHECK(seen[i] > 31);

    /* a directory has no version: it is left out of its inode */
    struct node d = {.kind = NK_JOBDIR, .view = 2, .seq = 77, .version = 9}, back;
    uint64_t ino = tree_ino(&d);
    CHECK(tree_decode(ino, &back) && back.kind == NK_JOBDIR && back.version == 0 && back.seq == 77);

    /* the n-th stats document */
    static const uint64_t docs[] = {1, 2, 1000, (1ULL << 62) - 1};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct node n = {.kind = NK_STATS, .seq = docs[i]};
        ino = tree_ino(&n);
        CHECK_UINT(ino & (3ULL << 62), 3ULL << 62);
        if (CHECK(tree_decode(ino, &back))) {
            CHECK_INT(back.kind, NK_STATS);
            CHECK_UINT(back.seq, docs[i]);
            CHECK(!tree_is_dir(&back));
        }
    }
    struct node st = {.kind = NK_STATS, .view = -1, .seq = 0};
    CHECK_UINT(tree_ino(&st), tree_fixed_child(9, "stats") ? tree_fixed_child(9, "stats")->ino : 0);

    /* group views */
    static const int views[] = {VIEW_COUNT, VIEW_COUNT + 1, 1000, 65536, 2147483647};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        struct node n = {.kind = NK_GROUP, .view = views[i]};
        ino = tree_ino(&n);
        CHECK_UINT(ino & (3ULL << 62), GROUP_TAG);
        if (CHECK(tree_decode(ino, &back))) {
            CHECK_INT(back.kind, NK_GROUP);
            CHECK_INT(back.view, views[i]);
            CHECK(tree_is_dir(&back));
            CHECK(tree_is_listing(&back));
        }
    }
}

static void test_invalid(void)
{
    static const uint64_t bad[] = {
        0,
        20,
        31,
        32,
        1000,
        (1ULL << 61),
        JOB_TAG,                 /* seq 0 */
        JOB_TAG | 1,             /* seq 0, a file */
        JOB_TAG | (7u << 2) | 3, /* seq 0 */
        JOB_TAG | (1ULL << 46) | (5u << 5), /* a directory with a version */
        JOB_TAG | (65535ULL << 46),         /* seq 0, with a version */
        GROUP_TAG,               /* a group view below VIEW_COUNT */
        GROUP_TAG | (VIEW_COUNT - 1),
        GROUP_TAG | 0x80000000ULL,
        (3ULL << 62),            /* stats document 0 is the fixed inode */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct node n;
        if (!CHECK(!tree_decode(bad[i], &n)))
            fprintf(stderr, "    inode 0x%llx decoded to kind %d\n", (unsigned long long)bad[i], n.kind);
    }
    /* a .jsonl: the view and its content version, both ways */
    static const struct {
        int view;
        uint64_t version;
    } js[] = {{VIEW_ALL, 0}, {VIEW_STATUS0 + ST_FAILED, 1}, {VIEW_COUNT, 77},
              {(1 << 29) - 1, 0xffffffffULL}};
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        struct node a = {.kind = NK_JSONL, .view = js[i].view, .seq = js[i].version}, b;
        uint64_t ino = tree_ino(&a);
        CHECK(ino > 31 && (ino >> 62) == 2);
        if (CHECK(tree_decode(ino, &b))) {
            CHECK_INT(b.kind, NK_JSONL);
            CHECK_INT(b.view, js[i].view);
            CHECK_UINT(b.seq, js[i].version);
        }
        CHECK(!tree_is_dir(&b));
    }
    struct node g = {.kind = NK_GROUP, .view = VIEW_COUNT}, jl = {.kind = NK_JSONL,
                                                                   .view = VIEW_COUNT};
    CHECK(tree_ino(&g) != tree_ino(&jl));
    /* every fixed directory's children fit a readdir page of fs.c (16) */
    for (size_t i = 0; i < tree_fixed_count; i++) {
        size_t kids = 0;
        for (size_t k = 1; k < tree_fixed_count; k++)
            kids += tree_fixed_nodes[k].parent == tree_fixed_nodes[i].ino;
        CHECK(kids <= 16);
    }

    /* a node that is not in the table has no inode */
    struct node none = {.kind = NK_STATUS, .view = 99};
    CHECK_UINT(tree_ino(&none), 0);
}

static void test_kinds(void)
{
    struct node n;
    memset(&n, 0, sizeof n);
    static const struct {
        enum node_kind kind;
        bool dir, listing;
    } k[] = {{NK_ROOT, true, false},     {NK_JOBS, true, true},      {NK_BYSTATUS, true, false},
             {NK_STATUS, true, true},    {NK_CTL, true, false},      {NK_STATS, false, false},
             {NK_BYDOMAIN, true, false}, {NK_BYDATE, true, false},
             {NK_GROUP, true, true},     {NK_JOBDIR, true, false},   {NK_JOBFILE, false, false},
             {NK_NONE, false, false}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        n.kind = k[i].kind;
        CHECK_INT(tree_is_dir(&n), k[i].dir);
        CHECK_INT(tree_is_listing(&n), k[i].listing);
    }
}

int main(void)
{
    test_fixed();
    test_jobs();
    test_invalid();
    test_kinds();
    return check_done("test_tree");
}
