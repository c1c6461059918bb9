/* The helpers every module of the cache shares (state.h): which view a
 * number is, the last error, and the clocks of fetches and deadlines. */
#include <errno.h>
#include <stdio.h>

#include "clock.h"
#include "groups.h"
#include "state.h"

struct view *view_at_locked(struct cache *c, int v)
{
    ASSERT_LOCKED(c);
    if (v < 0)
        return NULL;
    return v < VIEW_COUNT ? &c->views[v] : groups_view_locked(c->groups, (uint32_t)v);
}

void note_error_locked(struct cache *c, const char *what, const char *msg)
{
    ASSERT_LOCKED(c);
    snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, msg);
    c->last_error_at = time(NULL);
}

int64_t deadline_of(const struct cache *c)
{
    return clock_mono_ms() + c->timeout_ms;
}

int64_t wait_left(int64_t deadline)
{
    int64_t left = deadline - clock_mono_ms();
    return left > 0 ? left : 0;
}

int64_t fetch_start_locked(struct cache *c, int64_t now)
{
    ASSERT_LOCKED(c);
    return now < c->expired_ms ? c->expired_ms : now;
}

int64_t pause_after(const struct cache *c, int rc, int64_t end)
{
    return rc == -EIO ? end + c->pause_ms : 0;
}

