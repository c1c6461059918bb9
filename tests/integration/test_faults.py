"""Resilience: upstream faults as the filesystem shows them (README "Freshness and caching", "Errors", "Security").

The fault matrix (test_fault_matrix) is every fault kind of the simulator on
the list call and on the detail call. Each (kind, target) is one scenario
with its own simulator and its own mount (-o ttl=1,retries=3,timeout=4):

  (a) a transient fault (count=1) is retried invisibly: the operation
      succeeds and the simulator counted exactly one more request;
  (c) once ttl has passed, a permanent fault (count=-1) still serves the
      last good data (stale-if-error) within timeout + 2 s;
  (b) a permanent fault on never-fetched data is EIO within timeout + 2 s;
  (d) after /_sim/clear and the retry pause (README: the next attempt comes
      2 s after a failed refresh) the next operation sees fresh data;
  (e) the daemon is alive, exits cleanly on unmount and its log has no
      sanitizer report.

A scenario mostly waits (ttl, the retry pause, a hanging server), so the
module fixture `matrix` runs the selected scenarios concurrently and every
parametrized test then judges its own scenario; that keeps the module at about 20 s
per binary instead of over two minutes. Time bounds are bounds on the
promise "no operation blocks longer than timeout" (measured with
time.monotonic() around the one syscall), not performance assertions.
"""

import concurrent.futures
import errno
import functools
import json
import os
import signal
import time
import traceback

import pytest

from conftest import _MountFactory, _SimFactory
from helpers import (STATUSES, bounded_call, errno_name, expected_job_json, expected_names,
                     jobs_entries, listdir_b, pages, proc_status, read_bytes, sleep_until)

TTL = 1
RETRIES = 3
TIMEOUT = 4
OPTS = "ttl=%d,retries=%d,timeout=%d" % (TTL, RETRIES, TIMEOUT)
BOUND = TIMEOUT + 2          # "no operation blocks longer than timeout", with slack
PAUSE = 2.0                  # README: after a failed refresh the next attempt comes 2 s later
JOBS = 20                    # every status view fits in one page

# name -> (simulator kind, extra fault fields)
FAULTS = {
    "500": ("500", {}),
    "502": ("502", {}),
    "503": ("503", {}),
    "503-retry-after": ("503", {"retry_after": 1}),
    "429-retry-after": ("429", {"retry_after": 1}),
    "reset": ("reset", {}),
    "truncate": ("truncate", {}),
    "garbage": ("garbage", {}),
    "html": ("html", {}),
    "shape": ("shape", {}),
    "hang": ("hang", {}),
    "slow": ("slow", {}),
}
TARGETS = ("list", "detail")
PARALLEL = 8                 # scenarios in flight at once
HUNG = BOUND + 10            # an operation not back after this is reported as hung
timed_call = functools.partial(bounded_call, limit=HUNG)


# ------------------------------------------------------------ scenarios ----

class Outcome:
    """What one scenario saw: named checks, in order, with their evidence."""

    def __init__(self, name):
        self.name = name
        self.t0 = time.monotonic()
        self.checks = []
        self.error = None
        self.log = ""
        self.args = ""

    def check(self, label, ok, detail=""):
        self.checks.append((label, bool(ok), detail, time.monotonic() - self.t0))
        return bool(ok)

    def failed(self):
        return [c for c in self.checks if not c[1]]

    def report(self):
        lines = ["scenario %s (%s):" % (self.name, self.args)]
        for label, ok, detail, at in self.checks:
            lines.append("  [%s] t=%5.2fs %s%s" % ("ok  " if ok else "FAIL", at, label,
                                                   (": " + detail) if detail else ""))
        if self.error:
            lines.append("  scenario error:\n" + self.error)
        lines.append("--- scrapefs log (last 6000 chars) ---\n" + self.log[-6000:])
        return "\n".join(lines)


def _op(res, err, el):
    return "%s in %.2f s" % (errno_name(err), el)


