"""Fixtures of the scrapefs integration suite.

SCRAPEFS_BINS (space-separated, default build/scrapefs relative to the repo
root) lists the daemons to test; every test is parametrized over them, with
ids taken from the binary's parent directory (build, build-asan, ...).

A missing /dev/fuse, fusermount3, simulator or binary FAILS the suite: this
suite never skips.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

REPO = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(REPO, "tests", "sim", "freddy_sim.py")
PYTHON = "/usr/bin/python3"
FUSERMOUNT = "fusermount3"

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:",
                     "Segmentation fault")
ASAN_OPTIONS = "abort_on_error=0:detect_leaks=1"
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"
TSAN_OPTIONS = "halt_on_error=0:second_deadlock_stack=1"


def _bins():
    raw = os.environ.get("SCRAPEFS_BINS", "build/scrapefs").split()
    bins, ids = [], []
    for b in raw:
        path = b if os.path.isabs(b) else os.path.join(REPO, b)
        path = os.path.normpath(path)
        bid = os.path.basename(os.path.dirname(path)) or "bin"
        base, n = bid, 2
        while bid in ids:
            bid = "%s%d" % (base, n)
            n += 1
        bins.append(path)
        ids.append(bid)
    return bins, ids


BINS, BIN_IDS = _bins()


def pytest_generate_tests(metafunc):
    if "scrapefs_bin" in metafunc.fixturenames:
        metafunc.parametrize("scrapefs_bin", BINS, ids=BIN_IDS, scope="module")


@pytest.fixture(scope="session", autouse=True)
def _preflight():
    """Fail (never skip) when the machine or the build cannot run the suite."""
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    if not any(os.access(os.path.join(d, FUSERMOUNT), os.X_OK)
               for d in os.environ.get("PATH", "/usr/bin:/bin").split(":")):
        problems.append("%s is not on PATH" % FUSERMOUNT)
    if not os.path.exists(PYTHON):
        problems.append("%s is missing" % PYTHON)
    for b in BINS:
        if not os.access(b, os.X_OK):
            problems.append("scrapefs binary %s is missing or not executable" % b)
    if problems:
        pytest.fail("integration suite cannot run: " + "; ".join(problems), pytrace=False)


def _closed_port():
    """A local TCP port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def closed_port():
    return _closed_port()


# ----------------------------------------------------------- simulator ----


def read_log(path):
    """A process's log so far, as text ("" before it exists)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""

class Sim:
    """One running freddy_sim.py and its control routes."""

    def __init__(self, workdir, jobs=25, hostile=False, latency_ms=0, api_key="test-key",
                 seed=None, item_count=None, order=None, settled_after=None):
        if not os.path.exists(SIM):
            pytest.fail("simulator %s is missing" % SIM, pytrace=False)
        os.makedirs(workdir, exist_ok=True)
        self.api_key = api_key
        self.port_file = os.path.join(workdir, "sim.port")
        self.log_path = os.path.join(workdir, "sim.log")
        args = [PYTHON, SIM, "--port", "0", "--port-file", self.port_file,
                "--jobs", str(jobs), "--api-key", api_key]
        if hostile:
            args.append("--hostile")
        if latency_ms:
            args += ["--latency-ms", str(latency_ms)]
        if seed is not None:
            args += ["--seed", str(seed)]
        if item_count is not None:
            args += ["--item-count", str(item_count)]
        if order is not None:
            args += ["--order", order]
        if settled_after is not None:
            args += ["--settled-after", str(settled_after)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=REPO)
        end = time.monotonic() + 15
        port = None
        while time.monotonic() < end:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt.isdigit():
                    port = int(txt)
                    break
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail("simulator died (rc=%s) before listening:\n%s"
                            % (self.proc.returncode, self.log()), pytrace=False)
            time.sleep(0.02)
        if port is None:
            self.stop()
            pytest.fail("simulator wrote no port file within 15 s:\n" + self.log(), pytrace=False)
        self.port = port
        self.root = "http://127.0.0.1:%d" % port
        self.base_url = self.root + "/api/v1"

    def log(self):
        return read_log(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    # -- control routes --
    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.root + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError("sim control %s %s failed: HTTP %d %s"
                                 % (method, path, e.code, e.read()[:300])) from None
        return json.loads(raw) if raw.strip() else None

    @staticmethod
    def _q(job_id):
        return urllib.parse.quote(job_id.encode("utf-8", "surrogatepass"), safe="")

    def stats(self):
        return self._call("GET", "/_sim/stats")

    def reset(self):
        return self._call("POST", "/_sim/reset", {})

    def jobs(self, status=None):
        """Every listed job, in the API's current order (of one status)."""
        return self._call("GET", "/_sim/jobs" + ("?status=" + status if status else ""))

    def mutate(self, **spec):
        """Random creations, forward moves and deletions (PROTOCOL.md)."""
        return self._call("POST", "/_sim/mutate", spec)

    def order(self, order):
        return self._call("POST", "/_sim/order", {"order": order})

    def add(self, job):
        return self._call("POST", "/_sim/jobs", job)

    def patch(self, job_id, fields):
        return self._call("PATCH", "/_sim/jobs/" + self._q(job_id), fields)

    def delete(self, job_id):
        return self._call("DELETE", "/_sim/jobs/" + self._q(job_id))

    def raw(self, job_id, raw_text, list_raw=True):
        return self._call("POST", "/_sim/raw",
                          {"job_id": job_id, "raw": raw_text, "list_raw": list_raw})

    def fault(self, kind, target="any", count=1, **extra):
        body = {"kind": kind, "target": target, "count": count}
        body.update(extra)
        return self._call("POST", "/_sim/fault", body)

    def clear(self):
        return self._call("POST", "/_sim/clear", {})

    def drift(self, **spec):
        return self._call("POST", "/_sim/drift", spec)

    def latency(self, ms):
        return self._call("POST", "/_sim/latency", {"ms": ms})

    def requests(self):
        """(list, detail, other) request counters."""
        r = self.stats()["requests"]
        return r.get("list", 0), r.get("detail", 0), r.get("other", 0)


