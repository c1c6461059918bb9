"""Tests of the API simulator itself (tests/sim/PROTOCOL.md).

Run: pytest-3 -q tests/sim/test_sim.py
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "freddy_sim.py")
KEY = "test-key"
NJOBS = 40


def start_sim(tmp_path, *extra):
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        ["/usr/bin/python3", SIM, "--port", "0", "--port-file",
         str(port_file), "--api-key", KEY] + list(extra),
        stdout=open(tmp_path / "stdout", "wb"),
        stderr=open(tmp_path / "stderr", "wb"))
    deadline = time.monotonic() + 15
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError("simulator died: %r"
                               % (tmp_path / "stderr").read_text())
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("simulator did not start")
        time.sleep(0.02)
    return proc, int(port_file.read_text())


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    proc, port = start_sim(tmp_path_factory.mktemp("sim"), "--jobs",
                           str(NJOBS), "--seed", "7", "--hostile")
    yield Sim(port)
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


class Sim:
    def __init__(self, port):
        self.port = port
        self.base = "http://127.0.0.1:%d" % port

    def req(self, path, method="GET", body=None, headers=None, auth=True,
            timeout=10):
        h = {"X-API-Key": KEY} if auth else {}
        h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        r = urllib.request.Request(self.base + path, data=data, headers=h,
                                   method=method)
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, path, **kw):
        code, headers, body = self.req("/api/v1/scrape/jobs" + path, **kw)
        return code, headers, body

    def ctl(self, route, body=None, method=None):
        code, _, data = self.req("/_sim/" + route, auth=False,
                                 method=method or ("GET" if body is None
                                                   else "POST"),
                                 body=body)
        assert code == 200, (route, code, data)
        return json.loads(data)

    def page(self, query):
        code, _, body = self.api("?" + query)
        assert code == 200, body
        return json.loads(body)

    def raw(self, path, timeout=5):
        """A raw socket with a GET sent."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n\r\n"
                   % (path, KEY)).encode())
        return s


def q(job_id):
    return urllib.parse.quote(job_id, safe="")


def read_all(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


# ---------------------------------------------------------------- auth ----

def test_auth(sim):
    assert sim.api("?limit=1")[0] == 200
    assert sim.api("?limit=1", auth=False,
                   headers={"Authorization": "Bearer " + KEY})[0] == 200
    code, _, body = sim.api("?limit=1", auth=False,
                            headers={"X-API-Key": "wrong"})
    assert code == 401 and json.loads(body) == {"detail": "Invalid API key"}
    assert sim.api("?limit=1", auth=False)[0] == 401
    assert sim.api("?limit=1", auth=False,
                   headers={"Authorization": "Bearer nope"})[0] == 401
    assert sim.api("/a%2Fb", auth=False)[0] == 401


def test_keep_alive(sim):
    c = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    socks = set()
    for _ in range(3):
        c.request("GET", "/api/v1/scrape/jobs?limit=2",
                  headers={"X-API-Key": KEY})
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Content-Length")
        json.loads(r.read())
        socks.add(id(c.sock))
    assert len(socks) == 1
    c.close()


# -------------------------------------------------------------- paging ----

def test_paging_and_order(sim):
    everything = sim.ctl("jobs")
    first = sim.page("limit=7")
    assert first["total"] == len(everything)
    assert first["limit"] == 7 and first["offset"] == 0
    got = []
    off = 0
    while off < first["total"]:
        p = sim.page("limit=7&offset=%d" % off)
        assert p["total"] == first["total"]
        got.extend(p["jobs"])
        off += 7
    assert [j.get("job_id") if isinstance(j, dict) else j for j in got] == \
        [j.get("job_id") if isinstance(j, dict) else j for j in everything]
    assert sim.page("offset=100000")["jobs"] == []
    assert sim.page("")["limit"] == 50
    # normal jobs are newest first
    normal = [j for j in got if isinstance(j, dict)
              and re.fullmatch(r"job_[0-9a-f]{12}", j.get("job_id", ""))]
    assert len(normal) == NJOBS
    stamps = [j["created_at"][:19] for j in normal]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == NJOBS
    assert any(j["created_at"].endswith("+00:00") for j in normal)
    assert any(re.search(r"\.\d{6}Z$", j["created_at"]) for j in normal)
    assert set(normal[0]) == {"job_id", "status", "url", "extracted_data",
                              "error_message", "metadata", "created_at",
                              "completed_at"}
    for j in normal:
        assert list(j)[0] == "job_id" and list(j)[-1] == "completed_at"
        if j["status"] == "completed":
            assert isinstance(j["extracted_data"], list)
            assert len(j["extracted_data"]) == 3
        else:
            assert j["extracted_data"] is None
        assert (j["completed_at"] is None) == (
            j["status"] in ("pending", "processing"))
        assert (j["error_message"] is not None) == (j["status"] == "failed")


def test_status_filter(sim):
    everything = sim.ctl("jobs")
    for st in ("pending", "processing", "completed", "failed", "cancelled"):
        p = sim.page("status=%s&limit=100" % st)
        want = [j for j in everything
                if isinstance(j, dict) and j.get("status") == st]
        assert p["total"] == len(want) == len(p["jobs"])
        assert all(j["status"] == st for j in p["jobs"])
        assert p["total"] > 0


@pytest.mark.parametrize("query", [
    "limit=0", "limit=101", "limit=abc", "limit=", "limit=1.5",
    "offset=-1", "offset=x", "status=bogus", "status=COMPLETED"])
def test_422(sim, query):
    code, _, body = sim.api("?" + query)
    assert code == 422
    assert "detail" in json.loads(body)


def test_detail(sim):
    everything = sim.ctl("jobs")
    j = next(j for j in everything if isinstance(j, dict)
             and j.get("job_id", "").startswith("job_"))
    code, headers, body = sim.api("/" + j["job_id"])
    assert code == 200 and json.loads(body) == j
    assert headers["Content-Type"] == "application/json"
    code, _, body = sim.api("/job_doesnotexist")
    assert code == 404 and json.loads(body) == {"detail": "Job not found"}
    for jid in ("a/b", "nul\u0000byte", "../escape", "..", "100%", "%41",
                "tab\there", "ünïcødé", "x" * 300, ".hidden"):
        code, _, body = sim.api("/" + q(jid))
        assert code == 200, jid
        assert json.loads(body)["job_id"] == jid
    # unencoded slash is not a job id
    assert sim.api("/a/b")[0] == 404


# ------------------------------------------------------------- hostile ----

def test_hostile(sim):
    everything = sim.ctl("jobs")
    ids = [j.get("job_id") for j in everything if isinstance(j, dict)]
    for jid in ("a/b", "../escape", "..", ".hidden", "100%", "%41",
                "tab\there", "nul\u0000byte", "by-status", "by-date",
                "by-domain", "x" * 300, "", "ünïcødé"):
        assert jid in ids
    assert 42 in everything
    assert any(isinstance(j, dict) and "job_id" not in j for j in everything)
    byid = {j.get("job_id"): j for j in everything if isinstance(j, dict)}
    assert byid["hostile-weird-status"]["status"] == "weird-status"
    assert isinstance(byid["hostile-object-data"]["extracted_data"], dict)
    d, depth = byid["hostile-deep"]["extracted_data"], 0
    while isinstance(d, list):
        d, depth = d[0], depth + 1
    assert depth == 200
    assert len(byid["hostile-big-string"]["extracted_data"][0]) == 2 << 20
    assert "url" not in byid["hostile-missing-fields"]
    assert "created_at" not in byid["hostile-missing-fields"]
    assert byid["hostile-invalid-values"]["created_at"] == "not a date"
    assert "\u0000" in byid["hostile-nul-error"]["error_message"]
    code, _, body = sim.api("/hostile-numbers")
    assert b"1e400" in body
    assert b"1234567890123456789012345678901234567890" in body
    code, _, body = sim.api("?limit=100")
    assert b'"huge": 1e400' in body and b", 42, " in body
    assert json.loads(body)["total"] == len(everything)


# ------------------------------------------------------------- control ----

def test_stats(sim):
    sim.ctl("reset", {})
    sim.page("limit=1")
    sim.page("limit=1&status=failed")
    sim.api("?limit=0")
    sim.api("/job_nope")
    sim.api("?limit=1", auth=False)
    sim.req("/api/v1/other")
    s = sim.ctl("stats")
    assert s["requests"] == {"list": 4, "detail": 1, "other": 1}
    assert s["list_by_status"][""] == 3
    assert s["list_by_status"]["failed"] == 1
    assert s["jobs"] == len(sim.ctl("jobs"))
    sim.ctl("reset", {})
    assert sim.ctl("stats")["requests"] == {"list": 0, "detail": 0,
                                            "other": 0}


def test_add_patch_delete(sim):
    before = sim.page("limit=1")["total"]
    r = sim.ctl("jobs", [{"job_id": "added-1", "url": "https://a.example/"},
                         {"job_id": "added-2"}])
    assert r["added"] == ["added-1", "added-2"]
    p = sim.page("limit=2")
    assert [j["job_id"] for j in p["jobs"]] == ["added-1", "added-2"]
    assert p["total"] == before + 2
    j = p["jobs"][0]
    assert list(j) == ["job_id", "status", "url", "extracted_data",
                       "error_message", "metadata", "created_at",
                       "completed_at"]
    assert j["status"] == "pending" and j["created_at"].endswith("Z")
    assert j["created_at"] > p["jobs"][1]["created_at"]
    n_completed = sim.page("status=completed&limit=1")["total"]
    code, _, body = sim.req("/_sim/jobs/added-1", method="PATCH", auth=False,
                            body={"status": "completed",
                                  "extracted_data": [{"x": 1}]})
    assert code == 200 and json.loads(body)["status"] == "completed"
    p = sim.page("status=completed&limit=1")
    assert p["total"] == n_completed + 1
    assert p["jobs"][0]["job_id"] == "added-1"
    assert json.loads(sim.api("/added-1")[2])["extracted_data"] == [{"x": 1}]
    for jid in ("added-1", "added-2"):
        assert sim.req("/_sim/jobs/" + jid, method="DELETE",
                       auth=False)[0] == 200
        assert sim.api("/" + jid)[0] == 404
    assert sim.page("limit=1")["total"] == before


def test_raw(sim):
    raw = '{"job_id": "raw/1", "status": "failed", "v": 1e400,  "n": 29.99}'
    sim.ctl("raw", {"job_id": "raw/1", "raw": raw, "list_raw": True})
    code, _, body = sim.api("/" + q("raw/1"))
    assert code == 200 and body == raw.encode()
    code, _, body = sim.api("?limit=1&status=failed")
    assert body.startswith(b'{"jobs": [' + raw.encode() + b"]")
    sim.ctl("raw", {"job_id": "raw-2", "raw": '{"job_id": "raw-2"}',
                    "list_raw": False})
    assert sim.api("/raw-2")[0] == 200
    assert "raw-2" not in [j.get("job_id") for j in sim.page("limit=5")["jobs"]
                           if isinstance(j, dict)]
    for jid in ("raw/1", "raw-2"):
        sim.req("/_sim/jobs/" + q(jid), method="DELETE", auth=False)
    assert sim.api("/raw-2")[0] == 404


def test_latency(sim):
    sim.ctl("latency", {"ms": 300})
    try:
        t = time.monotonic()
        sim.page("limit=1")
        assert time.monotonic() - t >= 0.3
        t = time.monotonic()
        sim.ctl("stats")                    # control routes: no latency
        assert time.monotonic() - t < 0.25
    finally:
        sim.ctl("latency", {"ms": 0})


# -------------------------------------------------------------- faults ----

@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "401", "403"])
def test_fault_status(sim, kind):
    sim.ctl("fault", {"kind": kind, "target": "list", "retry_after": 2})
    assert sim.api("/a%2Fb")[0] == 200           # detail not targeted
    code, headers, body = sim.api("?limit=1")
    assert code == int(kind)
    assert "detail" in json.loads(body)
    assert headers["Retry-After"] == "2"
    assert sim.api("?limit=1")[0] == 200         # count 1: used up


