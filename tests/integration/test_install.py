"""Installing (meson install into a DESTDIR), mounting the way /etc/fstab does
(mount.fuse3 and util-linux mount), and the daemonized mode's silence.

Mounts made through mount.fuse3 daemonize: the daemon is not our child. It
is found by its argv (the mount point) and its executable, and after
`fusermount3 -u` the test waits until it is gone. Its stderr is /dev/null,
so sanitizer reports of the ASan build go to ASAN_OPTIONS/UBSAN_OPTIONS
log_path files in the test's temporary directory, which are scanned.

util-linux mount(8) drops PATH from the environment of the helpers it runs
(mount.fuse3 then runs `/bin/sh -c 'scrapefs …'` with the shell's default
PATH), so `-t fuse.scrapefs` and `scrapefs#URL` without a directory only
work with scrapefs installed in a system directory. Those tests run in a
private mount namespace (unshare -m) where /usr/local/sbin is a temporary
directory holding a link to the binary under test: the system is untouched.
util-linux mount needs root; this suite runs as root.
"""

import glob
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import (ASAN_OPTIONS, FUSERMOUNT, REPO, UBSAN_OPTIONS, _mounted,
                      sanitizer_findings)
from helpers import expected_names, listdir_b

OPTION_NAMES = ("api_url", "api_key_file", "auth", "ttl", "timeout", "retries", "max_conns",
                "cache_size", "page_size")
KEY = "sk-fstab-3b8e61c0f7d2"


# -------------------------------------------------------------- install ----

def _run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(argv, **kw)


def _project_version():
    with open(os.path.join(REPO, "meson.build")) as f:
        m = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", f.read(), re.S)
    assert m, "no version in meson.build"
    return m.group(1)


