"""Untrusted input from the API (README "The tree", "The files of a job"; tests/sim/PROTOCOL.md): `freddy_sim.py --hostile`."""

import json
import os
import subprocess
import time

import pytest

from helpers import (JOB_FILES, STATUSES, VIEWS, encode_id, expected_error_txt, expected_mtime,
                     expected_names,
                     json_equal, jobs_entries, listdir_b, valid_jobs)

HOSTILE_IDS = ["a/b", "../escape", "..", ".hidden", "100%", "%41", "tab\there", "nul\x00byte",
               "by-status", "by-date", "by-domain", "ünïcødé"]


@pytest.fixture(scope="module")
def hs(module_sim):
    return module_sim(jobs=25, hostile=True)


@pytest.fixture(scope="module")
def hm(hs, module_mount):
    return module_mount(hs, opts="ttl=30")


@pytest.fixture(scope="module")
def hjobs(hs):
    return valid_jobs(hs.jobs())


def _jobs_dir(m):
    return os.fsencode(m.jobs)


def test_simulator_has_the_hostile_jobs(hjobs):
    ids = {j["job_id"] for j in hjobs}
    for i in HOSTILE_IDS + ["x" * 300]:
        assert i in ids, "simulator lacks hostile id %r" % i
    assert any(j.get("status") not in STATUSES for j in hjobs)


def test_every_representable_job_is_listed(hm, hjobs):
    got = jobs_entries(hm.path)
    want = expected_names(hjobs) | VIEWS
    assert got == want, "missing: %r\nextra: %r" % (sorted(want - got), sorted(got - want))
    for i in HOSTILE_IDS:
        assert encode_id(i) in got, i


def test_too_long_and_empty_ids_absent(hm):
    names = listdir_b(hm.jobs)
    assert not any(n.startswith(b"x" * 50) for n in names)
    assert b"" not in names
    assert hm.alive()


def test_realpath_stays_inside(hm, hjobs):
    root = os.fsencode(os.path.realpath(hm.path)) + b"/"
    checked = 0
    dirs = [_jobs_dir(hm)] + [os.path.join(_jobs_dir(hm), b"by-status", s.encode())
                             for s in STATUSES]
    for d in dirs:
        for name in os.listdir(d):
            p = os.path.join(d, name)
            assert os.path.realpath(p).startswith(root), p
            if os.path.isdir(p) and name not in (b"by-status", b"by-domain", b"by-date"):
                for f in os.listdir(p):
                    assert os.path.realpath(os.path.join(p, f)).startswith(root)
            checked += 1
    assert checked > 25
    # nothing was written next to the mount point
    assert not os.path.exists(os.path.join(os.path.dirname(hm.path), "escape"))


def test_weird_status_job(hm, hjobs):
    weird = [j for j in hjobs if j.get("status") not in STATUSES]
    assert weird
    names = listdir_b(hm.jobs)
    status_names = set()
    for s in STATUSES:
        status_names |= listdir_b(os.path.join(hm.jobs, "by-status", s))
    for j in weird:
        n = encode_id(j["job_id"])
        if n is None:
            continue
        assert n in names
        assert n not in status_names
        assert json.loads(open(os.path.join(_jobs_dir(hm), n, b"job.json"), "rb").read())[
            "status"] == j["status"]


@pytest.mark.parametrize("status", STATUSES)
def test_status_dirs(hm, hjobs, status):
    assert listdir_b(os.path.join(hm.jobs, "by-status", status)) == expected_names(hjobs, status)


def test_every_job_renders(hm, hjobs):
    jobs_entries(hm.path)  # as after an `ls`: cold lookups are test_cold_lookups below
    for j in hjobs:
        n = encode_id(j["job_id"])
        if n is None:
            continue
        d = os.path.join(_jobs_dir(hm), n)
        assert listdir_b(d) == {f.encode() for f in JOB_FILES}, d
        blobs = {}
        for f in sorted(JOB_FILES):
            p = os.path.join(d, f.encode())
            size = os.stat(p).st_size
            with open(p, "rb") as fh:
                blobs[f] = fh.read()
            assert size == len(blobs[f]), (p, size, len(blobs[f]))
        doc = json.loads(blobs["job.json"])
        assert json_equal(doc, j), "job.json of %r differs from the job" % j["job_id"]
        assert blobs["job.json"].endswith(b"\n")
        data = j.get("extracted_data")
        lines = blobs["data.jsonl"].split(b"\n")
        assert lines[-1] == b""
        if data is None or data == []:
            assert blobs["data.jsonl"] == b""
        elif isinstance(data, list):
            assert len(lines) - 1 == len(data), j["job_id"]
            for line, item in zip(lines, data):
                assert json_equal(json.loads(line), item)
        else:
            assert len(lines) == 2 and json_equal(json.loads(lines[0]), data)
        msg = j.get("error_message")
        if isinstance(msg, str) and "\x00" not in msg:
            assert blobs["error.txt"] == expected_error_txt(j), j["job_id"]


def test_error_message_with_nul(hm, hjobs):
    js = [j for j in hjobs if isinstance(j.get("error_message"), str) and "\x00" in j["error_message"]]
    assert js, "simulator lacks the job whose error_message holds \\u0000"
    for j in js:
        p = os.path.join(_jobs_dir(hm), encode_id(j["job_id"]), b"error.txt")
        assert open(p, "rb").read() == expected_error_txt(j)


def test_odd_fields_get_sane_times(hm, hjobs):
    """mtime = completed_at, else created_at, else (unparsable/missing) about now."""
    now = time.time()
    odd = [j for j in hjobs if not isinstance(j.get("created_at"), str)
           or j.get("created_at") == "not a date"]
    assert len(odd) >= 2
    for j in odd + [j for j in hjobs if j["job_id"] == "hostile-numbers"]:
        n = encode_id(j["job_id"])
        want = expected_mtime(j)
        for p in (os.path.join(_jobs_dir(hm), n), os.path.join(_jobs_dir(hm), n, b"job.json")):
            st = os.stat(p)
            if want is None:
                assert abs(st.st_mtime - now) < 600, (p, st.st_mtime, now)
            else:
                assert abs(st.st_mtime - want) < 1.0, (p, st.st_mtime, want)


def test_grep_whole_tree_and_still_alive(hm, hs):
    r = subprocess.run(["grep", "-r", "-c", "-a", "job_id", hm.jobs], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert not r.stderr, r.stderr
    assert hm.alive()
    assert jobs_entries(hm.path) == expected_names(valid_jobs(hs.jobs())) | VIEWS


def test_cold_lookups(hs, hjobs, mount):
    """On a fresh mount, before any listing, every hostile id resolves under
    jobs/ by its name with exactly one detail request."""
    m = mount(hs, opts="ttl=30")
    for i in HOSTILE_IDS:
        hs.reset()
        p = os.path.join(_jobs_dir(m), encode_id(i))
        try:
            st = os.stat(p)
        except OSError as e:
            raise AssertionError("cold lookup of id %r as %r: %s; requests %r"
                                 % (i, encode_id(i), e, hs.stats()["requests"])) from None
        assert st.st_mode & 0o040000
        doc = json.loads(open(os.path.join(p, b"job.json"), "rb").read())
        assert doc["job_id"] == i
        assert hs.requests() == (0, 1, 0), (i, hs.stats())