def test_fault_garbage_html_shape(sim):
    sim.ctl("fault", {"kind": "garbage"})
    code, _, body = sim.api("?limit=1")
    assert code == 200
    with pytest.raises(ValueError):
        json.loads(body)
    sim.ctl("fault", {"kind": "html", "target": "detail"})
    code, headers, body = sim.api("/a%2Fb")
    assert code == 502 and headers["Content-Type"].startswith("text/html")
    assert b"<html>" in body
    sim.ctl("fault", {"kind": "shape", "count": 2})
    assert json.loads(sim.api("?limit=1")[2]) == {"items": []}
    assert isinstance(json.loads(sim.api("/a%2Fb")[2]), list)
    assert sim.api("?limit=1")[0] == 200


def test_fault_count_rate_status(sim):
    sim.ctl("fault", {"kind": "500", "count": -1, "status": "failed"})
    assert sim.api("?limit=1")[0] == 200
    assert sim.api("?limit=1&status=completed")[0] == 200
    for _ in range(3):
        assert sim.api("?limit=1&status=failed")[0] == 500
    sim.ctl("clear", {})
    assert sim.api("?limit=1&status=failed")[0] == 200
    sim.ctl("fault", {"kind": "503", "rate": 1.0})
    assert [sim.api("?limit=1")[0] for _ in range(3)] == [503] * 3
    sim.ctl("clear", {})
    sim.ctl("fault", {"kind": "503", "rate": 0.0})
    assert [sim.api("?limit=1")[0] for _ in range(3)] == [200] * 3
    sim.ctl("clear", {})
    sim.ctl("reset", {})
    sim.ctl("fault", {"kind": "502"})
    sim.api("?limit=1")
    assert sim.ctl("stats")["requests"]["list"] == 1


def test_fault_reset(sim):
    sim.ctl("fault", {"kind": "reset"})
    s = sim.raw("/api/v1/scrape/jobs?limit=1")
    with pytest.raises(ConnectionResetError):
        read_all(s)
    s.close()
    assert sim.api("?limit=1")[0] == 200


