"""What whole-tree tools see (README "Whole-tree tools"): link counts and
directory sizes as a local filesystem reports them, updatedb kept out of
the mount, grep -r over jobs/ once per job, and the README's DuckDB
queries run as written."""

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from helpers import encode_id, expected_day, expected_domain, parse_iso, valid_jobs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tsim(module_sim):
    return module_sim(jobs=60)


@pytest.fixture
def tmnt(tsim, mount):
    return mount(tsim, opts="ttl=30")


def _walk(top):
    """Every directory under top (os.walk), with its entries as listed."""
    out = {}
    for d, dirs, files in os.walk(top):
        out[d] = (list(dirs), list(files))
    return out


def test_link_counts_and_sizes_are_a_local_filesystems(tsim, tmnt):
    """st_nlink is 2 + subdirectories and st_size 40 + 20 per entry (what
    tmpfs reports) for every directory once it has been listed, so
    du --apparent-size adds up to the files, and find's leaf optimisation
    finds every directory."""
    walked = _walk(tmnt.path)
    assert len(walked) > 100  # the job directories and every view
    for d, (dirs, files) in walked.items():
        st = os.lstat(d)
        assert st.st_nlink == 2 + len(dirs), (d, st.st_nlink, len(dirs))
        assert st.st_size == 40 + 20 * (len(dirs) + len(files)), (d, st.st_size)
    jobs = valid_jobs(tsim.jobs())
    n_dirs = len(walked)
    jobs_dir = os.path.join(tmnt.path, "jobs")
    assert os.lstat(jobs_dir).st_nlink == 2 + len(jobs) + 3  # jobs + by-status/domain/date

    # GNU find trusts the link count (no -noleaf): it must not stop early
    out = subprocess.run(["find", tmnt.path, "-type", "d"], check=True, capture_output=True)
    assert len(out.stdout.splitlines()) == n_dirs

    # du --apparent-size: the files plus a few bytes per entry, not 4 KiB a directory
    # (over jobs/: .scrapefs/stats is written anew at every open)
    under = {d: e for d, e in walked.items() if d.startswith(jobs_dir)}
    files_bytes = sum(os.lstat(os.path.join(d, f)).st_size
                      for d, (_, files) in under.items() for f in files)
    dir_bytes = sum(os.lstat(d).st_size for d in under)
    assert dir_bytes < 4096 * len(under) / 20
    du = subprocess.run(["du", "-s", "-b", jobs_dir], check=True, capture_output=True)
    assert int(du.stdout.split()[0]) == files_bytes + dir_bytes


def test_an_unlisted_directory_says_its_link_count_is_unknown(tsim, tmnt):
    """Before its listing is known a view directory reports st_nlink 1 (the
    convention for "not counted": find then looks at every entry) and
    st_size 0, rather than a guess."""
    st = os.lstat(os.path.join(tmnt.path, "jobs", "by-status", "failed"))
    assert st.st_nlink == 1 and st.st_size == 0
    names = os.listdir(os.path.join(tmnt.path, "jobs", "by-status", "failed"))
    expected = [j for j in valid_jobs(tsim.jobs()) if j["status"] == "failed"]
    assert len(names) == len(expected) > 0


def _list_requests(s):
    return s.requests()[0]


def _fstype(path):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == path:
                return fields[2]
    raise AssertionError("%s is not in /proc/self/mounts" % path)


@pytest.mark.skipif(shutil.which("updatedb") is None, reason="plocate's updatedb is missing "
                    "(scripts/deps installs it)")
def test_updatedb_keeps_out_of_the_mount(tsim, tmnt, tmp_path):
    """The README's two commands keep updatedb out: PRUNEFS when it walks
    a parent of the mount, PRUNEPATHS when the mount is the root it is
    given. --add-prunefs alone does not do the second: plocate prunes
    below the root, never the root (the README says so; this checks it)."""
    assert _fstype(tmnt.path) == "fuse.scrapefs"
    parent = os.path.dirname(tmnt.path)
    cases = [
        (["-U", parent, "--add-prunefs", "fuse.scrapefs"], True),
        (["-U", tmnt.path, "--add-single-prunepath", tmnt.path], True),
        (["-U", tmnt.path, "--add-prunefs", "fuse.scrapefs"], False),
    ]
    for i, (args, kept_out) in enumerate(cases):
        db = str(tmp_path / ("db%d" % i))
        before = _list_requests(tsim)
        subprocess.run(["updatedb", "-o", db, "-l", "no"] + args, check=True,
                       stdout=subprocess.DEVNULL)
        listed = _list_requests(tsim) - before
        found = subprocess.run(["plocate", "-d", db, "job.json"], capture_output=True).stdout
        if kept_out:
            assert listed == 0 and found == b"", (args, listed)
        else:
            assert listed > 0 and found.count(b"job.json") > 0, (args, listed)