def _list_scenario(s, m, kind, extra, out):
    view = {st: os.path.join(m.jobs, "by-status", st) for st in STATUSES}
    stale_v, transient_v, cold_v = "completed", "failed", "cancelled"
    jobs = s.jobs()

    old, err, el = timed_call(listdir_b, view[stale_v])
    t_fetched = time.monotonic()
    if not out.check("setup: listing of %s" % stale_v,
                     err is None and old == expected_names(jobs, stale_v), _op(old, err, el)):
        return

    # (a) one faulted list call, then the retry answers
    want = expected_names(jobs, transient_v)
    s.reset()
    s.fault(kind, target="list", count=1, **extra)
    got, err, el = timed_call(listdir_b, view[transient_v])
    st = s.stats()
    out.check("(a) transient fault: listing of %s succeeds and is complete" % transient_v,
              err is None and got == want,
              "%s; got %d of %d names" % (_op(got, err, el), len(got or ()), len(want)))
    out.check("(a) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(a) the fault was injected", st["faults_injected"] == 1, repr(st))
    out.check("(a) exactly one more list request than the fault-free cost",
              st["requests"] == {"list": pages(len(want)) + 1, "detail": 0, "other": 0},
              "requests %r, fault-free cost %d list call(s)" % (st["requests"],
                                                                 pages(len(want))))

    # upstream changes after the fetch: the stale listing must not show it
    s.add({"job_id": "job_added_while_faulty", "status": stale_v,
           "url": "https://fault.example.com/new", "completed_at": "2026-12-01T00:00:00Z"})
    fresh = expected_names(s.jobs(), stale_v)
    assert fresh != old

    # (c) ttl has passed, every list call fails: the last good listing
    sleep_until(t_fetched + TTL + 0.15)
    s.reset()
    s.fault(kind, target="list", count=-1, **extra)
    got, err, el = timed_call(listdir_b, view[stale_v])
    t_failed = time.monotonic()
    st = s.stats()
    out.check("(c) permanent fault after ttl: the last good listing is served",
              err is None and got == old,
              "%s; %s" % (_op(got, err, el),
                          "new job shown" if got and got == fresh else
                          "got %d names, had %d" % (len(got or ()), len(old))))
    out.check("(c) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(c) a refresh was attempted", st["list_by_status"].get(stale_v, 0) >= 1,
              repr(st["requests"]))

    # (b) a listing never fetched: EIO
    s.reset()
    got, err, el = timed_call(listdir_b, view[cold_v])
    t_failed = time.monotonic()
    st = s.stats()
    out.check("(b) permanent fault on a never-fetched listing: EIO",
              err is not None and err.errno == errno.EIO, _op(got, err, el))
    out.check("(b) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(b) a fetch was attempted", st["list_by_status"].get(cold_v, 0) >= 1,
              repr(st["requests"]))

    # (d) recovery
    s.clear()
    sleep_until(t_failed + PAUSE + 0.1)
    got, err, el = timed_call(listdir_b, view[stale_v])
    out.check("(d) after clear and the retry pause: the fresh listing",
              err is None and got == fresh,
              "%s; %s" % (_op(got, err, el), "still the stale listing" if got == old else
                          "got %d names, want %d" % (len(got or ()), len(fresh))))
    got, err, el = timed_call(listdir_b, view[cold_v])
    out.check("(d) the listing that failed now works",
              err is None and got == expected_names(s.jobs(), cold_v), _op(got, err, el))