def test_fault_truncate(sim):
    full = sim.api("/a%2Fb")[2]
    sim.ctl("fault", {"kind": "truncate", "target": "detail"})
    s = sim.raw("/api/v1/scrape/jobs/a%2Fb")
    data = read_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    assert n == len(full) and body == full[:n // 2]


def test_fault_hang(sim):
    sim.ctl("fault", {"kind": "hang"})
    with pytest.raises(Exception) as ei:
        sim.api("?limit=1", timeout=0.5)
    assert "timed out" in str(ei.value)
    s = sim.raw("/api/v1/scrape/jobs?limit=1")     # count 1: not hung
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    sim.ctl("fault", {"kind": "hang"})
    s = sim.raw("/api/v1/scrape/jobs?limit=1")
    s.settimeout(0.5)
    with pytest.raises(socket.timeout):
        s.recv(100)
    sim.ctl("clear", {})
    s.settimeout(5)
    assert read_all(s) == b""                      # closed, no answer
    s.close()


def test_fault_slow(sim):
    full = sim.api("/a%2Fb")[2]
    sim.ctl("fault", {"kind": "slow", "target": "detail"})
    s = sim.raw("/api/v1/scrape/jobs/a%2Fb")
    s.settimeout(0.3)
    got = b""
    t = time.monotonic()
    while time.monotonic() - t < 1.0:
        try:
            got += s.recv(65536)
        except socket.timeout:
            pass
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert 3 <= len(body) <= 15                    # ~10 bytes/s
    sim.ctl("clear", {})
    s.settimeout(5)
    while len(body) < len(full):
        b = s.recv(65536)
        assert b
        body += b
    assert body == full
    s.close()
    # a client that gives up does not bother the server
    sim.ctl("fault", {"kind": "slow"})
    s = sim.raw("/api/v1/scrape/jobs?limit=5")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    time.sleep(0.3)
    sim.ctl("clear", {})
    assert sim.api("?limit=1")[0] == 200


# --------------------------------------------------------------- drift ----

def test_drift(sim):
    sim.ctl("drift", {"after_pages": 1, "insert": 3})
    total = sim.page("limit=1")["total"]          # this page triggers it
    p2 = sim.page("limit=5&offset=0")
    assert p2["total"] == total + 3
    p1 = sim.page("limit=5&offset=3")
    assert p1["jobs"][:2] == p2["jobs"][3:]
    new_ids = [j["job_id"] for j in p2["jobs"][:3]]
    sim.ctl("drift", {"after_pages": 2, "delete": 3})
    sim.page("limit=1")
    assert sim.page("limit=1")["total"] == total + 3   # applied after this
    assert sim.page("limit=1")["total"] == total
    for jid in new_ids:
        assert sim.api("/" + jid)[0] == 404
    # status-targeted drift
    n = sim.page("status=failed&limit=1")["total"]
    sim.ctl("drift", {"after_pages": 0, "insert": 2, "status": "failed"})
    assert sim.page("status=failed&limit=1")["total"] == n + 2


# ---------------------------------------------------------- determinism ---

def test_deterministic_and_sigterm(tmp_path):
    outs = []
    for i in range(2):
        d = tmp_path / str(i)
        d.mkdir()
        proc, port = start_sim(d, "--jobs", "30", "--seed", "3",
                               "--item-count", "1")
        try:
            with urllib.request.urlopen(
                    "http://127.0.0.1:%d/_sim/jobs" % port, timeout=5) as r:
                outs.append(r.read())
        finally:
            proc.send_signal(signal.SIGTERM if i == 0 else signal.SIGINT)
            assert proc.wait(5) == 0
    assert outs[0] == outs[1]
    jobs = json.loads(outs[0])
    assert len(jobs) == 30
    counts = {}
    for j in jobs:
        counts[j["status"]] = counts.get(j["status"], 0) + 1
    assert set(counts) == {"pending", "processing", "completed", "failed",
                           "cancelled"}
    assert all(len(j["extracted_data"]) == 1 for j in jobs
               if j["status"] == "completed")


# ------------------------------------------------- helpers for new sims ---

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
JOB_KEYS = ["job_id", "status", "url", "extracted_data", "error_message",
            "metadata", "created_at", "completed_at"]
# the answer of /_sim/mutate when nothing changed
NO_CHANGE = {"created": [], "advanced": [], "deleted": [], "finished": [],
             "inserted": [], "reused": [], "purged": [], "backdated": []}


@pytest.fixture
def own_sim(tmp_path):
    """Start private simulators (stopped at the end of the test)."""
    procs = []

    def start(*extra):
        d = tmp_path / ("sim%d" % len(procs))
        d.mkdir()
        proc, port = start_sim(d, *extra)
        procs.append(proc)
        return Sim(port)

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def ids_of(jobs):
    return [j.get("job_id") if isinstance(j, dict) else j for j in jobs]


def page_all(sim, query="", limit=7):
    """Every element of a list, paged through; and the total."""
    got, off = [], 0
    while True:
        p = sim.page("%slimit=%d&offset=%d" % (query, limit, off))
        got.extend(p["jobs"])
        off += limit
        if off >= p["total"]:
            assert len(got) == p["total"]
            return got, p["total"]


def ts(s):
    from datetime import datetime, timezone
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def check_job(j, items=3):
    """A normal job whose contents match its status."""
    assert list(j) == JOB_KEYS
    st = j["status"]
    assert st in STATUSES
    if st == "completed":
        assert isinstance(j["extracted_data"], list)
        assert len(j["extracted_data"]) == items
        assert all(set(i) == {"title", "price", "sku", "tags", "in_stock",
                              "note"} for i in j["extracted_data"])
    else:
        assert j["extracted_data"] is None
    assert (j["completed_at"] is None) == (st in ("pending", "processing"))
    assert (j["error_message"] is not None) == (st == "failed")
    if j["completed_at"] is not None:
        assert j["completed_at"].endswith("Z")
        assert ts(j["completed_at"]) >= ts(j["created_at"])


def ctl_error(sim, route, body):
    code, _, data = sim.req("/_sim/" + route, method="POST", auth=False,
                            body=body)
    return code, json.loads(data)


# ---------------------------------------------------------------- order ---

def test_order_option_and_route(own_sim):
    s = own_sim("--jobs", "40", "--seed", "7", "--hostile",
                "--order", "oldest")
    assert s.ctl("stats")["order"] == "oldest"
    # two jobs with the same created_at: ties are reversed too
    tie = "2026-11-28T13:00:00Z"
    s.ctl("jobs", [{"job_id": "tie-1", "created_at": tie},
                   {"job_id": "tie-2", "created_at": tie}])
    oldest = s.ctl("jobs")
    got, total = page_all(s)
    assert ids_of(got) == ids_of(oldest)
    normal = [j for j in oldest if isinstance(j, dict)
              and re.fullmatch(r"job_[0-9a-f]{12}", j.get("job_id", ""))]
    assert got[0] == normal[0]                    # offset 0: the oldest job
    assert ts(normal[0]["created_at"]) == min(ts(j["created_at"])
                                              for j in normal)
    assert ids_of(got[-2:]) == ["tie-2", "tie-1"]
    assert s.page("limit=3&offset=%d" % total)["jobs"] == []
    p = s.page("limit=5&offset=%d" % (total - 2))
    assert ids_of(p["jobs"]) == ["tie-2", "tie-1"] and p["total"] == total
    by_status = {}
    for st in STATUSES:
        by_status[st] = s.ctl("jobs?status=" + st)
        got, n = page_all(s, "status=%s&" % st, limit=3)
        assert got == by_status[st] and n == len(got) > 0
        assert all(j["status"] == st for j in got)

    assert s.ctl("order", {"order": "newest"}) == {"order": "newest"}
    assert s.ctl("stats")["order"] == "newest"
    newest = s.ctl("jobs")
    assert ids_of(newest) == ids_of(oldest)[::-1]
    assert ids_of(newest[:2]) == ["tie-1", "tie-2"]
    got, n = page_all(s, limit=9)
    assert ids_of(got) == ids_of(newest) and n == total
    for st in STATUSES:
        nv = s.ctl("jobs?status=" + st)
        assert nv == by_status[st][::-1]
        got, n = page_all(s, "status=%s&" % st, limit=4)
        assert got == nv and n == len(by_status[st])

    assert s.ctl("order", {"order": "oldest"}) == {"order": "oldest"}
    assert ids_of(s.page("limit=2")["jobs"]) == ids_of(oldest[:2])
    for body in ({"order": "random"}, {"order": "Oldest"}, {},
                 {"order": None}, ["oldest"], "oldest"):
        code, data = ctl_error(s, "order", body)
        assert code == 422 and "detail" in data, body
    assert s.ctl("stats")["order"] == "oldest"


def test_order_default_and_bad_option(own_sim, tmp_path):
    s = own_sim("--jobs", "5")
    assert s.ctl("stats")["order"] == "newest"
    r = subprocess.run(["/usr/bin/python3", SIM, "--order", "sideways",
                        "--port-file", str(tmp_path / "nope")],
                       capture_output=True, timeout=10)
    assert r.returncode == 2 and b"--order" in r.stderr
    assert not (tmp_path / "nope").exists()


def test_order_drift(own_sim):
    s = own_sim("--jobs", "30", "--order", "oldest")
    first = s.page("limit=5")
    total = first["total"]
    s.ctl("drift", {"after_pages": 1, "insert": 3})
    assert s.page("limit=5") == first             # this page triggers it
    p = s.page("limit=5")
    assert p["jobs"] == first["jobs"] and p["total"] == total + 3
    tail = s.page("limit=10&offset=%d" % total)["jobs"]
    assert len(tail) == 3                          # the new ones, at the end
    assert tail[0]["created_at"] < tail[1]["created_at"] \
        < tail[2]["created_at"]
    everything = s.ctl("jobs")
    assert everything[-3:] == tail
    assert max(ts(j["created_at"]) for j in everything[:-3]) \
        < ts(tail[0]["created_at"])
    s.ctl("order", {"order": "newest"})
    assert s.page("limit=3")["jobs"] == tail[::-1]
    s.ctl("order", {"order": "oldest"})
    # deletions take the newest: the end of the oldest-first list
    s.ctl("drift", {"after_pages": 0, "delete": 2})
    assert s.ctl("jobs") == everything[:-2]
    for j in tail[1:]:
        assert s.api("/" + j["job_id"])[0] == 404


# --------------------------------------------------------------- mutate ---

def test_mutate(own_sim):
    args = ("--jobs", "200", "--seed", "4", "--hostile")
    a, b, c = own_sim(*args), own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    body = {"seed": 11, "create": 6, "advance": 8, "delete": 5}
    ra = a.ctl("mutate", body)
    assert ra == b.ctl("mutate", body)              # deterministic
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    after = a.ctl("jobs")
    assert set(ra) == set(NO_CHANGE)
    created, advanced, deleted = ra["created"], ra["advanced"], ra["deleted"]
    assert len(created) == 6 and len(advanced) == 8 and len(deleted) == 5
    before_ids = ids_of(before)
    assert not set(created) & set(before_ids)
    assert a.page("limit=1")["total"] == len(before) + 6 - 5

    # Creations come first: the same seed with only "create" makes the
    # same jobs, as they were before being advanced or deleted.
    rc = c.ctl("mutate", {"seed": 11, "create": 6})
    assert rc == dict(NO_CHANGE, created=created)
    mid = c.ctl("jobs")
    assert mid[6:] == before
    assert ids_of(mid[:6]) == created[::-1]        # the last made is first
    stamps = [ts(j["created_at"]) for j in mid[:6]]
    others = [ts(j["created_at"]) for j in before
              if isinstance(j, dict) and "created_at" in j
              and j["created_at"] != "not a date"]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == 6 and min(stamps) > max(others)
    for j in mid[:6]:
        assert re.fullmatch(r"job_[0-9a-f]{12}", j["job_id"])
        check_job(j)

    # deleted: gone; everything else keeps its place
    for jid in deleted:
        assert jid in ids_of(mid) and jid not in ids_of(after)
        assert a.api("/" + q(jid))[0] == 404
    assert ids_of(after) == [x for x in ids_of(mid) if x not in deleted]

    # advanced: one step, same created_at, consistent contents
    assert len({jid for jid, _, _ in advanced}) == 8
    old = {j["job_id"]: j for j in mid if isinstance(j, dict)
           and isinstance(j.get("job_id"), str)}
    new = {j["job_id"]: j for j in after if isinstance(j, dict)
           and isinstance(j.get("job_id"), str)}
    for jid, frm, to in advanced:
        assert old[jid]["status"] == frm
        assert (frm, to) in (("pending", "processing"),
                             ("processing", "completed"),
                             ("processing", "failed"),
                             ("processing", "cancelled"))
        if jid in new:
            j = new[jid]
            assert j["status"] == to
            for k in ("created_at", "url", "metadata"):
                assert j[k] == old[jid][k]
            check_job(j)
            assert json.loads(a.api("/" + jid)[2]) == j
    advanced_ids = {jid for jid, _, _ in advanced}
    for jid, j in new.items():
        if jid not in advanced_ids:
            assert j == old[jid]

    # every filtered list, in both orders, is the filtered full list
    for order in ("oldest", "newest"):
        a.ctl("order", {"order": order})
        full = a.ctl("jobs")
        assert ids_of(full) == (ids_of(after) if order == "newest"
                                else ids_of(after)[::-1])
        for st in STATUSES:
            want = [j for j in full if isinstance(j, dict)
                    and j.get("status") == st]
            got, n = page_all(a, "status=%s&" % st, limit=100)
            assert got == want == a.ctl("jobs?status=" + st)

    # another seed, another outcome; the same seed on another state too
    r2 = a.ctl("mutate", {"seed": 12, "create": 6})
    assert r2["created"] != created and r2["advanced"] == r2["deleted"] == []
    assert a.ctl("mutate", {}) == NO_CHANGE


def test_mutate_unfinished_raw_hostile(own_sim):
    s = own_sim("--jobs", "0", "--hostile")
    raw = '{"job_id": "raw-p", "status": "pending",  "n": 29.99}'
    s.ctl("raw", {"raw": raw})
    code, _, _ = s.req("/_sim/jobs/" + q("a/b"), method="PATCH", auth=False,
                       body={"status": "processing"})
    assert code == 200
    # the only unfinished jobs are raw or hostile: nothing to advance
    r = s.ctl("mutate", {"seed": 1, "advance": 5})
    assert r == NO_CHANGE
    r = s.ctl("mutate", {"seed": 2, "create": 3,
                         "create_statuses": ["pending"]})
    made = r["created"]
    assert len(made) == 3
    for jid in made:
        j = json.loads(s.api("/" + jid)[2])
        assert j["status"] == "pending"
        check_job(j)
    r = s.ctl("mutate", {"seed": 3, "advance": 10})
    assert sorted(r["advanced"]) == sorted([[jid, "pending", "processing"]
                                            for jid in made])
    assert s.page("status=pending")["total"] == 1          # raw-p
    assert s.page("status=processing")["total"] == 4       # and a/b
    r = s.ctl("mutate", {"seed": 4, "advance": 10})
    assert sorted(x[0] for x in r["advanced"]) == sorted(made)
    for jid, frm, to in r["advanced"]:
        assert frm == "processing" and to in ("completed", "failed",
                                               "cancelled")
        j = json.loads(s.api("/" + jid)[2])
        assert j["status"] == to
        check_job(j)
    assert s.ctl("mutate", {"seed": 5, "advance": 10})["advanced"] == []
    assert s.api("/raw-p")[2] == raw.encode()
    assert json.loads(s.api("/" + q("a/b"))[2])["status"] == "processing"

    # created jobs are newer than every job, explicit created_at included
    s.ctl("jobs", {"job_id": "future", "created_at": "2031-01-01T00:00:00Z"})
    r = s.ctl("mutate", {"seed": 6, "create": 30,
                         "create_statuses": ["completed", "failed",
                                             "cancelled"]})
    seen = set()
    for jid in r["created"]:
        j = json.loads(s.api("/" + jid)[2])
        check_job(j)
        seen.add(j["status"])
        assert ts(j["created_at"]) > ts("2031-01-01T00:00:00Z")
    assert seen == {"completed", "failed", "cancelled"}
    assert ids_of(s.page("limit=30")["jobs"]) == r["created"][::-1]

    # deleting more than there is: every job with an id goes
    n_ids = len([j for j in s.ctl("jobs") if isinstance(j, dict)
                 and isinstance(j.get("job_id"), str)])
    r = s.ctl("mutate", {"seed": 7, "delete": 100000})
    assert len(r["deleted"]) == len(set(r["deleted"])) == n_ids
    assert "a/b" in r["deleted"] and "raw-p" in r["deleted"]
    rest = s.ctl("jobs")
    assert len(rest) == 2 and 42 in rest                   # no ids left
    assert s.page("limit=10")["total"] == 2
    assert s.page("status=completed")["total"] == 1
    assert s.api("/raw-p")[0] == 404


@pytest.mark.parametrize("body", [
    {"create": -1}, {"create": "3"}, {"advance": 1.5}, {"delete": True},
    {"create": 10000001},
    {"seed": [1]}, {"seed": None}, {"create_statuses": []},
    {"create_statuses": ["done"]}, {"create_statuses": "pending"}, [1]])
def test_mutate_422(sim, body):
    before = sim.ctl("stats")["jobs"]
    code, data = ctl_error(sim, "mutate", body)
    assert code == 422 and "detail" in data
    assert sim.ctl("stats")["jobs"] == before


# ---------------------------------------------------------------- scale ---

def test_scale_pages_and_mutations(own_sim):
    n = 50000
    s = own_sim("--jobs", str(n), "--item-count", "1")
    everything = s.ctl("jobs")
    assert len(everything) == n
    failed = [j for j in everything if j["status"] == "failed"]
    for order, full, ff in (("newest", everything, failed),
                            ("oldest", everything[::-1], failed[::-1])):
        s.ctl("order", {"order": order})
        for off in (0, 1, n // 2, n - 100, n - 37, n):
            p = s.page("limit=100&offset=%d" % off)
            assert p["jobs"] == full[off:off + 100] and p["total"] == n
        for off in (0, len(ff) // 3, len(ff) - 5):
            p = s.page("status=failed&limit=100&offset=%d" % off)
            assert p["jobs"] == ff[off:off + 100]
            assert p["total"] == len(ff)
    s.ctl("order", {"order": "newest"})
    t = time.monotonic()
    r = s.ctl("mutate", {"seed": 1, "create": 10, "advance": 10,
                         "delete": 10})
    assert time.monotonic() - t < 1.0
    t = time.monotonic()
    p = s.page("status=completed&limit=100&offset=20000")
    assert time.monotonic() - t < 0.5 and len(p["jobs"]) == 100
    assert s.page("limit=1")["total"] == n
    assert ids_of(s.page("limit=10")["jobs"]) == r["created"][::-1]


def test_settled_after_keeps_old_jobs_final(tmp_path):
    """--settled-after N: unfinished statuses only among the N newest."""
    proc, port = start_sim(tmp_path, "--jobs", "200", "--settled-after", "30")
    try:
        jobs = Sim(port).ctl("jobs")
        assert len(jobs) == 200
        old = [j for j in jobs[30:] if j["status"] in ("pending", "processing")]
        assert not old, old[:3]
        assert any(j["status"] in ("pending", "processing") for j in jobs[:30])
        for j in jobs[30:]:
            if j["status"] == "completed":
                assert j["completed_at"] and isinstance(j["extracted_data"], list), j
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


# ------------------------------------------- mutate: the newer keys -----

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6}Z|Z|\+00:00)")
FINAL = ("completed", "failed", "cancelled")


def by_id(jobs):
    return {j["job_id"]: j for j in jobs if isinstance(j, dict)
            and isinstance(j.get("job_id"), str)}


def check_views(s):
    """Every filtered list, paged in both orders, is the filtered full
    list; leaves the order as it found it."""
    was = s.ctl("stats")["order"]
    for order in ("newest", "oldest"):
        s.ctl("order", {"order": order})
        full = s.ctl("jobs")
        got, n = page_all(s, limit=13)
        assert got == full and n == len(full)
        for st in STATUSES:
            want = [j for j in full if isinstance(j, dict)
                    and j.get("status") == st]
            got, n = page_all(s, "status=%s&" % st, limit=9)
            assert got == want == s.ctl("jobs?status=" + st)
    s.ctl("order", {"order": was})


def test_mutate_backdate(own_sim):
    args = ("--jobs", "60", "--seed", "3")
    a, b, c = own_sim(*args), own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    body = {"seed": 21, "create": 5, "backdate": 2}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)                    # deterministic
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    created = r["created"]
    assert len(created) == 5 and r["backdated"] == created[:2]
    assert r == dict(NO_CHANGE, created=created, backdated=created[:2])
    after = a.ctl("jobs")
    # they keep their place at the newest end, created_at out of order
    assert ids_of(after[:5]) == created[::-1] and after[5:] == before
    newest, oldest = ts(before[0]["created_at"]), ts(before[-1]["created_at"])
    jobs = by_id(after)
    for jid in created[:2]:
        j = jobs[jid]
        check_job(j)
        assert TIME_RE.fullmatch(j["created_at"])
        assert oldest <= ts(j["created_at"]) < newest
    for jid in created[2:]:
        assert ts(jobs[jid]["created_at"]) > newest
    # the same creations as without backdate, only the times differ
    rc = c.ctl("mutate", {"seed": 21, "create": 5})
    assert rc["created"] == created
    plain = by_id(c.ctl("jobs"))
    for jid in created:
        x, y = dict(jobs[jid]), dict(plain[jid])
        if jid in created[:2]:
            for k in ("created_at", "completed_at"):
                x.pop(k), y.pop(k)
        assert x == y
    check_views(a)
    # oldest order: the newest end is the end of the list
    a.ctl("order", {"order": "oldest"})
    got, _ = page_all(a)
    assert ids_of(got[-5:]) == created
    # all of them backdated
    r = a.ctl("mutate", {"seed": 22, "create": 3, "backdate": 3})
    assert r["backdated"] == r["created"]
    assert ids_of(a.ctl("jobs")[-3:]) == r["created"]


