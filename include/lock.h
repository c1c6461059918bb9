/* A mutex that knows who holds it, so code that must run under it can
 * assert so (lock_held), the way libfuse's passthrough_ll.c asserts its
 * invariants. The naming rule that goes with it (doc/design.md, "Locking"):
 * a function that expects the lock held ends in _locked; one that expects
 * it and drops it while it waits on the network (holding it again when it
 * returns) ends in _relocking, and its callers look again at whatever they
 * read before the call. assert() is on in every build meson makes here
 * (b_ndebug is left false); the owner is kept either way. */
#ifndef SCRAPEFS_LOCK_H
#define SCRAPEFS_LOCK_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lock {
    pthread_mutex_t mu;
    _Atomic uintptr_t owner; /* the holder's pthread_self(), 0 when free */
};

static inline uintptr_t lock_self_(void)
{
    return (uintptr_t)pthread_self();
}

static inline void lock_init(struct lock *l)
{
    pthread_mutex_init(&l->mu, NULL);
    atomic_init(&l->owner, 0);
}

static inline void lock_destroy(struct lock *l)
{
    pthread_mutex_destroy(&l->mu);
}

static inline void lock_take(struct lock *l)
{
    pthread_mutex_lock(&l->mu);
    atomic_store_explicit(&l->owner, lock_self_(), memory_order_relaxed);
}

static inline void lock_drop(struct lock *l)
{
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
    pthread_mutex_unlock(&l->mu);
}

/* Waits on cv until abstime (its clock), the lock dropped meanwhile.
 * Returns what pthread_cond_timedwait does. */
static inline int lock_wait(struct lock *l, pthread_cond_t *cv, const struct timespec *abstime)
{
    atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
    int rc = pthread_cond_timedwait(cv, &l->mu, abstime);
    atomic_store_explicit(&l->owner, lock_self_(), memory_order_relaxed);
    return rc;
}

static inline bool lock_held(struct lock *l)
{
    return atomic_load_explicit(&l->owner, memory_order_relaxed) == lock_self_();
}

#endif
