"""One file per view: X.jsonl beside every directory of jobs (README "The tree", "One file per view").

Each line must be the job's object exactly as the API sent it, with the
whitespace between tokens removed. The expected lines are cut here from the
raw list pages the simulator serves (an independent scanner, not the
daemon's), so numbers such as 1e400 or a 40-digit integer and escapes such
as \\u00e9 are compared byte for byte. The files are read the way people
read them: jq, Python's json line by line, pandas.read_json(lines=True).
"""

import json
import os
import subprocess
import threading
import time
import urllib.request

import pytest

from helpers import STATUSES, daemon_stats, encode_id, read_bytes, sighup

PAGE = 100


def _elements(array_text):
    """The raw texts of the elements of a JSON array's text (bytes)."""
    out, depth, start, i, n = [], 0, None, 0, len(array_text)
    in_str = False
    while i < n:
        c = array_text[i:i + 1]
        if in_str:
            if c == b"\\":
                i += 2
                continue
            if c == b'"':
                in_str = False
        elif c == b'"':
            in_str = True
            if depth == 1 and start is None:
                start = i
        elif c in b"[{":
            depth += 1
            if depth == 2 and start is None:
                start = i
        elif c in b"]}":
            depth -= 1
            if depth == 0:
                if start is not None:
                    out.append(array_text[start:i].strip())
                break
        elif c == b"," and depth == 1:
            if start is not None:
                out.append(array_text[start:i].strip())
            start = None
        elif depth == 1 and start is None and not c.isspace():
            start = i
        i += 1
    return out


def _compact(text):
    """JSON text without the whitespace between tokens (strings untouched)."""
    out, i, n, in_str = bytearray(), 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == 0x5C:
                out.append(text[i + 1])
                i += 2
                continue
            if c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
            out.append(c)
        elif c not in b" \t\r\n":
            out.append(c)
        i += 1
    return bytes(out)


def _api_lines(s, status=None):
    """The view's lines as the API's raw pages give them, in order."""
    lines, offset = [], 0
    while True:
        q = "limit=%d&offset=%d" % (PAGE, offset) + ("&status=" + status if status else "")
        req = urllib.request.Request(s.base_url + "/scrape/jobs?" + q,
                                     headers={"X-API-Key": s.api_key})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        start = body.index(b'"jobs"')
        arr = body[body.index(b"[", start):]
        els = _elements(arr)
        total = json.loads(body)["total"]
        for el in els:
            if not el.startswith(b"{"):
                continue
            obj = json.loads(el)
            jid = obj.get("job_id")
            if isinstance(jid, str) and encode_id(jid) is not None:
                lines.append(_compact(el) + b"\n")
        offset += PAGE
        if offset >= total:
            return lines


def _files(m):
    out = [(None, os.path.join(m.path, "jobs.jsonl"))]
    out += [(st, os.path.join(m.jobs, "by-status", st + ".jsonl")) for st in STATUSES]
    return out


@pytest.fixture(scope="module")
def hostile(module_sim, module_mount):
    s = module_sim(jobs=80, hostile=True)
    s.raw("job_raw_numbers", '{"job_id": "job_raw_numbers", "status": "completed", '
          '"url": "https://n.example.com/", "extracted_data": [{"a": 1E+3, "b": -0.0, '
          '"c": 123456789012345678901234567890, "d": "caf\\u00e9 \\"q\\" \\/"}], '
          '"error_message": null, "metadata": {"k": [ 1 , 2 ]}, '
          '"created_at": "2026-12-30T00:00:00Z", "completed_at": "2026-12-30T00:01:00Z"}')
    m = module_mount(s, opts="ttl=600")
    return s, m


def test_every_line_is_the_api_object_byte_for_byte(hostile):
    s, m = hostile
    for status, path in _files(m):
        want = _api_lines(s, status)
        assert want, status
        st_size = os.stat(path).st_size  # before the first read
        got = read_bytes(path)
        assert st_size == len(got) == len(b"".join(want)), (path, st_size, len(got))
        lines = got.splitlines(keepends=True)
        assert len(lines) == len(want), (path, len(lines), len(want))
        for i, (a, b) in enumerate(zip(lines, want)):
            assert a == b, "%s line %d:\n  %r\n  %r" % (path, i, a[:300], b[:300])


def test_group_files_beside_their_directories(hostile):
    s, m = hostile
    for view in ("by-domain", "by-date"):
        base = os.path.join(os.fsencode(m.jobs), view.encode())
        names = set(os.listdir(base))
        dirs = {n for n in names if not n.endswith(b".jsonl")}
        assert names == dirs | {d + b".jsonl" for d in dirs}
        for d in dirs:
            jobs = sorted(os.listdir(os.path.join(base, d)))
            lines = read_bytes(os.path.join(base, d + b".jsonl")).splitlines()
            ids = sorted(encode_id(json.loads(l)["job_id"]) for l in lines)
            assert ids == jobs, (view, d)
    # a group's lines are in the API's order too
    all_ids = [json.loads(l)["job_id"] for l in read_bytes(os.path.join(m.path, "jobs.jsonl"))
               .splitlines()]
    for f in os.listdir(os.path.join(m.jobs, "by-date")):
        if f.endswith(".jsonl"):
            ids = [json.loads(l)["job_id"] for l in
                   read_bytes(os.path.join(m.jobs, "by-date", f)).splitlines()]
            assert ids == [i for i in all_ids if i in set(ids)], f


