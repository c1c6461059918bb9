/* The views of the tree, by number: the ones fetched from the API (all jobs,
 * then one per status, in job_status order), then the groups derived from
 * the all-jobs listing (one per host of by-domain/, one per day of
 * by-date/), numbered from VIEW_COUNT on in the order they were first seen. */
#ifndef SCRAPEFS_VIEWS_H
#define SCRAPEFS_VIEWS_H

#include "status.h"

enum { VIEW_ALL = 0, VIEW_STATUS0 = 1, VIEW_COUNT = 1 + JOB_NSTATUS };
enum { GROUP_DOMAIN = 0, GROUP_DATE = 1, GROUP_NKINDS = 2 };

/* "all", "pending", ..., "cancelled" for a fetched view. */
extern const char *const view_names[VIEW_COUNT];

/* The status filter of a fetched view's list call: NULL for all jobs. */
static inline const char *view_status(int v)
{
    return v == VIEW_ALL ? (const char *)0 : job_status_names[v - VIEW_STATUS0];
}

#endif
