/* The source (source.h) backed by the API, through the HTTP client: the
 * list call `GET {api_url}/scrape/jobs?status=S&limit=L&offset=O` and the
 * detail call `GET {api_url}/scrape/jobs/{job_id}`. Elements that cannot be
 * shown are logged once (with their id, when they have one) and handed
 * over as stand-ins, so a listing keeps every element's place. */
#ifndef SCRAPEFS_LISTER_H
#define SCRAPEFS_LISTER_H

#include "http.h"
#include "source.h"

struct lister {
    struct http_client *http; /* borrowed */
    const char *api_url;      /* borrowed */
    int page_size;
};

/* A source reading from l (which must outlive it). */
struct source lister_source(struct lister *l);

/* The URL of one list page (status NULL: all jobs), as a new string; NULL
 * when out of memory. */
char *lister_page_url(const char *api_url, const char *status, int limit, long offset);

#endif
