/* A job's status as the API names it, and which ones are final. */
#ifndef SCRAPEFS_STATUS_H
#define SCRAPEFS_STATUS_H

#include <stdbool.h>

enum job_status { ST_PENDING, ST_PROCESSING, ST_COMPLETED, ST_FAILED, ST_CANCELLED, ST_UNKNOWN };
#define JOB_NSTATUS 5
extern const char *const job_status_names[JOB_NSTATUS];

/* Maps a status string to the enum; ST_UNKNOWN for anything else (NULL too). */
enum job_status job_status_parse(const char *s);

/* completed, failed and cancelled never change; pending, processing and any
 * status the API did not document may. */
static inline bool job_status_final(int st)
{
    return st == ST_COMPLETED || st == ST_FAILED || st == ST_CANCELLED;
}

#endif
