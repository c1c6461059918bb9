/* The inode scheme and the fixed part of the tree (tree.h), as a table. */
#include "tree.h"

#include <stdint.h>
#include <string.h>

#include "job.h"
#include "views.h"

#define JOB_TAG (1ULL << 62)
#define GROUP_TAG (2ULL << 62)
#define STATS_TAG (3ULL << 62)
#define TAG_MASK (3ULL << 62)
/* under the group tag: a .jsonl snapshot, its view's content version, the view */
#define JSONL_BIT (1ULL << 61)
#define JSONL_VIEW_BITS 29
#define JSONL_VERSION_SHIFT JSONL_VIEW_BITS
#define SEQ_BITS 41
#define VERSION_SHIFT (KIND_BITS + SLOT_BITS + SEQ_BITS)
#define SLOT_BITS 3
#define KIND_BITS 2

/* The slots of a job node: the fetched views, then by-domain and by-date;
 * all must fit the slot bits, and the job tag must leave room for the
 * fixed inodes below it. */
_Static_assert(SLOT_DOMAIN >= VIEW_COUNT && SLOT_DATE == SLOT_DOMAIN + 1,
               "group slots follow the fetched views");
_Static_assert(SLOT_DATE < (1 << SLOT_BITS), "every slot fits SLOT_BITS");
_Static_assert(JOB_NFILES + 1 <= (1 << KIND_BITS), "a job's files fit KIND_BITS");
_Static_assert(VERSION_SHIFT + 16 <= 62, "the version fits below the tag bits");
_Static_assert(SEQ_BITS >= 32, "every entry's sequence number fits SEQ_BITS");
_Static_assert(JSONL_VERSION_SHIFT + 32 <= 61, "a view's content version fits below JSONL_BIT");

const struct tree_fixed tree_fixed_nodes[] = {
    {INO_ROOT, INO_ROOT, "", NK_ROOT, -1},
    {INO_JOBS, INO_ROOT, "jobs", NK_JOBS, VIEW_ALL},
    {9, 1, ".scrapefs", NK_CTL, -1},
    {3, 2, "by-status", NK_BYSTATUS, -1},
    {INO_BYDOMAIN, 2, "by-domain", NK_BYDOMAIN, -1},
    {INO_BYDATE, 2, "by-date", NK_BYDATE, -1},
    {4, 3, "pending", NK_STATUS, VIEW_STATUS0 + ST_PENDING},
    {5, 3, "processing", NK_STATUS, VIEW_STATUS0 + ST_PROCESSING},
    {6, 3, "completed", NK_STATUS, VIEW_STATUS0 + ST_COMPLETED},
    {7, 3, "failed", NK_STATUS, VIEW_STATUS0 + ST_FAILED},
    {8, 3, "cancelled", NK_STATUS, VIEW_STATUS0 + ST_CANCELLED},
    {10, 9, "stats", NK_STATS, -1},
    /* one file per view, beside its directory: the inode of a name is its
     * snapshot's (tree_ino of NK_JSONL), these only find the view */
    {14, 1, "jobs.jsonl", NK_JSONL, VIEW_ALL},
    {15, 3, "pending.jsonl", NK_JSONL, VIEW_STATUS0 + ST_PENDING},
    {16, 3, "processing.jsonl", NK_JSONL, VIEW_STATUS0 + ST_PROCESSING},
    {17, 3, "completed.jsonl", NK_JSONL, VIEW_STATUS0 + ST_COMPLETED},
    {18, 3, "failed.jsonl", NK_JSONL, VIEW_STATUS0 + ST_FAILED},
    {19, 3, "cancelled.jsonl", NK_JSONL, VIEW_STATUS0 + ST_CANCELLED},
};
const size_t tree_fixed_count = sizeof tree_fixed_nodes / sizeof tree_fixed_nodes[0];