def test_meson_install_destdir(tmp_path):
    b, root = str(tmp_path / "b"), str(tmp_path / "root")
    for argv, env in ((["meson", "setup", "--prefix=/usr", b], None),
                      (["meson", "compile", "-C", b], None),
                      (["meson", "install", "-C", b], dict(os.environ, DESTDIR=root))):
        r = _run(argv, cwd=REPO, env=env)
        assert r.returncode == 0, "%s failed (rc=%d):\n%s\n%s" \
            % (" ".join(argv), r.returncode, r.stdout[-4000:], r.stderr[-4000:])
    exe = os.path.join(root, "usr", "bin", "scrapefs")
    assert os.access(exe, os.X_OK), "%s missing or not executable" % exe
    r = _run([exe, "--version"], timeout=20)
    assert r.returncode == 0, r.stderr
    assert _project_version() in r.stdout, r.stdout
    # nothing installed outside DESTDIR's /usr
    for dirpath, dirnames, filenames in os.walk(root):
        for fn in filenames:
            rel = os.path.relpath(os.path.join(dirpath, fn), root)
            assert rel.startswith("usr/"), rel

    man = os.path.join(root, "usr", "share", "man", "man1", "scrapefs.1")
    assert os.path.isfile(man), "the man page %s was not installed" % man
    with open(man, encoding="utf-8") as f:
        src = f.read()
    first = next((l for l in src.splitlines() if l.strip() and not l.startswith(('.\\"', "'\\\""))),
                 "")
    assert re.match(r'^\.TH\s+"?scrapefs"?\s+"?1"?(\s|$)', first, re.I), \
        "first request of the man page is not .TH scrapefs 1: %r" % first
    r = _run(["man", "-l", man], timeout=60,
             env=dict(os.environ, MANWIDTH="200", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8"))
    assert r.returncode == 0, "man -l failed (rc=%d): %s" % (r.returncode, r.stderr)
    assert not r.stderr.strip(), "man -l complained:\n%s" % r.stderr
    text = re.sub(r"-\n\s*", "", r.stdout)  # undo hyphenation at line ends
    assert re.search(r"^NAME\s*$", text, re.M) and "scrapefs" in text, text[:500]
    missing = [o for o in OPTION_NAMES if o not in text]
    assert not missing, "the man page does not mention the options %r" % missing


# ------------------------------------------------------ daemonized mounts ----

def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _gone(pid):
    return _proc_state(pid) in (None, "Z", "X")


def _daemons(mnt):
    """[(pid, exe, ppid)] of the live scrapefs processes serving mnt."""
    want = os.fsencode(mnt)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            continue
        if want in argv and os.path.basename(exe).startswith("scrapefs") and not _gone(pid):
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            out.append((pid, exe, ppid))
    return out


class Daemonized:
    """A mount made by something that daemonizes; cleans itself up."""

    def __init__(self, binary, tmp_path, sim, name):
        self.binary = os.path.realpath(binary)
        self.sim = sim
        self.dir = str(tmp_path / name)
        os.makedirs(self.dir)
        self.mnt = os.path.join(self.dir, "mnt")
        os.makedirs(self.mnt)
        self.keyfile = os.path.join(self.dir, "key")
        with open(self.keyfile, "w") as f:
            f.write(KEY + "\n")
        os.chmod(self.keyfile, 0o600)
        self.san = os.path.join(self.dir, "san")
        self.pids = []

    def env(self, path_dir=None):
        env = dict(os.environ)
        env.pop("FREDDY_API_KEY", None)
        # a store of its own: the user's (~/.cache/scrapefs) is not the tests'
        env.pop("CACHE_DIRECTORY", None)
        env["XDG_CACHE_HOME"] = os.path.join(self.dir, "cache")
        env["ASAN_OPTIONS"] = ASAN_OPTIONS + ":log_path=" + self.san + ".asan"
        env["UBSAN_OPTIONS"] = UBSAN_OPTIONS + ":log_path=" + self.san + ".ubsan"
        if path_dir:
            env["PATH"] = path_dir + ":" + env.get("PATH", "/usr/bin:/bin")
        return env

    def found(self):
        """The daemon serving the mount: exactly one, the binary under test,
        not our child."""
        assert _mounted(self.mnt), "%s is not mounted" % self.mnt
        ds = _daemons(self.mnt)
        assert len(ds) == 1, "expected one daemon for %s, found %r" % (self.mnt, ds)
        pid, exe, ppid = ds[0]
        self.pids.append(pid)
        assert exe == self.binary, "the daemon runs %s, not the binary under test %s" \
            % (exe, self.binary)
        assert ppid != os.getpid(), "the daemon did not detach (its parent is the test)"
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            assert KEY.encode() not in f.read()
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
        assert KEY.encode() not in b" ".join(env)
        # sanitizer reports of the detached daemon reach the scanned log files
        assert any(e.startswith(b"ASAN_OPTIONS=") and b"log_path=" in e for e in env), env
        return pid

    def sanitizer_reports(self):
        out = []
        for p in sorted(glob.glob(self.san + ".*")):
            with open(p, errors="replace") as f:
                text = f.read()
            if sanitizer_findings(text) or text.strip():
                out.append("%s:\n%s" % (p, text[-8000:]))
        return out

    def close(self, check=True):
        problems = []
        if _mounted(self.mnt):
            r = _run([FUSERMOUNT, "-u", self.mnt], timeout=20)
            if r.returncode != 0:
                problems.append("fusermount3 -u failed: %s" % r.stderr)
        pids = set(self.pids) | {p for p, _, _ in _daemons(self.mnt)}
        end = time.monotonic() + 10
        while time.monotonic() < end and not all(_gone(p) for p in pids):
            time.sleep(0.05)
        alive = [p for p in pids if not _gone(p)]
        if alive:
            problems.append("daemon(s) %r still running 10 s after the unmount" % alive)
            for p in alive:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        if _mounted(self.mnt):
            problems.append("still mounted after the daemon ended")
            _run([FUSERMOUNT, "-u", "-z", self.mnt], timeout=20)
        problems += self.sanitizer_reports()
        if check and problems:
            pytest.fail("\n".join(problems), pytrace=False)
        return problems


@pytest.fixture
def daemonized(scrapefs_bin, tmp_path):
    made = []

    def make(sim, name="d"):
        d = Daemonized(scrapefs_bin, tmp_path, sim, name + str(len(made)))
        made.append(d)
        return d

    yield make
    problems = []
    for d in made:
        problems += d.close(check=False)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _check_mount_works(s, mnt):
    assert listdir_b(os.path.join(mnt, "jobs", "by-status", "completed")) == \
        expected_names(s.jobs(), "completed")


def _mountinfo(mnt):
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        if f[4].encode().decode("unicode_escape") == os.path.realpath(mnt):
            sep = f.index("-")
            return {"fstype": f[sep + 1], "source": f[sep + 2], "super": f[sep + 3].split(","),
                    "mount": f[5].split(",")}
    return None


@pytest.mark.parametrize("extra", ["", ",_netdev", ",allow_other,_netdev"],
                         ids=["plain", "netdev", "allow_other-netdev"])
def test_mount_fuse3_source_form(sim, daemonized, scrapefs_bin, extra):
    """mount.fuse3 'scrapefs#URL' MNT -o api_key_file=KEY,…, with the binary
    found through PATH (mount.fuse3 runs `scrapefs` via /bin/sh)."""
    s = sim(jobs=40, api_key=KEY)
    d = daemonized(s)
    argv = ["mount.fuse3", "scrapefs#" + s.base_url, d.mnt,
            "-o", "api_key_file=%s,ttl=30%s" % (d.keyfile, extra)]
    r = _run(argv, timeout=30, env=d.env(os.path.dirname(os.path.realpath(scrapefs_bin))),
             stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "%s: rc=%d\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                    r.stderr)
    assert not (r.stdout + r.stderr).strip(), "a clean mount printed:\n%s%s" % (r.stdout,
                                                                               r.stderr)
    d.found()
    mi = _mountinfo(d.mnt)
    assert mi and mi["fstype"] == "fuse.scrapefs", mi
    # read-only at the kernel, the API URL as the source, whatever mount passed
    assert "ro" in mi["mount"] and mi["source"] == s.base_url, mi
    if "allow_other" in extra:
        assert "allow_other" in mi["super"] and "default_permissions" in mi["super"], mi
    _check_mount_works(s, d.mnt)
    d.close()
    assert not _mounted(d.mnt)


# The namespace side of the util-linux tests: bind a directory holding
# `scrapefs` over /usr/local/sbin (first in /bin/sh's default PATH), mount,
# look, unmount, wait for the daemon, report as JSON.
_NS_SCRIPT = r'''
import json, os, subprocess, sys, time
cfg = json.loads(sys.argv[1])
mnt = cfg["mnt"]
res = {}
def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return [r.returncode, r.stdout, r.stderr]
def state(pid):
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
res["bind"] = run(["mount", "--bind", cfg["bindir"], "/usr/local/sbin"])
res["mount"] = run(cfg["argv"])
res["mountinfo"] = [l.split() for l in open("/proc/self/mountinfo")
                    if l.split()[4] == mnt]
pids = []
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            argv = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0")
            exe = os.readlink("/proc/%s/exe" % d)
        except OSError:
            continue
        if mnt.encode() in argv and os.path.basename(exe).startswith("scrapefs"):
            pids.append(int(d))
            env = open("/proc/%s/environ" % d, "rb").read().split(b"\0")
            res.setdefault("daemons", []).append([int(d), exe,
                                                  [a.decode("utf-8", "replace") for a in argv],
                                                  [e.decode("utf-8", "replace") for e in env]])
try:
    res["ls"] = sorted(os.listdir(os.path.join(mnt, "jobs", "by-status", "completed")))
except OSError as e:
    res["ls"] = "error: %s" % e
res["umount"] = run(["fusermount3", "-u", mnt])
end = time.monotonic() + 10
while time.monotonic() < end and not all(state(p) in (None, "Z", "X") for p in pids):
    time.sleep(0.05)
res["alive"] = [p for p in pids if state(p) not in (None, "Z", "X")]
for p in res["alive"]:
    os.kill(p, 9)
if any(l.split()[4] == mnt for l in open("/proc/self/mountinfo")):
    res["still_mounted"] = True
    run(["fusermount3", "-u", "-z", mnt])
print(json.dumps(res))
'''


def _in_namespace(d, argv):
    bindir = os.path.join(d.dir, "sbin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, "scrapefs")
    if not os.path.lexists(link):
        os.symlink(d.binary, link)
    assert os.geteuid() == 0, "util-linux mount(8) of a non-fstab entry needs root"
    cfg = {"mnt": d.mnt, "bindir": bindir, "argv": argv}
    r = _run(["unshare", "-m", "--propagation", "private", sys.executable, "-c", _NS_SCRIPT,
              json.dumps(cfg)], timeout=90, env=d.env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.strip(), "namespace run failed (rc=%d):\n%s\n%s" \
        % (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check_ns_result(d, s, res, what):
    assert res["bind"][0] == 0, res["bind"]
    assert res["mount"][0] == 0, "%s failed: rc=%d\n%s%s" % (what, res["mount"][0],
                                                            res["mount"][1], res["mount"][2])
    assert not (res["mount"][1] + res["mount"][2]).strip(), \
        "%s printed:\n%s%s" % (what, res["mount"][1], res["mount"][2])
    assert len(res["mountinfo"]) == 1, res["mountinfo"]
    mi = res["mountinfo"][0]
    assert mi[mi.index("-") + 1] == "fuse.scrapefs", mi
    # read-only at the kernel (mount passes "rw" on: ours wins), the URL as source
    assert "ro" in mi[5].split(",") and mi[mi.index("-") + 2] == s.base_url, mi
    assert len(res.get("daemons", [])) == 1, res.get("daemons")
    pid, exe, argv, env = res["daemons"][0]
    assert exe == d.binary, (exe, d.binary)
    assert KEY not in " ".join(argv + env), argv
    # sanitizer reports of the detached daemon reach the scanned log files
    assert any(e.startswith("ASAN_OPTIONS=") and "log_path=" in e for e in env), env
    assert res["ls"] == sorted(n.decode() for n in expected_names(s.jobs(), "completed")), \
        res["ls"]
    assert res["umount"][0] == 0, res["umount"]
    assert not res["alive"], "daemon %r did not exit after the unmount" % res["alive"]
    assert not res.get("still_mounted"), "mount left behind"
    return mi


@pytest.mark.parametrize("form", ["fstab-source", "fstab-source-path", "fstab-type", "cli-type"])
def test_util_linux_mount(sim, daemonized, form):
    """What /etc/fstab does, through util-linux mount(8):
    fstab-source:      scrapefs#URL  MNT  fuse           api_key_file=K,allow_other,_netdev 0 0
    fstab-source-path: /path/to/scrapefs#URL  MNT  fuse  api_key_file=K,_netdev,ttl=30 0 0
    fstab-type:        URL  MNT  fuse.scrapefs           api_key_file=K,_netdev,ttl=30 0 0
    cli-type:          mount -t fuse.scrapefs URL MNT -o api_key_file=K,_netdev"""
    s = sim(jobs=40, api_key=KEY)
    d = daemonized(s, form)
    fstab = os.path.join(d.dir, "fstab")
    line = {
        "fstab-source": "scrapefs#%s %s fuse api_key_file=%s,allow_other,_netdev 0 0",
        "fstab-source-path": d.binary + "#%s %s fuse api_key_file=%s,_netdev,ttl=30 0 0",
        "fstab-type": "%s %s fuse.scrapefs api_key_file=%s,_netdev,ttl=30 0 0",
    }.get(form)
    if line:
        with open(fstab, "w") as f:
            f.write(line % (s.base_url, d.mnt, d.keyfile) + "\n")
        argv = ["mount", "-T", fstab, d.mnt]
    else:
        argv = ["mount", "-t", "fuse.scrapefs", s.base_url, d.mnt,
                "-o", "api_key_file=%s,_netdev" % d.keyfile]
    res = _in_namespace(d, argv)
    mi = _check_ns_result(d, s, res, " ".join(argv))
    if form == "fstab-source":
        sup = mi[mi.index("-") + 3].split(",")
        assert "allow_other" in sup and "default_permissions" in sup, mi


# ------------------------------------------------------- daemonized logs ----

def _launch(d, stdout, stderr, opts):
    argv = [d.binary, "-o", "api_key_file=%s,%s" % (d.keyfile, opts), d.sim.base_url, d.mnt]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            env=d.env())


def test_daemon_releases_the_launchers_pipes(sim, daemonized):
    """Without -f scrapefs mounts, detaches and keeps none of the launcher's
    stdout/stderr: a shell's `$(scrapefs …)` or a pipe returns at once."""
    s = sim(jobs=10, api_key=KEY)
    d = daemonized(s)
    p = _launch(d, subprocess.PIPE, subprocess.PIPE, "ttl=30")
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        mounted = _mounted(d.mnt)
        p.kill()
        pytest.fail("stdout/stderr of the launcher still open 20 s after the start "
                    "(mounted: %s): the daemon kept them" % mounted, pytrace=False)
    assert p.returncode == 0, err
    assert not out and not err, (out, err)
    d.found()
    _check_mount_works(s, d.mnt)


def test_daemon_is_silent_after_faults(sim, daemonized):
    """Errors after the mount succeeded go to syslog, never to the terminal
    the daemon was started from."""
    s = sim(jobs=10, api_key=KEY)
    d = daemonized(s)
    out_p, err_p = os.path.join(d.dir, "stdout"), os.path.join(d.dir, "stderr")
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        p = _launch(d, out, err, "ttl=600,retries=0,timeout=3")
        assert p.wait(20) == 0, open(err_p).read()
    pid = d.found()
    ours = {(os.stat(x).st_dev, os.stat(x).st_ino) for x in (out_p, err_p)}
    for fd in (0, 1, 2):
        st = os.stat("/proc/%d/fd/%d" % (pid, fd))
        assert (st.st_dev, st.st_ino) not in ours, \
            "daemon fd %d is still the launcher's %s" % (fd, os.readlink("/proc/%d/fd/%d"
                                                                         % (pid, fd)))
    _check_mount_works(s, d.mnt)
    s.fault("500", target="any", count=-1)
    with pytest.raises(OSError):
        os.stat(os.path.join(d.mnt, "jobs", "job_behind_a_500"))
    with pytest.raises(OSError):
        os.listdir(os.path.join(d.mnt, "jobs", "by-status", "failed"))
    s.clear()
    s.fault("401", target="any", count=-1)
    with pytest.raises(OSError):
        os.listdir(os.path.join(d.mnt, "jobs", "by-status", "cancelled"))
    s.clear()
    time.sleep(0.3)
    with open(out_p, "rb") as f1, open(err_p, "rb") as f2:
        printed = f1.read() + f2.read()
    assert printed == b"", "the daemonized scrapefs printed:\n%r" % printed[-2000:]
    st = os.stat(os.path.join(d.mnt, ".scrapefs", "stats"))
    assert stat.S_ISREG(st.st_mode)
    with open(os.path.join(d.mnt, ".scrapefs", "stats")) as f:
        last = json.load(f)["last_error"]
    assert last is not None, "the faults left no trace in the stats"
