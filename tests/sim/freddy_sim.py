#!/usr/bin/python3
"""Local simulator of the Freddy scrape-jobs API (see PROTOCOL.md).

Python 3 standard library only.  The full contract is tests/sim/PROTOCOL.md;
keep the two in step.

Design notes:
- every job is kept only as its serialized JSON bytes (Entry.text); list
  pages are built by joining those bytes, so a page costs microseconds;
- the list order is a Python list, newest first, and so is each
  per-status view; every listed entry has an integer key that grows
  towards the oldest, so the lists are sorted by key and an entry is found
  (removed, re-filed under a new status) by bisection: no change walks the
  whole list in Python;
- "oldest" order reads the same lists backwards (a reversed slice of the
  page only);
- one lock guards all state; it is never held while sleeping.
"""

import argparse
import bisect
import collections
import datetime
import gc
import json
import math
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from fractions import Fraction
from operator import attrgetter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_to_bytes

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
TERMINAL = ("completed", "failed", "cancelled")
ORDERS = ("newest", "oldest")
MUTATE_MAX = 10000000      # per count of one /_sim/mutate call
MUTATE_COUNTS = ("create", "advance", "delete", "backdate", "insert_middle",
                 "finish", "reuse", "purge")
KEY_STEP = 1 << 20         # gap between the keys of neighbouring entries
LIST_REQUESTS_MAX = 10000  # (status, offset) pairs kept for /_sim/stats
KEYS = ("job_id", "status", "url", "extracted_data", "error_message",
        "metadata", "created_at", "completed_at")

# 20 slots: 10 completed, 3 failed, 2 cancelled, 3 processing, 2 pending.
STATUS_PATTERN = (
    "completed", "failed", "completed", "processing", "completed",
    "pending", "completed", "cancelled", "completed", "failed",
    "processing", "completed", "completed", "pending", "completed",
    "failed", "completed", "processing", "cancelled", "completed",
)

# Newest normal job; hostile and later-added jobs are newer.
T0 = 1795867200          # 2026-11-28T12:00:00Z
T_OLDEST = 1793491200    # 2026-11-01T00:00:00Z

URL_TEMPLATES = (
    "https://www.example.com/products/{i}",
    "https://shop.example.org:8443/item?id={i}&ref=sim",
    "http://Docs.Example.NET/guide/page-{i}.html",
    "https://news.example.co.uk/2026/11/story-{i}",
    "https://API.example.io/v2/data/{i}#top",
    "https://www.example.com/search?q=caf%C3%A9&page={i}",
)
TAGS = (["a", "ü"], ["sale"], [], ["new", "日本語"], ["a", "b", "c"])
NOTES = (None, "Ünïcode ✓ note", None, "line1\nline2",
         'quote " and backslash \\', None)
ERRORS = ("HTTP 503 from target", "Timeout after 30s",
          "DNS resolution failed for host", "robots.txt disallows this URL",
          "HTTP 404 from target")
SKU_BASE = 12345678901234567890123

_ENC = json.JSONEncoder(ensure_ascii=False)
_INT_RE = re.compile(r"-?[0-9]{1,18}")


def dump(obj):
    """Serialize as json.dumps(obj, ensure_ascii=False) in UTF-8."""
    return _ENC.encode(obj).encode("utf-8", "surrogatepass")


def fmt_time(t, mode=0, usec=0):
    """ISO 8601 UTC: mode 0 '...Z', 1 '....uuuuuuZ', 2 '...+00:00'."""
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    if mode == 1:
        return "%s.%06dZ" % (s, usec)
    if mode == 2:
        return s + "+00:00"
    return s + "Z"


def parse_time(s):
    """Seconds since the epoch of an ISO 8601 string (naive = UTC), or None."""
    if not isinstance(s, str):
        return None
    try:
        dt = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    try:
        return dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def ordered_job(d):
    """The API's keys first, in its order, then any extra keys."""
    out = {k: d[k] for k in KEYS if k in d}
    for k, v in d.items():
        if k not in out:
            out[k] = v
    return out


class Entry:
    """One element of the jobs array: its id (str, or None when it has no
    usable id), its status (str, or None), its JSON bytes, and whether it is
    part of the list (raw jobs with list_raw false are detail-only).
    key orders the listed entries: smaller is newer (None: not listed);
    hostile marks the --hostile jobs (never advanced by /_sim/mutate)."""
    __slots__ = ("id", "status", "text", "listed", "raw", "key", "hostile")

    def __init__(self, job_id, status, text, listed=True, raw=False, key=None):
        self.id = job_id
        self.status = status
        self.text = text
        self.listed = listed
        self.raw = raw
        self.key = key
        self.hostile = False


KEY = attrgetter("key")


def entry_from_obj(obj):
    jid = obj.get("job_id") if isinstance(obj, dict) else None
    st = obj.get("status") if isinstance(obj, dict) else None
    return Entry(jid if isinstance(jid, str) else None,
                 st if isinstance(st, str) else None, dump(obj))


class Fault:
    __slots__ = ("kind", "target", "count", "rate", "retry_after", "status")


FAULT_KINDS = ("500", "502", "503", "429", "401", "403", "hang", "reset",
               "truncate", "garbage", "html", "shape", "slow")
FAULT_DETAIL = {"500": "Internal Server Error", "502": "Bad Gateway",
                "503": "Service Unavailable", "429": "Too Many Requests",
                "401": "Invalid API key", "403": "Forbidden"}
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n"
            b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
GARBAGE = b"<<<this is not JSON>>> \x00\xff\xfe {\"jobs\": [garbage"