def _detail_scenario(s, m, kind, extra, out):
    jobs = s.jobs()
    names, err, el = timed_call(jobs_entries, m.path)
    t_fetched = time.monotonic()
    if not out.check("setup: listing of jobs/",
                     err is None and expected_names(jobs) <= names, _op(names, err, el)):
        return
    pend = next(j for j in jobs if j["status"] == "pending")
    p_path = os.path.join(m.jobs, pend["job_id"], "job.json")
    got, err, el = timed_call(read_bytes, p_path)
    if not out.check("setup: pending job read", got == expected_job_json(pend),
                     _op(got, err, el)):
        return

    # jobs not in the cached listing: reading them costs a detail call
    s.add([{"job_id": "job_detail_transient", "status": "completed",
            "url": "https://fault.example.com/t", "extracted_data": [{"n": 1}],
            "completed_at": "2026-12-01T00:00:00Z"},
           {"job_id": "job_detail_never", "status": "completed",
            "url": "https://fault.example.com/n", "extracted_data": [{"n": 2}],
            "completed_at": "2026-12-01T00:00:01Z"}])
    now_jobs = {j["job_id"]: j for j in s.jobs()}

    # (a) one faulted detail call, then the retry answers
    s.reset()
    s.fault(kind, target="detail", count=1, **extra)
    want = expected_job_json(now_jobs["job_detail_transient"])
    got, err, el = timed_call(read_bytes, os.path.join(m.jobs, "job_detail_transient",
                                                       "job.json"))
    st = s.stats()
    out.check("(a) transient fault: the unlisted job reads right", err is None and got == want,
              _op(got, err, el))
    out.check("(a) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(a) the fault was injected", st["faults_injected"] == 1, repr(st))
    out.check("(a) exactly one more detail request than the fault-free cost (1)",
              st["requests"] == {"list": 0, "detail": 2, "other": 0}, repr(st["requests"]))

    # the pending job changes upstream
    s.patch(pend["job_id"], {"error_message": "changed while the API was failing",
                             "metadata": {"rev": 2}})
    pend_new = next(j for j in s.jobs() if j["job_id"] == pend["job_id"])
    assert expected_job_json(pend_new) != expected_job_json(pend)

    # (c) ttl has passed, every detail call fails: the last good copy
    sleep_until(t_fetched + TTL + 0.15)
    s.reset()
    s.fault(kind, target="detail", count=-1, **extra)
    got, err, el = timed_call(read_bytes, p_path)
    t_failed = time.monotonic()
    st = s.stats()
    out.check("(c) permanent fault after ttl: the last good job.json is served",
              err is None and got == expected_job_json(pend),
              "%s%s" % (_op(got, err, el),
                        "; the new version?!" if got == expected_job_json(pend_new) else ""))
    out.check("(c) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(c) a refresh was attempted (a detail call)", st["requests"]["detail"] >= 1,
              repr(st["requests"]))

    # (b) a job never fetched: EIO
    s.reset()
    got, err, el = timed_call(os.stat, os.path.join(m.jobs, "job_detail_never", "job.json"))
    t_failed = time.monotonic()
    st = s.stats()
    out.check("(b) permanent fault on a never-fetched job: EIO",
              err is not None and err.errno == errno.EIO, _op(got, err, el))
    out.check("(b) within timeout+2 s", el <= BOUND, "%.2f s" % el)
    out.check("(b) a fetch was attempted", st["requests"]["detail"] >= 1, repr(st["requests"]))

    # (d) recovery
    s.clear()
    sleep_until(t_failed + PAUSE + 0.1)
    got, err, el = timed_call(read_bytes, p_path)
    out.check("(d) after clear and the retry pause: the new job.json",
              err is None and got == expected_job_json(pend_new),
              "%s%s" % (_op(got, err, el),
                        "; still the old version" if got == expected_job_json(pend) else ""))
    got, err, el = timed_call(read_bytes, os.path.join(m.jobs, "job_detail_never", "job.json"))
    out.check("(d) the job that failed now reads right",
              err is None and got == expected_job_json(now_jobs["job_detail_never"]),
              _op(got, err, el))


