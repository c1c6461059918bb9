"""A refresh costs what changed, not what exists, and is exactly what a full
read would show (README "Freshness and caching").

The differential test runs rounds against an API listing newest first and
one listing oldest first. Each round makes random creations, forward-only
status moves (pending -> processing -> a final status) and deletions, then a
SIGHUP makes every listing stale, then every view is listed and compared,
name by name and in order, with what the API lists now. The other tests
count the requests of the cheap path and check that each thing the cheap
path must not take on trust (the order, the totals, the boundaries) sends
it to a full read."""

import os
import random

import pytest

from helpers import (STATUSES, VIEWS, daemon_stats, encode_id, expected_job_json, read_bytes,
                     sighup)

ROUNDS = 150
PAGE = 7


def _listing(path):
    """The names of a directory in readdir order (the API's order)."""
    names = [n for n in os.listdir(os.fsencode(path)) if n not in VIEWS]
    assert len(names) == len(set(names)), "%s lists a name twice" % path
    return names


def _expected(s, status=None):
    return [n for n in (encode_id(j["job_id"]) for j in s.jobs(status)
                        if isinstance(j.get("job_id"), str)) if n is not None]


def _views(m):
    return [(None, m.jobs)] + [(st, os.path.join(m.jobs, "by-status", st)) for st in STATUSES]


def _compare_all(s, m, where):
    diffs = []
    for st, path in _views(m):
        got, want = _listing(path), _expected(s, st)
        if got != want:
            missing = [n for n in want if n not in got][:5]
            extra = [n for n in got if n not in want][:5]
            diffs.append("%s: %d listed, %d in the API; missing %r, extra %r%s"
                         % (st or "all", len(got), len(want), missing, extra,
                            "" if missing or extra else ", order differs"))
    assert not diffs, "%s:\n  %s" % (where, "\n  ".join(diffs))


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_differential_rounds(sim, mount, order):
    s = sim(jobs=90, order=order, settled_after=20, seed=3)
    m = mount(s, opts="ttl=3600,full_refresh=3600,page_size=%d" % PAGE)
    _compare_all(s, m, "at the start")
    rng = random.Random(order)
    for r in range(ROUNDS):
        spec = {"seed": r, "create": rng.choice((0, 0, 1, 2, 3, 9)),
                "advance": rng.choice((0, 1, 2, 3))}
        if rng.random() < 0.25:
            spec["delete"] = 1
        s.mutate(**spec)
        sighup(m)
        _compare_all(s, m, "round %d after %r" % (r, spec))
    li = daemon_stats(m)["listings"]
    delta = sum(li[v]["refreshes"]["delta"] for v in li)
    full = sum(li[v]["refreshes"]["full"] for v in li)
    # the cheap path did most of the work; the checks sent the rest to full reads
    assert delta > full, li
    assert li["completed"]["order"] == order and li["all"]["order"] == order, li


def _requests(s):
    lst, det, _ = s.requests()
    return lst + det


def test_refresh_of_a_large_view_costs_what_changed(sim, mount):
    """500 completed jobs, page size 10: after 3 new ones, the refresh of
    by-status/completed costs one request; with nothing new, one request;
    with 25 new ones, 1 + ceil(25 / 10) at most."""
    s = sim(jobs=1000, settled_after=0)
    m = mount(s, opts="ttl=3600,page_size=10")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(cdir) == _expected(s, "completed")
    for new, budget in ((0, 1), (3, 1), (25, 1 + 3)):
        if new:
            s.mutate(seed=new, create=new, create_statuses=["completed"])
        sighup(m)
        s.reset()
        assert _listing(cdir) == _expected(s, "completed")
        assert _requests(s) <= budget, (new, s.stats())
        assert _requests(s) < 1000 // 10 // 2  # far from a full read's 50 pages
    d = daemon_stats(m)["listings"]["completed"]
    assert d["refreshes"]["delta"] == 3 and d["refreshes"]["full"] == 1, d


def test_a_move_seen_in_jobs_is_taken_on_by_the_status_view(sim, mount):
    """A job seen (on jobs/'s re-read first page) to move from processing to
    completed has entered by-status/completed: with the totals confirming,
    neither view is read in full."""
    s = sim(jobs=300, settled_after=8)
    m = mount(s, opts="ttl=3600,page_size=20")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(m.jobs) == _expected(s) and _listing(cdir) == _expected(s, "completed")
    moved = next(j for j in s.jobs()[:8] if j["status"] == "processing")
    s.patch(moved["job_id"], {"status": "completed", "completed_at": "2026-12-01T00:00:00Z",
                              "extracted_data": [{"x": 1}]})
    sighup(m)
    s.reset()
    assert _listing(m.jobs) == _expected(s)
    assert _listing(cdir) == _expected(s, "completed")
    assert encode_id(moved["job_id"]) in _listing(cdir)
    li = daemon_stats(m)["listings"]
    assert li["all"]["refreshes"]["full"] == 1 and li["completed"]["refreshes"]["full"] == 1, li
    assert _requests(s) <= 3, s.stats()


