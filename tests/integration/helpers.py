"""Pure helpers shared by the integration tests (no fixtures here).

Everything that knows what scrapefs *should* show (file names, file
contents, timestamps) is computed here independently of the daemon, from the
jobs the simulator reports, so a test compares two independent renderings.
"""

import datetime
import errno
import json
import math
import os
import re
import signal
import stat
import threading
import time
import urllib.parse

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
RESERVED = ("by-status", "by-domain", "by-date")
# Entries of jobs/ that are views, not jobs (README "The tree").
VIEWS = {b"by-status", b"by-domain", b"by-date"}
JOB_FILES = {"job.json", "error.txt", "data.jsonl"}


# --------------------------------------------------------------- names ----

def id_bytes(job_id):
    """The bytes of a job id as the API sends them (UTF-8)."""
    return job_id.encode("utf-8", "surrogatepass")


def encode_id(job_id):
    """The file name (README "The tree") of a job id, as bytes; None when it must be left out."""
    raw = id_bytes(job_id)
    if not raw:
        return None
    out = bytearray()
    for i, c in enumerate(raw):
        if c in (0x2F, 0x25) or c < 0x20 or c == 0x7F or (i == 0 and c == 0x2E):
            out += b"%%%02X" % c
        else:
            out.append(c)
    if job_id in RESERVED:
        out = bytearray(b"%%%02X" % raw[0]) + out[1:]
    if len(out) > 255:
        return None
    return bytes(out)


def valid_jobs(jobs):
    """The elements of a job array that are objects with a string job_id."""
    return [j for j in jobs if isinstance(j, dict) and isinstance(j.get("job_id"), str)]


def expected_names(jobs, status=None):
    """Set of encoded names (bytes) of the representable jobs (of a status)."""
    out = set()
    for j in valid_jobs(jobs):
        if status is not None and j.get("status") != status:
            continue
        name = encode_id(j["job_id"])
        if name is not None:
            out.add(name)
    return out


def listdir_b(path):
    """os.listdir with bytes names (exact comparison, no decoding games), as a
    set; a directory that lists one name twice fails the calling test."""
    names = os.listdir(os.fsencode(path))
    dups = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
    assert not dups, "%s lists names more than once: %r" % (path, dups[:10])
    return set(names)


def jobs_entries(mnt):
    """Every entry of MNT/jobs, views included (bytes)."""
    return listdir_b(os.path.join(mnt, "jobs"))


def job_path(mnt, job_id, *rest, status=None):
    """Bytes path of jobs/<encoded id>[/rest] (or of the status view)."""
    name = encode_id(job_id)
    assert name is not None, "job id %r has no name" % job_id
    base = os.fsencode(os.path.join(mnt, "jobs"))
    if status is not None:
        base = os.path.join(base, b"by-status", status.encode())
    return os.path.join(base, name, *[os.fsencode(r) for r in rest])


def ls_l(path):
    """What `ls -l` does to a directory: readdir, then lstat every entry."""
    out = {}
    with os.scandir(os.fsencode(path)) as it:
        for e in it:
            assert e.name not in out, "%s lists %r twice" % (path, e.name)
            out[e.name] = os.lstat(e.path)
    return out


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ------------------------------------------------------------ contents ----

