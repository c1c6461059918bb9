"""The control file .scrapefs/stats and the SIGHUP refresh (README "The control files"), the key
never showing anywhere in the mount (README "Security"), and the foreground log."""

import errno
import json
import os
import re
import stat
import subprocess
import time

import pytest

from conftest import ASAN_OPTIONS, UBSAN_OPTIONS, _mounted, sanitizer_findings
from helpers import (STATUSES, daemon_stats, encode_id, expected_day, expected_domain,
                     expected_groups, expected_job_json, expected_names, listdir_b, pages,
                     parse_iso, read_bytes)

ERROR_KINDS = ("timeout", "network", "http_5xx", "http_429", "auth", "not_found", "http_other",
               "malformed", "too_big")
CACHE_KEYS = ("hits", "misses", "evictions", "bytes", "cap_bytes", "jobs_known", "jobs_rendered")
LISTINGS = ("all",) + STATUSES
PLANTED_KEY = "sk-PLANTED-7d3f0b9e51c2-do-not-show"


def _refresh(m):
    """What the README says to type: `kill -HUP "$(jq .pid MNT/.scrapefs/stats)"`,
    through a real shell; then wait until stats says the refresh was done
    (the daemon tells the kernel from its notifier thread, a moment later)."""
    stats = os.path.join(m.path, ".scrapefs", "stats")
    before = daemon_stats(m)["refreshes"]
    r = subprocess.run(["sh", "-c", 'kill -HUP "$(jq .pid "$1")"', "sh", stats],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, "kill -HUP: rc=%d %s" % (r.returncode, r.stderr)
    end = time.monotonic() + 5
    while daemon_stats(m)["refreshes"] == before:
        assert time.monotonic() < end, "no refresh done within 5 s of SIGHUP"
        time.sleep(0.01)
    assert m.alive()


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ----------------------------------------------------------------- stats ----

def test_stats_document(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30,cache_size=7")
    st = os.stat(os.path.join(m.path, ".scrapefs", "stats"))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444, oct(st.st_mode)
    d = daemon_stats(m)
    assert isinstance(d, dict)
    missing = {"api_url", "pid", "refreshes", "requests", "retries", "errors", "bytes_received",
               "cache", "listings", "domains", "dates", "last_error"} - set(d)
    assert not missing, "stats lacks %r: %r" % (missing, d)
    assert d["api_url"] == s.base_url
    assert d["pid"] == m.pid and d["refreshes"] == 0, d
    assert {"probe", "list", "detail"} <= set(d["requests"]), d["requests"]
    assert all(_is_int(d["requests"][k]) for k in ("probe", "list", "detail")), d["requests"]
    assert _is_int(d["retries"]) and _is_int(d["bytes_received"])
    assert set(ERROR_KINDS) <= set(d["errors"]), d["errors"]
    assert all(_is_int(v) and v >= 0 for v in d["errors"].values()), d["errors"]
    assert set(CACHE_KEYS) <= set(d["cache"]), d["cache"]
    assert all(_is_int(d["cache"][k]) for k in CACHE_KEYS), d["cache"]
    assert d["cache"]["cap_bytes"] == 7 * 1024 * 1024, d["cache"]
    assert set(d["listings"]) == set(LISTINGS), d["listings"]
    for name in LISTINGS:
        li = d["listings"][name]
        assert {"fetched", "age_seconds", "jobs", "total"} <= set(li), (name, li)
        assert isinstance(li["fetched"], bool), (name, li)
    # nothing used yet: no listing fetched, no error
    for name in STATUSES:
        li = d["listings"][name]
        assert li["fetched"] is False and li["age_seconds"] is None and li["jobs"] == 0, (name, li)
    assert d["last_error"] is None, d["last_error"]
    assert _is_int(d["domains"]) and _is_int(d["dates"])
    assert d["errors"] == {k: 0 for k in d["errors"]}, d["errors"]


def test_stats_counters_follow_requests(sim, mount):
    s = sim(jobs=95)
    m = mount(s, opts="ttl=600,page_size=10")
    jobs = s.jobs()
    completed = [j for j in jobs if j["status"] == "completed"]
    d0 = daemon_stats(m)

    def daemon_matches_sim():
        # the daemon counts every request it sends except the start-up probe
        d = daemon_stats(m)
        lst, det, _ = s.requests()
        assert (d["requests"]["list"] + 1, d["requests"]["detail"]) == (lst, det), \
            (d["requests"], s.stats())
        return d

    listdir_b(os.path.join(m.jobs, "by-status", "completed"))
    d1 = daemon_matches_sim()
    assert d1["requests"]["list"] - d0["requests"]["list"] == pages(len(completed), 10)
    assert d1["requests"]["detail"] == d0["requests"]["detail"]
    assert d1["bytes_received"] > d0["bytes_received"]
    c = d1["listings"]["completed"]
    assert c["fetched"] is True and c["jobs"] == len(completed) and c["total"] == len(completed), c
    assert 0 <= c["age_seconds"] < 60, c
    assert d1["listings"]["pending"]["fetched"] is False

    os.listdir(m.jobs)
    d2 = daemon_matches_sim()
    assert d2["requests"]["list"] - d1["requests"]["list"] == pages(len(jobs), 10)
    a = d2["listings"]["all"]
    assert a["fetched"] is True and a["jobs"] == len(jobs) and a["total"] == len(jobs), a
    assert d2["domains"] == len(expected_groups(jobs, expected_domain)), d2["domains"]
    assert d2["dates"] == len(expected_groups(jobs, expected_day)), d2["dates"]
    assert d2["cache"]["jobs_known"] == len(jobs), d2["cache"]

    # a warm walk costs nothing and moves no request counter
    for j in jobs[:20]:
        read_bytes(os.path.join(m.jobs, j["job_id"], "job.json"))
    d3 = daemon_matches_sim()
    assert d3["requests"] == d2["requests"], (d2["requests"], d3["requests"])

    # an unlisted id: exactly one detail request
    s.add({"job_id": "job_unlisted_stats", "status": "pending", "url": "https://u.example.com/"})
    assert os.path.isdir(os.path.join(m.jobs, "job_unlisted_stats"))
    d4 = daemon_matches_sim()
    assert d4["requests"]["detail"] - d3["requests"]["detail"] == 1
    assert d4["requests"]["list"] == d3["requests"]["list"]
    assert d4["cache"]["jobs_known"] == len(jobs) + 1, d4["cache"]

    # an unknown id: one detail request, counted as not_found
    assert not os.path.exists(os.path.join(m.jobs, "job_missing_stats"))
    d5 = daemon_matches_sim()
    assert d5["requests"]["detail"] - d4["requests"]["detail"] == 1
    assert d5["errors"]["not_found"] - d4["errors"]["not_found"] == 1, d5["errors"]


def test_stats_fresh_at_every_open(sim, mount):
    """Each open shows the counters of that moment, even while the document
    grows (the kernel must not serve a cached or size-truncated copy)."""
    s = sim(jobs=10)
    m = mount(s, opts="ttl=600")
    os.listdir(m.jobs)
    base = daemon_stats(m)["requests"]["detail"]
    for i in range(1, 31):
        assert not os.path.exists(os.path.join(m.jobs, "job_nope_%d" % i))
        d = daemon_stats(m)  # fails when the text is cut at an old st_size
        assert d["requests"]["detail"] == base + i, (i, d["requests"])
        assert d["errors"]["not_found"] == i, (i, d["errors"])


def test_stats_last_error(sim, mount):
    s = sim(jobs=10)
    m = mount(s, opts="ttl=600,retries=1,timeout=5")
    os.listdir(m.jobs)
    d0 = daemon_stats(m)
    assert d0["last_error"] is None
    s.fault("500", target="detail", count=-1)
    t0 = time.time()
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(m.jobs, "job_behind_a_500"))
    s.clear()
    assert ei.value.errno == errno.EIO, ei.value
    d = daemon_stats(m)
    le = d["last_error"]
    assert isinstance(le, dict) and set(le) >= {"message", "at"}, le
    assert isinstance(le["message"], str) and le["message"].strip(), le
    assert "500" in le["message"], le
    at = parse_iso(le["at"])
    assert at is not None, le
    assert t0 - 5 <= at <= time.time() + 5, (le, t0)
    assert d["errors"]["http_5xx"] - d0["errors"]["http_5xx"] == 2, d["errors"]  # 1 + 1 retry
    assert d["retries"] - d0["retries"] == 1, d
    assert d["requests"]["detail"] - d0["requests"]["detail"] == 2, d["requests"]
    # the mount still works, and the error stays reported
    assert listdir_b(m.jobs) >= expected_names(s.jobs())
    assert daemon_stats(m)["last_error"] == le


def test_key_never_in_mount(sim, mount, tmp_path):
    """The key (planted as a distinctive string) is in no file, no name and no
    extended attribute of the mount, stats and error reports included."""
    s = sim(jobs=25, hostile=True, api_key=PLANTED_KEY)
    kf = tmp_path / "key"
    kf.write_text(PLANTED_KEY + "\n")
    os.chmod(kf, 0o600)
    m = mount(s, opts="ttl=600,api_key_file=%s" % kf, env_key=None)
    # traffic of every kind, and some errors for last_error
    os.listdir(m.jobs)
    for st in STATUSES:
        os.listdir(os.path.join(m.jobs, "by-status", st))
    s.fault("401", target="detail", count=1)
    with pytest.raises(OSError):
        os.stat(os.path.join(m.jobs, "job_behind_a_401"))
    assert not os.path.exists(os.path.join(m.jobs, "job_plain_404"))
    assert daemon_stats(m)["last_error"] is not None
    r = subprocess.run(["grep", "-r", "-a", "-l", "-F", PLANTED_KEY, m.path],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and not r.stdout, \
        "grep -r found the key (rc=%d):\n%s\n%s" % (r.returncode, r.stdout[:2000], r.stderr[:2000])
    # the same grep does read the whole mount, control files included
    r = subprocess.run(["grep", "-r", "-a", "-l", "-F", "api_url", m.path],
                       capture_output=True, text=True, timeout=120)
    assert os.path.join(m.path, ".scrapefs", "stats") in r.stdout.splitlines(), r.stdout[-500:]
    r = subprocess.run(["getfattr", "-d", "-R", "-m", "-", "--absolute-names", m.path],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert b"user.xdg.origin.url" in r.stdout, r.stdout[:500]
    assert PLANTED_KEY.encode() not in r.stdout + r.stderr
    for dirpath, dirnames, filenames in os.walk(os.fsencode(m.path)):
        for n in dirnames + filenames:
            assert PLANTED_KEY.encode() not in n, os.path.join(dirpath, n)


# --------------------------------------------------------------- refresh ----

def test_control_dir_is_read_only(sim, mount):
    """No writable file: a refresh is SIGHUP (the mount is read-only)."""
    s = sim(jobs=10)
    m = mount(s, opts="ttl=30")
    ctl = os.path.join(m.path, ".scrapefs")
    assert set(os.listdir(ctl)) == {"stats"}
    assert not os.path.exists(os.path.join(ctl, "refresh"))

    def erofs(fn, *args):
        with pytest.raises(OSError) as ei:
            r = fn(*args)
            if isinstance(r, int):
                os.close(r)
        assert ei.value.errno == errno.EROFS, "%s%r: %s" % (fn.__name__, args, ei.value)

    p = os.path.join(ctl, "stats")
    erofs(os.open, p, os.O_WRONLY)
    erofs(os.open, p, os.O_RDWR | os.O_TRUNC)
    erofs(os.open, os.path.join(ctl, "refresh"), os.O_WRONLY | os.O_CREAT, 0o644)
    erofs(os.mkdir, os.path.join(ctl, "dir"))
    erofs(os.unlink, p)
    erofs(os.rename, p, os.path.join(ctl, "stats2"))
    r = subprocess.run(["sh", "-c", 'echo 1 > "$1"', "sh", os.path.join(ctl, "refresh")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    assert json.loads(read_bytes(p))["api_url"] == s.base_url


def test_stats_reals_are_short(sim, mount):
    """Ages print as people write them (0.067), not with jansson's default 17
    significant digits (0.067000000000000004)."""
    s = sim(jobs=10)
    m = mount(s, opts="ttl=600")
    os.listdir(m.jobs)
    for _ in range(20):
        raw = read_bytes(os.path.join(m.path, ".scrapefs", "stats")).decode()
        for tok in re.findall(r"-?\d+\.\d+(?:[eE][-+]?\d+)?", raw):
            digits = re.sub(r"[^0-9]", "", tok.split("e")[0].split("E")[0]).lstrip("0")
            assert len(digits) <= 15, "a real with %d digits: %s" % (len(digits), tok)
        time.sleep(0.013)


def test_sighup_under_load(sim, mount):
    """SIGHUP while readers walk the tree: every refresh is done, the mount
    survives, nobody sees an error."""
    import threading
    s = sim(jobs=120, latency_ms=5)
    m = mount(s, opts="ttl=1,page_size=20")
    stop = threading.Event()
    errors = []

    def walk():
        while not stop.is_set():
            try:
                for d in (m.jobs, os.path.join(m.jobs, "by-status", "completed")):
                    for n in os.listdir(d)[:15]:
                        p = os.path.join(d, n, "job.json")
                        if os.path.exists(p):
                            read_bytes(p)
            except OSError as e:
                errors.append(e)

    ts = [threading.Thread(target=walk) for _ in range(4)]
    for t in ts:
        t.start()
    try:
        for _ in range(10):
            _refresh(m)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    assert not errors, errors[:5]
    assert m.alive()
    assert daemon_stats(m)["refreshes"] >= 10


def test_refresh_refetches_listings(sim, mount):
    s = sim(jobs=45)
    m = mount(s, opts="ttl=3600,page_size=10")
    pdir = os.path.join(m.jobs, "by-status", "pending")
    bd, bt = os.path.join(m.jobs, "by-domain"), os.path.join(m.jobs, "by-date")
    all0, pend0 = listdir_b(m.jobs), listdir_b(pdir)
    dom0, day0 = listdir_b(bd), listdir_b(bt)
    s.add({"job_id": "job_after_refresh", "status": "pending",
           "url": "https://Fresh.Example.com/new", "created_at": "2026-12-05T08:00:00Z"})
    s.reset()
    assert listdir_b(m.jobs) == all0
    assert listdir_b(pdir) == pend0
    assert listdir_b(bd) == dom0 and listdir_b(bt) == day0
    assert s.requests() == (0, 0, 0), s.stats()
    d0 = daemon_stats(m)
    _refresh(m)
    assert s.requests() == (0, 0, 0), "the refresh fetched by itself: %r" % s.stats()
    jobs = s.jobs()
    assert listdir_b(m.jobs) == all0 | {b"job_after_refresh"}
    assert listdir_b(pdir) == pend0 | {b"job_after_refresh"}
    assert listdir_b(bd) == dom0 | {b"fresh.example.com", b"fresh.example.com.jsonl"}
    assert listdir_b(os.path.join(bd, "fresh.example.com")) == {b"job_after_refresh"}
    assert listdir_b(os.path.join(bt, "2026-12-05")) == {b"job_after_refresh"}
    assert expected_names(jobs, "pending") == listdir_b(pdir)
    n_pending = len([j for j in jobs if j["status"] == "pending"])
    # refreshed cheaply or in full: never more than reading both again
    most = pages(len(jobs), 10) + pages(n_pending, 10)
    lst, det, oth = s.requests()
    assert 2 <= lst <= most and (det, oth) == (0, 0), s.stats()
    d1 = daemon_stats(m)
    assert d1["requests"]["list"] - d0["requests"]["list"] == lst, (d0["requests"],
                                                                    d1["requests"])
    # and fresh again for ttl: no more requests
    s.reset()
    listdir_b(m.jobs), listdir_b(pdir), listdir_b(bd)
    assert s.requests() == (0, 0, 0), s.stats()


def test_refresh_shows_changed_unfinished_job(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=3600")
    job = next(j for j in s.jobs() if j["status"] == "pending")
    jid, name = job["job_id"], encode_id(job["job_id"])
    pdir = os.path.join(os.fsencode(m.jobs), b"by-status", b"pending")
    rdir = os.path.join(os.fsencode(m.jobs), b"by-status", b"processing")
    p = os.path.join(os.fsencode(m.jobs), name, b"job.json")
    assert read_bytes(p) == expected_job_json(job)
    assert name in listdir_b(pdir) and name not in listdir_b(rdir)
    s.patch(jid, {"status": "processing", "error_message": "halfway there",
                  "extracted_data": [{"progress": 0.5, "note": "x" * 500}]})
    assert read_bytes(p) == expected_job_json(job)  # within ttl: the old version
    assert name in listdir_b(pdir)
    _refresh(m)
    new = next(j for j in s.jobs() if j["job_id"] == jid)
    assert read_bytes(p) == expected_job_json(new)
    assert os.stat(p).st_size == len(expected_job_json(new))
    assert read_bytes(os.path.join(os.fsencode(m.jobs), name, b"error.txt")) == b"halfway there\n"
    assert os.getxattr(os.path.join(os.fsencode(m.jobs), name), "user.scrapefs.status") == \
        b"processing"
    assert name not in listdir_b(pdir)
    assert name in listdir_b(rdir)
    assert read_bytes(os.path.join(rdir, name, b"job.json")) == expected_job_json(new)


def test_refresh_forgets_unknown_ids(sim, mount):
    s = sim(jobs=10)
    m = mount(s, opts="ttl=3600")
    os.listdir(m.jobs)
    p = os.path.join(m.jobs, "job_created_later")
    s.reset()
    with pytest.raises(FileNotFoundError):
        os.stat(p)
    assert s.requests() == (0, 1, 0), s.stats()
    s.add({"job_id": "job_created_later", "status": "pending", "url": "https://l.example.com/"})
    with pytest.raises(FileNotFoundError):
        os.stat(p)  # remembered for ttl
    assert s.requests() == (0, 1, 0), s.stats()
    _refresh(m)
    st = os.stat(p)
    assert stat.S_ISDIR(st.st_mode)
    job = next(j for j in s.jobs() if j["job_id"] == "job_created_later")
    assert read_bytes(os.path.join(p, "job.json")) == expected_job_json(job)


# ------------------------------------------------------------------- logs ----

def test_debug_log_shows_requests_never_the_key(sim, mount):
    s = sim(jobs=15, api_key=PLANTED_KEY)
    m = mount(s, opts="ttl=30,log_level=debug", env_key=PLANTED_KEY)
    os.listdir(m.jobs)
    s.add({"job_id": "job_dbg_detail_7", "status": "pending", "url": "https://d.example.com/"})
    assert os.path.isdir(os.path.join(m.jobs, "job_dbg_detail_7"))
    assert not os.path.exists(os.path.join(m.jobs, "job_dbg_missing_8"))
    m.unmount()
    log = m.log()
    lines = log.splitlines()
    assert PLANTED_KEY not in log, "the key is in the debug log"
    assert any("scrape/jobs" in l and "job_dbg_detail_7" not in l for l in lines), \
        "no list request line in the debug log:\n%s" % log[-3000:]
    assert any("job_dbg_detail_7" in l for l in lines), \
        "no detail request line for job_dbg_detail_7 in the debug log:\n%s" % log[-3000:]
    assert any("job_dbg_missing_8" in l for l in lines), \
        "no request line for the 404 of job_dbg_missing_8 in the debug log:\n%s" % log[-3000:]


def test_foreground_logs_to_stderr_only(sim, scrapefs_bin, tmp_path):
    """With -f the log goes to stderr (stdout stays empty), without the key."""
    s = sim(jobs=10, api_key=PLANTED_KEY)
    kf = tmp_path / "key"
    kf.write_text(PLANTED_KEY + "\n")
    os.chmod(kf, 0o644)  # readable by others: a warning at start-up
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    out_p, err_p = tmp_path / "stdout", tmp_path / "stderr"
    env = dict(os.environ)
    env.pop("FREDDY_API_KEY", None)
    env.pop("CACHE_DIRECTORY", None)
    env.update(ASAN_OPTIONS=ASAN_OPTIONS, UBSAN_OPTIONS=UBSAN_OPTIONS,
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        p = subprocess.Popen([scrapefs_bin, "-f", "-o", "api_key_file=%s,log_level=info,ttl=30"
                              % kf, s.base_url, str(mnt)],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
    try:
        end = time.monotonic() + 15
        while not _mounted(str(mnt)) and p.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert _mounted(str(mnt)), "did not mount: %s" % err_p.read_text()
        s.fault("500", target="detail", count=-1)
        with pytest.raises(OSError):
            os.stat(os.path.join(str(mnt), "jobs", "job_behind_a_500"))
        s.clear()
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait(5)
    out, err = out_p.read_bytes(), err_p.read_text(errors="replace")
    assert not sanitizer_findings(err), err[-5000:]
    assert rc == 0, err
    assert out == b"", "-f wrote to stdout: %r" % out[-1000:]
    assert str(kf) in err, "no warning about the world-readable key file on stderr:\n" + err
    assert "job_behind_a_500" in err or "500" in err, "the failed request is not logged:\n" + err
    assert PLANTED_KEY not in err
