/* The views the API does not have: jobs by the host of their url
 * (by-domain/) and by the UTC day they were created (by-date/).
 *
 * Both are derived from the all-jobs listing and cost no request. Each job
 * knows its two group names from when it was parsed (job.h), and each
 * member of a listing its two group views (refresh.h), so building the
 * groups is one pass over the jobs/ listing, made off the lock; under it
 * the new members are swapped in. Group views are numbered from VIEW_COUNT
 * on, in the order they were first seen, and never go away (an inode
 * number must keep naming the same group); an empty group is not listed.
 *
 * Locking: groups_build and groups_count run without the cache's lock;
 * everything else expects it.
 */
#ifndef SCRAPEFS_CACHE_GROUPS_H
#define SCRAPEFS_CACHE_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "view.h"

struct groups;

int groups_new(struct groups **out);
void groups_free(struct groups *g);

/* The view number of the group `name` of a kind, made when new; 0 when
 * out of memory. */
uint32_t groups_assign_locked(struct groups *g, int kind, const char *name);

/* The group view v (>= VIEW_COUNT), or NULL. */
struct view *groups_view_locked(struct groups *g, uint32_t v);

/* How many group views there are (they only ever grow). */
size_t groups_count(const struct groups *g);

/* New members for every group, from a jobs/ listing. */
struct group_build {
    size_t n;                      /* groups [VIEW_COUNT, VIEW_COUNT + n) */
    struct listing **old;          /* their listings when the build began (references) */
    struct view_members *mem;      /* [n]: the new members */
    bool *changed;                 /* [n] */
};

/* Takes references to the groups' listings now (lock held). */
int groups_build_begin_locked(struct groups *g, struct group_build *b);
/* Builds the members of every group from `all` (no lock). */
int groups_build(struct group_build *b, const struct listing *all);
/* Swaps them in (lock held); what they replaced stays in b to be freed
 * off the lock. */
void groups_build_commit_locked(struct groups *g, struct group_build *b);
void groups_build_free(struct group_build *b);

/* The non-empty group `name` of a kind, or 0. */
uint32_t groups_find_locked(struct groups *g, int kind, const char *name);
/* Copies the names of the non-empty groups of a kind (unsorted). */
int groups_list_locked(struct groups *g, int kind, struct group_list *out);
/* How many groups of a kind are non-empty. */
size_t groups_nonempty_locked(struct groups *g, int kind);

#endif