@pytest.mark.parametrize("change", ["delete", "reorder", "move-unseen", "old-job"])
def test_what_a_cheap_refresh_cannot_take_on_trust(sim, mount, change):
    """Each change the cheap path cannot explain sends the view to a full
    read, and the result is what the API lists."""
    s = sim(jobs=200, settled_after=0)
    m = mount(s, opts="ttl=3600,page_size=10")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(cdir) == _expected(s, "completed")
    done = s.jobs("completed")
    if change == "delete":  # deep in the view: only the totals can tell
        s.delete(done[len(done) // 2]["job_id"])
    elif change == "reorder":
        s.order("oldest")
    elif change == "move-unseen":  # a job enters the view deep down, unseen
        s.add({"job_id": "job_old_pending", "status": "pending",
               "created_at": "2026-11-02T00:00:00Z"})
        sighup(m)
        _listing(cdir)
        s.patch("job_old_pending", {"status": "completed",
                                    "completed_at": "2026-11-03T00:00:00Z"})
    elif change == "old-job":  # a new job older than the newest known
        s.add({"job_id": "job_backdated", "status": "completed",
               "created_at": "2026-11-02T00:00:00Z", "completed_at": "2026-11-02T01:00:00Z"})
    before = daemon_stats(m)["listings"]["completed"]["refreshes"]["full"]
    sighup(m)
    assert _listing(cdir) == _expected(s, "completed")
    after = daemon_stats(m)["listings"]["completed"]["refreshes"]["full"]
    assert after == before + 1, "the cheap path took %r on trust" % change


def test_full_refresh_zero_reads_in_full_every_time(sim, mount):
    s = sim(jobs=200, settled_after=0)
    m = mount(s, opts="ttl=3600,page_size=10,full_refresh=0")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    for _ in range(3):
        assert _listing(cdir) == _expected(s, "completed")
        sighup(m)
    d = daemon_stats(m)["listings"]["completed"]["refreshes"]
    assert d["delta"] == 0 and d["full"] == 3, d


def test_unfinished_jobs_are_never_shown_older_than_ttl(sim, mount):
    """jobs/ refreshed cheaply: an unfinished job no re-read page covered is
    looked at again (its page, or the job alone), so its files show its new
    status."""
    s = sim(jobs=120, settled_after=120)  # unfinished jobs everywhere...
    m = mount(s, opts="ttl=3600,page_size=10")
    # ...but few: keep the three oldest, settle the rest
    unfinished = [j for j in s.jobs() if j["status"] in ("pending", "processing")]
    for j in unfinished[:-3]:
        s.patch(j["job_id"], {"status": "cancelled", "completed_at": "2026-12-01T00:00:00Z"})
    sighup(m)
    assert _listing(m.jobs) == _expected(s)
    deep = [j for j in s.jobs()[20:] if j["status"] in ("pending", "processing")]
    if not deep:
        pytest.fail("the simulator kept no unfinished job beyond the first pages")
    j = deep[0]
    s.patch(j["job_id"], {"status": "failed", "error_message": "it broke",
                          "completed_at": "2026-12-01T01:00:00Z"})
    sighup(m)
    s.reset()
    assert _listing(m.jobs) == _expected(s)
    lst, det, _ = s.requests()
    # the first page, then the unfinished ones: their pages (two or more
    # within a page's reach) or each alone, never more than one request each
    assert lst >= 1 and (lst > 1 or det >= 1), s.stats()
    assert lst + det <= 1 + len(deep), (lst, det, len(deep))
    now = next(x for x in s.jobs() if x["job_id"] == j["job_id"])
    assert read_bytes(os.path.join(m.jobs, j["job_id"], "job.json")) == expected_job_json(now)
    assert encode_id(j["job_id"]) in _listing(os.path.join(m.jobs, "by-status", "failed"))


def test_unfinished_jobs_close_together_cost_one_page(sim, mount):
    """Three unfinished jobs deep in jobs/, within a page's reach of each
    other: the cheap refresh re-reads the page they sit on (one list call)
    rather than fetching each, and shows what changed."""
    s = sim(jobs=60, settled_after=60)
    m = mount(s, opts="ttl=3600,page_size=10")
    jobs = s.jobs()  # newest first
    keep = {j["job_id"] for j in jobs[31:34]}
    for j in jobs:
        if j["job_id"] not in keep and j["status"] in ("pending", "processing"):
            s.patch(j["job_id"], {"status": "cancelled", "completed_at": "2026-12-01T00:00:00Z"})
    for i, j in enumerate(jobs[31:34]):
        s.patch(j["job_id"], {"status": ("pending", "processing", "pending")[i],
                              "completed_at": None})
    sighup(m)
    assert _listing(m.jobs) == _expected(s)
    for j in jobs[31:34]:
        s.patch(j["job_id"], {"status": "completed", "completed_at": "2026-12-01T02:00:00Z"})
    sighup(m)
    s.reset()
    assert _listing(m.jobs) == _expected(s)
    lst, det, _ = s.requests()
    assert (lst, det) == (2, 0), s.stats()  # the first page, and the one they sit on
    done = os.listdir(os.fsencode(os.path.join(m.jobs, "by-status", "completed")))
    for j in jobs[31:34]:
        assert encode_id(j["job_id"]) in done
        now = next(x for x in s.jobs() if x["job_id"] == j["job_id"])
        assert read_bytes(os.path.join(os.fsencode(m.jobs), encode_id(j["job_id"]), b"job.json")) == \
            expected_job_json(now)
