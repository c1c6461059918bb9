"""The files of a job: contents, sizes, times, xattrs (README "The files of a job")."""

import json
import os
import subprocess
import time

import pytest

from helpers import (JOB_FILES, expected_data_jsonl, expected_error_txt, expected_job_json,
                     expected_mtime, job_path, parse_iso, raw_data_jsonl, raw_pretty,
                     read_bytes)

RAW_ID = "job_raw_numbers"
# Sent verbatim by the simulator: odd spacing, exact number tokens, escapes.
RAW_TEXT = (
    '{"job_id":"job_raw_numbers" , "status": "completed","url":"https://raw.example.com/p?q=1",'
    '"extracted_data":[{"price":29.99,"big":1234567890123456789012345678901234567890,'
    '"huge":1e400,"neg":-0.0,"exp":1.5E-7,"s":"a\\u0000b","esc":"caf\\u00e9 \\/ \\"q\\"",'
    '"t":true,"n":null},[],{}],\n'
    '  "error_message":"disk \\u00e9 \\"full\\"\\tnow","metadata":{"nested":{"deep":[1,2.50,3]}},'
    '"created_at":"2026-09-01T10:00:00Z","completed_at":"2026-09-01T10:00:05.250Z"}'
)

EXTRA_JOBS = [
    {"job_id": "job_obj_data", "status": "completed", "url": "https://obj.example.com/",
     "extracted_data": {"k": "välue", "n": [1, 2, {"x": None}]}, "error_message": None,
     "metadata": None, "created_at": "2026-08-01T00:00:00Z",
     "completed_at": "2026-08-01T00:01:00+00:00"},
    {"job_id": "job_empty_data", "status": "failed", "url": "https://empty.example.com/",
     "extracted_data": [], "error_message": "", "metadata": {},
     "created_at": "2026-08-02T00:00:00.5Z", "completed_at": "2026-08-02T03:00:00Z"},
    {"job_id": "job_multiline_error", "status": "failed", "url": "https://err.example.com/",
     "extracted_data": None, "error_message": "line one\nline \"two\" ✓",
     "metadata": {"attempt": 3}, "created_at": "2026-08-03T00:00:00Z",
     "completed_at": "2026-08-03T00:00:09Z"},
    {"job_id": "job_bad_date", "status": "pending", "url": "https://date.example.com/",
     "extracted_data": None, "error_message": None, "metadata": None,
     "created_at": "not a date", "completed_at": None},
]


@pytest.fixture(scope="module")
def fsim(module_sim):
    s = module_sim(jobs=40)
    s.add(EXTRA_JOBS)
    s.raw(RAW_ID, RAW_TEXT)
    return s


@pytest.fixture(scope="module")
def fmnt(fsim, module_mount):
    return module_mount(fsim, opts="ttl=30")


def _normal_jobs(s):
    return [j for j in s.jobs() if j["job_id"] != RAW_ID]


def test_raw_helper_sanity():
    # the test's own token-preserving printer agrees with json on plain input
    obj = {"a": [1, {"b": None, "c": []}, {}], "d": "é"}
    txt = json.dumps(obj, ensure_ascii=False)
    assert raw_pretty(txt) == json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(raw_pretty(RAW_TEXT).replace("1e400", "1")) is not None


def test_contents_and_sizes_before_read(fsim, mount):
    """Fresh mount: stat every file before its first read; size == bytes read;
    content == the expected rendering, both under jobs/ and under by-status/."""
    m = mount(fsim, opts="ttl=30")
    jobs = _normal_jobs(fsim)
    assert len(jobs) == 40 + len(EXTRA_JOBS)
    checked = 0
    for job in jobs:
        want = {"job.json": expected_job_json(job),
                "data.jsonl": expected_data_jsonl(job),
                "error.txt": expected_error_txt(job)}
        for kw in ({}, {"status": job["status"]}):
            for name in sorted(JOB_FILES):
                p = job_path(m.path, job["job_id"], name, **kw)
                size = os.stat(p).st_size
                got = read_bytes(p)
                assert size == len(got), (p, size, len(got))
                assert got == want[name], "%s differs:\n--- got ---\n%s\n--- want ---\n%s" % (
                    p, got.decode("utf-8", "replace"), want[name].decode())
                checked += 1
    assert checked == len(jobs) * 6