def test_mutate_insert_middle(own_sim):
    args = ("--jobs", "80", "--seed", "5", "--hostile")
    a, b = own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    body = {"seed": 8, "create": 2, "insert_middle": 12,
            "create_statuses": ["failed", "pending"]}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    ins = r["inserted"]
    assert len(ins) == len(set(ins)) == 12
    assert not set(ins) & set(ids_of(before)) and not set(ins) & set(
        r["created"])
    after = a.ctl("jobs")
    ids = ids_of(after)
    assert [x for x in ids if x not in ins] == r["created"][::-1] + \
        ids_of(before)
    assert a.page("limit=1")["total"] == len(before) + 14
    for jid in ins:
        p = ids.index(jid)
        assert 0 < p < len(ids) - 1                  # strictly inside
        j = after[p]
        check_job(j)
        assert j["status"] in ("failed", "pending")
        assert TIME_RE.fullmatch(j["created_at"])
        assert ts(after[p - 1]["created_at"]) > ts(j["created_at"]) \
            > ts(after[p + 1]["created_at"])
        assert json.loads(a.api("/" + jid)[2]) == j
    check_views(a)
    # in oldest order they are inside the list too
    a.ctl("order", {"order": "oldest"})
    got, _ = page_all(a)
    assert ids_of(got) == ids[::-1]

    # many at once (one pass), into a small list: every gap used once
    s = own_sim("--jobs", "150", "--seed", "2")
    before = s.ctl("jobs")
    r = s.ctl("mutate", {"seed": 1, "insert_middle": 100})
    after = s.ctl("jobs")
    assert len(r["inserted"]) == 100 and len(after) == 250
    stamps = [ts(j["created_at"]) for j in after]
    assert all(x > y for x, y in zip(stamps, stamps[1:]))
    ids = ids_of(after)
    assert all(0 < ids.index(x) < 249 for x in r["inserted"])
    assert [x for x in ids if x not in r["inserted"]] == ids_of(before)
    check_views(s)
    # no more gaps than the list has; none in a one-job list
    r = s.ctl("mutate", {"seed": 2, "insert_middle": 10000})
    assert len(r["inserted"]) == 249
    one = own_sim("--jobs", "1")
    assert one.ctl("mutate", {"insert_middle": 3})["inserted"] == []