bool tree_decode(uint64_t ino, struct node *out)
{
    memset(out, 0, sizeof *out);
    out->view = -1;
    if ((ino & TAG_MASK) == STATS_TAG) {
        out->kind = NK_STATS;
        out->seq = ino & ~TAG_MASK;
        return out->seq != 0;
    }
    if ((ino & TAG_MASK) == GROUP_TAG && (ino & JSONL_BIT)) {
        uint64_t v = ino & ((1ULL << JSONL_VIEW_BITS) - 1);
        out->kind = NK_JSONL;
        out->view = (int)v;
        out->seq = (ino & ~(TAG_MASK | JSONL_BIT)) >> JSONL_VERSION_SHIFT;
        return true;
    }
    if ((ino & TAG_MASK) == GROUP_TAG) {
        uint64_t v = ino & ~TAG_MASK;
        if (v < VIEW_COUNT || v > INT32_MAX)
            return false;
        out->kind = NK_GROUP;
        out->view = (int)v;
        return true;
    }
    if ((ino & TAG_MASK) == JOB_TAG) {
        uint64_t low = ino & ~TAG_MASK;
        unsigned k = (unsigned)(low & ((1u << KIND_BITS) - 1));
        unsigned slot = (unsigned)((low >> KIND_BITS) & ((1u << SLOT_BITS) - 1));
        out->seq = (low >> (KIND_BITS + SLOT_BITS)) & ((1ULL << SEQ_BITS) - 1);
        out->version = (uint16_t)(low >> VERSION_SHIFT);
        if (out->seq == 0 || k > JOB_NFILES || (k == 0 && out->version))
            return false;
        out->view = (int)slot;
        out->kind = k == 0 ? NK_JOBDIR : NK_JOBFILE;
        out->file = k == 0 ? 0 : (int)k - 1;
        return true;
    }
    for (size_t i = 0; i < tree_fixed_count; i++)
        if (tree_fixed_nodes[i].ino == ino) {
            out->kind = tree_fixed_nodes[i].kind;
            out->view = tree_fixed_nodes[i].view;
            return true;
        }
    return false;
}

uint64_t tree_ino(const struct node *n)
{
    if (n->kind == NK_JOBDIR || n->kind == NK_JOBFILE) {
        uint64_t k = n->kind == NK_JOBDIR ? 0 : (uint64_t)n->file + 1;
        uint64_t ver = n->kind == NK_JOBDIR ? 0 : n->version;
        return JOB_TAG | ver << VERSION_SHIFT | n->seq << (KIND_BITS + SLOT_BITS) |
               (uint64_t)n->view << KIND_BITS | k;
    }
    if (n->kind == NK_STATS && n->seq)
        return STATS_TAG | n->seq;
    if (n->kind == NK_GROUP)
        return GROUP_TAG | (uint64_t)n->view;
    if (n->kind == NK_JSONL && n->view >= 0 && (uint64_t)n->view < (1ULL << JSONL_VIEW_BITS))
        return GROUP_TAG | JSONL_BIT | (n->seq & 0xffffffffULL) << JSONL_VERSION_SHIFT |
               (uint64_t)n->view;
    for (size_t i = 0; i < tree_fixed_count; i++)
        if (tree_fixed_nodes[i].kind == n->kind && tree_fixed_nodes[i].view == n->view)
            return tree_fixed_nodes[i].ino;
    return 0;
}

const struct tree_fixed *tree_fixed_child(uint64_t parent, const char *name)
{
    for (size_t i = 1; i < tree_fixed_count; i++)
        if (tree_fixed_nodes[i].parent == parent && strcmp(tree_fixed_nodes[i].name, name) == 0)
            return &tree_fixed_nodes[i];
    return NULL;
}

bool tree_is_listing(const struct node *n)
{
    return n->kind == NK_JOBS || n->kind == NK_STATUS || n->kind == NK_GROUP;
}

bool tree_is_dir(const struct node *n)
{
    switch (n->kind) {
    case NK_STATS:
    case NK_JSONL:
    case NK_JOBFILE:
    case NK_NONE:
        return false;
    default:
        return true;
    }
}
