"""After every refresh, every listing is exactly what the API lists, and a
refresh costs what changed (README "Freshness and caching").

The differential rounds change the API at random (creations, forward
moves, jobs finishing, deletions, purges at the oldest end, ids deleted and
created again, jobs out of created_at order), make every listing stale
(SIGHUP or ttl), then compare every view, its directory and its .jsonl,
name by name and in order, with what the API lists, in both of the API's
orders. The other tests are the cases a cheap refresh once got wrong, each
reproduced, and what they cost."""

import errno
import json
import os
import random
import time

import pytest

from helpers import (STATUSES, VIEWS, daemon_stats, encode_id, expected_day, expected_domain,
                     expected_job_json, read_bytes, sighup)

PAGE = 7


def _listing(path):
    """The names of a directory in readdir order (the API's order)."""
    names = [n for n in os.listdir(os.fsencode(path)) if n not in VIEWS]
    assert len(names) == len(set(names)), "%s lists a name twice" % path
    return names


def _named(jobs):
    return [j for j in jobs
            if isinstance(j, dict) and isinstance(j.get("job_id"), str) and encode_id(j["job_id"])]


def _expected(s, status=None):
    return [encode_id(j["job_id"]) for j in _named(s.jobs(status))]


def _jsonl_ids(path):
    with open(path, "rb") as f:
        return [encode_id(json.loads(line)["job_id"]) for line in f]


def _views(m):
    return [(None, m.jobs)] + [(st, os.path.join(m.jobs, "by-status", st)) for st in STATUSES]


def _jsonl_of(m, st):
    return os.path.join(m.path, "jobs.jsonl") if st is None else \
        os.path.join(m.jobs, "by-status", st + ".jsonl")


def _diff(got, want):
    missing = [n for n in want if n not in got][:5]
    extra = [n for n in got if n not in want][:5]
    return "%d listed, %d in the API; missing %r, extra %r%s" % (
        len(got), len(want), missing, extra, "" if missing or extra else ", order differs")


def _compare_all(s, m, where, jsonl=True, groups=True):
    """Every fetched view (directory and .jsonl) and every group directory
    against the API, in order."""
    diffs = []
    for st, path in _views(m):
        want = _expected(s, st)
        got = _listing(path)
        if got != want:
            diffs.append("%s/: %s" % (st or "jobs", _diff(got, want)))
        if jsonl:
            got = _jsonl_ids(_jsonl_of(m, st))
            if got != want:
                diffs.append("%s.jsonl: %s" % (st or "jobs", _diff(got, want)))
    if groups:
        jobs = _named(s.jobs())
        for view, key in (("by-domain", expected_domain), ("by-date", expected_day)):
            want = {}
            for j in jobs:
                want.setdefault(key(j), []).append(encode_id(j["job_id"]))
            base = os.path.join(os.fsencode(m.jobs), view.encode())
            got_groups = {n for n in os.listdir(base) if not n.endswith(b".jsonl")}
            if got_groups != set(want):
                diffs.append("%s: groups %r" % (view, sorted(got_groups ^ set(want))[:5]))
            for g in sorted(set(want) & got_groups):
                got = _listing(os.path.join(base, g))
                if got != want[g]:
                    diffs.append("%s/%s: %s" % (view, g.decode(), _diff(got, want[g])))
    assert not diffs, "%s:\n  %s" % (where, "\n  ".join(diffs))


def _requests(s):
    lst, det, _ = s.requests()
    return lst + det


def _refreshes(m, view):
    return daemon_stats(m)["listings"][view]["refreshes"]


# ---------------------------------------------------------------- rounds ----

@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_differential_rounds(sim, mount, order):
    s = sim(jobs=90, order=order, settled_after=20, seed=3, hostile=True)
    m = mount(s, opts="ttl=3600,full_refresh=3600,page_size=%d" % PAGE)
    _compare_all(s, m, "at the start")
    rng = random.Random(order)
    for r in range(60):
        spec = {"seed": r, "create": rng.choice((0, 0, 1, 2, 3, 9)),
                "advance": rng.choice((0, 1, 2)), "finish": rng.choice((0, 0, 1, 2))}
        if rng.random() < 0.3:
            spec["delete"] = rng.choice((1, 2))
        if rng.random() < 0.3:
            spec["purge"] = rng.choice((1, 3))
        if rng.random() < 0.2:
            spec["reuse"] = 1
        if spec["create"] and rng.random() < 0.2:
            spec["backdate"] = 1
        s.mutate(**spec)
        sighup(m)
        _compare_all(s, m, "round %d after %r" % (r, spec), groups=r % 5 == 0)
    li = daemon_stats(m)["listings"]
    delta = sum(li[v]["refreshes"]["delta"] for v in li)
    full = sum(li[v]["refreshes"]["full"] for v in li)
    # the cheap path did the work; full reads are the exception
    assert delta > 4 * full, li
    assert li["completed"]["order"] == order and li["all"]["order"] == order, li


