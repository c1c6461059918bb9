/* A view's .jsonl (jsonl.h): its snapshot, made when the name is looked
 * up, and the reads of it, which find the texts of the lines in the cache
 * or bring them back with their list pages.
 *
 * A snapshot is made off the lock for the part that only needs the
 * listing (immutable), and under it in chunks for what entries say (each
 * line's version and length, an unfinished job's text): a chunk holds the
 * lock for a few thousand lines at most, and a view that changed under the
 * build (its version moved) is built again. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"
#include "jsonl.h"
#include "listings.h"
#include "log.h"
#include "lookups.h"
#include "persist.h"
#include "state.h"

#define CHUNK 4096
#define BUILD_TRIES 3

/* The lines of view v's snapshot from its listing (no lock: the listing is
 * immutable). A group's members are found in the all-jobs listing, in its
 * order, for the position of their page. */
static struct jsonl *snapshot_lines(const struct listing *vl, const struct listing *bl, int v,
                                    int base)
{
    size_t n = 0;
    for (size_t i = 0; vl && i < vl->n; i++)
        n += vl->m[i].seq != 0;
    struct jsonl *s = jsonl_new(n);
    if (!s)
        return NULL;
    s->view = v;
    s->base = base;
    size_t k = 0;
    if (vl == bl) {
        for (size_t i = 0; vl && i < vl->n; i++)
            if (vl->m[i].seq)
                s->lines[k++] = (struct jsonl_line){.seq = vl->m[i].seq, .pos = (uint32_t)i};
    } else {
        /* both in the same order: walk them side by side */
        for (size_t i = 0, j = 0; vl && bl && i < vl->n && j < bl->n; j++)
            if (bl->m[j].seq == vl->m[i].seq) {
                s->lines[k++] = (struct jsonl_line){.seq = vl->m[i].seq, .pos = (uint32_t)j};
                i++;
            }
    }
    s->n = k;
    return s;
}

/* Fills in what entries say of lines [from, to) (lock held). */
static int snapshot_fill_locked(struct cache *c, struct jsonl *s, size_t from, size_t to)
{
    ASSERT_LOCKED(c);
    for (size_t i = from; i < to; i++) {
        struct jsonl_line *l = &s->lines[i];
        struct entry *e = entry_at(&c->ents, l->seq);
        l->version = e->meta.version;
        l->len = e->meta.line;
        /* an unfinished job can change: the snapshot holds this version */
        if (!e->meta.final && e->job && jsonl_hold(s, i, e->job))
            return -ENOMEM;
    }
    return 0;
}

/* A snapshot of view v as it is now (lock held; dropped between chunks).
 * NULL when out of memory. */
static struct jsonl *build_relocking(struct cache *c, int v)
{
    ASSERT_LOCKED(c);
    for (int tries = 1;; tries++) {
        struct view *vw = view_at_locked(c, v);
        int base = base_view(v);
        const struct view *bv = &c->views[base];
        uint32_t version = vw->version;
        struct listing *vl = vw->mem.list ? listing_ref(vw->mem.list) : NULL;
        struct listing *bl = bv->mem.list ? listing_ref(bv->mem.list) : NULL;
        long base_total = bv->mem.list ? bv->mem.list->total : 0;
        int base_order = bv->order;
        time_t mtime = vw->mtime.tv_sec;
        bool whole = tries == BUILD_TRIES; /* the last try holds the lock throughout */
        if (!whole)
            lock_drop(&c->lock);
        struct jsonl *s = snapshot_lines(vl, bl, v, base);
        if (!whole)
            lock_take(&c->lock);
        int rc = s ? 0 : -ENOMEM;
        for (size_t at = 0; rc == 0 && at < s->n; at += CHUNK) {
            if (!whole && at) {
                lock_drop(&c->lock);
                lock_take(&c->lock);
            }
            rc = snapshot_fill_locked(c, s, at, at + CHUNK < s->n ? at + CHUNK : s->n);
        }
        vw = view_at_locked(c, v);
        bool same = vw->version == version;
        if (rc == 0 && same) {
            s->version = version;
            s->base_total = base_total;
            s->base_order = base_order;
            s->mtime = mtime;
            rc = jsonl_layout(s);
        }
        listing_unref(vl);
        listing_unref(bl);
        if (rc == 0 && same)
            return s;
        jsonl_unref(s);
        if (rc)
            return NULL;
    }
}