class _SimFactory:
    """Thread-safe: tests that run scenarios concurrently may call it from
    several threads (each call gets its own directory)."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.sims = []
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, **kw):
        with self._lock:
            n = self._next
            self._next += 1
        s = Sim(os.path.join(self.tmpdir, "sim%d" % n), **kw)
        with self._lock:
            self.sims.append(s)
        return s

    def close(self):
        for s in self.sims:
            s.stop()


@pytest.fixture
def sim(tmp_path):
    """Factory: sim(jobs=25, hostile=False, latency_ms=0, api_key="test-key")."""
    f = _SimFactory(str(tmp_path))
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_sim(tmp_path_factory):
    f = _SimFactory(str(tmp_path_factory.mktemp("msim")))
    yield f
    f.close()


# --------------------------------------------------------------- mount ----

def _mounted(path):
    """True when path is a mount point per /proc/self/mountinfo (no FUSE call)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mp = fields[4].encode().decode("unicode_escape")
                if mp == path:
                    return True
    except OSError:
        pass
    return False


def daemon_env(env_key, extra=None, cache_home=None):
    """The daemon's environment; extra (a dict) is applied last, e.g. to tune
    ASAN_OPTIONS for one test. cache_home: where its store goes
    ($XDG_CACHE_HOME/scrapefs), so that tests never share one and never
    write to the user's ~/.cache."""
    env = dict(os.environ)
    env.pop("FREDDY_API_KEY", None)
    env.pop("CACHE_DIRECTORY", None)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = cache_home
    if env_key is not None:
        env["FREDDY_API_KEY"] = env_key
    env["ASAN_OPTIONS"] = ASAN_OPTIONS
    env["UBSAN_OPTIONS"] = UBSAN_OPTIONS
    env["TSAN_OPTIONS"] = TSAN_OPTIONS
    env.update(extra or {})
    return env


def sanitizer_findings(text):
    return [m for m in SANITIZER_MARKERS if m in text]


