/* The views the API does not have: jobs by the host of their url
 * (by-domain/) and by the UTC day they were created (by-date/).
 *
 * Both are derived from the all-jobs listing and cost no request. Each job
 * knows its two group names from when it was parsed (job.h); here they are
 * only looked up, so nothing under the cache's lock parses a url. Group
 * views are numbered from VIEW_COUNT on, in the order they were first seen,
 * and never go away (an inode number must keep naming the same group); an
 * empty group is simply not listed.
 *
 * Every call is made with the cache's mutex held.
 */
#ifndef SCRAPEFS_GROUPS_H
#define SCRAPEFS_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "entry.h"

struct groups;

int groups_new(struct groups **out);
void groups_free(struct groups *g);

/* The view number of the group `name` of a kind, created when new; 0 when
 * out of memory. */
uint32_t groups_assign(struct groups *g, int kind, const char *name);

/* The group view v (>= VIEW_COUNT), or NULL. */
struct view *groups_view(struct groups *g, uint32_t v);

/* Rebuilds every group's members from the all-jobs listing, in its order;
 * each entry's group[] is already assigned. */
void groups_rebuild(struct groups *g, struct entry *const *all, size_t n);

/* The non-empty group `name` of a kind, or 0. */
uint32_t groups_find(struct groups *g, int kind, const char *name);

/* Copies the names of the non-empty groups of a kind (unsorted). */
int groups_list(struct groups *g, int kind, struct group_list *out);

/* How many groups of a kind are non-empty. */
size_t groups_count(struct groups *g, int kind);

#endif