def test_mutate_insert_middle_tight_gaps(own_sim):
    s = own_sim("--jobs", "0")
    s.ctl("jobs", [{"job_id": "n", "created_at": "2026-11-01T00:00:02Z"},
                   {"job_id": "m", "created_at": "2026-11-01T00:00:01Z"},
                   {"job_id": "tie", "created_at": "2026-11-01T00:00:01Z"},
                   {"job_id": "bad", "created_at": "not a date"},
                   {"job_id": "o", "created_at": "2026-10-01T00:00:00Z"}])
    # gaps: n|m (1 s apart), m|tie (equal: no room), tie|bad, bad|o (no
    # time): only n|m qualifies, and it needs sub-second resolution
    r = s.ctl("mutate", {"seed": 3, "insert_middle": 5})
    assert len(r["inserted"]) == 1
    jobs = s.ctl("jobs")
    assert ids_of(jobs) == ["n", r["inserted"][0], "m", "tie", "bad", "o"]
    t = jobs[1]["created_at"]
    assert re.fullmatch(r"2026-11-01T00:00:01\.\d{6}Z", t) and t != \
        "2026-11-01T00:00:01.000000Z"
    check_job(jobs[1])


def test_mutate_finish(own_sim):
    args = ("--jobs", "120", "--seed", "5", "--hostile")
    a, b = own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    old = by_id(before)
    body = {"seed": 4, "finish": 10}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    fin = r["finished"]
    assert len(fin) == len({x[0] for x in fin}) == 10
    assert r == dict(NO_CHANGE, finished=fin)
    after = a.ctl("jobs")
    assert ids_of(after) == ids_of(before)               # places kept
    new = by_id(after)
    for jid, frm, to in fin:
        assert old[jid]["status"] == frm in ("pending", "processing")
        assert to in FINAL and new[jid]["status"] == to
        for k in ("created_at", "url", "metadata", "job_id"):
            assert new[jid][k] == old[jid][k]
        check_job(new[jid])
        assert re.fullmatch(r"job_[0-9a-f]{12}", jid)
    done = {x[0] for x in fin}
    for jid, j in new.items():
        if jid not in done:
            assert j == old[jid]
    assert {x[1] for x in fin} == {"pending", "processing"}
    check_views(a)
    # finish_statuses; after advance (a job just advanced may finish)
    r = a.ctl("mutate", {"seed": 5, "advance": 3, "finish": 10,
                         "finish_statuses": ["cancelled"]})
    assert len(r["finished"]) == 10 and len(r["advanced"]) == 3
    assert {x[2] for x in r["finished"]} == {"cancelled"}
    for jid, _, _ in r["finished"]:
        check_job(json.loads(a.api("/" + jid)[2]))
    # all of them: never a raw or hostile job
    a.req("/_sim/jobs/" + q("a/b"), method="PATCH", auth=False,
          body={"status": "pending"})
    a.ctl("raw", {"raw": '{"job_id": "raw-p", "status": "processing"}'})
    r = a.ctl("mutate", {"seed": 6, "finish": 100000,
                         "finish_statuses": ["completed", "failed"]})
    assert {x[2] for x in r["finished"]} == {"completed", "failed"}
    assert a.page("status=pending")["total"] == 1          # a/b
    assert a.page("status=processing")["total"] == 1       # raw-p
    assert a.ctl("mutate", {"seed": 7, "finish": 5})["finished"] == []
    check_views(a)


