/* Taking in what a fetch brought: a job's text into its entry, its groups,
 * and the versions of the views whose content moved with it; and the
 * cache as the `struct install` a refresh hands its pages to. */
#ifndef SCRAPEFS_CACHE_INSTALL_H
#define SCRAPEFS_CACHE_INSTALL_H

#include <stdint.h>

#include "refresh.h"
#include "state.h"

/* Takes a job (the caller's reference; not a stand-in) fetched by a fetch
 * that started at `start`; returns its entry (NULL when out of memory: the
 * job is dropped). Does not evict. */
struct entry *install_job_locked(struct cache *c, struct job *j, int64_t start, int64_t now);

/* The member a listing keeps of an entry. */
struct member member_of_locked(const struct entry *e);

/* The cache as the place a refresh's pages go. */
struct cache_install {
    struct install in;   /* first */
    struct cache *c;
    int64_t start;       /* when the fetch started */
    /* optional: sees each entry taken in, under the lock, before eviction */
    void (*keep)(struct cache_install *ci, struct entry *e);
    void *arg;
};

void cache_install_init(struct cache_install *ci, struct cache *c, int64_t start);

#endif
