/* FNV-1a, the one hash of the project: hash maps, the log's once-set and the
 * digests that tell whether a job's content changed. */
#ifndef SCRAPEFS_HASH_H
#define SCRAPEFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT 1469598103934665603ULL

/* Continues hash h over p[0..n); start with FNV1A_INIT. */
static inline uint64_t fnv1a_more(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static inline uint64_t fnv1a(const void *p, size_t n)
{
    return fnv1a_more(FNV1A_INIT, p, n);
}

#endif
