"""A mount that behaves like every other read-only mount (README "Command line", "The tree"): read-only
at the kernel, the API URL as its source, parallel lookups in one directory,
and editors refused the way they expect."""

import errno
import json
import os
import subprocess
import threading
import time


from helpers import assert_erofs, daemon_stats, expected_job_json, listdir_b, read_bytes


def _findmnt(path):
    r = subprocess.run(["findmnt", "-J", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    fs = json.loads(r.stdout)["filesystems"]
    assert len(fs) == 1, fs
    return fs[0]


def test_findmnt_df_and_mount_show_ro_and_the_url(sim, mount):
    s = sim(jobs=5)
    m = mount(s)
    fs = _findmnt(m.path)
    assert fs["source"] == s.base_url, fs
    assert fs["fstype"] == "fuse.scrapefs", fs
    assert fs["options"].split(",")[0] == "ro", fs
    r = subprocess.run(["df", "-P", m.path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split()[0] == s.base_url, r.stdout
    r = subprocess.run(["mount"], capture_output=True, text=True, timeout=30)
    line = next(l for l in r.stdout.splitlines() if " on %s " % m.path in l)
    assert line.startswith(s.base_url + " on ") and "type fuse.scrapefs (ro," in line, line


def test_a_url_with_a_comma_stays_whole(sim, mount):
    """fsname is a mount option: a comma in the URL must not split it."""
    s = sim(jobs=5)
    # the same API, with a comma in its (ignored) user name
    url = s.base_url.replace("http://", "http://a,b@")
    m = mount(s, opts="ttl=30,api_url=%s" % url.replace(",", "\\,"), positional_url=False)
    assert _findmnt(m.path)["source"] == url
    assert listdir_b(m.jobs)


def test_every_write_path_is_erofs_for_root(sim, mount):
    s = sim(jobs=10)
    m = mount(s)
    job = next(j for j in s.jobs() if j["status"] == "pending")
    jdir = os.path.join(m.jobs, job["job_id"])
    jfile = os.path.join(jdir, "job.json")
    before = read_bytes(jfile)
    assert os.geteuid() == 0, "this test runs as root, as CI does"
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND, os.O_RDWR | os.O_TRUNC):
        assert_erofs(os.open, jfile, flags)  # at the open: never an fd that fails later
    assert_erofs(os.open, os.path.join(jdir, "new"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert_erofs(os.setxattr, jfile, "user.note", b"x")
    assert_erofs(os.setxattr, jdir, "user.note", b"x")
    assert_erofs(os.utime, jfile, (0, 0))
    assert_erofs(os.truncate, jfile, 0)
    assert_erofs(os.chmod, jfile, 0o644)
    assert_erofs(os.chown, jfile, 0, 0)
    assert_erofs(os.mkdir, os.path.join(m.jobs, "d"))
    assert read_bytes(jfile) == before == expected_job_json(job)


def test_writes_are_erofs_for_another_user(sim, mount):
    s = sim(jobs=10)
    m = mount(s, opts="ttl=30,allow_other")
    # pytest's directories are root's alone: let the other user through
    d = os.path.dirname(m.path)
    while d not in ("/", "/tmp"):
        os.chmod(d, os.stat(d).st_mode | 0o005)
        d = os.path.dirname(d)
    job = s.jobs()[0]
    jfile = os.path.join(m.jobs, job["job_id"], "job.json")
    code = ("import errno, os, sys\n"
            "p = sys.argv[1]\n"
            "assert open(p, 'rb').read()\n"
            "for f in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):\n"
            "    try:\n"
            "        os.close(os.open(p, f)); print('opened', f); sys.exit(1)\n"
            "    except OSError as e:\n"
            "        if e.errno != errno.EROFS: print(f, e); sys.exit(1)\n"
            "print('ok')\n")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/usr/bin/python3", "-c", code, jfile],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.stdout, r.stderr)


def _tmux(*args):
    return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=30)


def test_vim_write_is_refused_plainly(sim, mount, tmp_path):
    """`:w!` in vim, as root, must get vim's ordinary refusal (E212 "Can't open
    file for writing", or E505 "is read-only"), never E514 "write error (file
    system full?)", which says the original may be lost."""
    s = sim(jobs=10)
    m = mount(s)
    job = next(j for j in s.jobs() if j["status"] == "completed")
    jfile = os.path.join(m.jobs, job["job_id"], "job.json")
    session = "scrapefs-vim-%d" % os.getpid()
    env = dict(os.environ, TERM="xterm", HOME=str(tmp_path))
    r = subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                        "vim -u NONE -i NONE -N -n '%s'" % jfile],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    try:
        end = time.monotonic() + 20
        screen = ""
        while job["job_id"] not in screen:
            assert time.monotonic() < end, "vim did not show the file:\n" + screen
            time.sleep(0.1)
            screen = _tmux("capture-pane", "-p", "-t", session).stdout
        _tmux("send-keys", "-t", session, "G", "o", "edited", "Escape")
        _tmux("send-keys", "-t", session, ":w!", "Enter")
        end = time.monotonic() + 20
        while not any(e in screen for e in ("E212", "E505", "E514", "written")):
            assert time.monotonic() < end, "vim said nothing about :w!:\n" + screen
            time.sleep(0.1)
            screen = _tmux("capture-pane", "-p", "-t", session).stdout
        assert "E514" not in screen and "written" not in screen, screen
        assert "E212" in screen or "E505" in screen, screen
    finally:
        _tmux("send-keys", "-t", session, "Escape", ":qa!", "Enter")
        time.sleep(0.2)
        _tmux("kill-session", "-t", session)
    assert read_bytes(jfile) == expected_job_json(job)


def test_lookups_in_one_directory_run_in_parallel(sim, mount):
    """Four shells looking up unknown ids in jobs/ while the API hangs: each
    ends within timeout + 2 s (one directory's lookups used to queue behind
    each other: 4 timeouts). The INIT reply carried FUSE_PARALLEL_DIROPS."""
    timeout = 3
    s = sim(jobs=10)
    m = mount(s, opts="ttl=30,retries=1,timeout=%d,log_level=info" % timeout)
    os.listdir(m.jobs)
    s.fault("hang", target="detail", count=-1)
    took, errs = {}, {}

    def look(i):
        t0 = time.monotonic()
        try:
            os.stat(os.path.join(m.jobs, "job_nobody_knows_%d" % i))
        except OSError as e:
            errs[i] = e.errno
        took[i] = time.monotonic() - t0

    ts = [threading.Thread(target=look, args=(i,)) for i in range(4)]
    t0 = time.monotonic()
    try:
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    finally:
        s.clear()
    total = time.monotonic() - t0
    assert errs == {i: errno.EIO for i in range(4)}, errs
    assert max(took.values()) <= timeout + 2, took
    assert total <= timeout + 2, total
    # and the bit did reach the kernel, in the INIT reply
    assert "in parallel (FUSE_PARALLEL_DIROPS)" in m.log(), m.log()


def test_lookup_counts_stay_exact_under_races(sim, mount):
    """Concurrent lookups of the same names, and lookups racing a readdirplus
    of the same directory, each count once: reads through every name keep
    working, and when the kernel forgets everything (drop_caches) no pinned
    version is left behind."""
    s = sim(jobs=40)
    m = mount(s, opts="ttl=1")
    unfinished = [j for j in s.jobs() if j["status"] in ("pending", "processing")][:3]
    assert len(unfinished) == 3
    dirs = [os.path.join(m.jobs, j["job_id"]) for j in unfinished]
    stop = threading.Event()
    errors = []

    def looker(d):
        while not stop.is_set():
            try:
                for f in ("job.json", "error.txt", "data.jsonl"):
                    p = os.path.join(d, f)
                    os.stat(p)
                    with open(p, "rb") as fh:
                        fh.read()
            except OSError as e:
                errors.append(("look", d, e))

    def lister(d):
        while not stop.is_set():
            try:
                with os.scandir(d) as it:
                    for e in it:
                        e.stat()
            except OSError as e:
                errors.append(("list", d, e))

    ts = [threading.Thread(target=looker, args=(d,)) for d in dirs for _ in range(3)]
    ts += [threading.Thread(target=lister, args=(d,)) for d in dirs]
    for t in ts:
        t.start()
    try:
        time.sleep(1.5)
        for j in unfinished:  # new versions while the kernel holds the old ones
            s.patch(j["job_id"], {"error_message": "moved on"})
        time.sleep(2.5)
    finally:
        stop.set()
        for t in ts:
            t.join(30)
    assert not errors, errors[:5]
    assert daemon_stats(m)["cache"]["pinned_inodes"] > 0
    end = time.monotonic() + 10
    while True:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
        left = daemon_stats(m)["cache"]["pinned_inodes"]
        if left == 0:
            break
        assert time.monotonic() < end, "%d pinned inodes left after the kernel forgot" % left
        time.sleep(0.2)
    for j in unfinished:
        now = next(x for x in s.jobs() if x["job_id"] == j["job_id"])
        assert read_bytes(os.path.join(m.jobs, j["job_id"], "job.json")) == expected_job_json(now)


def test_warm_reads_send_no_open(sim, mount):
    """Read-only at the kernel, and still no OPEN or OPENDIR upcalls: after
    the first (answered ENOSYS) the kernel keeps warm reads to itself."""
    s = sim(jobs=20)
    m = mount(s, opts="ttl=600", extra_args=["-d"])
    jobs = [j for j in s.jobs() if j["status"] == "completed"][:5]
    cdir = os.path.join(m.jobs, "by-status", "completed")
    for _ in range(3):
        os.listdir(cdir)
        for j in jobs:
            read_bytes(os.path.join(cdir, j["job_id"], "job.json"))
        read_bytes(os.path.join(m.path, "jobs.jsonl"))
    log = m.log()
    opens = log.count("opcode: OPEN (")
    opendirs = log.count("opcode: OPENDIR (")
    assert opens <= 1 and opendirs <= 1, (opens, opendirs)
    assert "opcode: READ (" in log  # the log does show the operations
