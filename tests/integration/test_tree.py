"""The tree: entries, names, modes, read-only-ness, lookups (README "The tree")."""

import os

import pytest

from helpers import (JOB_FILES, STATUSES, VIEWS, assert_erofs, encode_id, expected_names,
                     is_ro_dir, is_ro_file, job_path, jobs_entries, listdir_b)

# ids exercising every rule of the name encoding (README "The tree")
ODD_IDS = {
    "a/b": b"a%2Fb",
    "50%": b"50%25",
    ".dot": b"%2Edot",
    "..": b"%2E.",
    ".": b"%2E",
    "../up": b"%2E.%2Fup",
    "mid.dot": b"mid.dot",
    "tab\there": b"tab%09here",
    "nl\nx": b"nl%0Ax",
    "del\x7f": b"del%7F",
    "nul\x00byte": b"nul%00byte",
    "by-status": b"%62y-status",
    "by-domain": b"%62y-domain",
    "by-date": b"%62y-date",
    "by-status-not": b"by-status-not",
    "%62y-status": b"%2562y-status",
    "ünïcødé": "ünïcødé".encode(),
    "z" * 255: b"z" * 255,
    "/" * 85: b"%2F" * 85,
}
LEFT_OUT = ["", "y" * 256, "/" * 86]


def test_encode_id_helper_matches_table():
    # guards the test's own encoder against drift from the table above
    for job_id, name in ODD_IDS.items():
        assert encode_id(job_id) == name, job_id
    for job_id in LEFT_OUT:
        assert encode_id(job_id) is None


@pytest.fixture(scope="module")
def tree(module_sim, module_mount):
    s = module_sim(jobs=60)
    for job_id in list(ODD_IDS) + LEFT_OUT:
        s.add({"job_id": job_id, "status": "completed", "url": "https://odd.example.com/x",
               "created_at": "2026-10-01T00:00:00Z", "completed_at": "2026-10-02T00:00:00Z"})
    m = module_mount(s, opts="ttl=30")
    return s, m


def _named(s):
    """The simulator's jobs that have a file name."""
    return [j for j in s.jobs() if encode_id(j["job_id"]) is not None]


def test_root_entries(tree):
    s, m = tree
    assert set(os.listdir(m.path)) == {"jobs", "jobs.jsonl", ".scrapefs"}


def test_jobs_entries(tree):
    s, m = tree
    jobs = s.jobs()
    assert len(jobs) >= 60
    assert jobs_entries(m.path) == expected_names(jobs) | VIEWS


def test_odd_names(tree):
    s, m = tree
    names = listdir_b(m.jobs)
    for job_id, name in ODD_IDS.items():
        assert name in names, "job %r should appear as %r" % (job_id, name)
        st = os.stat(os.path.join(os.fsencode(m.jobs), name))
        assert is_ro_dir(st)
        assert listdir_b(os.path.join(os.fsencode(m.jobs), name)) == \
            {n.encode() for n in JOB_FILES}
        got = os.getxattr(os.path.join(os.fsencode(m.jobs), name), "user.scrapefs.job_id")
        assert got == job_id.encode("utf-8"), (job_id, got)
    # the raw (unencoded) forms that would be dangerous are not there
    for bad in (b"..", b".dot", b"50%", b"y" * 255):
        assert bad not in names, bad
    # left-out ids: no name at all, daemon still fine
    assert not any(n.startswith(b"yyyyyyyy") for n in names)
    assert m.alive()


def test_odd_names_cold(tree, mount):
    """Fresh mount, nothing listed yet: each odd id resolves by its name with
    exactly one detail request (the id must reach the API intact)."""
    s, _ = tree
    m = mount(s, opts="ttl=30")
    bad = []
    for job_id, name in ODD_IDS.items():
        s.reset()
        p = os.path.join(os.fsencode(m.jobs), name)
        try:
            got = os.getxattr(p, "user.scrapefs.job_id")
            ok = got == job_id.encode("utf-8") and s.requests() == (0, 1, 0)
        except OSError as e:
            got, ok = e, False
        if not ok:
            bad.append((job_id, name, got, s.stats()["requests"]))
    assert not bad, "cold lookups that failed: %r" % bad


def test_by_status_entries(tree):
    s, m = tree
    assert set(os.listdir(os.path.join(m.jobs, "by-status"))) == \
        set(STATUSES) | {st + ".jsonl" for st in STATUSES}