def test_grep_r_excluding_the_views_visits_each_job_once(tsim, tmnt):
    """grep -r over jobs/ finds a job four times (its directory and its
    status, domain and date views) and lists every view; the README's
    --exclude-dir='by-*' finds it once and lists jobs/ only."""
    jobs = valid_jobs(tsim.jobs())
    completed = [j for j in jobs if j["status"] == "completed"]
    jobs_dir = os.path.join(tmnt.path, "jobs")

    def grep(*extra):
        out = subprocess.run(["grep", "-rl", "--include=job.json", '"status": "completed"']
                             + list(extra) + ["."], cwd=jobs_dir, capture_output=True,
                             check=True)
        return sorted(out.stdout.splitlines())

    before = _list_requests(tsim)
    once = grep("--exclude-dir=by-*")
    assert once == sorted(b"./" + encode_id(j["job_id"]) + b"/job.json" for j in completed)
    st = json.loads(open(os.path.join(tmnt.path, ".scrapefs", "stats"), "rb").read())
    fetched_views = [v for v, d in st["listings"].items() if d.get("fetched")]
    assert fetched_views == ["all"], fetched_views  # jobs/ only: no status view
    assert _list_requests(tsim) - before > 0

    every = grep()
    want = []
    for j in completed:
        name = encode_id(j["job_id"]) + b"/job.json"
        want += [b"./" + name, b"./by-status/completed/" + name,
                 b"./by-domain/" + expected_domain(j) + b"/" + name,
                 b"./by-date/" + expected_day(j) + b"/" + name]
    assert every == sorted(want)

    # the whole account in one read: jobs.jsonl
    out = subprocess.run(["grep", "-c", '"status":"completed"', "jobs.jsonl"],
                         cwd=tmnt.path, capture_output=True)
    assert int(out.stdout) == len(completed)


# ---- DuckDB, where it can be installed (npm's @duckdb/node-api) ----

NPM_DIR = os.path.join(tempfile.gettempdir(), "scrapefs-test-duckdb")

DUCKDB_RUNNER = """
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
const sqls = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const out = [];
for (const sql of sqls)
    out.push((await con.runAndReadAll(sql)).getRowObjectsJson());
console.log(JSON.stringify(out));
"""


def _duckdb_node():
    """The directory with @duckdb/node-api installed (once per machine; the
    three builds' runs share it under a lock), or None and why."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None, "node and npm are not installed"
    os.makedirs(NPM_DIR, exist_ok=True)
    with open(os.path.join(NPM_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mod = os.path.join(NPM_DIR, "node_modules", "@duckdb", "node-api")
        if not os.path.isdir(mod):
            with open(os.path.join(NPM_DIR, "package.json"), "w") as f:
                f.write('{"name": "scrapefs-test-duckdb", "private": true, "type": "module"}\n')
            try:
                r = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                                    "@duckdb/node-api"], cwd=NPM_DIR, capture_output=True,
                                   timeout=300)
            except subprocess.TimeoutExpired:
                return None, "npm install @duckdb/node-api took over 5 minutes"
            if r.returncode != 0 or not os.path.isdir(mod):
                tail = r.stderr.decode(errors="replace").strip().splitlines()[-3:]
                return None, "npm install @duckdb/node-api failed: %s" % " | ".join(tail)
        with open(os.path.join(NPM_DIR, "run.mjs"), "w") as f:
            f.write(DUCKDB_RUNNER)
    return NPM_DIR, None


def _readme_sql():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert blocks, "the README has no sql block"
    return [q.strip() for q in "".join(blocks).split(";") if q.strip()]


def test_readme_duckdb_queries(tsim, tmnt, tmp_path):
    where, why = _duckdb_node()
    if where is None:
        pytest.skip("DuckDB not tested: " + why)
    queries = [q.replace("/home/me/scrape", tmnt.path) for q in _readme_sql()]
    assert len(queries) == 2
    qfile = tmp_path / "queries.json"
    qfile.write_text(json.dumps(queries))
    r = subprocess.run(["node", os.path.join(where, "run.mjs"), str(qfile)],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    by_status, latest = json.loads(r.stdout)

    jobs = valid_jobs(tsim.jobs())
    want = {}
    for j in jobs:
        want[j["status"]] = want.get(j["status"], 0) + 1
    got = {row["status"]: int(row["count_star()"]) for row in by_status}
    assert got == want

    completed = [j for j in jobs if j["status"] == "completed"]
    times = sorted((parse_iso(j["completed_at"]) for j in completed), reverse=True)[:10]
    assert len(latest) == min(10, len(completed)) > 0
    ids = {j["job_id"]: j for j in completed}
    for row in latest:
        assert ids[row["job_id"]]["url"] == row["url"]
    assert sorted(parse_iso(ids[row["job_id"]]["completed_at"]) for row in latest) == \
        sorted(times)