int cache_jsonl(struct cache *c, int v, bool refresh, struct jsonl **out, struct view_info *info)
{
    int rc = 0;
    lock_take(&c->lock);
    if (!view_at_locked(c, v))
        rc = -ENOENT;
    else if (refresh || !c->views[base_view(v)].fetched_ms)
        rc = refresh_view_relocking(c, v, deadline_of(c));
    struct view *vw = rc ? NULL : view_at_locked(c, v);
    if (vw && (!vw->jsonl || vw->jsonl->version != vw->version)) {
        struct jsonl *s = build_relocking(c, v);
        vw = view_at_locked(c, v);
        if (!s) {
            rc = -ENOMEM;
        } else if (vw->jsonl && vw->jsonl->version == vw->version) {
            jsonl_unref(s); /* another built it meanwhile */
        } else {
            jsonl_unref(vw->jsonl);
            vw->jsonl = s;
        }
    }
    if (rc == 0) {
        *out = jsonl_ref(vw->jsonl);
        view_info_locked(c, v, info);
    }
    lock_drop(&c->lock);
    return rc;
}

/* ---- reading a snapshot ---- */

/* The texts a read of a snapshot needs, and those still missing. */
struct jsonl_want {
    const struct jsonl *s;
    size_t first, n;
    struct job **texts; /* [n]: a reference each, NULL while missing */
    long *page;         /* [n]: the offset of each line's list page */
};

static bool line_text(const struct jsonl_line *l, const struct entry *e)
{
    return e && e->job && e->meta.version == l->version;
}

/* Takes every text the read wants that is at hand (lock held); returns
 * how many are still missing. */
static size_t want_take_locked(struct cache *c, struct jsonl_want *w)
{
    ASSERT_LOCKED(c);
    size_t missing = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &w->s->lines[w->first + i];
        struct entry *e = entry_at(&c->ents, l->seq);
        if (w->texts[i])
            continue;
        struct job *held = jsonl_held(w->s, w->first + i);
        if (held) {
            w->texts[i] = job_ref(held);
        } else if (line_text(l, e)) {
            entry_touch(&c->ents, e);
            w->texts[i] = job_ref(e->job);
        } else {
            missing++;
        }
    }
    return missing;
}

/* While a page comes in: take what the read wants before it can be
 * evicted again. */
static void keep_wanted(struct cache_install *ci, struct entry *e)
{
    struct jsonl_want *w = ci->arg;
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &w->s->lines[w->first + i];
        if (!w->texts[i] && l->seq == e->seq && line_text(l, e))
            w->texts[i] = job_ref(e->job);
    }
}

/* Fetches the pages this read leads (lock held; dropped meanwhile) and
 * lands their flights. */