def test_jq_and_python_read_them(hostile):
    s, m = hostile
    for status, path in _files(m):
        n = len(_api_lines(s, status))
        r = subprocess.run(["jq", "-c", ".job_id", path], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr[-2000:]
        assert len(r.stdout.splitlines()) == n
        with open(path, "rb") as f:
            objs = [json.loads(line) for line in f]
        assert len(objs) == n and all(isinstance(o, dict) for o in objs)
        assert [o["job_id"] for o in objs] == [json.loads(l)["job_id"] for l in
                                               _api_lines(s, status)]
    r = subprocess.run(["wc", "-l", os.path.join(m.jobs, "by-status", "completed.jsonl")],
                       capture_output=True, text=True)
    assert int(r.stdout.split()[0]) == len(_api_lines(s, "completed"))


def test_pandas_reads_them(sim, mount):
    """pandas.read_json(lines=True): one row per job, in order. (Its JSON
    reader refuses integers beyond 64 bits, which the simulator's items
    carry: these jobs have none.)"""
    import pandas
    s = sim(jobs=150, item_count=0)
    m = mount(s, opts="ttl=600")
    for status, path in _files(m):
        want = [json.loads(l) for l in _api_lines(s, status)]
        df = pandas.read_json(path, lines=True, dtype=False)
        assert len(df) == len(want), (path, len(df))
        assert list(df["job_id"]) == [o["job_id"] for o in want]
        assert list(df["status"]) == [o["status"] for o in want]
    done = pandas.read_json(os.path.join(m.jobs, "by-status", "completed.jsonl"), lines=True)
    assert set(done["status"]) == {"completed"}


def test_reading_costs_nothing_while_fresh(hostile):
    s, m = hostile
    for _, path in _files(m):
        read_bytes(path)
    s.reset()
    for _, path in _files(m):
        read_bytes(path)
        os.stat(path)
    assert s.requests() == (0, 0, 0), s.stats()


def test_mtime_is_the_listings(hostile):
    s, m = hostile
    for status, path in _files(m):
        d = m.jobs if status is None else os.path.join(m.jobs, "by-status", status)
        assert int(os.stat(path).st_mtime) == int(os.stat(d).st_mtime), path


def test_one_open_file_is_one_snapshot(sim, mount):
    """A refresh during a long read neither tears nor drops a line; the next
    open shows the new view."""
    s = sim(jobs=400, settled_after=30)
    m = mount(s, opts="ttl=3600,page_size=50")
    p = os.path.join(m.path, "jobs.jsonl")
    before = b"".join(_api_lines(s))
    with open(p, "rb", buffering=0) as f:
        head = f.read(len(before) // 3)
        s.mutate(seed=5, create=7, advance=10)
        sighup(m)
        assert os.stat(os.path.join(m.path, "jobs")).st_mtime  # the refresh is asked for
        os.listdir(m.jobs)  # ... and done: a new listing, new versions
        rest = f.read()
    assert head + rest == before
    after = read_bytes(p)
    assert after == b"".join(_api_lines(s)) != before


def test_streams_with_a_tiny_cache(sim, mount):
    """6,000 jobs and cache_size=1 (MiB): reading jobs.jsonl costs at most
    the view's list pages, no detail request, and the cache stays within its
    size while it streams."""
    s = sim(jobs=6000, item_count=6, settled_after=50)
    m = mount(s, opts="ttl=3600,cache_size=1")
    p = os.path.join(m.path, "jobs.jsonl")
    size = os.stat(p).st_size
    want = b"".join(_api_lines(s))
    assert size == len(want) > 3 * 1024 * 1024  # three times the cache at least
    s.reset()
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            c = daemon_stats(m)["cache"]
            peak[0] = max(peak[0], c["bytes"])
            time.sleep(0.01)

    t = threading.Thread(target=watch)
    t.start()
    try:
        got = read_bytes(p)
    finally:
        stop.set()
        t.join()
    assert got == want
    lst, det, _ = s.requests()
    assert det == 0, s.stats()
    assert lst <= (6000 + PAGE - 1) // PAGE, s.stats()
    # unfinished jobs' texts are kept besides (50 at most, about 400 bytes each)
    assert peak[0] <= (1 << 20) + 64 * 1024, peak[0]


def test_host_names_that_end_in_jsonl_stay_apart(sim, mount):
    s = sim(jobs=5)
    s.add([{"job_id": "job_h1", "status": "completed", "url": "https://evil.jsonl/x",
            "completed_at": "2026-12-01T00:00:00Z"},
           {"job_id": "job_h2", "status": "completed", "url": "https://evil/x",
            "completed_at": "2026-12-01T00:00:00Z"},
           {"job_id": "job_h3", "status": "completed", "url": "https://a.jsonl.jsonl/x",
            "completed_at": "2026-12-01T00:00:00Z"},
           {"job_id": "job_h4", "status": "completed", "url": "https://a.jsonl/x",
            "completed_at": "2026-12-01T00:00:00Z"}])
    m = mount(s, opts="ttl=600")
    bd = os.path.join(m.jobs, "by-domain")
    names = set(os.listdir(bd))
    assert {"evil%2Ejsonl", "evil%2Ejsonl.jsonl", "evil", "evil.jsonl",
            "a.jsonl%2Ejsonl", "a.jsonl%2Ejsonl.jsonl", "a%2Ejsonl", "a%2Ejsonl.jsonl"} <= names
    for d, jid in (("evil%2Ejsonl", "job_h1"), ("evil", "job_h2"), ("a.jsonl%2Ejsonl", "job_h3"),
                   ("a%2Ejsonl", "job_h4")):
        assert os.listdir(os.path.join(bd, d)) == [jid]
        lines = read_bytes(os.path.join(bd, d + ".jsonl")).splitlines()
        assert [json.loads(l)["job_id"] for l in lines] == [jid]
