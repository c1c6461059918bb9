"""Freshness, request counts, snapshots, request coalescing (README "Freshness and caching")."""

import json
import os
import subprocess
import threading
import time

import pytest

from helpers import (JOB_FILES, STATUSES, VIEWS, expected_job_json, expected_names, job_path,
                     jobs_entries, listdir_b, ls_l, pages, read_bytes)


@pytest.mark.parametrize("page_size", [None, 10])
def test_cold_ls_l_and_cat_cost(sim, mount, page_size):
    s = sim(jobs=250)
    opts = "ttl=30" + (",page_size=%d" % page_size if page_size else "")
    m = mount(s, opts=opts)
    ps = page_size or 100
    jobs = s.jobs()
    completed = [j for j in jobs if j["status"] == "completed"]
    assert len(completed) > ps, "test data too small to need several pages"
    s.reset()
    cdir = os.path.join(m.jobs, "by-status", "completed")
    entries = ls_l(cdir)
    assert set(entries) == expected_names(jobs, "completed")
    st = s.stats()
    assert st["requests"] == {"list": pages(len(completed), ps), "detail": 0, "other": 0}, st
    assert st["list_by_status"].get("completed", 0) == pages(len(completed), ps), st
    s.reset()
    for job in completed:
        for name in sorted(JOB_FILES):
            p = job_path(m.path, job["job_id"], name, status="completed")
            size = os.stat(p).st_size
            data = read_bytes(p)
            assert size == len(data)
        assert read_bytes(job_path(m.path, job["job_id"], "job.json", status="completed")) == \
            expected_job_json(job)
    assert s.requests() == (0, 0, 0), s.stats()
    # the real ls -l too
    r = subprocess.run(["ls", "-l", cdir], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(completed) + 1  # "total N" line
    assert s.requests() == (0, 0, 0), s.stats()


def test_grep_r_within_ttl_costs_nothing(sim, mount):
    s = sim(jobs=120)
    m = mount(s, opts="ttl=30")
    jobs = s.jobs()
    s.reset()
    needle = jobs[7]["url"]
    cold = subprocess.run(["grep", "-r", "-l", "-F", needle, m.jobs], capture_output=True,
                          text=True)
    assert cold.returncode == 0, cold.stderr
    assert not cold.stderr, cold.stderr
    lst, det, oth = s.requests()
    want_list = pages(len(jobs)) + sum(pages(len([j for j in jobs if j["status"] == st]))
                                       for st in STATUSES)
    assert (lst, det, oth) == (want_list, 0, 0), s.stats()
    hits = cold.stdout.splitlines()
    assert os.path.join(m.jobs, jobs[7]["job_id"], "job.json") in hits
    assert os.path.join(m.jobs, "by-status", jobs[7]["status"], jobs[7]["job_id"],
                        "job.json") in hits
    s.reset()
    warm = subprocess.run(["grep", "-r", "-l", "-F", needle, m.jobs], capture_output=True,
                          text=True)
    assert warm.returncode == 0 and sorted(warm.stdout.splitlines()) == sorted(hits)
    warm2 = subprocess.run(["grep", "-r", "-c", "", m.jobs], capture_output=True, text=True)
    assert warm2.returncode == 0, warm2.stderr
    assert s.requests() == (0, 0, 0), s.stats()


def test_added_job_appears_after_ttl(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=2")
    pdir = os.path.join(m.jobs, "by-status", "pending")
    before = listdir_b(pdir)
    all_before = jobs_entries(m.path)
    assert before == expected_names(s.jobs(), "pending")
    t0 = time.monotonic()
    s.add({"job_id": "job_added_later", "status": "pending", "url": "https://late.example.com/"})
    assert listdir_b(pdir) == before
    assert jobs_entries(m.path) == all_before
    s.reset()
    st = os.stat(os.path.join(m.jobs, "job_added_later"))
    assert s.requests() == (0, 1, 0), s.stats()
    with open(os.path.join(m.jobs, "job_added_later", "job.json")) as f:
        assert json.load(f)["job_id"] == "job_added_later"
    assert time.monotonic() - t0 < 1.5, "too slow to check within ttl"
    time.sleep(2.5)
    after = listdir_b(pdir)
    assert after == before | {b"job_added_later"}
    assert b"job_added_later" in jobs_entries(m.path)


def test_status_change_after_ttl(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=2")
    job = next(j for j in s.jobs() if j["status"] == "pending")
    jid = job["job_id"]
    pdir = os.path.join(m.jobs, "by-status", "pending")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    assert jid.encode() in listdir_b(pdir)
    assert jid.encode() not in listdir_b(cdir)
    assert read_bytes(job_path(m.path, jid, "job.json")) == expected_job_json(job)
    s.patch(jid, {"status": "completed", "completed_at": "2026-12-24T18:00:00Z",
                  "extracted_data": [{"title": "patched", "price": 1.25}]})
    # within ttl: still the old state
    assert jid.encode() in listdir_b(pdir)
    time.sleep(2.5)
    new = next(j for j in s.jobs() if j["job_id"] == jid)
    assert new["status"] == "completed"
    assert jid.encode() not in listdir_b(pdir)
    assert jid.encode() in listdir_b(cdir)
    for kw in ({}, {"status": "completed"}):
        p = job_path(m.path, jid, "job.json", **kw)
        assert os.stat(p).st_size == len(expected_job_json(new)), p
        assert read_bytes(p) == expected_job_json(new)
    assert read_bytes(job_path(m.path, jid, "data.jsonl")) == \
        b'{"title":"patched","price":1.25}\n'
    assert os.getxattr(job_path(m.path, jid), "user.scrapefs.status") == b"completed"


def test_open_handle_is_a_snapshot(sim, mount):
    s = sim(jobs=25)
    old_items = [{"i": i, "text": "old-%06d " % i + "o" * 80} for i in range(4000)]
    s.add({"job_id": "job_snapshot", "status": "processing", "url": "https://snap.example.com/",
           "extracted_data": old_items})
    m = mount(s, opts="ttl=1")
    old = next(j for j in s.jobs() if j["job_id"] == "job_snapshot")
    p = os.path.join(m.jobs, "job_snapshot", "job.json")
    assert len(expected_job_json(old)) > 400000
    fd = os.open(p, os.O_RDONLY)
    try:
        first = os.read(fd, 4096)
        assert first
        new_items = [{"i": i, "text": "new-%06d " % i + "n" * 200} for i in range(8000)]
        s.patch("job_snapshot", {"status": "processing", "extracted_data": new_items,
                                 "error_message": "changed"})
        time.sleep(1.5)
        rest = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            rest.append(b)
    finally:
        os.close(fd)
    whole = first + b"".join(rest)
    doc = json.loads(whole)
    assert doc == old, "the open handle mixed versions or showed the new one"
    assert whole == expected_job_json(old)
    # a new open after ttl sees the new version (so the snapshot test above was not vacuous)
    new = next(j for j in s.jobs() if j["job_id"] == "job_snapshot")
    assert read_bytes(p) == expected_job_json(new)


def test_concurrent_readers_one_request(sim, mount):
    s = sim(jobs=25, latency_ms=300)
    m = mount(s, opts="ttl=30")
    jobs_entries(m.path)  # warm listing
    s.add({"job_id": "job_concurrent", "status": "completed", "url": "https://cc.example.com/",
           "extracted_data": [{"k": i} for i in range(50)],
           "completed_at": "2026-12-01T00:00:00Z"})
    want = expected_job_json(next(j for j in s.jobs() if j["job_id"] == "job_concurrent"))
    s.reset()
    p = os.path.join(m.jobs, "job_concurrent", "job.json")
    barrier = threading.Barrier(8)
    results = [None] * 8

    def reader(i):
        barrier.wait()
        try:
            results[i] = read_bytes(p)
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(r == want for r in results), results
    assert s.requests() == (0, 1, 0), s.stats()


@pytest.mark.parametrize("drift", [{"insert": 3}, {"delete": 3}])
def test_offset_drift_while_paging(sim, mount, drift):
    """Jobs inserted/removed upstream between pages: no job twice, none of the
    jobs that existed throughout is missing (README "Freshness and caching")."""
    s = sim(jobs=60)
    m = mount(s, opts="ttl=30,page_size=10")
    before = expected_names(s.jobs())
    s.drift(after_pages=1, **drift)
    got = jobs_entries(m.path) - VIEWS  # listdir_b fails on duplicates
    after = expected_names(s.jobs())
    assert before != after, "the drift did not happen: %r" % s.stats()
    assert (before & after) <= got, "jobs missed through drift: %r" % sorted((before & after) - got)
    assert got <= (before | after), sorted(got - (before | after))


def test_deleted_job_disappears_after_ttl(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=2")
    job = next(j for j in s.jobs() if j["status"] == "pending")
    jid = job["job_id"]
    pdir = os.path.join(m.jobs, "by-status", "pending")
    assert jid.encode() in listdir_b(pdir) and jid.encode() in jobs_entries(m.path)
    assert os.path.isdir(job_path(m.path, jid))
    s.delete(jid)
    time.sleep(2.5)
    assert jid.encode() not in listdir_b(pdir)
    assert jid.encode() not in jobs_entries(m.path)
    with pytest.raises(FileNotFoundError):
        os.stat(job_path(m.path, jid, "job.json"))


def test_small_cache_still_correct(sim, mount):
    """cache_size=1 (MiB) with more job data than that: evicted renders are
    fetched again and every read is still right."""
    s = sim(jobs=160, item_count=150)
    m = mount(s, opts="ttl=30,cache_size=1")
    jobs = [j for j in s.jobs() if j["status"] == "completed"]
    total = sum(len(expected_job_json(j)) for j in jobs)
    assert total > 2 * 1024 * 1024, total
    for _ in range(2):
        for j in jobs:
            p = job_path(m.path, j["job_id"], "job.json", status="completed")
            assert os.stat(p).st_size == len(expected_job_json(j))
            assert read_bytes(p) == expected_job_json(j), j["job_id"]
    assert m.alive()