def test_mutate_reuse(own_sim):
    args = ("--jobs", "50", "--seed", "6")
    a, b = own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    body = {"seed": 9, "reuse": 4, "create_statuses": ["pending",
                                                       "completed"]}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    reused = r["reused"]
    assert len(set(reused)) == 4 and set(reused) <= set(ids_of(before))
    assert r == dict(NO_CHANGE, reused=reused)
    after = a.ctl("jobs")
    assert len(after) == len(before)
    assert ids_of(after[:4]) == reused[::-1]          # the last is newest
    assert ids_of(after[4:]) == [x for x in ids_of(before)
                                 if x not in reused]
    newest = ts(before[0]["created_at"])
    for j in after[:4]:
        check_job(j)
        assert j["status"] in ("pending", "completed")
        assert ts(j["created_at"]) > newest
        assert json.loads(a.api("/" + j["job_id"])[2]) == j
    check_views(a)
    a.ctl("order", {"order": "oldest"})
    got, _ = page_all(a)
    assert ids_of(got[-4:]) == reused
    # never raw or hostile
    s = own_sim("--jobs", "0", "--hostile")
    s.ctl("raw", {"raw": '{"job_id": "raw-1", "status": "completed"}'})
    assert s.ctl("mutate", {"seed": 1, "reuse": 1000})["reused"] == []
    made = s.ctl("mutate", {"seed": 2, "create": 2})["created"]
    r = s.ctl("mutate", {"seed": 3, "reuse": 1000})
    assert sorted(r["reused"]) == sorted(made)
    assert ids_of(s.page("limit=2")["jobs"]) == r["reused"][::-1]


