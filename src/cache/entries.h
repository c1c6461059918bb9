/* The entry store: every job the mount has seen, by id and by number, and
 * the texts held for them under cache_size (LRU by bytes).
 *
 * Every job ever seen gets one small entry that lives as long as the
 * mount: its number (seq) names the job's inodes, and it keeps what `ls -l`
 * needs (sizes, times, status) when the text was evicted. Entries live in
 * 1 MiB slabs, never freed one by one; the id index takes 8 bytes a slot.
 * Only final jobs' texts are in the LRU: an unfinished job's text can change
 * at any refresh, so whoever shows a version of it (an open file, a .jsonl
 * snapshot) must hold that very text, and it is small (no data yet).
 *
 * Locking: every field is guarded by the cache's lock (es->lock), but an
 * entry's identity (seq, id_len, id), set before the entry is published
 * and never changed, which anyone holding the pointer may read.
 */
#ifndef SCRAPEFS_CACHE_ENTRIES_H
#define SCRAPEFS_CACHE_ENTRIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "job.h"
#include "lock.h"

struct entry {
    uint32_t seq;              /* identity: 1-based, names the job's inodes */
    uint16_t id_len;           /* identity */
    uint16_t birth;            /* moves when the id names another job (refresh.h) */
    bool created_ok;           /* created_at parsed (the order of listings) */
    uint8_t dirty;             /* what the store lacks of it (persist.h) */
    int64_t created_us;
    struct job *job;           /* the text, one reference; NULL when evicted */
    struct job_meta meta;
    uint64_t digest;           /* of the text: tells new content from the same */
    int64_t fetched_ms;        /* when its data last came in (0: never) */
    int64_t fetch_start_ms;    /* when the fetch that brought it started */
    uint32_t group[GROUP_NKINDS]; /* its by-domain and by-date views (0: none) */
    uint32_t lru_prev, lru_next;  /* seqs (0: none) while in the LRU; head = newest */
    char id[];                 /* identity: the id's bytes and a NUL */
};

struct slab;
struct id_slot;

struct entries {
    struct lock *lock;       /* the cache's */
    struct id_slot *byid;    /* id -> seq: open addressing, power-of-two size */
    size_t byid_cap;
    struct entry **byseq;    /* seq - 1 -> entry */
    size_t n, cap;
    struct slab *slabs;
    uint32_t lru_head, lru_tail;
    size_t bytes;            /* texts held, against cap_bytes */
    size_t cap_bytes;
    size_t texts;            /* how many texts are held */
    uint64_t evictions;
    size_t evicted_bytes;    /* since the heap was last trimmed */
};

void entries_init(struct entries *es, struct lock *lock, size_t cap_bytes);
/* Frees every entry and text. */
void entries_free(struct entries *es);

/* The entry numbered seq, or NULL. */
struct entry *entry_at(const struct entries *es, uint32_t seq);
/* The entry of an id; with create, a new one when it has none (NULL when
 * out of memory or the id cannot be one). */
struct entry *entry_of(struct entries *es, const char *id, size_t len, bool create);

/* What setting a text did. */
enum { TEXT_KEPT = 0, TEXT_SAME = 1, TEXT_NEW = 2, TEXT_CHANGED = 3 };

/* Takes j (the caller's reference) as e's text, fetched by a fetch that
 * started at `start` and landed at `now`. Returns TEXT_KEPT when e has data
 * from a later fetch (j is dropped), TEXT_SAME for the same content again,
 * TEXT_NEW for e's first content, TEXT_CHANGED for new content (a new
 * version: the caller moves the views it is in). Never evicts. */
int entry_set_text(struct entries *es, struct entry *e, struct job *j, int64_t start, int64_t now);

/* A final job's text was used: it moves to the LRU's head. */
void entry_touch(struct entries *es, struct entry *e);

/* Evicts texts from the LRU's tail until the texts fit cache_size, but
 * keep's (a text just fetched to be read; a job larger than the whole cache
 * stays over cap until the next eviction rather than be unreadable). */
void entries_evict(struct entries *es, struct entry *keep);

/* Whether enough was evicted since the last time this said yes that the
 * heap should be trimmed (malloc_trim walks the heap: done without the
 * lock, by a caller that drops it anyway). */
bool entries_trim_due(struct entries *es);

/* The record the fs side sees of e. */
void entry_record(const struct entry *e, struct cache_rec *r);

#endif