@pytest.mark.parametrize("status", STATUSES)
def test_status_dir_entries(tree, status):
    s, m = tree
    got = listdir_b(os.path.join(m.jobs, "by-status", status))
    want = expected_names(s.jobs(), status)
    assert want, "simulator has no %s job; test data too small" % status
    assert got == want


def test_job_dir_entries(tree):
    s, m = tree
    for job in _named(s)[:30]:
        assert set(os.listdir(job_path(m.path, job["job_id"]))) == {n.encode() for n in JOB_FILES}
        assert set(os.listdir(job_path(m.path, job["job_id"], status=job["status"]))) == \
            {n.encode() for n in JOB_FILES}


def test_modes_and_owner(tree):
    s, m = tree
    uid, gid = os.getuid(), os.getgid()
    dirs = [m.path, m.jobs, os.path.join(m.jobs, "by-status")]
    dirs += [os.path.join(m.jobs, "by-status", st) for st in STATUSES]
    files = []
    for job in _named(s)[:10] + _named(s)[-5:]:
        for kw in ({}, {"status": job["status"]}):
            dirs.append(job_path(m.path, job["job_id"], **kw))
            files += [job_path(m.path, job["job_id"], f, **kw) for f in sorted(JOB_FILES)]
    for d in dirs:
        st = os.stat(d)
        assert is_ro_dir(st), (d, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (uid, gid), d
    for f in files:
        st = os.stat(f)
        assert is_ro_file(st), (f, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (uid, gid), f


def _write_failsassert_erofs(path, flags):
    """The mount is read-only at the kernel: opening for writing fails at
    the open, for root too (no fd that would fail only at the write)."""
    assert_erofs(os.open, path, flags)


def test_read_only(tree):
    s, m = tree
    job = next(j for j in s.jobs() if j["job_id"].startswith("job_"))
    jdir = job_path(m.path, job["job_id"])
    jfile = os.path.join(jdir, b"job.json")
    sdir = os.path.join(os.fsencode(m.jobs), b"by-status", b"completed")
    before = open(jfile, "rb").read()

    _write_failsassert_erofs(jfile, os.O_WRONLY)
    _write_failsassert_erofs(jfile, os.O_RDWR)
    _write_failsassert_erofs(jfile, os.O_WRONLY | os.O_APPEND)
    assert_erofs(os.open, jfile, os.O_WRONLY | os.O_TRUNC)
    assert_erofs(os.open, os.path.join(jdir, b"new.txt"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert_erofs(os.open, os.path.join(os.fsencode(m.jobs), b"newjob"), os.O_WRONLY | os.O_CREAT, 0o644)
    assert_erofs(os.mkdir, os.path.join(os.fsencode(m.jobs), b"newdir"))
    assert_erofs(os.mkdir, os.path.join(sdir, b"newdir"))
    assert_erofs(os.mkdir, os.path.join(os.fsencode(m.path), b"newdir"))
    assert_erofs(os.rename, jfile, os.path.join(jdir, b"moved.json"))
    assert_erofs(os.rename, jdir, os.path.join(os.fsencode(m.jobs), b"renamed"))
    assert_erofs(os.unlink, jfile)
    assert_erofs(os.rmdir, jdir)
    assert_erofs(os.rmdir, os.path.join(os.fsencode(m.jobs), b"by-status"))
    assert_erofs(os.chmod, jfile, 0o666)
    assert_erofs(os.chmod, jdir, 0o777)
    assert_erofs(os.truncate, jfile, 0)
    assert_erofs(os.utime, jfile, (0, 0))
    assert_erofs(os.symlink, b"job.json", os.path.join(jdir, b"link"))
    assert_erofs(os.link, jfile, os.path.join(jdir, b"hard"))
    assert_erofs(os.setxattr, jfile, "user.test", b"x")
    assert_erofs(os.setxattr, jdir, "user.test", b"x")
    assert_erofs(os.removexattr, jdir, "user.scrapefs.job_id")

    # nothing changed
    assert open(jfile, "rb").read() == before
    assert set(os.listdir(jdir)) == {n.encode() for n in JOB_FILES}
    assert jobs_entries(m.path) == expected_names(s.jobs()) | VIEWS


# ----------------------------------------- lookups and their request cost ----

@pytest.fixture
def fresh(sim, mount):
    """A mount whose jobs/ and completed/ listings are warm, counters zeroed."""
    s = sim(jobs=30)
    m = mount(s, opts="ttl=30")
    assert jobs_entries(m.path) == expected_names(s.jobs()) | VIEWS
    os.listdir(os.path.join(m.jobs, "by-status", "completed"))
    s.reset()
    return s, m


def test_lookup_of_listed_job_costs_nothing(fresh):
    s, m = fresh
    for job in s.jobs()[:10]:
        assert os.path.isdir(job_path(m.path, job["job_id"]))
        os.stat(job_path(m.path, job["job_id"], "job.json"))
    assert s.requests() == (0, 0, 0), s.stats()


def test_unlisted_job_resolves_with_one_detail_call(fresh):
    s, m = fresh
    s.add({"job_id": "job_fresh_upstream", "status": "pending",
           "url": "https://new.example.com/a"})
    s.reset()
    st = os.stat(os.path.join(m.jobs, "job_fresh_upstream"))
    assert is_ro_dir(st)
    with open(os.path.join(m.jobs, "job_fresh_upstream", "job.json")) as f:
        assert '"job_fresh_upstream"' in f.read()
    assert s.requests() == (0, 1, 0), s.stats()


def test_unknown_job_is_enoent_and_remembered(fresh):
    s, m = fresh
    p = os.path.join(m.jobs, "job_no_such_thing")
    with pytest.raises(FileNotFoundError):
        os.stat(p)
    assert s.requests() == (0, 1, 0), s.stats()
    for _ in range(5):
        with pytest.raises(FileNotFoundError):
            os.stat(p)
        with pytest.raises(FileNotFoundError):
            open(os.path.join(p, "job.json"))
    assert s.requests() == (0, 1, 0), s.stats()


def test_dot_names_cost_no_request(fresh):
    s, m = fresh
    for name in (".git", ".hidden", ".job.json.swp", ".", ".."):
        p = os.path.join(m.jobs, name)
        if name in (".", ".."):
            os.stat(p)
            continue
        with pytest.raises(FileNotFoundError):
            os.stat(p)
    for job in s.jobs()[:3]:
        for name in (".git", ".job.json.swp"):
            with pytest.raises(FileNotFoundError):
                os.stat(os.path.join(job_path(m.path, job["job_id"]), os.fsencode(name)))
    assert s.requests() == (0, 0, 0), s.stats()


def test_status_dir_lookup_never_costs_detail(fresh):
    s, m = fresh
    s.add({"job_id": "job_completed_upstream", "status": "completed",
           "url": "https://new.example.com/b", "completed_at": "2026-12-01T00:00:00Z",
           "extracted_data": [{"a": 1}]})
    s.reset()
    cdir = os.path.join(m.jobs, "by-status", "completed")
    for name in ("job_completed_upstream", "job_not_there", "%62y-status"):
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(cdir, name))
    # a job that exists but in another status is not in this directory
    other = next(j for j in s.jobs() if j["status"] == "failed")
    with pytest.raises(FileNotFoundError):
        os.stat(job_path(m.path, other["job_id"], status="completed"))
    lst, det, oth = s.requests()
    assert det == 0 and oth == 0, s.stats()
    assert lst == 0, s.stats()


# ------------------------------------------------------- empty listings ----

@pytest.mark.parametrize("jobs", [0, 2])
def test_empty_listings(sim, mount, jobs):
    """A view with no jobs is an empty directory (one list call), not an
    error; with no jobs at all, jobs/ holds only the views."""
    s = sim(jobs=jobs)
    m = mount(s, opts="ttl=30")
    s.reset()
    empty = 0
    for status in STATUSES:
        want = {j["job_id"] for j in s.jobs() if j.get("status") == status}
        got = set(os.listdir(os.path.join(m.jobs, "by-status", status)))
        assert got == want, status
        empty += not want
    assert empty >= 3, "the simulator should leave most statuses empty"
    assert jobs_entries(m.path) == expected_names(s.jobs()) | VIEWS
    if jobs == 0:
        assert os.listdir(os.path.join(m.jobs, "by-domain")) == []
        assert os.listdir(os.path.join(m.jobs, "by-date")) == []
    assert s.requests() == (6, 0, 0), s.stats()