def test_mutate_delete_status(own_sim):
    args = ("--jobs", "100", "--seed", "8")
    a, b = own_sim(*args), own_sim(*args)
    counts = {st: a.page("status=%s&limit=1" % st)["total"]
              for st in STATUSES}
    old = by_id(a.ctl("jobs"))
    body = {"seed": 2, "delete": 5, "delete_status": "failed"}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)
    assert len(r["deleted"]) == 5
    assert all(old[x]["status"] == "failed" for x in r["deleted"])
    for st in STATUSES:
        want = counts[st] - (5 if st == "failed" else 0)
        assert a.page("status=%s&limit=1" % st)["total"] == want
    r = a.ctl("mutate", {"seed": 3, "delete": 1000,
                         "delete_status": "pending"})
    assert len(r["deleted"]) == counts["pending"]
    assert a.page("status=pending")["total"] == 0
    assert a.ctl("mutate", {"seed": 4, "delete": 3,
                            "delete_status": "pending"})["deleted"] == []
    check_views(a)


def test_mutate_purge(own_sim):
    s = own_sim("--jobs", "40", "--seed", "2")
    before = s.ctl("jobs")
    r = s.ctl("mutate", {"seed": 1, "create": 3, "purge": 5})
    assert r["purged"] == ids_of(before)[-5:][::-1]        # oldest first
    after = s.ctl("jobs")
    assert ids_of(after) == r["created"][::-1] + ids_of(before)[:-5]
    for jid in r["purged"]:
        assert s.api("/" + jid)[0] == 404
    check_views(s)
    # elements without an id at the oldest end are skipped and stay
    s.ctl("jobs?at=100000", [{"job_id": None, "status": "completed"}])
    before = s.ctl("jobs")
    r = s.ctl("mutate", {"purge": 2})
    assert r["purged"] == ids_of(before)[-3:-1][::-1]
    assert s.ctl("jobs") == before[:-3] + before[-1:]
    # oldest order: the purged jobs are the first pages' ones
    s.ctl("order", {"order": "oldest"})
    first = s.page("limit=4")["jobs"]
    r = s.ctl("mutate", {"purge": 2})
    assert r["purged"] == ids_of(first[1:3])
    assert s.page("limit=2")["jobs"] == [first[0], first[3]]
    check_views(s)
    # more than there are: every job with an id
    r = s.ctl("mutate", {"purge": 100000})
    assert s.ctl("jobs") == [first[0]] and len(r["purged"]) == len(
        set(r["purged"]))
    assert s.page("limit=5")["total"] == 1


def test_mutate_all_keys_in_order(own_sim):
    args = ("--jobs", "300", "--seed", "9", "--hostile")
    a, b = own_sim(*args), own_sim(*args)
    before = a.ctl("jobs")
    body = {"seed": "round-1", "create": 6, "backdate": 2,
            "insert_middle": 4, "advance": 5, "finish": 5, "reuse": 3,
            "delete": 4, "delete_status": "completed", "purge": 3,
            "create_statuses": ["pending", "processing"],
            "finish_statuses": ["failed"]}
    r = a.ctl("mutate", body)
    assert r == b.ctl("mutate", body)
    assert a.req("/_sim/jobs")[2] == b.req("/_sim/jobs")[2]
    assert list(r) == list(NO_CHANGE)
    assert [len(r[k]) for k in ("created", "backdated", "inserted",
                                "advanced", "finished", "reused",
                                "deleted", "purged")] == [6, 2, 4, 5, 5, 3,
                                                          4, 3]
    assert a.page("limit=1")["total"] == len(before) + 6 + 4 - 4 - 3
    after = by_id(a.ctl("jobs"))
    assert all(x not in after for x in r["deleted"] + r["purged"])
    assert all(after[x]["status"] == "failed" for x, _, _ in r["finished"])
    # reuse comes after finish: a reused job was made again, unfinished
    for jid in r["reused"]:
        assert after[jid]["status"] in ("pending", "processing")
    check_views(a)
    # the benchmark's round, many times over: totals stay consistent
    n = a.page("limit=1")["total"]
    for i in range(20):
        r = a.ctl("mutate", {"seed": i, "create": 5, "finish": 2,
                             "purge": 5})
        assert len(r["purged"]) == 5 and len(r["created"]) == 5
        assert a.page("limit=1")["total"] == n
    check_views(a)


@pytest.mark.parametrize("body", [
    {"finish": -1}, {"insert_middle": "2"}, {"reuse": 1.0}, {"purge": True},
    {"backdate": 1}, {"create": 2, "backdate": 3}, {"backdate": -1},
    {"purge": 10000001}, {"finish_statuses": []},
    {"finish_statuses": ["pending"]}, {"finish_statuses": "failed"},
    {"delete_status": "done"}, {"delete_status": None},
    {"delete_status": ["failed"]}, {"create": 1, "finish_statuses": None}])
def test_mutate_422_new_keys(sim, body):
    before = sim.req("/_sim/jobs")[2]
    code, data = ctl_error(sim, "mutate", body)
    assert code == 422 and isinstance(data["detail"], str)
    assert sim.req("/_sim/jobs")[2] == before


# ------------------------------------------- drift: mutate, delete_ids --