def test_special_contents(fsim, fmnt):
    m = fmnt
    obj = read_bytes(job_path(m.path, "job_obj_data", "data.jsonl"))
    assert obj == '{"k":"välue","n":[1,2,{"x":null}]}\n'.encode()
    assert read_bytes(job_path(m.path, "job_empty_data", "data.jsonl")) == b""
    assert read_bytes(job_path(m.path, "job_empty_data", "error.txt")) == b""
    assert os.stat(job_path(m.path, "job_empty_data", "error.txt")).st_size == 0
    assert read_bytes(job_path(m.path, "job_multiline_error", "error.txt")) == \
        'line one\nline "two" ✓\n'.encode()
    assert read_bytes(job_path(m.path, "job_multiline_error", "data.jsonl")) == b""
    completed = next(j for j in fsim.jobs() if j["status"] == "completed"
                     and j["job_id"].startswith("job_") and isinstance(j["extracted_data"], list)
                     and j["extracted_data"] and j["job_id"] != RAW_ID)
    lines = read_bytes(job_path(m.path, completed["job_id"], "data.jsonl")).split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == len(completed["extracted_data"])
    assert [json.loads(l) for l in lines[:-1]] == completed["extracted_data"]


def test_raw_numbers_and_strings_kept(fsim, mount):
    m = mount(fsim, opts="ttl=30")
    jp = job_path(m.path, RAW_ID, "job.json")
    size = os.stat(jp).st_size
    got = read_bytes(jp).decode("utf-8")
    assert size == len(got.encode())
    for token in ("29.99", "1234567890123456789012345678901234567890", "1e400", "1.5E-7",
                  "2.50", "-0.0", r'"a\u0000b"', r'"caf\u00e9 \/ \"q\""'):
        assert token in got, "%s not kept in job.json:\n%s" % (token, got)
    assert got == raw_pretty(RAW_TEXT)
    dp = job_path(m.path, RAW_ID, "data.jsonl")
    dsize = os.stat(dp).st_size
    data = read_bytes(dp).decode("utf-8")
    assert dsize == len(data.encode())
    assert data == raw_data_jsonl(RAW_TEXT)
    ep = job_path(m.path, RAW_ID, "error.txt")
    esize = os.stat(ep).st_size
    err = read_bytes(ep)
    assert esize == len(err)
    assert err == (json.loads(RAW_TEXT)["error_message"] + "\n").encode()
    # the same job through its status view
    assert read_bytes(job_path(m.path, RAW_ID, "job.json", status="completed")).decode() == got


def test_partial_reads(fsim, fmnt):
    job = next(j for j in _normal_jobs(fsim) if j["status"] == "completed")
    p = job_path(fmnt.path, job["job_id"], "job.json")
    want = expected_job_json(job)
    fd = os.open(p, os.O_RDONLY)
    try:
        for off, n in ((0, 1), (5, 7), (len(want) - 3, 100), (len(want), 10), (len(want) + 50, 10)):
            assert os.pread(fd, n, off) == want[off:off + n], (off, n)
    finally:
        os.close(fd)


def _close(a, b, tol=1.0):
    return abs(a - b) < tol


def test_mtimes(fsim, fmnt):
    m = fmnt
    n = 0
    for job in _normal_jobs(fsim):
        want = expected_mtime(job)
        if want is None:
            continue
        for kw in ({}, {"status": job["status"]}):
            paths = [job_path(m.path, job["job_id"], **kw)]
            paths += [job_path(m.path, job["job_id"], f, **kw) for f in sorted(JOB_FILES)]
            for p in paths:
                st = os.stat(p)
                assert _close(st.st_mtime, want), (p, st.st_mtime, want, job.get("completed_at"),
                                                   job.get("created_at"))
                assert _close(st.st_ctime, want), (p, "ctime", st.st_ctime, want)
                n += 1
    assert n >= 40 * 8
    raw_want = parse_iso("2026-09-01T10:00:05.250Z")
    assert _close(os.stat(job_path(m.path, RAW_ID, "job.json")).st_mtime, raw_want)


def test_unparsable_date_mtime_is_recent(fsim, fmnt):
    now = time.time()
    for p in (job_path(fmnt.path, "job_bad_date"), job_path(fmnt.path, "job_bad_date", "job.json")):
        st = os.stat(p)
        assert abs(st.st_mtime - now) < 600, (p, st.st_mtime, now)
    assert json.loads(read_bytes(job_path(fmnt.path, "job_bad_date", "job.json"))) == \
        next(j for j in fsim.jobs() if j["job_id"] == "job_bad_date")


def _same_time(got, sent):
    """xattr value of a timestamp: the text as sent, or the same instant."""
    if got == sent.encode():
        return True
    a, b = parse_iso(got.decode("utf-8", "replace")), parse_iso(sent)
    return a is not None and b is not None and abs(a - b) < 1e-3


XATTRS = ("user.xdg.origin.url", "user.scrapefs.job_id", "user.scrapefs.status",
          "user.scrapefs.created_at")