def test_rounds_refreshed_by_ttl(sim, mount):
    """The same with ttl instead of SIGHUP, and the views listed in another
    order each round (a status view before jobs/, or after)."""
    s = sim(jobs=80, settled_after=15, seed=9)
    m = mount(s, opts="ttl=1,page_size=%d" % PAGE)
    _compare_all(s, m, "at the start", groups=False)
    rng = random.Random(5)
    for r in range(12):
        s.mutate(seed=100 + r, create=rng.choice((0, 1, 4)), finish=rng.choice((0, 1, 2)),
                 delete=rng.choice((0, 1)), purge=rng.choice((0, 2)))
        time.sleep(1.1)
        views = _views(m)
        rng.shuffle(views)
        for st, path in views:
            assert _listing(path) == _expected(s, st), "round %d, %s" % (r, st or "jobs")


# ------------------------------------------------- what once went wrong ----

def _old_unfinished(s, status=None):
    """An unfinished job deep in the listing (not among the newest)."""
    jobs = s.jobs()
    for j in jobs[len(jobs) // 2:]:
        if j["status"] in (("pending", "processing") if status is None else (status,)):
            return j
    raise AssertionError("the simulator has no old unfinished job")


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("how", ["with jobs/", "alone"])
def test_a_move_in_and_a_deletion_that_balance(sim, mount, order, how):
    """An older job finishes into completed/ while one of completed's jobs is
    deleted: the total of completed/ balances, and it must still show both."""
    s = sim(jobs=300, order=order, seed=4)
    m = mount(s, opts="ttl=3600,page_size=20")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    if how == "with jobs/":
        assert _listing(m.jobs) == _expected(s)
    assert _listing(cdir) == _expected(s, "completed")
    mover = _old_unfinished(s, "processing")
    s.patch(mover["job_id"], {"status": "completed", "completed_at": "2026-12-01T00:00:00Z"})
    done = s.jobs("completed")
    s.delete(done[len(done) // 3]["job_id"])
    sighup(m)
    assert _listing(cdir) == _expected(s, "completed")
    assert encode_id(mover["job_id"]) in _listing(cdir)


def test_a_status_view_stale_after_a_jobs_check_checks_again(sim, mount):
    """completed/ goes stale while jobs/, listed later, is still fresh; the
    change came after jobs/ was read. completed/ must not take jobs/'s old
    word for it."""
    s = sim(jobs=200, seed=6)
    m = mount(s, opts="ttl=2,page_size=20")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(cdir) == _expected(s, "completed")
    time.sleep(1.2)
    assert _listing(m.jobs) == _expected(s)  # fresh until about 3.2 s
    mover = _old_unfinished(s)
    s.patch(mover["job_id"], {"status": "completed", "completed_at": "2026-12-01T00:00:00Z"})
    done = s.jobs("completed")
    s.delete(done[-1]["job_id"])
    time.sleep(1.0)  # completed/ is stale now, jobs/ is not
    assert _listing(cdir) == _expected(s, "completed")


def test_a_status_view_after_a_jobs_check_made_before_the_change(sim, mount):
    """SIGHUP, jobs/ read, then the change, then completed/ at once (within a
    second): the jobs/ check may be used, but what entered completed/ since
    is still seen."""
    s = sim(jobs=200, seed=7)
    m = mount(s, opts="ttl=3600,page_size=20")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(m.jobs) == _expected(s) and _listing(cdir) == _expected(s, "completed")
    sighup(m)
    assert _listing(m.jobs) == _expected(s)
    mover = _old_unfinished(s)
    s.patch(mover["job_id"], {"status": "completed", "completed_at": "2026-12-01T00:00:00Z"})
    s.delete(s.jobs("completed")[-1]["job_id"])
    assert _listing(cdir) == _expected(s, "completed")


def test_a_reused_id_is_listed_once(sim, mount):
    """An id deleted and created again while another job moves in:
    completed/ lists the id once, where the API does."""
    s = sim(jobs=150, seed=8)
    m = mount(s, opts="ttl=3600,page_size=10")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert _listing(m.jobs) == _expected(s) and _listing(cdir) == _expected(s, "completed")
    done = s.jobs("completed")
    again = done[len(done) // 2]
    s.delete(again["job_id"])
    s.add({"job_id": again["job_id"], "status": "completed", "url": again["url"],
           "completed_at": "2026-12-02T00:00:00Z", "extracted_data": [{"again": True}]})
    mover = _old_unfinished(s)
    s.patch(mover["job_id"], {"status": "completed", "completed_at": "2026-12-01T00:00:00Z"})
    sighup(m)
    _compare_all(s, m, "after the id came back")
    now = next(j for j in s.jobs() if j["job_id"] == again["job_id"])
    assert read_bytes(os.path.join(m.jobs, again["job_id"], "job.json")) == expected_job_json(now)


@pytest.mark.parametrize("refresh", ["sighup", "ttl"])
def test_group_directories_follow_a_refresh(sim, mount, refresh):
    """A by-domain/<host>/ or by-date/<day>/ directory listed before shows
    the change after SIGHUP (or ttl) like its .jsonl does."""
    s = sim(jobs=120, seed=2)
    ttl = 1 if refresh == "ttl" else 3600
    m = mount(s, opts="ttl=%d,page_size=20" % ttl)
    _listing(m.jobs)
    host_dir = os.path.join(m.jobs, "by-domain", "www.example.com")
    day = expected_day(s.jobs()[0]).decode()
    day_dir = os.path.join(m.jobs, "by-date", day)
    before_host, before_day = _listing(host_dir), _listing(day_dir)
    s.add([{"job_id": "job_group_%d" % i, "status": "completed",
            "url": "https://www.example.com/more/%d" % i,
            "created_at": "%sT23:59:%02dZ" % (day, i), "completed_at": "2026-12-01T00:00:00Z"}
           for i in range(3)])
    if refresh == "sighup":
        sighup(m)
    else:
        time.sleep(1.2)
    jobs = _named(s.jobs())
    want_host = [encode_id(j["job_id"]) for j in jobs if expected_domain(j) == b"www.example.com"]
    want_day = [encode_id(j["job_id"]) for j in jobs if expected_day(j) == day.encode()]
    assert _listing(host_dir) == want_host and len(want_host) == len(before_host) + 3
    assert _listing(day_dir) == want_day and len(want_day) == len(before_day) + 3
    assert _jsonl_ids(host_dir + ".jsonl") == want_host


@pytest.mark.parametrize("refresh", ["sighup", "ttl"])
def test_a_deleted_job_stops_resolving(sim, mount, refresh):
    """A final job deleted upstream: once a refresh of jobs/ lacks it, stat
    and cat say "No such file or directory"."""
    s = sim(jobs=60, seed=5)
    m = mount(s, opts="ttl=%d" % (1 if refresh == "ttl" else 3600))
    gone = next(j for j in s.jobs() if j["status"] == "completed")
    path = os.path.join(m.jobs, gone["job_id"])
    assert read_bytes(os.path.join(path, "job.json")) == expected_job_json(gone)
    os.stat(path)
    s.delete(gone["job_id"])
    if refresh == "sighup":
        sighup(m)
    else:
        time.sleep(1.2)
    assert encode_id(gone["job_id"]) not in _listing(m.jobs)
    for p in (path, os.path.join(path, "job.json")):
        with pytest.raises(OSError) as e:
            os.stat(p)
        assert e.value.errno == errno.ENOENT, p


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("walk", ["full", "cheap"])
def test_a_change_between_two_page_requests(sim, mount, order, walk):
    """After the first page of a walk: a job created at the newest end and
    one already read deleted, so every total agrees. The walk is closed by
    looking at the newest page again, and the listing is right."""
    # the newest 30 may still be running: a cheap refresh reads their pages
    # first, then the newest page, so the change falls between two requests
    s = sim(jobs=100, order=order, settled_after=30, seed=11)
    m = mount(s, opts="ttl=3600,page_size=10")
    newest = s.jobs()[-1 if order == "oldest" else 0]
    if walk == "cheap":
        assert _listing(m.jobs) == _expected(s)
        sighup(m)
    s.drift(after_pages=1, mutate={"seed": 1, "create": 1, "create_statuses": ["completed"]},
            delete_ids=[newest["job_id"]])
    got = _listing(m.jobs)
    assert s.stats()["last_drift"] is not None, "the change was not made during the walk"
    assert got == _expected(s)
    assert encode_id(newest["job_id"]) not in got


def test_jobs_finishing_enter_a_final_view_cheaply(sim, mount):
    """2000 jobs, the newest 60 may still run; 15 created and 10 finished:
    every view refreshes cheaply (no full read) and is right."""
    s = sim(jobs=2000, settled_after=60, seed=12)
    m = mount(s, opts="ttl=3600")
    _compare_all(s, m, "at the start", jsonl=False, groups=False)
    before = {v: _refreshes(m, v)["full"] for v in ("all",) + STATUSES}
    s.mutate(seed=3, create=15, finish=10)
    sighup(m)
    s.reset()
    _compare_all(s, m, "after", jsonl=False, groups=False)
    after = {v: _refreshes(m, v)["full"] for v in ("all",) + STATUSES}
    assert after == before, (before, after)
    assert _requests(s) <= 15, s.stats()


def test_a_purge_at_the_oldest_end_is_located(sim, mount):
    """5000 jobs: the 50 oldest purged and 50 created. jobs/ is not read in
    full; the refresh costs a handful of requests."""
    s = sim(jobs=5000, settled_after=0, seed=13)
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    s.mutate(seed=4, create=50, purge=50, create_statuses=["completed"])
    sighup(m)
    s.reset()
    assert _listing(m.jobs) == _expected(s)
    assert _refreshes(m, "all")["full"] == 1
    assert _requests(s) <= 5, s.stats()


def test_a_deletion_deep_down_is_located(sim, mount):
    s = sim(jobs=3000, settled_after=0, seed=14)
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    s.delete(s.jobs()[1777]["job_id"])
    sighup(m)
    s.reset()
    assert _listing(m.jobs) == _expected(s)
    assert _refreshes(m, "all")["full"] == 1
    assert _requests(s) <= 2 + 6, s.stats()  # about log2(30 pages)


def test_jobs_out_of_created_at_order_do_not_force_full_reads(sim, mount):
    """The hostile jobs are out of created_at order, and some new ones are
    backdated: every refresh stays cheap."""
    s = sim(jobs=200, hostile=True, settled_after=0, seed=15)
    m = mount(s, opts="ttl=3600,page_size=20")
    assert _listing(m.jobs) == _expected(s)
    for r in range(4):
        s.mutate(seed=20 + r, create=3, backdate=2, create_statuses=["completed"])
        sighup(m)
        assert _listing(m.jobs) == _expected(s)
    assert _refreshes(m, "all")["full"] == 1 and _refreshes(m, "all")["delta"] == 4


def test_a_job_between_known_ones_is_caught(sim, mount):
    """An API that puts a new job between known ones breaks an assumption:
    when a read shows it, jobs/ is read in full, and is right."""
    s = sim(jobs=400, settled_after=0, seed=16)
    m = mount(s, opts="ttl=3600,page_size=20")
    assert _listing(m.jobs) == _expected(s)
    s.mutate(seed=5, insert_middle=1)
    sighup(m)
    assert _listing(m.jobs) == _expected(s)
    assert _refreshes(m, "all")["full"] == 2


def test_full_refresh_zero_reads_in_full_every_time(sim, mount):
    s = sim(jobs=200, settled_after=0)
    m = mount(s, opts="ttl=3600,page_size=10,full_refresh=0")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    for _ in range(3):
        assert _listing(cdir) == _expected(s, "completed")
        sighup(m)
    d = _refreshes(m, "completed")
    assert d["delta"] == 0 and d["full"] == 3, d


def test_nothing_changed_costs_one_request_a_view(sim, mount):
    """A settled account: after SIGHUP with nothing changed, jobs/ costs its
    newest page and the pages of its unfinished jobs; each status view one
    page, and the pages where those jobs would enter it."""
    s = sim(jobs=3000, settled_after=40, seed=17)
    m = mount(s, opts="ttl=3600")
    _compare_all(s, m, "at the start", jsonl=False, groups=False)
    sighup(m)
    s.reset()
    _compare_all(s, m, "after", jsonl=False, groups=False)
    assert _requests(s) <= 6 + 2, s.stats()


def test_unfinished_jobs_are_never_shown_older_than_ttl(sim, mount):
    """jobs/ refreshed cheaply: an unfinished job no re-read page covered is
    looked at again where it stands, so its files show its new status."""
    s = sim(jobs=120, settled_after=120)
    m = mount(s, opts="ttl=3600,page_size=10")
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
    assert lst >= 2 and det == 0, s.stats()
    assert lst <= 1 + len(deep), (lst, len(deep))
    now = next(x for x in s.jobs() if x["job_id"] == j["job_id"])
    assert read_bytes(os.path.join(m.jobs, j["job_id"], "job.json")) == expected_job_json(now)
    assert encode_id(j["job_id"]) in _listing(os.path.join(m.jobs, "by-status", "failed"))
