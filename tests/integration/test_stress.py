"""Mixed load against an API that fails every way at once, then a shutdown.

Run against every build, it is the stress test of the sanitizer builds (the
ThreadSanitizer one above all): for 12 s, in parallel, listings (ls -l of
views), reads of job files, lookups of ids nobody knows, SIGHUP refreshes
and stats reads, while 10 % of API requests answer 500, 5 % are reset and
5 % hang. No operation may wait beyond timeout + 2 s, no answer may be
wrong, and SIGTERM at the end must unmount and end the daemon cleanly
(the fixture scans its log for sanitizer reports).
"""

import errno
import json
import os
import random
import signal
import threading
import time

from helpers import STATUSES, expected_job_json, expected_names, read_bytes, timed_call

TIMEOUT = 3
BOUND = TIMEOUT + 2
STRESS_S = 12.0


def test_mixed_load_with_faults_then_sigterm(sim, mount):
    s = sim(jobs=150, latency_ms=2)
    m = mount(s, opts="ttl=1,retries=1,timeout=%d,page_size=25" % TIMEOUT)
    jobs = {j["job_id"]: j for j in s.jobs()}
    final = [j for j in jobs.values() if j["status"] in ("completed", "failed", "cancelled")]
    s.fault("500", target="any", rate=0.10)
    s.fault("reset", target="any", rate=0.05)
    s.fault("hang", target="any", rate=0.05)
    stop = threading.Event()
    late, wrong, unexpected = [], [], []
    counts = {"ops": 0}
    lock = threading.Lock()

    def op(what, fn, *args):
        got, err, el = timed_call(fn, *args)
        with lock:
            counts["ops"] += 1
            if el > BOUND:
                late.append((what, round(el, 2)))
            if err is not None and err.errno not in (errno.EIO, errno.ENOENT):
                unexpected.append((what, err))
        return got, err

    # the API does not change during the run: every listing that succeeds
    # must be exactly the API's
    want = {st: expected_names(list(jobs.values()), st) for st in STATUSES}

    def ls_l(p):
        names = set()
        for e in os.scandir(os.fsencode(p)):
            os.lstat(e.path)
            names.add(e.name)
        return names

    def lister(rng):
        while not stop.is_set():
            st = rng.choice(STATUSES)
            d = os.path.join(m.jobs, "by-status", st)
            got, err = op("ls -l " + d, ls_l, d)
            if err is None and got != want[st]:
                wrong.append("%s: %d names, %d in the API" % (d, len(got), len(want[st])))

    def reader(rng):
        while not stop.is_set():
            j = rng.choice(final)  # final jobs never change: the bytes are known
            p = os.path.join(m.jobs, j["job_id"], "job.json")
            got, err = op("cat " + p, read_bytes, p)
            if err is None and got != expected_job_json(j):
                wrong.append(p)

    def prober(rng):
        while not stop.is_set():
            p = os.path.join(m.jobs, "job_nobody_%d" % rng.randrange(10 ** 6))
            got, err = op("stat " + p, os.stat, p)
            if err is None:
                wrong.append(p)

    def stats_reader(rng):
        while not stop.is_set():
            p = os.path.join(m.path, ".scrapefs", "stats")
            got, err = op("cat stats", read_bytes, p)
            if err is None:
                try:
                    doc = json.loads(got)
                    if not isinstance(doc.get("listings"), dict) or doc.get("pid") != m.pid:
                        wrong.append("stats without listings or pid: %r" % got[:200])
                except ValueError as e:
                    wrong.append("stats is not JSON (%s): %r" % (e, got[:200]))
            time.sleep(rng.random() * 0.05)

    workers = [(lister, 2), (reader, 3), (prober, 2), (stats_reader, 1)]
    ts = []
    for fn, n in workers:
        for i in range(n):
            ts.append(threading.Thread(target=fn, args=(random.Random(len(ts)),), daemon=True))
    for t in ts:
        t.start()
    end = time.monotonic() + STRESS_S
    refreshes = 0
    try:
        while time.monotonic() < end:
            os.kill(m.pid, signal.SIGHUP)
            refreshes += 1
            time.sleep(0.4)
    finally:
        stop.set()
        for t in ts:
            t.join(BOUND + 5)
        s.clear()
    assert not [t for t in ts if t.is_alive()], "a worker is stuck"
    assert counts["ops"] > 100, counts
    assert not late, late[:10]
    assert not wrong, wrong[:10]
    assert not unexpected, unexpected[:10]
    assert json.loads(read_bytes(os.path.join(m.path, ".scrapefs", "stats")))["refreshes"] >= 1

    # the shutdown: within a few seconds, cleanly, nothing left mounted
    s.fault("hang", target="any", count=-1)
    prober_t = threading.Thread(target=prober, args=(random.Random(99),), daemon=True)
    stop.clear()
    prober_t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    os.kill(m.pid, signal.SIGTERM)
    rc = m.reap(timeout=10)
    stop.set()
    s.clear()
    assert rc == 0, rc
    assert time.monotonic() - t0 <= 6