static int fetch_led_relocking(struct cache *c, struct jsonl_want *w, const long *offsets,
                               struct flight **led, size_t n, int64_t deadline)
{
    ASSERT_LOCKED(c);
    int64_t start = fetch_start_locked(c, c->clock());
    bool trim = entries_trim_due(&c->ents);
    lock_drop(&c->lock);
    if (trim)
        malloc_trim(0);
    struct cache_install ci;
    cache_install_init(&ci, c, start);
    ci.keep = keep_wanted;
    ci.arg = w;
    struct walk wk = {.src = &c->src, .status = view_status(w->s->base), .deadline = deadline,
                      .now = time(NULL), .in = &ci.in};
    int rc = refresh_pages(&wk, offsets, n);
    lock_take(&c->lock);
    if (rc)
        note_error_locked(c, "jsonl", wk.why[0] ? wk.why : strerror(-rc));
    int64_t end = c->clock();
    for (size_t i = 0; i < n; i++)
        flight_land(c->flights, led[i], rc, end, pause_after(c, rc, end));
    return rc;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The distinct pages of the lines still missing, ascending. */
static size_t missing_pages(const struct jsonl_want *w, long *out)
{
    size_t u = 0;
    for (size_t i = 0; i < w->n; i++)
        if (!w->texts[i])
            out[u++] = w->page[i];
    qsort(out, u, sizeof *out, cmp_long);
    size_t k = 0;
    for (size_t i = 0; i < u; i++)
        if (k == 0 || out[i] != out[k - 1])
            out[k++] = out[i];
    return k;
}

/* Brings back the missing texts of a read by their list pages (lock held;
 * dropped while fetching), then, for any still missing (it moved far
 * since the snapshot), by a detail request. */
static int want_fetch_relocking(struct cache *c, struct jsonl_want *w, int64_t deadline)
{
    ASSERT_LOCKED(c);
    const struct jsonl *s = w->s;
    /* texts evicted from memory come back from the store first */
    for (size_t i = 0; c->store && i < w->n; i++) {
        const struct jsonl_line *l = &s->lines[w->first + i];
        struct entry *e = entry_at(&c->ents, l->seq);
        if (!w->texts[i] && e && !e->job && e->meta.version == l->version &&
            persist_text_relocking(c, e) == 0 && line_text(l, e))
            w->texts[i] = job_ref(e->job);
    }
    const struct view *bv = &c->views[s->base];
    long ps = c->src.page_size, total = bv->mem.list ? bv->mem.list->total : 0;
    /* newest first, jobs created since shifted every page down */
    long shift = s->base_order == ORDER_NEWEST && total > s->base_total ? total - s->base_total
                                                                        : 0;
    for (size_t i = 0; i < w->n; i++)
        w->page[i] = ((long)s->lines[w->first + i].pos + shift) / ps * ps;
    long *offsets = malloc((w->n ? w->n : 1) * sizeof *offsets);
    long *mine = malloc((w->n ? w->n : 1) * sizeof *mine);
    struct flight **led = malloc((w->n ? w->n : 1) * sizeof *led);
    int rc = offsets && mine && led ? 0 : -ENOMEM;
    /* Two passes. First, every page no one else is fetching is led by this
     * read and all of them are fetched at once, in parallel. Then the pages
     * another read was fetching are waited for, one at a time (one fetch per
     * page, whoever wants it: reads run in parallel, the kernel's readahead,
     * and want the same pages). A lead is never held while waiting on
     * another's: two reads could wait on each other. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        want_take_locked(c, w); /* another read may have brought some in meanwhile */
        size_t u = missing_pages(w, offsets), nled = 0;
        for (size_t i = 0; i < u && rc == 0; i++) {
            uint8_t key[2 + sizeof(long)] = {'p', (uint8_t)s->base};
            memcpy(key + 2, &offsets[i], sizeof(long));
            int64_t now = fetch_start_locked(c, c->clock());
            struct flight_when when = {now, c->expired_ms, pass == 0 ? 0 : wait_left(deadline)};
            int fr = flight_take(c->flights, key, sizeof key, when, &led[nled]);
            if (fr == FLIGHT_LEAD)
                mine[nled++] = offsets[i];
            else if (pass == 1)
                want_take_locked(c, w); /* it came in just now: still at hand */
            if (pass == 1 && nled) {
                rc = fetch_led_relocking(c, w, mine, led, nled, deadline);
                nled = 0;
            }
        }
        if (nled)
            rc = fetch_led_relocking(c, w, mine, led, nled, deadline);
    }
    free(led);
    free(mine);
    free(offsets);
    if (rc)
        return rc;
    for (size_t i = 0; i < w->n; i++) {
        const struct jsonl_line *l = &s->lines[w->first + i];
        struct entry *e = entry_at(&c->ents, l->seq);
        if (w->texts[i] || !e)
            continue;
        if (!line_text(l, e))
            fetch_job_relocking(c, e, JOB_TEXT | JOB_STALE_OK, deadline);
        if (line_text(l, e))
            w->texts[i] = job_ref(e->job);
    }
    return 0;
}

int cache_jsonl_read(struct cache *c, const struct jsonl *s, uint64_t off, size_t size,
                     struct buf *out)
{
    if (off >= s->size || size == 0)
        return 0;
    struct jsonl_want w = {.s = s, .first = jsonl_line_at(s, off)};
    uint64_t first_off = jsonl_line_off(s, w.first), at = first_off;
    size_t end = w.first;
    while (end < s->n && at < off + size)
        at += s->lines[end++].len;
    w.n = end - w.first;
    w.texts = calloc(w.n ? w.n : 1, sizeof *w.texts);
    w.page = calloc(w.n ? w.n : 1, sizeof *w.page);
    int rc = w.texts && w.page ? 0 : -ENOMEM;
    lock_take(&c->lock);
    if (rc == 0 && want_take_locked(c, &w))
        rc = want_fetch_relocking(c, &w, deadline_of(c));
    lock_drop(&c->lock);
    at = first_off;
    for (size_t i = 0; rc == 0 && i < w.n; i++) {
        const struct jsonl_line *l = &s->lines[w.first + i];
        const struct job *j = w.texts[i];
        if (!j || j->text_len + 1 != l->len) {
            rc = -EIO; /* the version this snapshot names is gone */
            break;
        }
        /* the part of this line inside [off, off + size) */
        uint64_t from = off > at ? off - at : 0;
        uint64_t to = off + size < at + l->len ? off + size - at : l->len;
        if (from < j->text_len)
            buf_put(out, j->text + from, (to < j->text_len ? to : j->text_len) - from);
        if (to == l->len)
            buf_putc(out, '\n');
        at += l->len;
    }
    for (size_t i = 0; w.texts && i < w.n; i++)
        job_unref(w.texts[i]);
    free(w.texts);
    free(w.page);
    return rc ? rc : out->oom ? -ENOMEM : 0;
}