def _run_scenario(make_sim, make_mount, name, target):
    kind, extra = FAULTS[name]
    out = Outcome("%s on %s" % (name, target))
    s = m = None
    try:
        s = make_sim(jobs=JOBS)
        m = make_mount(s, opts=OPTS)
        out.args = " ".join(m.args)
        (_list_scenario if target == "list" else _detail_scenario)(s, m, kind, extra, out)
    except BaseException:  # pytest.fail() from the fixtures is a BaseException
        out.error = traceback.format_exc()
    finally:
        if s is not None:
            try:
                s.clear()
            except Exception:
                out.error = (out.error or "") + traceback.format_exc()
        if m is not None:
            out.check("(e) the daemon is alive at the end", m.alive(),
                      "exit code %r" % m.proc.poll())
            problems = m.teardown(check=False)
            out.check("(e) clean unmount and exit, no sanitizer report", not problems,
                      "; ".join(problems))
            out.log = m.log()
        if s is not None:
            s.stop()
    return out


class Matrix:
    """The scenarios of one binary, run in a thread pool. It owns its
    simulators and mounts (not module_mount: pytest may set module fixtures
    of a binary up and down more than once while it orders the tests, which
    would restart or unmount running scenarios)."""

    def __init__(self, binary, tmpdir, combos):
        self.sims = _SimFactory(os.path.join(tmpdir, "sims"))
        self.mounts = _MountFactory(binary, os.path.join(tmpdir, "mounts"))
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL)
        # the slowest kinds first, so the pool drains evenly
        order = sorted(combos, key=lambda c: c[0] not in ("hang", "slow", "503-retry-after",
                                                          "429-retry-after"))
        self.futures = {c: self.pool.submit(_run_scenario, self.sims, self.mounts, *c)
                        for c in order}

    def result(self, name, target):
        return self.futures[(name, target)].result(timeout=180)

    def close(self):
        # Normally every scenario has unmounted and stopped its own. One
        # blocked in the mount is released by unmounting it here: do not
        # wait for it before.
        self.pool.shutdown(wait=False, cancel_futures=True)
        for m in self.mounts.mounts:
            m.teardown(check=False)
        self.sims.close()


@pytest.fixture(scope="module")
def _matrices():
    store = {}
    yield store
    for mx in store.values():
        mx.close()


@pytest.fixture
def matrix(request, scrapefs_bin, _matrices, tmp_path_factory):
    """The Matrix of this binary, started at first use with every selected
    test_fault_matrix case of it."""
    mx = _matrices.get(scrapefs_bin)
    if mx is None:
        combos = []
        for item in request.session.items:
            cs = getattr(item, "callspec", None)
            if (getattr(item, "originalname", None) == "test_fault_matrix" and cs is not None
                    and cs.params.get("scrapefs_bin") == scrapefs_bin
                    and item.module is request.module):
                combos.append((cs.params["kind"], cs.params["target"]))
        mx = _matrices[scrapefs_bin] = Matrix(scrapefs_bin, str(tmp_path_factory.mktemp("matrix")),
                                               combos)
    return mx


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_matrix(matrix, kind, target):
    out = matrix.result(kind, target)
    if out.error is None and not out.failed():
        print(out.report())  # shown with -rA / -s: what the scenario saw
    assert out.error is None and not out.failed(), out.report()
    labels = [c[0] for c in out.checks]
    assert any(l.startswith("(d)") for l in labels), out.report()  # it ran to the end


# ------------------------------------------------------ single cases ----

@pytest.mark.parametrize("code", ["401", "403"])
@pytest.mark.parametrize("target", TARGETS)
def test_key_rejected_is_eacces(sim, mount, code, target):
    s = sim(jobs=JOBS)
    m = mount(s, opts=OPTS)
    jobs_entries(m.path)
    if target == "list":
        path = os.path.join(m.jobs, "by-status", "failed")
        op = listdir_b
    else:
        s.add({"job_id": "job_forbidden", "status": "completed",
               "completed_at": "2026-12-01T00:00:00Z"})
        path = os.path.join(m.jobs, "job_forbidden", "job.json")
        op = read_bytes
    s.reset()
    s.fault(code, target=target, count=-1)
    got, err, el = timed_call(op, path)
    st = s.stats()
    s.clear()
    assert err is not None and err.errno == errno.EACCES, _op(got, err, el)
    assert el <= BOUND, el
    # not retried: a rejected key stays rejected
    assert st["requests"][target] == 1, st
    log = m.log()
    assert "API key rejected" in log, log[-3000:]
    assert s.api_key not in log
    # the key is fine again: the failure was not remembered
    got, err, el = timed_call(op, path)
    assert err is None, _op(got, err, el)