@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_drift_mutate_and_delete_ids(own_sim, order):
    s = own_sim("--jobs", "30", "--seed", "4", "--order", order)
    before = s.ctl("jobs")
    first = s.page("limit=10")["jobs"]
    victim = first[4]["job_id"]
    s.ctl("drift", {"after_pages": 1, "delete_ids": [victim, "nope"],
                    "mutate": {"seed": 3, "create": 1,
                               "create_statuses": ["completed"]}})
    st = s.ctl("stats")
    assert st["drift_pending"] and st["last_drift"] is None
    p0 = s.page("limit=10")                      # triggers it
    assert p0["jobs"] == first and p0["total"] == 30
    st = s.ctl("stats")
    assert not st["drift_pending"]
    made = st["last_drift"]["mutate"]["created"]
    assert st["last_drift"]["deleted"] == [victim] and len(made) == 1
    assert st["last_drift"]["inserted"] == []
    p1 = s.page("limit=10&offset=10")            # the next page sees it
    assert p1["total"] == 30                     # balanced
    after = s.ctl("jobs")
    assert s.api("/" + victim)[0] == 404
    rest = [j for j in before if j["job_id"] != victim]
    if order == "newest":
        assert ids_of(after) == made + ids_of(rest)
        # a job gone from the first page and one new before it: the
        # later pages are where they were
        assert p1["jobs"] == before[10:20]
    else:
        assert ids_of(after) == ids_of(rest) + made
        assert p1["jobs"] == rest[10:20]
    # a drift's own insert/delete come first, then its mutate
    s.ctl("drift", {"after_pages": 0, "insert": 2, "delete": 1,
                    "mutate": {"seed": 4, "purge": 1, "create": 1}})
    ld = s.ctl("stats")["last_drift"]
    assert len(ld["deleted"]) == 1 and len(ld["inserted"]) == 2
    assert len(ld["mutate"]["created"]) == 1
    assert s.page("limit=1")["total"] == 30 - 1 + 2 + 1 - 1
    check_views(s)
    # null: none of either
    jobs = s.ctl("jobs")
    s.ctl("drift", {"after_pages": 0, "delete_ids": None, "mutate": None})
    assert s.ctl("jobs") == jobs
    assert s.ctl("stats")["last_drift"] == {"deleted": [], "inserted": [],
                                            "mutate": None}


@pytest.mark.parametrize("body", [
    {"mutate": {"create": -1}}, {"mutate": {"backdate": 1}}, {"mutate": [1]},
    {"mutate": "create"}, {"mutate": {"delete_status": "x"}},
    {"delete_ids": "job_1"}, {"delete_ids": [1]}, {"delete_ids": {}}])
def test_drift_400_new_keys(sim, body):
    before = sim.req("/_sim/jobs")[2]
    code, data = ctl_error(sim, "drift", dict(body, after_pages=0))
    assert code == 400 and isinstance(data["detail"], str)
    if "mutate" in body and isinstance(body["mutate"], dict):
        assert data["detail"].startswith("mutate: ")
    assert sim.req("/_sim/jobs")[2] == before
    assert not sim.ctl("stats")["drift_pending"]


# ---------------------------------------------- POST /_sim/jobs?at=N ----

def test_jobs_post_at(own_sim):
    s = own_sim("--jobs", "10", "--seed", "1")
    before = ids_of(s.ctl("jobs"))
    assert s.ctl("jobs?at=3", {"job_id": "mid", "status": "completed",
                               "created_at": "2020-01-01T00:00:00Z"}) \
        == {"added": ["mid"]}
    got = s.ctl("jobs")
    assert ids_of(got) == before[:3] + ["mid"] + before[3:]
    assert got[3]["created_at"] == "2020-01-01T00:00:00Z"
    s.ctl("jobs?at=0", {"job_id": "front"})
    s.ctl("jobs?at=12", {"job_id": "end-exact"})
    s.ctl("jobs?at=999999", [{"job_id": "end-1"}, {"job_id": "end-2"}])
    s.ctl("jobs?at=2", [{"job_id": "x1"}, {"job_id": "x2"},
                        {"job_id": "x3"}])
    ids = ids_of(s.ctl("jobs"))
    assert ids == (["front", before[0], "x1", "x2", "x3", before[1],
                    before[2], "mid"] + before[3:]
                   + ["end-exact", "end-1", "end-2"])
    # a job already there is removed first, then put at N
    s.ctl("jobs?at=1", {"job_id": "mid", "status": "failed"})
    ids = ids_of(s.ctl("jobs"))
    assert ids[1] == "mid" and ids.count("mid") == 1 and len(ids) == 18
    assert ids_of(s.page("status=failed&limit=1")["jobs"]) == ["mid"]
    check_views(s)
    # oldest order: position 0 of the newest-first list is the end
    s.ctl("order", {"order": "oldest"})
    s.ctl("jobs?at=0", {"job_id": "newest"})
    s.ctl("jobs?at=1", {"job_id": "second"})
    got, _ = page_all(s)
    assert ids_of(got[-2:]) == ["second", "newest"]
    s.ctl("order", {"order": "newest"})
    # the same gap split again and again (keys become fractions)
    for i in range(40):
        s.ctl("jobs?at=1", {"job_id": "deep-%d" % i,
                            "status": STATUSES[i % 5]})
    ids = ids_of(s.ctl("jobs"))
    assert ids[:42] == ["newest"] + ["deep-%d" % i
                                     for i in range(39, -1, -1)] + ["second"]
    check_views(s)
    for i in range(0, 40, 3):
        code, _, _ = s.req("/_sim/jobs/deep-%d" % i, method="DELETE",
                           auth=False)
        assert code == 200
    r = s.ctl("mutate", {"seed": 1, "insert_middle": 10, "delete": 5,
                         "finish": 3})
    check_views(s)
    assert s.ctl("mutate", {"purge": 10000})["purged"]
    assert s.ctl("jobs") == []
    for bad in ("-1", "abc", "", "1.5", "+3"):
        code, _, data = s.req("/_sim/jobs?at=" + bad, method="POST",
                              auth=False, body={"job_id": "no"})
        assert code == 400 and "detail" in json.loads(data), bad
    assert s.api("/no")[0] == 404


# ------------------------------------------------------ list_requests ---

def test_stats_list_requests(own_sim):
    s = own_sim("--jobs", "20")
    s.page("limit=5")
    s.ctl("reset", {})
    assert s.ctl("stats")["list_requests"] == []
    s.page("limit=5&offset=10")
    s.page("status=failed&offset=3")
    s.api("?offset=abc")                             # 422: counted too
    s.api("?offset=2", auth=False)                   # 401: counted too
    s.api("/job_x")                                  # detail: not a list
    assert s.ctl("stats")["list_requests"] == [
        ["", 10], ["failed", 3], ["", "abc"], ["", 2]]
    s.ctl("reset", {})
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    for i in range(10005):
        c.request("GET", "/api/v1/scrape/jobs?limit=1&offset=%d" % i,
                  headers={"X-API-Key": KEY})
        c.getresponse().read()
    c.close()
    lr = s.ctl("stats")["list_requests"]
    assert len(lr) == 10000 and lr[0] == ["", 5] and lr[-1] == ["", 10004]


def test_sim_jobs_fields_id_gives_the_ids_in_order(sim):
    for q in ("", "?status=failed"):
        whole = json.loads(sim.req("/_sim/jobs" + q, auth=False)[2])
        sep = "&" if q else "?"
        code, _, body = sim.req("/_sim/jobs" + q + sep + "fields=id", auth=False)
        assert code == 200
        assert json.loads(body) == [j["job_id"] if isinstance(j, dict) and
                                    isinstance(j.get("job_id"), str) else None for j in whole]
    assert sim.req("/_sim/jobs?fields=ids", auth=False)[0] == 400