class Mount:
    """A running `scrapefs -f` and its mount point."""

    def __init__(self, binary, workdir, sim, opts, env_key, extra_args, positional_url,
                 env=None, cache_home=None):
        os.makedirs(workdir, exist_ok=True)
        self.binary = binary
        self.sim = sim
        self.path = os.path.join(workdir, "mnt")
        os.makedirs(self.path, exist_ok=True)
        self.log_path = os.path.join(workdir, "scrapefs.log")
        self.jobs = os.path.join(self.path, "jobs")
        args = [binary, "-f"]
        if opts:
            args += ["-o", opts]
        args += list(extra_args)
        if positional_url:
            args.append(sim.base_url)
        args.append(self.path)
        self.args = args
        self._log = open(self.log_path, "wb")
        self.cache_home = cache_home or os.path.join(workdir, "cache")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     env=daemon_env(env_key, env, self.cache_home))
        self.done = False
        end = time.monotonic() + 15
        while not _mounted(self.path):
            if self.proc.poll() is not None:
                self.done = True
                self._log.close()
                pytest.fail("scrapefs exited (rc=%s) before mounting: %s\n--- log ---\n%s"
                            % (self.proc.returncode, " ".join(args), self.log()), pytrace=False)
            if time.monotonic() > end:
                self.teardown(check=False)
                pytest.fail("scrapefs did not mount within 15 s: %s\n--- log ---\n%s"
                            % (" ".join(args), self.log()), pytrace=False)
            time.sleep(0.02)
        assert os.path.ismount(self.path)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return read_log(self.log_path)

    def alive(self):
        return self.proc.poll() is None

    def teardown(self, check=True):
        """Unmount, wait for a clean exit, scan the log. Returns problems."""
        if self.done:
            return []
        self.done = True
        problems = []
        subprocess.run([FUSERMOUNT, "-u", "-z", self.path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            rc = self.proc.wait(10)
            if rc != 0:
                problems.append("scrapefs exited with %s after unmount" % rc)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
            problems.append("scrapefs did not exit within 10 s of the unmount (killed)")
        self._log.close()
        if _mounted(self.path):
            subprocess.run([FUSERMOUNT, "-u", "-z", self.path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = sanitizer_findings(self.log())
        if found:
            problems.append("daemon log has %s" % ", ".join(found))
        if problems and check:
            pytest.fail("%s\n--- scrapefs log (%s) ---\n%s"
                        % ("; ".join(problems), " ".join(self.args), self.log()[-20000:]),
                        pytrace=False)
        return problems

    def reap(self, timeout=10):
        """For a test that ended the daemon itself (a signal): wait for it,
        clean up, scan the log. Returns the exit code (None when it had to be
        killed); the fixture then does nothing more."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        self.done = True
        if rc is None:
            subprocess.run([FUSERMOUNT, "-u", "-z", self.path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self._log.close()
        still = _mounted(self.path)
        if still:
            subprocess.run([FUSERMOUNT, "-u", "-z", self.path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = sanitizer_findings(self.log())
        assert not found, "daemon log has %s:\n%s" % (found, self.log()[-20000:])
        assert not still, "mount point still mounted after the daemon exited"
        return rc

    def unmount(self):
        """Explicit teardown in a test (then the fixture does nothing)."""
        self.teardown(check=True)


class _MountFactory:
    """Thread-safe like _SimFactory."""

    def __init__(self, binary, tmpdir):
        self.binary = binary
        self.tmpdir = tmpdir
        self.mounts = []
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, sim, opts="ttl=30", env_key="test-key", extra_args=(),
                 positional_url=True, env=None, cache_home=None):
        """cache_home: another mount's (m.cache_home) to start from its store."""
        with self._lock:
            n = self._next
            self._next += 1
        m = Mount(self.binary, os.path.join(self.tmpdir, "m%d" % n),
                  sim, opts, env_key, extra_args, positional_url, env, cache_home)
        with self._lock:
            self.mounts.append(m)
        return m

    def close(self):
        problems = []
        for m in reversed(self.mounts):
            for p in m.teardown(check=False):
                problems.append("%s\n--- scrapefs log (%s) ---\n%s"
                                % (p, " ".join(m.args), m.log()[-20000:]))
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def mount(scrapefs_bin, tmp_path):
    """Factory: mount(sim, opts="ttl=30", env_key="test-key", extra_args=[], env=None)."""
    f = _MountFactory(scrapefs_bin, str(tmp_path))
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_mount(scrapefs_bin, tmp_path_factory):
    f = _MountFactory(scrapefs_bin, str(tmp_path_factory.mktemp("mmnt")))
    yield f
    f.close()


# ------------------------------------------------- one-shot invocations ----

class Run:
    def __init__(self, rc, stdout, stderr, mounted):
        self.rc, self.stdout, self.stderr, self.mounted = rc, stdout, stderr, mounted

    def stderr_lines(self):
        return [l for l in self.stderr.splitlines() if l.strip()]


@pytest.fixture
def run_scrapefs(scrapefs_bin, tmp_path):
    """run_scrapefs(args, env_key=..., timeout=20): a run expected to end by itself.

    args may contain the placeholder "MNT" for a fresh mount point. When the
    daemon unexpectedly mounts and stays up, it is unmounted and the result
    says mounted=True (the test then fails on that)."""
    counter = [0]

    def run(args, env_key="test-key", timeout=20):
        counter[0] += 1
        mnt = str(tmp_path / ("run%d" % counter[0]))
        os.makedirs(mnt)
        argv = [scrapefs_bin] + [mnt if a == "MNT" else a for a in args]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL,
                             env=daemon_env(env_key, cache_home=mnt + "-cache"))
        mounted = False
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            mounted = _mounted(mnt)
            subprocess.run([FUSERMOUNT, "-u", "-z", mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                out, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            if not mounted:
                pytest.fail("scrapefs %r neither exited nor mounted within %ss:\n%s"
                            % (args, timeout, err.decode("utf-8", "replace")))
        mounted = mounted or _mounted(mnt)
        if _mounted(mnt):
            subprocess.run([FUSERMOUNT, "-u", "-z", mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = Run(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                mounted)
        found = sanitizer_findings(r.stdout + r.stderr)
        assert not found, "sanitizer report (%s) from scrapefs %r:\n%s" % (found, args, r.stderr)
        return r

    return run
