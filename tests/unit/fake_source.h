/* A fake API for the cache's unit tests: a `struct source` that serves list
 * pages and single jobs from a small model in memory, with no network.
 *
 * The model is an ordered array of jobs, newest first. Pages are slices of
 * it (filtered by status) at an offset, page_size long, in that order or,
 * with `oldest`, the other way round.
 * Every call is counted; calls can be made to fail; a gate holds calls in
 * flight until the test opens it; a hook can change the model between the
 * pages of one fetch (offset drift).
 *
 * Every function takes the fake's own mutex; the hook is called without it.
 */
#ifndef SCRAPEFS_TEST_FAKE_SOURCE_H
#define SCRAPEFS_TEST_FAKE_SOURCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "source.h"

struct fake_job {
    char id[32];
    int status;      /* enum job_status */
    int64_t created; /* created_at, seconds since the epoch */
    int rev;         /* content revision: a new rev is new content */
    char host[32];   /* the url's host; "" for no url */
    bool bad;        /* served as an element job_parse refuses */
};

/* Injected failures of one kind of call. */
struct fake_fail {
    int next; /* the next `next` calls fail */
    bool all; /* every call fails */
    int err;  /* with this negative errno */
};

struct fake_counts {
    int list_calls;                    /* list requests: one per offset asked */
    int list_by_view[1 + JOB_NSTATUS]; /* the same, by view (0: all, 1 + status) */
    int pages_calls;                   /* pages() invocations */
    int detail_calls;                  /* job() invocations */
};

struct fake;
typedef void (*fake_hook)(struct fake *f, const char *status, long offset, void *arg);

struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fake_job *jobs; /* newest first */
    size_t n, cap;
    int page_size;
    struct fake_counts counts;
    struct fake_fail fail_pages, fail_job;
    int gate_hold;     /* this many more arrivals at the gate block */
    int gate_blocked;  /* callers blocked at the gate now */
    unsigned gate_gen; /* moves when the gate opens */
    fake_hook after_page; /* called after each page was handed to the sink */
    void *hook_arg;
    int64_t created_base; /* created_at of the first job fake_fill adds */
    bool oldest;          /* list oldest first (the model stays newest first) */
};

void fake_init(struct fake *f, int page_size);
void fake_destroy(struct fake *f);
struct source fake_source(struct fake *f);

/* Adds a job at position `at` of the model (0: newest; SIZE_MAX: oldest). */
void fake_insert(struct fake *f, size_t at, const char *id, int status, int64_t created,
                 const char *host, int rev);
/* Adds n jobs "<prefix>-000".. at the end, created 8 hours apart going back
 * in time (so they span several days), hosts cycling through a.example,
 * b.example and none, with the given status. */
void fake_fill(struct fake *f, const char *prefix, size_t n, int status);
bool fake_remove(struct fake *f, const char *id);
/* Sets a job's status and revision; false when it is not in the model. */
bool fake_update(struct fake *f, const char *id, int status, int rev);
/* Marks a job as one the cache must refuse. */
bool fake_set_bad(struct fake *f, const char *id, bool bad);

/* The ids of the jobs of a view (status -1: all), in the API's order
 * (elements that cannot be shown included):
 * up to max of them copied into ids; returns how many there are. */
size_t fake_ids(struct fake *f, int status, char (*ids)[32], size_t max);
/* A copy of job id's model record; false when absent. */
bool fake_get(struct fake *f, const char *id, struct fake_job *out);

/* The job's JSON text as the API would send it; its length. */
size_t fake_json(const struct fake_job *j, char *buf, size_t cap);
/* The job as the cache would build it (one new reference), or NULL. */
struct job *fake_build(const struct fake_job *j);

struct fake_counts fake_counts(struct fake *f);
void fake_fail_pages(struct fake *f, int next, bool all, int err);
void fake_fail_jobs(struct fake *f, int next, bool all, int err);
void fake_set_hook(struct fake *f, fake_hook h, void *arg);

/* The next n calls to pages()/job() block at the gate until it opens: a
 * job() call with its answer taken from the model, a pages() call with the
 * answer of its first page (each later page of the call is taken from the
 * model just before it is handed to the sink); a failing call before it
 * returns its error. */
void fake_gate_hold(struct fake *f, int n);
/* Waits (up to 20 s of real time) until n callers are blocked at the gate. */
bool fake_gate_wait(struct fake *f, int n);
/* Releases everyone blocked at the gate and cancels any remaining hold. */
void fake_gate_open(struct fake *f);

#endif