class BadRequest(Exception):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code
        self.detail = detail


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.api_key = args.api_key
        self.latency_ms = float(args.latency_ms)
        self.item_count = args.item_count
        self.seed = args.seed
        self.order = getattr(args, "order", "newest")
        self.entries = []        # listed entries, newest first (keys ascending)
        self.views = {}          # status -> [Entry], newest first
        self.by_id = {}          # id -> Entry (listed or detail-only)
        self.front_key = -KEY_STEP   # key of the next entry put at the front
        self.id_rng = random.Random("ids-%d" % args.seed)
        self.gen_rng = random.Random("extra-%d" % args.seed)
        self.fault_rng = random.Random(args.seed)
        self.faults = []
        self.hang_event = threading.Event()
        self.drift = None
        self.last_drift = None   # what the last drift that triggered did
        self.top_time = T0
        self.seen_time = T0      # newest created_at given explicitly
        self.extra_n = 0
        self.reset_counters()
        self.settled_after = getattr(args, "settled_after", None)
        self.generate(args.jobs, args.seed)
        if args.hostile:
            self.add_hostile()

    # ----- counters -------------------------------------------------------
    def reset_counters(self):
        self.requests = {"list": 0, "detail": 0, "other": 0}
        self.list_by_status = {"": 0}
        for s in STATUSES:
            self.list_by_status[s] = 0
        self.list_pages = 0
        self.faults_injected = 0
        self.list_requests = collections.deque(maxlen=LIST_REQUESTS_MAX)

    # ----- generation -----------------------------------------------------
    def new_id(self, rng=None):
        if rng is None:
            rng = self.id_rng
        while True:
            jid = "job_%012x" % rng.getrandbits(48)
            if jid not in self.by_id:
                return jid

    def make_items(self, rng):
        items = []
        for k in range(self.item_count):
            n = rng.randrange(1, 100000)
            items.append({
                "title": "Widget %d" % n,
                "price": rng.randrange(100, 100000) / 100,
                "sku": SKU_BASE + n * 7919 + k,
                "tags": TAGS[n % len(TAGS)],
                "in_stock": bool(n & 1),
                "note": NOTES[n % len(NOTES)],
            })
        return items

    def make_job(self, rng, i, jid, status, created, ts_mode, usec):
        """One normal job as a dict (keys in the API's order)."""
        url = URL_TEMPLATES[rng.randrange(len(URL_TEMPLATES))].format(i=i)
        terminal = status in TERMINAL
        items = self.make_items(rng) if status == "completed" else None
        return {
            "job_id": jid,
            "status": status,
            "url": url,
            "extracted_data": items,
            "error_message": (ERRORS[i % len(ERRORS)]
                              if status == "failed" else None),
            "metadata": (None if i % 4 == 1 else
                         {"source": "sim", "attempt": 1 + i % 3}),
            "created_at": fmt_time(created, ts_mode, usec),
            "completed_at": (fmt_time(created + 5 + (i * 37) % 600)
                             if terminal else None),
        }

    def generate(self, n, seed):
        rng = random.Random(seed)
        avg = max(1.0, 0.9 * (T0 - T_OLDEST) / max(n, 1))
        maxstep = max(1, int(2 * avg) - 1)
        t = T0
        by_id = self.by_id
        entries = self.entries
        views = {s: [] for s in STATUSES}
        make_job = self.make_job
        npat = len(STATUS_PATTERN)
        # Nothing made here is ever part of a reference cycle: keep the
        # cyclic collector from walking the growing heap again and again.
        gc_was = gc.isenabled()
        gc.disable()
        try:
            for i in range(n):
                while True:
                    jid = "job_%012x" % rng.getrandbits(48)
                    if jid not in by_id:
                        break
                status = STATUS_PATTERN[(i + seed) % npat]
                if (self.settled_after is not None and i >= self.settled_after
                        and status not in TERMINAL):
                    status = "completed"  # old jobs are done, as in a real account
                if i % 7 == 3:
                    mode, usec = 1, (i * 123457) % 1000000
                elif i % 11 == 5:
                    mode, usec = 2, 0
                else:
                    mode, usec = 0, 0
                e = Entry(jid, status,
                          dump(make_job(rng, i, jid, status, t, mode, usec)),
                          key=i * KEY_STEP)
                entries.append(e)
                views[status].append(e)
                by_id[jid] = e
                t -= rng.randint(1, maxstep)
        finally:
            if gc_was:
                gc.enable()
        self.views = {s: v for s, v in views.items() if v}

    def fresh_time(self):
        """A creation time newer than every generated one (now if later)."""
        self.top_time = max(int(time.time()), self.top_time + 1)
        return self.top_time

    def note_created(self, obj):
        """Remember an explicitly given created_at (for /_sim/mutate)."""
        if isinstance(obj, dict):
            t = parse_time(obj.get("created_at"))
            if t is not None and t >= self.seen_time:
                self.seen_time = math.floor(t)

    def add_hostile(self):
        rng = random.Random("hostile")
        base = T0 + 1
        front = []

        def job(jid, **over):
            nonlocal base
            base += 1
            d = self.make_job(rng, len(front), jid, "completed", base, 0, 0)
            d.update(over)
            front.append(entry_from_obj(d))
            return d

        for jid in ("a/b", "../escape", "..", ".hidden", "100%", "%41",
                    "tab\there", "nul\u0000byte", "by-status", "by-date",
                    "by-domain", "x" * 300, "", "ünïcødé"):
            job(jid)
        job("hostile-weird-status", status="weird-status")
        job("hostile-object-data",
            extracted_data={"title": "not an array", "price": 1.5})
        deep = ["deep"]
        for _ in range(199):
            deep = [deep]
        job("hostile-deep", extracted_data=deep)
        blob = ("big string item 0123456789 " * 80000)[:2 * 1024 * 1024]
        job("hostile-big-string", extracted_data=[blob])
        d = job("hostile-missing-fields")
        del d["url"], d["created_at"]
        front[-1] = entry_from_obj(d)
        job("hostile-invalid-values", created_at="not a date",
            url="not a url")
        base += 1
        raw = ('{"job_id": "hostile-numbers", "status": "completed", '
               '"url": "https://www.example.com/numbers", "extracted_data": '
               '[{"huge": 1e400, "big": 1234567890123456789012345678901234567890, '
               '"neg_big": -1234567890123456789012345678901234567890, '
               '"tiny": 1e-400, "price": 29.99, "exp": 1.5E+3}], '
               '"error_message": null, "metadata": null, "created_at": "%s", '
               '"completed_at": "%s"}' % (fmt_time(base), fmt_time(base + 60)))
        front.append(Entry("hostile-numbers", "completed",
                           raw.encode("utf-8"), raw=True))
        job("hostile-nul-error", error_message="boom\u0000after the NUL")
        front.append(Entry(None, None, b"42", raw=True))
        base += 1
        front.append(entry_from_obj({
            "status": "completed", "url": "https://www.example.com/no-id",
            "extracted_data": [], "error_message": None, "metadata": None,
            "created_at": fmt_time(base), "completed_at": fmt_time(base + 9)}))
        # The last one built is the newest: it goes first.
        front.reverse()
        for e in front:
            e.hostile = True
        self.add_front(front)
        self.top_time = base

    # ----- the list and its views -----------------------------------------
    def view(self, status):
        """Listed entries with that status (None: all), newest first.
        Caller holds the lock; the result must not be kept past it."""
        if status is None:
            return self.entries
        return self.views.get(status, ())

    def ordered(self, status):
        """The view in the current API order (an iterable). Lock held."""
        v = self.view(status)
        return reversed(v) if self.order == "oldest" else v

    @staticmethod
    def _find(lst, e):
        """Index of e in a key-sorted list (e must be in it)."""
        i = bisect.bisect_left(lst, e.key, key=KEY)
        if i < len(lst) and lst[i] is e:
            return i
        raise RuntimeError("entry missing from its list")  # a bug

    def _unview(self, e):
        lst = self.views.get(e.status)
        del lst[self._find(lst, e)]
        if not lst:
            del self.views[e.status]

    def _take_out_replaced(self, entries):
        """The batch to insert: entries (newest first) with the newest copy
        of each id only; the stored jobs those ids name are removed first.
        Lock held."""
        seen = set()
        batch = []
        for e in entries:
            if e.id is not None:
                if e.id in seen:
                    continue
                seen.add(e.id)
            batch.append(e)
        self.remove_many([self.by_id[e.id] for e in batch
                          if e.id is not None and e.id in self.by_id])
        return batch

    def add_front(self, entries):
        """Insert entries (given newest first) at the front. Lock held.
        An entry replaces the stored job with its id; within the batch the
        newest copy of an id wins."""
        batch = self._take_out_replaced(entries)
        listed = []
        for e in reversed(batch):          # oldest first: keys go down
            if e.id is not None:
                self.by_id[e.id] = e
            if e.listed:
                e.key = self.front_key
                self.front_key -= KEY_STEP
                listed.append(e)
        listed.reverse()
        self.entries[:0] = listed
        groups = {}
        for e in listed:
            if e.status is not None:
                groups.setdefault(e.status, []).append(e)
        for status, g in groups.items():
            self.views.setdefault(status, [])[:0] = g

    def many(self, n):
        """Whether changing n entries one by one (a bisection and a memmove
        of the list each) would cost more than one pass over the list."""
        return n > 64 and n * 2000 > len(self.entries)

    def remove(self, e):
        self.remove_many([e])

    def remove_many(self, entries):
        """Remove these stored entries (by_id, the list, the views)."""
        for e in entries:
            if e.id is not None and self.by_id.get(e.id) is e:
                del self.by_id[e.id]
        listed = [e for e in entries if e.listed and e.key is not None]
        if not self.many(len(listed)):
            for e in listed:
                del self.entries[self._find(self.entries, e)]
                if e.status is not None:
                    self._unview(e)
                e.key = None
            return
        gone = set(map(id, listed))        # many: one pass over each list
        self.entries[:] = [e for e in self.entries if id(e) not in gone]
        for status in {e.status for e in listed if e.status is not None}:
            lst = [e for e in self.views[status] if id(e) not in gone]
            if lst:
                self.views[status] = lst
            else:
                del self.views[status]
        for e in listed:
            e.key = None

    def rebuild_views(self):
        """The per-status views from the list, in one pass. Lock held."""
        views = {}
        for e in self.entries:
            if e.status is not None:
                views.setdefault(e.status, []).append(e)
        self.views = views

    @staticmethod
    def keys_between(lo, hi, m):
        """m ascending keys strictly between the keys lo < hi (None: no
        bound on that side). Integers while the gap allows, else exact
        fractions (fractions.Fraction compares with int)."""
        if hi is None:
            return [lo + KEY_STEP * (j + 1) for j in range(m)]
        if lo is None:
            return [hi - KEY_STEP * (m - j) for j in range(m)]
        d = hi - lo
        if isinstance(lo, int) and isinstance(hi, int) and d > m:
            return [lo + d * j // (m + 1) for j in range(1, m + 1)]
        lo, d = Fraction(lo), Fraction(d)
        return [lo + d * j / (m + 1) for j in range(1, m + 1)]

    @staticmethod
    def _merge_keyed(lst, new):
        """lst (key-sorted) with the key-sorted entries new merged in: a
        bisection per new entry, then slices copied (C speed, one pass)."""
        out, prev = [], 0
        for e in new:
            i = bisect.bisect_left(lst, e.key, lo=prev, key=KEY)
            out.extend(lst[prev:i])
            out.append(e)
            prev = i
        out.extend(lst[prev:])
        return out

    def insert_keyed(self, new):
        """Put entries that already have their keys (strictly between the
        keys of listed entries, none stored yet) into the list and their
        views, and into by_id. Lock held."""
        if not new:
            return
        new = sorted(new, key=KEY)
        for e in new:
            if e.id is not None:
                self.by_id[e.id] = e
        if not self.many(len(new)):
            for e in new:
                self.entries.insert(
                    bisect.bisect_left(self.entries, e.key, key=KEY), e)
                if e.status is not None:
                    bisect.insort(self.views.setdefault(e.status, []), e,
                                  key=KEY)
            return
        self.entries = self._merge_keyed(self.entries, new)
        groups = {}
        for e in new:
            if e.status is not None:
                groups.setdefault(e.status, []).append(e)
        for status, g in groups.items():
            self.views[status] = self._merge_keyed(
                self.views.get(status, []), g)

    def insert_at(self, pos, entries):
        """Insert entries (given newest first) at position pos of the
        newest-first list (0: the front; >= the number of listed entries:
        the oldest end), as add_front does otherwise (replacements by id
        are removed first, then pos applies). Lock held."""
        if pos <= 0:
            self.add_front(entries)
            return
        batch = self._take_out_replaced(entries)
        ents = self.entries
        pos = min(pos, len(ents))
        if pos == 0:                       # the list is empty now
            self.add_front(batch)
            return
        listed = []
        for e in batch:
            if e.id is not None:
                self.by_id[e.id] = e
            if e.listed:
                listed.append(e)
        if not listed:
            return
        hi = ents[pos].key if pos < len(ents) else None
        for e, k in zip(listed, self.keys_between(ents[pos - 1].key, hi,
                                                  len(listed))):
            e.key = k
        ents[pos:pos] = listed             # one splice; the views likewise
        groups = {}
        for e in listed:
            if e.status is not None:
                groups.setdefault(e.status, []).append(e)
        for status, g in groups.items():
            v = self.views.setdefault(status, [])
            i = bisect.bisect_left(v, g[0].key, key=KEY)
            v[i:i] = g

    def purge_oldest(self, n):
        """Remove the n oldest listed entries with an id; only the tail of
        the list and of each view is walked. Returns them, oldest first."""
        ents = self.entries
        doomed = []
        i = len(ents)
        while i > 0 and len(doomed) < n:
            i -= 1
            if ents[i].id is not None:
                doomed.append(ents[i])
        if not doomed:
            return doomed
        for e in doomed:
            if self.by_id.get(e.id) is e:
                del self.by_id[e.id]
        gone = set(map(id, doomed))
        ents[i:] = [e for e in ents[i:] if id(e) not in gone]
        first = doomed[-1].key             # the newest purged: smallest key
        for status in {e.status for e in doomed if e.status is not None}:
            v = self.views[status]
            j = bisect.bisect_left(v, first, key=KEY)
            v[j:] = [e for e in v[j:] if id(e) not in gone]
            if not v:
                del self.views[status]
        for e in doomed:
            e.key = None
        return doomed

    def set_status(self, e, status):
        """Re-file a listed entry under a new status; it keeps its place."""
        if e.status == status:
            return
        if e.listed and e.key is not None:
            if e.status is not None:
                self._unview(e)
            if status is not None:
                bisect.insort(self.views.setdefault(status, []), e, key=KEY)
        e.status = status

    def list_page(self, status, limit, offset):
        """Build one list page (bytes). Lock held."""
        v = self.view(status)
        n = len(v)
        if self.order == "oldest":
            hi = n - offset
            page = v[max(hi - limit, 0):hi] if hi > 0 else []
            page.reverse()
        else:
            page = v[offset:offset + limit]
        return b"".join((
            b'{"jobs": [', b", ".join([e.text for e in page]),
            b'], "total": %d, "limit": %d, "offset": %d}'
            % (n, limit, offset)))

    def page_answered(self):
        """Count an answered list page; apply drift when due. Lock held."""
        self.list_pages += 1
        d = self.drift
        if d is not None:
            d["remaining"] -= 1
            if d["remaining"] <= 0:
                self.apply_drift()

    def apply_drift(self):
        """The drift's deletions (the newest N, then delete_ids), its
        insertions, then its mutate spec. Lock held."""
        d = self.drift
        self.drift = None
        status = d.get("status")
        deleted = []
        if d["delete"] > 0:
            doomed = list(self.view(status)[:d["delete"]])
            deleted += [e.id for e in doomed]
            self.remove_many(doomed)
        doomed, seen = [], set()
        for jid in d.get("delete_ids") or ():
            e = self.by_id.get(jid)
            if e is not None and e.listed and id(e) not in seen:
                seen.add(id(e))
                doomed.append(e)
        deleted += [e.id for e in doomed]
        self.remove_many(doomed)
        new = []
        for _ in range(d["insert"]):
            new.append(self.new_normal(status or "completed"))
        new.reverse()
        self.add_front(new)
        spec = d.get("mutate")
        self.last_drift = {
            "deleted": deleted, "inserted": [e.id for e in new],
            "mutate": None if spec is None else self.mutate(spec)}

    def new_normal(self, status):
        self.extra_n += 1
        jid = self.new_id()
        job = self.make_job(self.gen_rng, 1000000 + self.extra_n, jid, status,
                            self.fresh_time(), 0, 0)
        return Entry(jid, status, dump(job))

    # ----- random mutations (/_sim/mutate) --------------------------------
    @staticmethod
    def pick(rng, size, get, n, ok):
        """Up to n distinct random elements get(i), i in range(size), that
        satisfy ok, in the order drawn. Deterministic for the rng state."""
        if n <= 0 or size <= 0:
            return []
        if n * 4 <= size:
            # Few out of many: draw indices, skip repeats and misfits.
            chosen, seen = [], set()
            tries = 0
            while len(chosen) < n and tries < 8 * n + 64:
                tries += 1
                i = rng.randrange(size)
                if i in seen:
                    continue
                seen.add(i)
                e = get(i)
                if ok(e):
                    chosen.append(e)
            if len(chosen) == n:
                return chosen
        pool = [e for e in map(get, range(size)) if ok(e)]
        return rng.sample(pool, min(n, len(pool)))

    def mutate_time(self):
        """A creation time (whole seconds) newer than every job's."""
        self.top_time = max(self.top_time, self.seen_time) + 1
        return self.top_time

    @staticmethod
    def time_of(e):
        """created_at of a stored entry in seconds, or None."""
        try:
            obj = json.loads(e.text)
        except ValueError:
            return None
        return parse_time(obj.get("created_at")) if isinstance(obj, dict) \
            else None

    def end_times(self):
        """created_at of the newest and of the oldest listed entry (the
        first parseable one within 64 of each end; None when none)."""
        ents = self.entries
        newest = oldest = None
        for e in ents[:64]:
            newest = self.time_of(e)
            if newest is not None:
                break
        for e in ents[:-65:-1]:
            oldest = self.time_of(e)
            if oldest is not None:
                break
        return newest, oldest

    @staticmethod
    def draw_form(rng, i):
        """(mode, usec) of a created_at, from the job number i."""
        if i % 7 == 3:
            return 1, rng.randrange(1000000)
        if i % 11 == 5:
            return 2, 0
        return 0, 0

    def to_final(self, rng, job, to):
        """Fill a job (dict) for a move to the final status to."""
        job["status"] = to
        t = parse_time(job.get("created_at"))
        t = T0 if t is None else math.floor(t)
        job["completed_at"] = fmt_time(t + rng.randint(5, 604))
        job["extracted_data"] = (self.make_items(rng)
                                 if to == "completed" else None)
        job["error_message"] = (rng.choice(ERRORS)
                                if to == "failed" else None)

    def refile(self, moves):
        """Re-file entries under new statuses: [(entry, status)]."""
        if self.many(len(moves)):          # then in one pass
            for e, to in moves:
                e.status = to
            self.rebuild_views()
        else:
            for e, to in moves:
                self.set_status(e, to)

    def unfinished(self):
        """(size, get) over the pending then processing views."""
        pend = self.views.get("pending", [])
        proc = self.views.get("processing", [])
        np_ = len(pend)

        def get(i):
            return pend[i] if i < np_ else proc[i - np_]
        return np_ + len(proc), get

    @staticmethod
    def movable(e):
        return e.id is not None and not e.raw and not e.hostile

    def mutate(self, spec):
        """POST /_sim/mutate with a spec from parse_mutate. Lock held."""
        rng = random.Random(spec["seed"])
        statuses = spec["create_statuses"]
        out = {"created": [], "advanced": [], "deleted": [], "finished": [],
               "inserted": [], "reused": [], "purged": [], "backdated": []}

        # create (+ backdate: the oldest ones created get an older time)
        nback = spec["backdate"]
        if nback:
            newest, oldest = self.end_times()
        made, jobs = set(), []
        for _ in range(spec["create"]):
            while True:
                jid = self.new_id(rng)
                if jid not in made:
                    break
            made.add(jid)
            status = rng.choice(statuses)
            i = rng.randrange(1000000, 1000000000)
            mode, usec = self.draw_form(rng, i)
            jobs.append((self.make_job(rng, i, jid, status, self.mutate_time(),
                                       mode, usec), i, mode, usec))
            out["created"].append(jid)
        if nback:
            hi = jobs[0][0]["created_at"] if newest is None else newest
            hi = math.floor(parse_time(hi) if isinstance(hi, str) else hi)
            lo = math.ceil(T_OLDEST if oldest is None else min(oldest, hi))
            for job, i, mode, usec in jobs[:nback]:
                t = rng.randint(lo, hi - 1) if lo <= hi - 1 else hi - 1
                job["created_at"] = fmt_time(t, mode, usec)
                if job["completed_at"] is not None:
                    job["completed_at"] = fmt_time(t + 5 + (i * 37) % 600)
                out["backdated"].append(job["job_id"])
        new = [Entry(j["job_id"], j["status"], dump(j))
               for j, _, _, _ in reversed(jobs)]   # the last made is newest
        self.add_front(new)

        # insert_middle: one new job in each of n distinct gaps
        if spec["insert_middle"]:
            out["inserted"] = self.insert_middle(rng, spec["insert_middle"],
                                                 statuses)

        # advance one step
        size, get = self.unfinished()
        chosen = self.pick(rng, size, get, spec["advance"], self.movable)
        moves = []
        for e in chosen:
            job = json.loads(e.text)
            frm = e.status
            if frm == "pending":
                to = "processing"
                job["status"] = to
            else:
                to = rng.choice(TERMINAL)
                self.to_final(rng, job, to)
            e.text = dump(job)
            moves.append((e, to))
            out["advanced"].append([e.id, frm, to])
        self.refile(moves)

        # finish: straight to a final status
        if spec["finish"]:
            size, get = self.unfinished()
            chosen = self.pick(rng, size, get, spec["finish"], self.movable)
            finals = spec["finish_statuses"]
            moves = []
            for e in chosen:
                job = json.loads(e.text)
                frm = e.status
                to = rng.choice(finals)
                self.to_final(rng, job, to)
                e.text = dump(job)
                moves.append((e, to))
                out["finished"].append([e.id, frm, to])
            self.refile(moves)

        # reuse: deleted, then created again with the same id as the newest
        if spec["reuse"]:
            ents = self.entries
            chosen = self.pick(rng, len(ents), ents.__getitem__,
                               spec["reuse"], self.movable)
            new = []
            for e in chosen:
                status = rng.choice(statuses)
                i = rng.randrange(1000000, 1000000000)
                mode, usec = self.draw_form(rng, i)
                new.append(Entry(e.id, status, dump(self.make_job(
                    rng, i, e.id, status, self.mutate_time(), mode, usec))))
                out["reused"].append(e.id)
            new.reverse()
            self.add_front(new)            # replaces the old ones

        # delete (optionally of one status only)
        ents = self.view(spec["delete_status"])
        doomed = self.pick(rng, len(ents), ents.__getitem__, spec["delete"],
                           lambda e: e.id is not None)
        self.remove_many(doomed)
        out["deleted"] = [e.id for e in doomed]

        # purge: the oldest end goes, as with retention
        if spec["purge"]:
            out["purged"] = [e.id for e in self.purge_oldest(spec["purge"])]
        return out

    def insert_middle(self, rng, n, statuses):
        """n new jobs, each in a distinct gap between two listed entries
        whose created_at parse and leave room for a time strictly between
        (newer one at least 2 us newer); created_at drawn in that gap.
        Returns the ids in the order drawn."""
        ents = self.entries
        times = {}

        def us(e):
            k = id(e)
            if k not in times:
                t = self.time_of(e)
                times[k] = None if t is None else round(t * 1000000)
            return times[k]

        def gap_ok(g):
            b, a = us(ents[g - 1]), us(ents[g])
            return a is not None and b is not None and b - a >= 2

        gaps = self.pick(rng, len(ents) - 1, lambda i: i + 1, n, gap_ok)
        made, new, ids = set(), [], []
        for g in gaps:
            while True:
                jid = self.new_id(rng)
                if jid not in made:
                    break
            made.add(jid)
            status = rng.choice(statuses)
            i = rng.randrange(1000000, 1000000000)
            a, b = us(ents[g]), us(ents[g - 1])    # older, newer (us)
            lo_s, hi_s = a // 1000000 + 1, (b - 1) // 1000000
            if lo_s <= hi_s:                   # a whole second in between
                t = rng.randint(lo_s, hi_s)
                if i % 7 == 3:
                    mode, usec = 1, rng.randrange(min(1000000,
                                                      b - t * 1000000))
                else:
                    mode, usec = (2 if i % 11 == 5 else 0), 0
            else:
                t, usec = divmod(rng.randrange(a + 1, b), 1000000)
                mode = 1
            e = Entry(jid, status,
                      dump(self.make_job(rng, i, jid, status, t, mode, usec)))
            e.key = self.keys_between(ents[g - 1].key, ents[g].key, 1)[0]
            new.append(e)
            ids.append(jid)
        self.insert_keyed(new)
        return ids

    # ----- faults ---------------------------------------------------------
    def pick_fault(self, kind, status_param):
        """The fault to inject for this API request, or None. Lock held."""
        if kind not in ("list", "detail"):
            return None
        chosen = None
        for f in self.faults:
            if f.target != "any" and f.target != kind:
                continue
            if f.status is not None and (
                    kind != "list" or (status_param or "") != f.status):
                continue
            if f.rate is not None:
                if self.fault_rng.random() >= f.rate:
                    continue
            else:
                if f.count == 0:
                    continue
                if f.count > 0:
                    f.count -= 1
            chosen = f
            break
        if chosen is not None:
            self.faults_injected += 1
            self.faults = [f for f in self.faults
                           if f.rate is not None or f.count != 0]
        return chosen


def parse_mutate(data):
    """The spec of a /_sim/mutate body (also a drift's "mutate"); raises
    BadRequest(422) on anything else."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest(422, "body must be an object")
    spec = {"seed": data.get("seed", 0)}
    if isinstance(spec["seed"], bool) \
            or not isinstance(spec["seed"], (int, str)):
        raise BadRequest(422, "seed must be an integer or a string")
    for k in MUTATE_COUNTS:
        v = data.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, int) \
                or not 0 <= v <= MUTATE_MAX:
            raise BadRequest(422, "%s must be an integer in 0..%d"
                             % (k, MUTATE_MAX))
        spec[k] = v
    if spec["backdate"] > spec["create"]:
        raise BadRequest(422, "backdate must be an integer in 0..create "
                         "(the number of jobs created by this call)")
    statuses = data.get("create_statuses", list(STATUSES))
    if (not isinstance(statuses, list) or not statuses
            or not all(s in STATUSES for s in statuses)):
        raise BadRequest(422, "create_statuses must be a non-empty "
                         "array of " + ", ".join(STATUSES))
    spec["create_statuses"] = statuses
    finals = data.get("finish_statuses", list(TERMINAL))
    if (not isinstance(finals, list) or not finals
            or not all(s in TERMINAL for s in finals)):
        raise BadRequest(422, "finish_statuses must be a non-empty "
                         "array of " + ", ".join(TERMINAL))
    spec["finish_statuses"] = finals
    spec["delete_status"] = None
    if "delete_status" in data:
        if data["delete_status"] not in STATUSES:
            raise BadRequest(422, "delete_status must be one of "
                             + ", ".join(STATUSES))
        spec["delete_status"] = data["delete_status"]
    return spec


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FreddySim/1.0"
    sys_version = ""
    timeout = 300          # idle keep-alive connections are dropped after it

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # ----- plumbing -------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te.lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        n = self.headers.get("Content-Length")
        if not n:
            return b""
        n = int(n)
        if n < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(n)

    def head_bytes(self, code, length, ctype, headers=(), close=False):
        reason = self.responses.get(code, ("Unknown",))[0]
        lines = ["HTTP/1.1 %d %s" % (code, reason),
                 "Server: " + self.server_version,
                 "Date: " + self.date_time_string(),
                 "Content-Type: " + ctype,
                 "Content-Length: %d" % length]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, code, body, ctype="application/json", headers=()):
        self.wfile.write(self.head_bytes(code, len(body), ctype, headers,
                                         self.close_connection) + body)
        if self.server.verbose:
            self.log_request(code, len(body))

    def send_json(self, code, obj, headers=()):
        self.send(code, dump(obj), headers=headers)

    def dispatch(self, method):
        try:
            try:
                body = self.read_body()
            except (ValueError, OSError):
                self.close_connection = True
                self.send_json(400, {"detail": "Bad request body"})
                return
            raw = self.path.encode("latin-1", "replace")
            path, _, query = raw.partition(b"?")
            path = path.partition(b"#")[0]
            if path == b"/_sim" or path.startswith(b"/_sim/"):
                self.control(method, path, query, body)
            else:
                self.api(method, path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            # A bug in the simulator: say so, loudly, and answer 500.
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self.send_json(500, {"detail": "simulator error"})
            except OSError:
                pass

    # ----- API routes -----------------------------------------------------
    PREFIX = b"/api/v1/scrape/jobs"

    def api(self, method, path, query):
        st = self.server.state
        pl = len(self.PREFIX)
        if path == self.PREFIX:
            kind = "list"
        elif (path.startswith(self.PREFIX + b"/") and len(path) > pl + 1
              and b"/" not in path[pl + 1:]):
            kind = "detail"
        else:
            kind = "other"
        params = {}
        if kind == "list":
            params = dict(parse_qsl(query.decode("utf-8", "surrogateescape"),
                                    keep_blank_values=True))
        status_param = params.get("status")
        with st.lock:
            st.requests[kind] += 1
            if kind == "list":
                key = status_param if status_param is not None else ""
                st.list_by_status[key] = st.list_by_status.get(key, 0) + 1
                off = params.get("offset", "0")
                st.list_requests.append(
                    [key, int(off) if _INT_RE.fullmatch(off) else off])
            latency = st.latency_ms
        if latency > 0:
            time.sleep(latency / 1000.0)
        if method != "GET" and kind != "other":
            self.send_json(405, {"detail": "Method Not Allowed"})
            return
        if kind == "other":
            self.send_json(404, {"detail": "Not Found"})
            return
        with st.lock:
            fault = st.pick_fault(kind, status_param)
            hang_event = st.hang_event
        if fault is None:
            code, body, headers = self.api_answer(kind, path, params, True)
            self.send(code, body, headers=headers)
            return
        self.inject(fault, kind, path, params, hang_event)

    def api_answer(self, kind, path, params, count_page):
        """(code, body, headers) of the real answer to an API GET."""
        st = self.server.state
        if not self.authorized():
            return 401, dump({"detail": "Invalid API key"}), ()
        if kind == "detail":
            seg = path[len(self.PREFIX) + 1:]
            jid = unquote_to_bytes(seg).decode("utf-8", "surrogateescape")
            with st.lock:
                e = st.by_id.get(jid)
                text = e.text if e is not None else None
            if text is None:
                return 404, dump({"detail": "Job not found"}), ()
            return 200, text, ()
        status = params.get("status")
        if status is not None and status not in STATUSES:
            return 422, dump({"detail": "status must be one of "
                              + ", ".join(STATUSES)}), ()
        limit = params.get("limit", "50")
        if not _INT_RE.fullmatch(limit) or not 1 <= int(limit) <= 100:
            return 422, dump({"detail": "limit must be an integer "
                              "between 1 and 100"}), ()
        offset = params.get("offset", "0")
        if not _INT_RE.fullmatch(offset) or int(offset) < 0:
            return 422, dump({"detail": "offset must be an integer >= 0"}), ()
        with st.lock:
            body = st.list_page(status, int(limit), int(offset))
            if count_page:
                st.page_answered()
        return 200, body, ()

    def authorized(self):
        key = self.server.state.api_key
        if self.headers.get("X-API-Key") == key:
            return True
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, cred = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and cred.strip() == key:
                return True
        return False

    def inject(self, f, kind, path, params, hang_event):
        k = f.kind
        if k in FAULT_DETAIL:
            headers = ()
            if f.retry_after is not None:
                headers = (("Retry-After", str(f.retry_after)),)
            self.send_json(int(k), {"detail": FAULT_DETAIL[k]}, headers)
        elif k == "garbage":
            self.send(200, GARBAGE)
        elif k == "html":
            self.send(502, HTML_502, ctype="text/html")
        elif k == "shape":
            self.send(200, b'{"items": []}' if kind == "list"
                      else b'["not", "a", "job"]')
        elif k == "hang":
            hang_event.wait(120)
            self.close_connection = True
        elif k == "reset":
            self.close_connection = True
            sock = self.connection
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                os.close(sock.detach())
            except OSError:
                pass
        elif k == "truncate":
            code, body, headers = self.api_answer(kind, path, params, False)
            self.close_connection = True
            self.wfile.write(self.head_bytes(code, len(body),
                                             "application/json", headers)
                             + body[:len(body) // 2])
        elif k == "slow":
            code, body, headers = self.api_answer(kind, path, params, False)
            self.wfile.write(self.head_bytes(code, len(body),
                                             "application/json", headers))
            i = 0
            while i < len(body):
                if hang_event.wait(0.1):      # cleared: send the rest now
                    self.wfile.write(body[i:])
                    break
                self.wfile.write(body[i:i + 1])
                i += 1

    # ----- control routes -------------------------------------------------
    def control(self, method, path, query, body):
        st = self.server.state
        try:
            route = path[len(b"/_sim/"):]
            data = None
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise BadRequest(400, "body is not JSON")
            if route.startswith(b"jobs/") and len(route) > 5:
                jid = unquote_to_bytes(route[5:]).decode("utf-8",
                                                         "surrogateescape")
                self.control_job(method, jid, data)
                return
            handler = {
                (b"GET", b"stats"): self.c_stats,
                (b"POST", b"reset"): self.c_reset,
                (b"GET", b"jobs"): self.c_jobs_get,
                (b"POST", b"jobs"): self.c_jobs_post,
                (b"POST", b"raw"): self.c_raw,
                (b"POST", b"latency"): self.c_latency,
                (b"POST", b"fault"): self.c_fault,
                (b"POST", b"clear"): self.c_clear,
                (b"POST", b"drift"): self.c_drift,
                (b"POST", b"order"): self.c_order,
                (b"POST", b"mutate"): self.c_mutate,
            }.get((method.encode(), route))
            if handler is None:
                raise BadRequest(404, "Not Found")
            if handler == self.c_jobs_get:
                handler(query)
            elif handler == self.c_jobs_post:
                handler(data, query)
            else:
                handler(data)
        except BadRequest as e:
            self.send_json(e.code, {"detail": e.detail})

    def c_stats(self, data):
        st = self.server.state
        with st.lock:
            out = {"requests": dict(st.requests),
                   "list_by_status": dict(st.list_by_status),
                   "jobs": len(st.entries),
                   "list_pages": st.list_pages,
                   "faults_injected": st.faults_injected,
                   "faults_active": len(st.faults),
                   "latency_ms": st.latency_ms,
                   "drift_pending": st.drift is not None,
                   "last_drift": st.last_drift,
                   "order": st.order,
                   "list_requests": list(st.list_requests)}
        self.send_json(200, out)

    def c_reset(self, data):
        st = self.server.state
        with st.lock:
            st.reset_counters()
        self.send_json(200, {"ok": True})

    def c_jobs_get(self, query):
        st = self.server.state
        q = dict(parse_qsl(query.decode("utf-8", "surrogateescape"),
                           keep_blank_values=True))
        if q.get("fields", "all") not in ("all", "id"):
            raise BadRequest(400, "fields must be all or id")
        with st.lock:
            if q.get("fields") == "id":  # ids only: a benchmark compares 1,000,000 of them
                body = json.dumps([e.id for e in st.ordered(q.get("status"))]).encode()
            else:
                body = (b"[" + b", ".join([e.text for e in
                                           st.ordered(q.get("status"))]) + b"]")
        self.send(200, body)

    def c_jobs_post(self, data, query=b""):
        st = self.server.state
        q = dict(parse_qsl(query.decode("utf-8", "surrogateescape"),
                           keep_blank_values=True))
        at = q.get("at")
        if at is not None:
            if not _INT_RE.fullmatch(at) or int(at) < 0:
                raise BadRequest(400, "at must be an integer >= 0")
            at = int(at)
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(d, dict) for d in items):
            raise BadRequest(400, "body must be a job object or an array "
                             "of them")
        with st.lock:
            new = []
            # The first element ends up first (newest): give default
            # creation times oldest-first, from the last element back.
            for d in reversed(items):
                d = dict(d)
                if "job_id" not in d:
                    d["job_id"] = st.new_id()
                d.setdefault("status", "pending")
                if "url" not in d:
                    st.extra_n += 1
                    d["url"] = "https://www.example.com/added/%d" % st.extra_n
                if "created_at" not in d:
                    d["created_at"] = fmt_time(st.fresh_time())
                for k in KEYS:
                    d.setdefault(k, None)
                st.note_created(d)
                new.append(entry_from_obj(ordered_job(d)))
            new.reverse()
            ids = [e.id for e in new]
            if at is None:
                st.add_front(new)
            else:
                st.insert_at(at, new)
        self.send_json(200, {"added": ids})

    def control_job(self, method, jid, data):
        st = self.server.state
        if method == "GET":
            with st.lock:
                e = st.by_id.get(jid)
                text = e.text if e is not None else None
            if text is None:
                raise BadRequest(404, "Job not found")
            self.send(200, text)
        elif method == "DELETE":
            with st.lock:
                e = st.by_id.get(jid)
                if e is not None:
                    st.remove(e)
            if e is None:
                raise BadRequest(404, "Job not found")
            self.send_json(200, {"deleted": jid})
        elif method == "PATCH":
            if not isinstance(data, dict):
                raise BadRequest(400, "body must be an object")
            with st.lock:
                e = st.by_id.get(jid)
                if e is None:
                    raise BadRequest(404, "Job not found")
                try:
                    obj = json.loads(e.text)
                except ValueError:
                    obj = None
                if not isinstance(obj, dict):
                    raise BadRequest(409, "stored job is not an object")
                obj.update(data)
                new_id = obj.get("job_id")
                new_id = new_id if isinstance(new_id, str) else None
                if new_id != jid and new_id is not None \
                        and new_id in st.by_id:
                    raise BadRequest(409, "job_id already in use")
                st_val = obj.get("status")
                text = dump(obj)
                if new_id != jid:
                    del st.by_id[jid]
                    if new_id is not None:
                        st.by_id[new_id] = e
                e.id = new_id
                st.set_status(e, st_val if isinstance(st_val, str) else None)
                e.text = text
                e.raw = False
                st.note_created(obj)
            self.send(200, text)
        else:
            raise BadRequest(405, "Method Not Allowed")

    def c_raw(self, data):
        st = self.server.state
        if not isinstance(data, dict) or not isinstance(data.get("raw"), str):
            raise BadRequest(400, 'body must be {"raw": "<JSON text>", ...}')
        raw = data["raw"]
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if "job_id" in data:
            jid = data["job_id"]
        else:
            jid = parsed.get("job_id") if isinstance(parsed, dict) else None
        if "status" in data:
            status = data["status"]
        else:
            status = parsed.get("status") if isinstance(parsed, dict) else None
        e = Entry(jid if isinstance(jid, str) else None,
                  status if isinstance(status, str) else None,
                  raw.encode("utf-8", "surrogatepass"),
                  listed=bool(data.get("list_raw", True)), raw=True)
        with st.lock:
            st.note_created(parsed)
            st.add_front([e])
        self.send_json(200, {"added": e.id})

    def c_latency(self, data):
        st = self.server.state
        try:
            ms = float(data["ms"])
        except (TypeError, KeyError, ValueError):
            raise BadRequest(400, 'body must be {"ms": N}')
        if ms < 0:
            raise BadRequest(400, "ms must be >= 0")
        with st.lock:
            st.latency_ms = ms
        self.send_json(200, {"ms": ms})

    def c_fault(self, data):
        st = self.server.state
        if not isinstance(data, dict):
            raise BadRequest(400, "body must be an object")
        f = Fault()
        f.kind = str(data.get("kind"))
        if f.kind not in FAULT_KINDS:
            raise BadRequest(400, "kind must be one of "
                             + ", ".join(FAULT_KINDS))
        f.target = data.get("target", "any")
        if f.target not in ("list", "detail", "any"):
            raise BadRequest(400, "target must be list, detail or any")
        try:
            f.count = int(data.get("count", 1))
            rate = data.get("rate")
            f.rate = None if rate is None else float(rate)
        except (TypeError, ValueError):
            raise BadRequest(400, "count/rate must be numbers")
        if f.rate is not None and not 0 <= f.rate <= 1:
            raise BadRequest(400, "rate must be in 0..1")
        f.retry_after = data.get("retry_after")
        f.status = data.get("status")
        with st.lock:
            if f.rate is not None or f.count != 0:
                st.faults.append(f)
            n = len(st.faults)
        self.send_json(200, {"faults": n})

    def c_clear(self, data):
        st = self.server.state
        with st.lock:
            st.faults = []
            ev = st.hang_event
            st.hang_event = threading.Event()
        ev.set()
        self.send_json(200, {"ok": True})

    def c_drift(self, data):
        st = self.server.state
        if not isinstance(data, dict):
            raise BadRequest(400, "body must be an object")
        try:
            d = {"remaining": int(data.get("after_pages", 1)),
                 "insert": int(data.get("insert", 0)),
                 "delete": int(data.get("delete", 0)),
                 "status": data.get("status")}
        except (TypeError, ValueError):
            raise BadRequest(400, "after_pages/insert/delete must be integers")
        if d["status"] is not None and d["status"] not in STATUSES:
            raise BadRequest(400, "status must be one of "
                             + ", ".join(STATUSES))
        ids = data.get("delete_ids")
        ids = [] if ids is None else ids
        if not isinstance(ids, list) \
                or not all(isinstance(x, str) for x in ids):
            raise BadRequest(400, "delete_ids must be an array of job ids")
        d["delete_ids"] = ids
        if data.get("mutate") is not None:
            if not isinstance(data["mutate"], dict):
                raise BadRequest(400, "mutate must be an object")
            try:
                d["mutate"] = parse_mutate(data["mutate"])
            except BadRequest as e:
                raise BadRequest(400, "mutate: " + e.detail)
        with st.lock:
            st.drift = d
            if d["remaining"] <= 0:
                st.apply_drift()
        self.send_json(200, {"ok": True})

    def c_order(self, data):
        st = self.server.state
        order = data.get("order") if isinstance(data, dict) else None
        if order not in ORDERS:
            raise BadRequest(422, 'body must be {"order": "newest"} or '
                             '{"order": "oldest"}')
        with st.lock:
            st.order = order
        self.send_json(200, {"order": order})

    def c_mutate(self, data):
        st = self.server.state
        spec = parse_mutate(data)
        with st.lock:
            out = st.mutate(spec)
        self.send_json(200, out)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup: skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def main(argv=None):
    ap = argparse.ArgumentParser(description="Freddy scrape-jobs API simulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--api-key", default="test-key")
    ap.add_argument("--jobs", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--hostile", action="store_true")
    ap.add_argument("--item-count", type=int, default=3)
    ap.add_argument("--order", choices=ORDERS, default="newest")
    ap.add_argument("--settled-after", type=int, default=None,
                    help="only the N newest generated jobs may be unfinished")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    stop = []

    def on_signal(signum, frame):
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t0 = time.monotonic()
    state = State(args)
    # Everything generated lives until exit and holds no cycles: take it
    # out of the cyclic collector's sight for good.
    gc.freeze()
    if args.verbose:
        print("generated %d jobs in %.2fs" % (len(state.entries),
                                              time.monotonic() - t0),
              file=sys.stderr, flush=True)

    cls = Server
    if ":" in args.host:
        cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    try:
        srv = cls((args.host, args.port), Handler)
    except OSError as e:
        print("freddy_sim: cannot listen on %s:%d: %s"
              % (args.host, args.port, e), file=sys.stderr)
        return 1
    srv.state = state
    srv.verbose = args.verbose
    port = srv.server_address[1]
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    host = "[%s]" % args.host if ":" in args.host else args.host
    print("listening on http://%s:%d/api/v1" % (host, port), flush=True)

    th = threading.Thread(target=srv.serve_forever,
                          kwargs={"poll_interval": 0.05}, daemon=True)
    th.start()
    while not stop:
        time.sleep(0.05)
    srv.shutdown()
    srv.server_close()
    state.hang_event.set()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