def test_xattrs(fsim, fmnt):
    m = fmnt
    jobs = _normal_jobs(fsim)
    sample = [j for j in jobs if j["job_id"] in {e["job_id"] for e in EXTRA_JOBS}]
    sample += [j for j in jobs if j["job_id"].startswith("job_")][:12]
    statuses_seen = set()
    for job in sample:
        paths = [job_path(m.path, job["job_id"])]
        paths += [job_path(m.path, job["job_id"], f) for f in sorted(JOB_FILES)]
        paths.append(job_path(m.path, job["job_id"], "job.json", status=job["status"]))
        dir_names = set(os.listxattr(paths[0]))
        for p in paths:
            names = set(os.listxattr(p))
            if p == paths[0]:  # the job's directory lists them all
                for a in XATTRS:
                    assert a in names or a == "user.scrapefs.completed_at", (p, a, names)
            else:  # its files list only the url (what cp -a copies); the rest still read
                assert names == {"user.xdg.origin.url"}, (p, names)
                names = dir_names
            assert os.getxattr(p, "user.xdg.origin.url") == job["url"].encode()
            assert os.getxattr(p, "user.scrapefs.job_id") == job["job_id"].encode()
            assert os.getxattr(p, "user.scrapefs.status") == job["status"].encode()
            assert _same_time(os.getxattr(p, "user.scrapefs.created_at"), job["created_at"])
            if job["completed_at"] is None:
                if "user.scrapefs.completed_at" in names:
                    assert os.getxattr(p, "user.scrapefs.completed_at") == b""
            else:
                assert "user.scrapefs.completed_at" in names, (p, names)
                assert _same_time(os.getxattr(p, "user.scrapefs.completed_at"),
                                  job["completed_at"])
        statuses_seen.add(job["status"])
    assert {"completed", "failed", "pending"} <= statuses_seen
    with pytest.raises(OSError):
        os.getxattr(job_path(m.path, sample[0]["job_id"]), "user.no.such.attribute")


def test_cp_a_keeps_the_origin_url(fsim, fmnt, tmp_path):
    """cp -a of a job keeps where each file came from (user.xdg.origin.url)."""
    job = next(j for j in _normal_jobs(fsim) if j["status"] == "completed")
    dst = tmp_path / "copy"
    subprocess.run(["cp", "-a", job_path(fmnt.path, job["job_id"]), str(dst)], check=True)
    src = job_path(fmnt.path, job["job_id"])
    assert sorted(os.listdir(dst)) == sorted(os.fsdecode(n) for n in os.listdir(src))
    for name in [None] + os.listdir(dst):
        p = dst if name is None else dst / name
        assert os.getxattr(p, "user.xdg.origin.url") == job["url"].encode(), p
    assert os.getxattr(dst, "user.scrapefs.status") == b"completed"


def test_bytes_that_are_not_utf8_become_u_fffd(sim, mount):
    """The API sends bytes that are not UTF-8 (an encoded surrogate) inside
    strings: every file shows U+FFFD for each such byte and stays valid
    UTF-8 JSON; jq reads it; the job is logged once."""
    bad = "\udcff"  # sent as the bytes ED B3 BF: a surrogate, not UTF-8
    raw = ('{"job_id": "job_bad_utf8", "status": "completed", "url": "https://u.example.com/%s", '
           '"extracted_data": [{"t": "caf%s"}], "error_message": "bad %s here", '
           '"metadata": null, "created_at": "2026-11-20T00:00:00Z", '
           '"completed_at": "2026-11-20T00:01:00Z"}' % (bad, bad, bad))
    s = sim(jobs=5)
    s.raw("job_bad_utf8", raw)
    m = mount(s, opts="ttl=600")
    mended = json.loads(raw.replace(bad, "\ufffd" * 3))
    d = os.path.join(m.jobs, "job_bad_utf8")
    got = read_bytes(os.path.join(d, "job.json"))
    assert got == expected_job_json(mended)
    got.decode("utf-8")  # strict: valid UTF-8
    assert read_bytes(os.path.join(d, "error.txt")) == "bad \ufffd\ufffd\ufffd here\n".encode()
    assert read_bytes(os.path.join(d, "data.jsonl")) == expected_data_jsonl(mended)
    r = subprocess.run(["jq", "-r", ".url", os.path.join(d, "job.json")], capture_output=True)
    assert r.returncode == 0 and r.stdout.decode() == mended["url"] + "\n", r
    line = next(l for l in read_bytes(os.path.join(m.path, "jobs.jsonl")).splitlines()
                if b"job_bad_utf8" in l)
    assert json.loads(line.decode("utf-8")) == mended
    read_bytes(os.path.join(d, "job.json"))
    assert m.log().count("job_bad_utf8: bytes that are not UTF-8") == 1, m.log()
