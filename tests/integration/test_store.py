"""The store: what scrapefs learned survives a remount (README "The store").

A remount starts from the listings and texts kept on disk: with the API
down it serves them as they were, byte for byte; with the API changed it
shows the change after the first refresh. Inode numbers and times stay the
same, so rsync sends nothing twice. A store damaged in any way is set aside
and the mount starts cold; a crash leaves a store that is consistent; two
keys never share one; only the owner can read it."""

import glob
import hashlib
import json
import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from helpers import (STATUSES, VIEWS, daemon_stats, encode_id, expected_job_json, listdir_b,
                     read_bytes, sighup)


def _listing(path):
    return [n for n in os.listdir(os.fsencode(path)) if n not in VIEWS]


def _expected(s, status=None):
    return [encode_id(j["job_id"]) for j in s.jobs(status)
            if isinstance(j, dict) and isinstance(j.get("job_id"), str) and encode_id(j["job_id"])]


def _store_files(m):
    return sorted(glob.glob(os.path.join(m.cache_home, "scrapefs", "*")))


def _db(m):
    dbs = [f for f in _store_files(m) if f.endswith(".db")]
    assert len(dbs) == 1, _store_files(m)
    return dbs[0]


def _written(m):
    """Waits until the store has written what the mount learned (the writer
    runs within a second of a change)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        st = daemon_stats(m)["store"]
        if st and st["last_write"] is not None and st["jobs_held"] > 0:
            time.sleep(1.2)  # and whatever came in since
            return st
        time.sleep(0.1)
    raise AssertionError("the store wrote nothing: %r" % daemon_stats(m)["store"])


def _snapshot(m, views=("jobs", "jobs/by-status/completed")):
    """Every name, inode, size and time under some views, and every file's
    bytes: what a remount must show again."""
    out = {}
    for v in views:
        base = os.path.join(m.path, v)
        for n in _listing(base):
            d = os.path.join(os.fsencode(base), n)
            st = os.stat(d)
            out[(v, n)] = (st.st_ino, st.st_mtime_ns)
            for f in (b"job.json", b"error.txt", b"data.jsonl"):
                p = os.path.join(d, f)
                fst = os.stat(p)
                out[(v, n, f)] = (fst.st_ino, fst.st_size, fst.st_mtime_ns, read_bytes(p))
    for f in ("jobs.jsonl", "jobs/by-status/completed.jsonl"):
        p = os.path.join(m.path, f)
        out[f] = (os.stat(p).st_mtime_ns, read_bytes(p))
    for v in ("jobs", "jobs/by-status/completed", "jobs/by-domain", "jobs/by-date"):
        out[v] = os.stat(os.path.join(m.path, v)).st_mtime_ns
    return out


def test_a_remount_with_the_api_down_serves_what_was_known(sim, mount):
    s = sim(jobs=120, hostile=True)
    m = mount(s, opts="ttl=3600")
    before = _snapshot(m)
    _written(m)
    m.unmount()
    s.stop()
    m2 = mount(s, opts="ttl=1,timeout=2", cache_home=m.cache_home)
    assert "mounting offline" in m2.log(), m2.log()
    st = daemon_stats(m2)
    assert st["offline"] is True and st["store"]["jobs_held"] > 0, st
    time.sleep(1.1)  # stale now: every refresh fails, the store's data is served
    assert _snapshot(m2) == before
    st = daemon_stats(m2)
    assert st["offline"] is True and st["store"]["reads"] > 0, st


def test_a_remount_shows_what_changed_after_the_first_refresh(sim, mount):
    s = sim(jobs=300, settled_after=30, seed=21)
    m = mount(s, opts="ttl=3600")
    for st in (None,) + STATUSES:
        assert _listing(m.jobs if st is None else os.path.join(m.jobs, "by-status", st)) == \
            _expected(s, st)
    _written(m)
    m.unmount()
    s.mutate(seed=7, create=12, finish=5, delete=3, purge=4)
    s.reset()
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    for st in (None,) + STATUSES:
        path = m2.jobs if st is None else os.path.join(m2.jobs, "by-status", st)
        assert _listing(path) == _expected(s, st), st
    # the jobs read back were stale: each refresh was one of the stored
    # listing (a cheap one, or in full where locating costs as much)
    li = daemon_stats(m2)["listings"]
    assert all(li[v]["refreshes"]["full"] + li[v]["refreshes"]["delta"] == 1 for v in li), li


def test_a_store_of_a_status_view_alone_starts_the_next_mount(sim, mount):
    """Jobs read through a status view name their by-domain and by-date
    groups before jobs/ was ever listed: the store keeps those groups with
    them, and the next mount starts from it (it once refused to start)."""
    s = sim(jobs=150, seed=23)
    m = mount(s, opts="ttl=3600")
    completed = os.path.join(m.jobs, "by-status", "completed")
    before = _listing(completed)
    assert before == _expected(s, "completed")
    _written(m)
    m.unmount()
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    assert m2.alive()
    assert _listing(os.path.join(m2.jobs, "by-status", "completed")) == before
    assert _listing(m2.jobs) == _expected(s)
    domains = sorted(n for n in os.listdir(os.path.join(m2.jobs, "by-domain"))
                     if not n.endswith(".jsonl"))
    assert domains, "no by-domain groups after the remount"
    assert "set aside" not in m2.log(), m2.log()


def test_a_remount_with_nothing_changed_costs_a_few_requests(sim, mount):
    s = sim(jobs=2000, settled_after=100, seed=22)
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    _written(m)
    m.unmount()
    s.reset()
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    assert _listing(m2.jobs) == _expected(s)
    lst, det, _ = s.requests()
    assert lst <= 3 and det == 0, s.stats()


def test_inodes_and_times_stay_and_rsync_sends_nothing_again(sim, mount, tmp_path):
    s = sim(jobs=80)
    m = mount(s, opts="ttl=3600")
    dest = str(tmp_path / "copy")
    src = os.path.join(m.path, "jobs", "by-status", "completed")
    subprocess.run(["rsync", "-a", src + "/", dest + "/"], check=True)
    subprocess.run(["rsync", "-a", os.path.join(m.path, "jobs.jsonl"), dest + ".jsonl"],
                   check=True)
    before = _snapshot(m)
    _written(m)
    m.unmount()
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    assert _snapshot(m2) == before
    for a, b in ((src + "/", dest + "/"), (os.path.join(m2.path, "jobs.jsonl"), dest + ".jsonl")):
        a = a.replace(m.path, m2.path)
        out = subprocess.run(["rsync", "-a", "--itemize-changes", a, b], check=True,
                             capture_output=True, text=True).stdout
        assert out.strip() == "", "rsync sent again:\n" + out[:2000]


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "bit-flipped", "not-a-database",
                                    "another-version"])
def test_a_damaged_store_is_set_aside(sim, mount, damage):
    s = sim(jobs=150)
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    read_bytes(os.path.join(m.path, "jobs.jsonl"))
    _written(m)
    m.unmount()
    db = _db(m)
    data = bytearray(open(db, "rb").read())
    for f in glob.glob(db + "-*"):
        os.unlink(f)  # the WAL was checkpointed at close; a stray one would mend nothing
    if damage == "truncated":
        data = data[:len(data) // 3]
    elif damage == "zeroed":
        data = bytearray(len(data))
    elif damage == "bit-flipped":
        for i in range(4096 + 100, len(data), 997):
            data[i] ^= 0x5A
    elif damage == "not-a-database":
        data = bytearray(b"this is not a database\n" * 100)
    else:
        data[68:72] = b"\x00\x00\x00\x07"  # application_id: another program's
    with open(db, "wb") as f:
        f.write(data)
    s.reset()
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    # it mounts, shows the API exactly, and did not crash (the fixture scans
    # the log for sanitizer reports)
    assert _listing(m2.jobs) == _expected(s)
    for j in s.jobs("completed")[:20]:
        assert read_bytes(os.path.join(m2.jobs, j["job_id"], "job.json")) == expected_job_json(j)
    aside = [f for f in _store_files(m2) if ".damaged-" in f]
    if damage != "bit-flipped":  # a flip may miss everything that is read
        assert aside, (damage, _store_files(m2), m2.log())
        assert "set aside" in m2.log()
    if aside:
        assert daemon_stats(m2)["listings"]["all"]["refreshes"]["full"] == 1  # started cold


def test_a_crash_during_a_full_read_leaves_a_consistent_store(sim, mount):
    """kill -9 while a large listing is read in full; the remount (with the
    API down) shows jobs/ as it was before the refresh or as it was after,
    never a mix."""
    s = sim(jobs=1500, settled_after=0, latency_ms=15, seed=23)
    m = mount(s, opts="ttl=3600,page_size=20,full_refresh=0")
    old = _listing(m.jobs)
    assert old == _expected(s)
    _written(m)
    s.mutate(seed=9, create=200, purge=150, create_statuses=["completed"])
    new = _expected(s)
    sighup(m)
    t = threading.Thread(target=lambda: subprocess.run(["ls", m.jobs], capture_output=True))
    t.start()
    time.sleep(0.4)  # pages are coming in (75 of them, 8 at a time, 15 ms each)
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(10)
    subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    t.join(10)
    m.done = True  # it was killed: nothing more to check of it
    s.stop()
    m2 = mount(s, opts="ttl=3600,timeout=2", cache_home=m.cache_home)
    got = _listing(m2.jobs)
    assert got in (old, new), "jobs/ after the crash: %d names, old %d, new %d" % (
        len(got), len(old), len(new))


def test_two_keys_never_share_a_store_and_only_the_owner_reads_it(sim, mount):
    s = sim(jobs=30, api_key="test-key")
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    _written(m)
    d = os.path.dirname(_db(m))
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for f in _store_files(m):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    # the file's name gives neither the key nor the URL back
    name = os.path.basename(_db(m))
    assert "test-key" not in name and str(s.port) not in name
    assert open(_db(m), "rb").read().find(b"test-key") < 0
    m.unmount()
    # the same API with another key: another store, which starts cold
    s2 = sim(jobs=30, api_key="other-key")
    m2 = mount(s2, opts="ttl=3600", env_key="other-key", cache_home=m.cache_home)
    assert _listing(m2.jobs) == _expected(s2)
    _written(m2)
    dbs = [f for f in _store_files(m2) if f.endswith(".db")]
    assert len(dbs) == 2, dbs


def test_a_second_mount_of_the_same_account_runs_without_the_store(sim, mount):
    s = sim(jobs=40)
    m = mount(s, opts="ttl=3600")
    assert _listing(m.jobs) == _expected(s)
    m2 = mount(s, opts="ttl=3600", cache_home=m.cache_home)
    assert _listing(m2.jobs) == _expected(s)
    assert daemon_stats(m2)["store"] is None
    assert "another mount of this account uses it" in m2.log()


def test_cache_dir_none_keeps_nothing_on_disk(sim, mount):
    s = sim(jobs=40)
    m = mount(s, opts="ttl=3600,cache_dir=none")
    assert _listing(m.jobs) == _expected(s)
    assert daemon_stats(m)["store"] is None
    assert not os.path.exists(os.path.join(m.cache_home, "scrapefs"))


def test_an_evicted_text_comes_back_from_the_store(sim, mount):
    s = sim(jobs=200, item_count=60, settled_after=0)
    m = mount(s, opts="ttl=3600,cache_size=1")
    jobs = s.jobs("completed")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    for j in jobs:
        read_bytes(os.path.join(cdir, j["job_id"], "job.json"))
    assert daemon_stats(m)["cache"]["evictions"] > 0
    _written(m)
    s.reset()
    first = jobs[0]  # the first read: evicted by the others
    # the same file under jobs/ is another inode, whose pages the kernel
    # does not have: read from the text, which comes back from disk
    got = read_bytes(os.path.join(m.jobs, first["job_id"], "job.json"))
    assert got == expected_job_json(first)
    assert s.requests() == (0, 0, 0), s.stats()
    assert daemon_stats(m)["store"]["reads"] > 0


def test_disk_cache_size_bounds_the_store(sim, mount):
    s = sim(jobs=400, item_count=120, settled_after=0)
    m = mount(s, opts="ttl=3600,disk_cache_size=1")
    read_bytes(os.path.join(m.path, "jobs.jsonl"))
    st = _written(m)
    # listings stay; texts go, least recently used first
    assert st["bytes"] <= 1.5 * 2 ** 20, st
    assert 0 < st["jobs_held"] < 400, st
