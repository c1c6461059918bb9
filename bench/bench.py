"""SPEC §7 budgets, measured as ratios in one run (absolute times are noisy).

For each size it starts the simulator with 20 ms latency per request, mounts
scrapefs, and measures side by side:
  - cold `ls -l jobs/by-status/completed` against a sequential pager and
    against `curl --parallel --parallel-max 8` fetching the same pages;
  - the requests the simulator counted for that `ls -l` plus `cat` of every
    job.json of the view;
  - warm `grep -r` over the view against the same tree copied to tmpfs;
  - the daemon's memory with every job cached against the JSON received.
It prints each ratio with its budget and exits 1 when a budget is missed.
"""
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SCRAPEFS_BIN", os.path.join(ROOT, "build", "scrapefs"))
SIM = os.path.join(ROOT, "tests", "sim", "freddy_sim.py")
KEY = "bench-key"
PAGE = 100
LATENCY_MS = 20
failures = []
CURRENT_SIZE = 0
SPEC_SIZE = 10000


def best(fn, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ctl(port, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def start_sim(jobs, tmp):
    pf = os.path.join(tmp, "port")
    p = subprocess.Popen(["/usr/bin/python3", SIM, "--port", "0", "--port-file", pf,
                          "--jobs", str(jobs), "--latency-ms", str(LATENCY_MS),
                          "--api-key", KEY], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(600):
        if os.path.exists(pf) and open(pf).read().strip():
            return p, int(open(pf).read())
        if p.poll() is not None:
            sys.exit("bench: the simulator died")
        time.sleep(0.1)
    sys.exit("bench: the simulator did not start")


def page_urls(port, status, total):
    base = "http://127.0.0.1:%d/api/v1/scrape/jobs?status=%s&limit=%d&offset=" % (port, status, PAGE)
    return [base + str(o) for o in range(0, max(total, 1), PAGE)]


def sequential_pager(port, status):
    """One page after another over one keep-alive connection, as a naive script pages."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    offset, total, n = 0, None, 0
    while total is None or offset < total:
        conn.request("GET", "/api/v1/scrape/jobs?status=%s&limit=%d&offset=%d" % (status, PAGE, offset),
                     headers={"X-API-Key": KEY})
        body = json.loads(conn.getresponse().read())
        total = body["total"]
        n += len(body["jobs"])
        offset += PAGE
    conn.close()
    return n


def curl_parallel(urls):
    args = ["curl", "-s", "--fail", "--parallel", "--parallel-max", "8", "-H", "X-API-Key: " + KEY]
    for u in urls:
        args += [u, "-o", "/dev/null"]
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)


def mount(port, mnt, opts):
    log = open(mnt + ".log", "w")
    env = dict(os.environ, FREDDY_API_KEY=KEY)
    p = subprocess.Popen([BIN, "-f", "-o", opts, "http://127.0.0.1:%d/api/v1" % port, mnt],
                         env=env, stdout=log, stderr=log)
    for _ in range(300):
        if os.path.ismount(mnt):
            return p
        if p.poll() is not None:
            sys.exit("bench: scrapefs died: " + open(mnt + ".log").read())
        time.sleep(0.05)
    sys.exit("bench: mount timed out")


def umount(p, mnt):
    subprocess.run(["fusermount3", "-u", "-z", mnt], check=False)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()


def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def check(name, value, limit, fmt, higher_is_better=False, enforce=True):
    """Prints a measured figure against its budget. enforce=False: SPEC §7
    sets that budget at 10,000 jobs only, so at other sizes the figure is
    shown for comparison and does not fail the run."""
    ok = value >= limit if higher_is_better else value <= limit
    verdict = ("ok" if ok else "MISSED") if enforce else "(budget is for 10,000 jobs)"
    print("  %-58s %s  (budget %s %s) %s" % (name, fmt % value, ">=" if higher_is_better else "<=",
                                             fmt % limit, verdict))
    if enforce and not ok:
        failures.append("%s at %s" % (name, CURRENT_SIZE))


def read_all(view):
    n = 0
    for d in os.listdir(view):
        if d.startswith("by-"):
            continue
        with open(os.path.join(view, d, "job.json"), "rb") as f:
            n += len(f.read())
    return n


def run(jobs):
    global CURRENT_SIZE
    CURRENT_SIZE = jobs
    spec = jobs == SPEC_SIZE
    print("== %d jobs, %d ms latency per request, page_size %d" % (jobs, LATENCY_MS, PAGE))
    tmp = tempfile.mkdtemp(prefix="scrapefs-bench-")
    sim, port = start_sim(jobs, tmp)
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    daemon = None
    try:
        first = json.loads(urllib.request.urlopen(urllib.request.Request(
            "http://127.0.0.1:%d/api/v1/scrape/jobs?status=completed&limit=1" % port,
            headers={"X-API-Key": KEY})).read())
        total = first["total"]
        urls = page_urls(port, "completed", total)
        pages = math.ceil(total / PAGE)

        t_seq = best(lambda: sequential_pager(port, "completed"), runs=1 if jobs > 20000 else 2)
        t_curl = best(lambda: curl_parallel(urls))

        # scrapefs, cold: a fresh mount each run, so nothing is cached
        def cold_ls():
            nonlocal daemon
            daemon = mount(port, mnt, "ttl=3600")
            ctl(port, "/_sim/reset", {})
            t = time.perf_counter()
            subprocess.run(["ls", "-l", os.path.join(mnt, "jobs/by-status/completed")],
                           check=True, stdout=subprocess.DEVNULL)
            dt = time.perf_counter() - t
            return dt

        samples = []
        for i in range(3):
            samples.append(cold_ls())
            if i < 2:
                umount(daemon, mnt)
        t_fs = min(samples)
        view = os.path.join(mnt, "jobs/by-status/completed")
        after_ls = ctl(port, "/_sim/stats")["requests"]
        read_all(view)
        after_cat = ctl(port, "/_sim/stats")["requests"]

        print("  cold ls -l of %d completed jobs (%d pages):" % (total, pages))
        print("    sequential pager %.3f s, curl --parallel-max 8 %.3f s, scrapefs %.3f s"
              % (t_seq, t_curl, t_fs))
        check("speed-up over the sequential pager", t_seq / t_fs, 4.0, "%.2fx", higher_is_better=True,
              enforce=spec)
        check("scrapefs time / curl --parallel time", t_fs / t_curl, 2.0, "%.2fx", enforce=spec)
        check("list calls for ls -l + cat of every job.json", after_cat["list"], pages, "%d")
        check("extra list calls beyond ceil(N/page_size)", after_cat["list"] - pages, 0, "%d")
        check("detail calls for ls -l + cat of every job.json", after_cat["detail"], 0, "%d")
        assert after_ls["list"] == after_cat["list"]

        # warm grep -r: scrapefs against a tmpfs copy of the same files
        shm = tempfile.mkdtemp(prefix="scrapefs-bench-", dir="/dev/shm")
        try:
            shutil.copytree(view, os.path.join(shm, "completed"))
            grep = lambda d: subprocess.run(["grep", "-r", "-c", "no-such-needle-xyz", d],
                                            stdout=subprocess.DEVNULL)
            grep(view)
            grep(os.path.join(shm, "completed"))
            t_g_fs = best(lambda: grep(view), runs=5)
            t_g_tmp = best(lambda: grep(os.path.join(shm, "completed")), runs=5)
        finally:
            shutil.rmtree(shm, ignore_errors=True)
        print("  warm grep -r over the view: tmpfs %.3f s, scrapefs %.3f s" % (t_g_tmp, t_g_fs))
        check("warm grep -r: scrapefs / tmpfs", t_g_fs / t_g_tmp, 2.0, "%.2fx", enforce=spec)
        requests_grep = ctl(port, "/_sim/stats")["requests"]
        check("requests during warm grep -r", requests_grep["list"] + requests_grep["detail"]
              - after_cat["list"] - after_cat["detail"], 0, "%d")

        # memory: every job cached (all jobs listed and read)
        base_kib = rss_kib(daemon.pid, "VmRSS")
        umount(daemon, mnt)
        daemon = mount(port, mnt, "ttl=3600")
        base_kib = rss_kib(daemon.pid, "VmRSS")
        read_all(os.path.join(mnt, "jobs"))
        for s in ("pending", "processing", "completed", "failed", "cancelled"):
            os.listdir(os.path.join(mnt, "jobs/by-status", s))
        stats = json.load(open(os.path.join(mnt, ".scrapefs/stats")))
        got = stats["bytes_received"]
        hwm = rss_kib(daemon.pid, "VmHWM")
        rss = rss_kib(daemon.pid, "VmRSS")
        print("  memory: JSON received %.1f MiB, cache holds %.1f MiB, RSS %.1f MiB (peak %.1f, %.1f at mount)"
              % (got / 2**20, stats["cache"]["bytes"] / 2**20, rss / 1024, hwm / 1024, base_kib / 1024))
        check("daemon memory for jobs / JSON received", (rss - base_kib) * 1024 / got, 3.0, "%.2fx")
        check("peak memory for jobs / JSON received", (hwm - base_kib) * 1024 / got, 3.0, "%.2fx")
        return {"jobs": jobs, "ls": t_fs, "pages": pages, "grep": t_g_fs}
    finally:
        if daemon:
            umount(daemon, mnt)
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [10000, 100000]
    results = [run(n) for n in sizes]
    if len(results) >= 2:
        a, b = results[0], results[-1]
        grow = b["jobs"] / a["jobs"]
        print("== growth from %d to %d jobs (x%.0f)" % (a["jobs"], b["jobs"], grow))
        check("cold ls -l time growth / job-count growth", (b["ls"] / a["ls"]) / grow, 1.5, "%.2f")
        check("warm grep -r time growth / job-count growth", (b["grep"] / a["grep"]) / grow, 1.5, "%.2f")
    if failures:
        print("bench: %d budget(s) missed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("bench: every budget met")


if __name__ == "__main__":
    main()
