"""Upstream errors as the filesystem shows them (README "Freshness and caching", "Errors"). Small on purpose."""

import errno
import os
import time

import pytest

from helpers import expected_job_json, expected_names, jobs_entries, listdir_b, pages, read_bytes

OPTS = "retries=3,timeout=5"
TIMEOUT = 5


def _timed(fn, *args):
    """Runs one filesystem operation; it must not take longer than timeout + 2 s."""
    t0 = time.monotonic()
    r = fn(*args)
    elapsed = time.monotonic() - t0
    assert elapsed <= TIMEOUT + 2, "%s%r took %.1f s" % (fn.__name__, args, elapsed)
    return r


def test_single_500_on_list_is_retried(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30," + OPTS)
    completed = [j for j in s.jobs() if j["status"] == "completed"]
    s.reset()
    s.fault("500", target="list", count=1)
    got = listdir_b(os.path.join(m.jobs, "by-status", "completed"))
    assert got == expected_names(completed)
    assert s.requests() == (pages(len(completed)) + 1, 0, 0), s.stats()


def test_stale_listing_served_when_refresh_fails(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=1," + OPTS)
    jobs = s.jobs()
    cdir = os.path.join(m.jobs, "by-status", "completed")
    before_status = listdir_b(cdir)
    before_all = jobs_entries(m.path)
    assert before_status == expected_names(jobs, "completed")
    pending = next(j for j in jobs if j["status"] == "pending")
    done = next(j for j in jobs if j["status"] == "completed")
    assert read_bytes(os.path.join(m.jobs, pending["job_id"], "job.json")) == \
        expected_job_json(pending)
    assert read_bytes(os.path.join(cdir, done["job_id"], "job.json")) == expected_job_json(done)
    s.fault("500", target="any", count=-1)
    s.reset()
    time.sleep(1.5)
    assert _timed(listdir_b, cdir) == before_status
    assert _timed(jobs_entries, m.path) == before_all
    assert _timed(read_bytes, os.path.join(m.jobs, pending["job_id"], "job.json")) == \
        expected_job_json(pending)
    assert _timed(read_bytes, os.path.join(cdir, done["job_id"], "job.json")) == \
        expected_job_json(done)
    lst, det, _ = s.requests()
    assert lst + det >= 1, "no refresh was even attempted after ttl: %r" % s.stats()
    s.clear()


# After a failed fetch its failure is given out this long (s) before the
# next attempt (README, "Freshness and caching").
PAUSE = 2.0


def test_never_fetched_job_under_500_is_eio(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30," + OPTS)
    jobs_entries(m.path)
    s.add({"job_id": "job_unlucky", "status": "pending"})
    s.fault("500", target="any", count=-1)
    s.reset()
    t0 = time.monotonic()
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(m.jobs, "job_unlucky"))
    elapsed = time.monotonic() - t0
    assert ei.value.errno == errno.EIO, ei.value
    assert elapsed <= TIMEOUT + 2, elapsed
    lst, det, _ = s.requests()
    assert 1 <= det <= 4, s.stats()
    s.clear()
    # the failure is remembered for the pause (a retry right away fails at
    # once), and not as "no such job": after the pause the job is there
    time.sleep(PAUSE + 0.1)
    assert os.path.isdir(os.path.join(m.jobs, "job_unlucky"))


def test_404_is_enoent(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30," + OPTS)
    jobs_entries(m.path)
    s.reset()
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(m.jobs, "job_gone_missing"))
    assert ei.value.errno == errno.ENOENT
    assert s.requests() == (0, 1, 0), s.stats()


def test_401_on_never_fetched_job_is_eacces(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30," + OPTS)
    before = jobs_entries(m.path)
    s.add({"job_id": "job_forbidden", "status": "pending"})
    s.fault("401", target="detail", count=-1)
    t0 = time.monotonic()
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(m.jobs, "job_forbidden"))
    assert ei.value.errno == errno.EACCES, ei.value
    assert time.monotonic() - t0 <= TIMEOUT + 2
    # the rest of the mount keeps working
    assert jobs_entries(m.path) == before
    s.clear()


def test_hanging_server_gives_eio_within_timeout(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30," + OPTS)
    jobs_entries(m.path)
    s.add({"job_id": "job_hung", "status": "pending"})
    s.fault("hang", target="detail", count=-1)
    try:
        t0 = time.monotonic()
        with pytest.raises(OSError) as ei:
            os.stat(os.path.join(m.jobs, "job_hung"))
        elapsed = time.monotonic() - t0
        assert ei.value.errno == errno.EIO, ei.value
        assert elapsed <= TIMEOUT + 2, elapsed
    finally:
        s.clear()
    time.sleep(PAUSE + 0.1)  # the failure is remembered that long
    assert os.path.isdir(os.path.join(m.jobs, "job_hung"))


def test_deadline_holds_while_every_connection_hangs(sim, mount):
    """With one connection and a server that never answers, later requests
    queue behind a hung one; each operation must still end within its own
    timeout. (Lookups in different directories: the kernel runs lookups in
    one directory one at a time, see README.)"""
    import threading
    s = sim(jobs=40)
    m = mount(s, opts="ttl=1,max_conns=1,timeout=3,retries=0")
    unfinished = [j["job_id"] for j in s.jobs() if j["status"] in ("pending", "processing")][:4]
    assert len(unfinished) == 4
    for jid in unfinished:
        read_bytes(os.path.join(m.jobs, jid, "job.json"))
    time.sleep(1.5)  # stale now: the next look costs a detail request each
    s.fault("hang", target="any", count=-1)
    done = []

    def look(jid):
        t0 = time.monotonic()
        try:
            os.stat(os.path.join(m.jobs, jid, "job.json"))
            err = 0
        except OSError as e:
            err = e.errno
        done.append((time.monotonic() - t0, err))

    ts = []
    for jid in unfinished:
        t = threading.Thread(target=look, args=(jid,))
        t.start()
        ts.append(t)
        time.sleep(0.7)
    for t in ts:
        t.join(20)
    s.clear()
    assert len(done) == 4, done
    for elapsed, err in done:
        assert err in (0, errno.EIO), done  # stale copy, or EIO
        assert elapsed <= 3 + 2, "an operation took %.1f s with timeout=3: %r" % (elapsed, done)


def test_unknown_names_leave_nothing_behind(sim, mount):
    """Looking up names that do not exist must not grow the daemon's state
    (each would otherwise keep an entry for good)."""
    s = sim(jobs=10)
    m = mount(s, opts="ttl=30")
    jobs_entries(m.path)
    import json
    known = json.load(open(os.path.join(m.path, ".scrapefs", "stats")))["cache"]["jobs_known"]
    for i in range(200):
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(m.jobs, "no-such-job-%d" % i))
    after = json.load(open(os.path.join(m.path, ".scrapefs", "stats")))["cache"]["jobs_known"]
    assert after == known, (known, after)