def expected_job_json(job):
    return (json.dumps(job, indent=2, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


def expected_data_jsonl(job):
    data = job.get("extracted_data")
    if data is None:
        return b""
    if not isinstance(data, list):
        data = [data]
    return "".join(
        json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n" for item in data
    ).encode("utf-8", "surrogatepass")


def expected_error_txt(job):
    msg = job.get("error_message")
    if msg is None or msg == "":
        return b""
    return (msg + "\n").encode("utf-8", "surrogatepass")


# ----------------------------------------- raw (token-preserving) JSON ----

_WS = " \t\r\n"
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


class _Raw:
    """A parsed JSON value that keeps every scalar token's text as sent."""

    def __init__(self, kind, val):
        self.kind = kind  # "obj" (list of (key_token, _Raw)), "arr" (list), "tok" (str)
        self.val = val


def _parse_raw(text, i=0):
    while text[i] in _WS:
        i += 1
    c = text[i]
    if c == "{":
        i += 1
        items = []
        while True:
            while text[i] in _WS:
                i += 1
            if text[i] == "}":
                return _Raw("obj", items), i + 1
            key, i = _parse_raw(text, i)
            assert key.kind == "tok" and key.val.startswith('"')
            while text[i] in _WS:
                i += 1
            assert text[i] == ":"
            val, i = _parse_raw(text, i + 1)
            items.append((key.val, val))
            while text[i] in _WS:
                i += 1
            if text[i] == ",":
                i += 1
    if c == "[":
        i += 1
        items = []
        while True:
            while text[i] in _WS:
                i += 1
            if text[i] == "]":
                return _Raw("arr", items), i + 1
            val, i = _parse_raw(text, i)
            items.append(val)
            while text[i] in _WS:
                i += 1
            if text[i] == ",":
                i += 1
    if c == '"':
        j = i + 1
        while text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        return _Raw("tok", text[i:j + 1]), j + 1
    m = _SCALAR.match(text, i)
    assert m, "bad JSON at %d: %r" % (i, text[i:i + 20])
    return _Raw("tok", m.group(0)), m.end()


def _emit(v, level, pretty):
    if v.kind == "tok":
        return v.val
    opener, closer = ("{", "}") if v.kind == "obj" else ("[", "]")
    if not v.val:
        return opener + closer
    if v.kind == "obj":
        parts = [k + (": " if pretty else ":") + _emit(x, level + 1, pretty) for k, x in v.val]
    else:
        parts = [_emit(x, level + 1, pretty) for x in v.val]
    if not pretty:
        return opener + ",".join(parts) + closer
    ind = "  " * (level + 1)
    return opener + "\n" + ",\n".join(ind + p for p in parts) + "\n" + "  " * level + closer


def raw_pretty(text):
    """Python's indent=2 layout of a JSON text, scalar tokens kept verbatim."""
    v, _ = _parse_raw(text)
    return _emit(v, 0, True) + "\n"


def raw_data_jsonl(text):
    """data.jsonl of a raw job text, scalar tokens kept verbatim."""
    v, _ = _parse_raw(text)
    assert v.kind == "obj"
    data = dict(v.val).get('"extracted_data"')
    if data is None or (data.kind == "tok" and data.val == "null"):
        return ""
    items = data.val if data.kind == "arr" else [data]
    return "".join(_emit(x, 0, False) + "\n" for x in items)


# ------------------------------------------------------------ time/misc ----

def parse_iso(s):
    """UTC epoch seconds of an ISO 8601 timestamp, or None when unparsable."""
    if not isinstance(s, str):
        return None
    t = s.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        d = datetime.datetime.fromisoformat(t)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def expected_mtime(job):
    """completed_at if set, else created_at; None when neither parses."""
    if job.get("completed_at"):
        return parse_iso(job.get("completed_at"))
    return parse_iso(job.get("created_at"))


def json_equal(a, b):
    """Deep equality that treats NaN as equal to itself and keeps key order."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        # json.loads gives int/float consistently for the same token
        return False
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def pages(n, page_size=100):
    """List calls a full read of a view of n jobs costs (README "Freshness and
    caching"): ceil(n / page_size), at least one, and, when that is more than
    one page, the newest page read again to close the walk."""
    p = max(1, -(-n // page_size))
    return p + (p > 1)


def is_ro_dir(st):
    return stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555


def is_ro_file(st):
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444


def wait_for(pred, timeout, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# ------------------------------------------------- timing / the daemon ----

def timed_call(fn, *args):
    """(result, OSError or None, seconds): runs one filesystem operation and
    measures it with time.monotonic(); an OSError is returned, not raised."""
    t0 = time.monotonic()
    try:
        r = fn(*args)
    except OSError as e:
        return None, e, time.monotonic() - t0
    return r, None, time.monotonic() - t0


def sleep_until(deadline):
    """Sleeps until time.monotonic() reaches deadline (no-op when past)."""
    left = deadline - time.monotonic()
    if left > 0:
        time.sleep(left)


def proc_status(pid):
    """/proc/PID/status as a dict; the Vm* fields (kB) as ints."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.strip()
            if k.startswith("Vm") and v.endswith(" kB"):
                v = int(v[:-3])
            out[k] = v
    return out


def proc_fd_count(pid):
    """Open file descriptors of a process."""
    return len(os.listdir("/proc/%d/fd" % pid))


def errno_name(e):
    """'EIO' for an OSError (or 'ok' for None), for messages."""
    if e is None:
        return "ok"
    return "%s(%s)" % (type(e).__name__, errno.errorcode.get(e.errno, e.errno))


# ------------------------------------------- derived views (README "The tree") ----

INVALID_GROUP = b"_invalid"


def expected_domain(job):
    """Name (bytes) of the by-domain group of a job: the url's host,
    lower-case, `host:port` when the url names a port, `_invalid` when the
    url is missing, not a string or has no host. Reference: urllib.parse."""
    url = job.get("url")
    if not isinstance(url, str):
        return INVALID_GROUP
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return INVALID_GROUP
    if not host:
        return INVALID_GROUP
    name = encode_id(host if port is None else "%s:%d" % (host, port))
    return INVALID_GROUP if name is None else name


def expected_day(job):
    """Name (bytes) of the by-date group of a job: the UTC day of created_at,
    `_invalid` when it is missing or unparsable."""
    t = parse_iso(job.get("created_at"))
    if t is None:
        return INVALID_GROUP
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d").encode()


def expected_groups(jobs, keyfn):
    """{group name: set of job names} over the jobs that have a file name."""
    out = {}
    for j in valid_jobs(jobs):
        name = encode_id(j["job_id"])
        if name is not None:
            out.setdefault(keyfn(j), set()).add(name)
    return out


class OpHung(AssertionError):
    """A filesystem operation that did not come back at all."""


def bounded_call(fn, *args, limit):
    """timed_call(fn, *args) run in a helper thread, so that a test survives
    an operation that never returns: after `limit` seconds OpHung is raised
    (the helper thread stays blocked until the mount goes away)."""
    box = {}

    def run():
        try:
            box["v"] = timed_call(fn, *args)
        except BaseException as e:  # an assertion of fn, say: re-raised below
            box["e"] = e

    t = threading.Thread(target=run, daemon=True, name="bounded:%s" % fn.__name__)
    t.start()
    t.join(limit)
    if t.is_alive():
        raise OpHung("%s%r has not returned after %.0f s" % (fn.__name__, args, limit))
    if "e" in box:
        raise box["e"]
    return box["v"]


# ------------------------------------------------------------- the daemon ----

def daemon_stats(m):
    """MNT/.scrapefs/stats as a dict (a fresh document at every open)."""
    raw = read_bytes(os.path.join(m.path, ".scrapefs", "stats"))
    try:
        return json.loads(raw)
    except ValueError as e:
        raise AssertionError("stats is not one JSON object (%s): %r" % (e, raw[-300:])) from None


def sighup(m):
    """SIGHUP, then wait until stats says the refresh was done (the daemon
    tells the kernel from its notifier thread, a moment later)."""
    before = daemon_stats(m)["refreshes"]
    os.kill(m.pid, signal.SIGHUP)
    end = time.monotonic() + 5
    while daemon_stats(m)["refreshes"] == before:
        assert time.monotonic() < end, "no refresh done within 5 s of SIGHUP"
        time.sleep(0.005)


def assert_erofs(fn, *args):
    """fn(*args) fails with EROFS (an fd it should never have returned is
    closed)."""
    try:
        r = fn(*args)
    except OSError as e:
        assert e.errno == errno.EROFS, "%s%r: %s" % (fn.__name__, args, e)
        return
    if isinstance(r, int):
        os.close(r)
    raise AssertionError("%s%r did not fail (EROFS expected)" % (fn.__name__, args))