def test_body_over_cap_is_eio_without_buffering(sim, mount):
    s = sim(jobs=5)
    m = mount(s, opts=OPTS)
    jobs_entries(m.path)
    blob = "x" * (70 * 1024 * 1024)
    raw = ('{"job_id": "job_huge", "status": "completed", "url": "https://huge.example.com/",'
           ' "extracted_data": ["%s"], "error_message": null, "metadata": null,'
           ' "created_at": "2026-11-01T00:00:00Z", "completed_at": "2026-11-01T00:01:00Z"}'
           % blob)
    del blob
    s.raw("job_huge", raw, list_raw=False)
    del raw
    before = proc_status(m.pid)
    s.reset()
    got, err, el = timed_call(read_bytes, os.path.join(m.jobs, "job_huge", "job.json"))
    after = proc_status(m.pid)
    st = s.stats()
    assert err is not None and err.errno == errno.EIO, _op(got, err, el)
    assert el <= BOUND, el
    assert 1 <= st["requests"]["detail"] <= RETRIES + 1, st
    grew = after["VmHWM"] - before["VmRSS"]
    print("daemon VmRSS before %d kB, VmHWM after %d kB; detail requests %d; EIO in %.2f s"
          % (before["VmRSS"], after["VmHWM"], st["requests"]["detail"], el))
    assert after["VmHWM"] < 100 * 1024, "peak RSS %d kB (before: %d kB)" % (
        after["VmHWM"], before["VmRSS"])
    assert grew < 32 * 1024, "RSS peak grew by %d kB: the body was buffered" % grew
    assert m.alive()
    # the daemon still serves normal jobs
    job = s.jobs()[0]
    assert read_bytes(os.path.join(m.jobs, job["job_id"], "job.json")) == expected_job_json(job)


def test_drift_on_status_view_small_pages(sim, mount):
    s = sim(jobs=60)
    m = mount(s, opts="ttl=30,page_size=5")
    before = expected_names(s.jobs(), "completed")
    assert len(before) > 3 * 5, "test data too small for several pages"
    s.drift(after_pages=1, insert=3, delete=2, status="completed")
    cdir = os.path.join(m.jobs, "by-status", "completed")
    got = listdir_b(cdir)  # fails on a name listed twice
    after = expected_names(s.jobs(), "completed")
    assert s.stats()["drift_pending"] is False, s.stats()
    assert before != after, "the drift did not happen: %r" % s.stats()
    assert (before & after) <= got, "jobs missed through drift: %r" % sorted((before & after) - got)
    assert got <= (before | after), sorted(got - (before | after))
    os.kill(m.pid, signal.SIGHUP)
    end = time.monotonic() + 5
    while json.loads(read_bytes(os.path.join(m.path, ".scrapefs", "stats")))["refreshes"] < 1:
        assert time.monotonic() < end, "no refresh within 5 s of SIGHUP"
        time.sleep(0.01)
    assert listdir_b(cdir) == after


def test_hang_on_list_cold_mount(sim, mount):
    s = sim(jobs=JOBS)
    m = mount(s, opts="ttl=1,retries=2,timeout=3")
    s.reset()
    s.fault("hang", target="list", count=-1)
    try:
        got, err, el = timed_call(listdir_b, m.jobs)
        assert err is not None and err.errno == errno.EIO, _op(got, err, el)
        assert el <= 5, "%.2f s" % el
        assert s.stats()["requests"]["list"] >= 1
        # what needs no network still answers
        assert os.path.isdir(os.path.join(m.path, ".scrapefs"))
    finally:
        s.clear()
    time.sleep(PAUSE + 0.1)  # the failure is remembered that long
    assert jobs_entries(m.path) >= expected_names(s.jobs())
