"""Command line, start-up probe, start-up errors and key handling (README "Command line", "Security")."""

import os
import signal
import stat

import pytest

from helpers import VIEWS, expected_names, jobs_entries, pages


def _one_error_line(r, *needles):
    lines = r.stderr_lines()
    assert r.rc != 0, "expected a non-zero exit, got %r; stderr:\n%s" % (r.rc, r.stderr)
    assert not r.mounted, "scrapefs mounted although it should have refused"
    assert len(lines) == 1, "expected exactly one line on stderr, got:\n%s" % r.stderr
    line = lines[0]
    assert line.startswith("scrapefs: "), line
    for n in needles:
        assert n in line, "%r not in %r" % (n, line)
    return line


def test_help(run_scrapefs):
    r = run_scrapefs(["--help"])
    assert r.rc == 0, r.stderr
    assert r.stdout.strip(), "--help printed nothing on stdout"
    assert "ttl" in r.stdout and "api_key_file" in r.stdout, r.stdout


def test_version(run_scrapefs):
    r = run_scrapefs(["--version"])
    assert r.rc == 0, r.stderr
    assert r.stdout.strip(), "--version printed nothing on stdout"
    assert any(ch.isdigit() for ch in r.stdout), r.stdout


def test_probe_is_exactly_one_list_call(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30")
    st = s.stats()
    assert st["requests"] == {"list": 1, "detail": 0, "other": 0}, st
    assert st["list_by_status"].get("", 0) == 1, st
    # and the mount works
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())


def test_wrong_key_is_refused(sim, run_scrapefs):
    s = sim(jobs=5, api_key="right-key")
    r = run_scrapefs(["-f", s.base_url, "MNT"], env_key="Wr0ngKeyValue")
    _one_error_line(r, "API key rejected", "HTTP 401")
    assert "Wr0ngKeyValue" not in r.stderr + r.stdout
    assert s.requests() == (1, 0, 0), s.stats()


def test_unreachable_api(closed_port, run_scrapefs):
    url = "http://127.0.0.1:%d/api/v1" % closed_port
    r = run_scrapefs(["-f", "-o", "timeout=5", url, "MNT"])
    _one_error_line(r, "cannot reach")


def test_no_key(sim, run_scrapefs):
    s = sim(jobs=5)
    r = run_scrapefs(["-f", s.base_url, "MNT"], env_key=None)
    _one_error_line(r, "FREDDY_API_KEY")


@pytest.mark.parametrize("form", ["-o", "--"])
@pytest.mark.parametrize("opt", ["ttl=-1", "page_size=0", "page_size=101", "auth=foo",
                                 "max_conns=0", "timeout=abc"])
def test_bad_option_value(sim, run_scrapefs, opt, form):
    s = sim(jobs=5)
    args = ["-f", "-o", opt] if form == "-o" else ["-f", "--" + opt]
    r = run_scrapefs(args + [s.base_url, "MNT"])
    _one_error_line(r, opt.split("=")[0])


def test_api_key_option_refused(sim, run_scrapefs):
    s = sim(jobs=5)
    r = run_scrapefs(["-f", "-o", "api_key=Sup3rSecretOnCmdline", s.base_url, "MNT"])
    line = _one_error_line(r, "api_key")
    assert "Sup3rSecretOnCmdline" not in r.stderr + r.stdout, line


def test_api_url_as_option(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30,api_url=" + s.base_url, positional_url=False)
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())


def test_double_dash_options(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts=None, extra_args=["--ttl=30", "--page_size=10"])
    s.reset()
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    lst, det, _ = s.requests()
    assert (lst, det) == (pages(25, 10), 0), s.stats()


def test_bearer_auth(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30,auth=bearer")
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    with open(os.path.join(m.jobs, s.jobs()[0]["job_id"], "job.json"), "rb") as f:
        assert f.read()


def _key_file(tmp_path, mode, key="file-key-8c1d"):
    p = tmp_path / "api.key"
    p.write_text(key + "\n")
    os.chmod(p, mode)
    return str(p)


def test_key_file_private(sim, mount, tmp_path):
    s = sim(jobs=25, api_key="file-key-8c1d")
    kf = _key_file(tmp_path, 0o600)
    m = mount(s, opts="ttl=30,api_key_file=" + kf, env_key=None)
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    bad = [l for l in m.log().splitlines() if kf in l and
           any(w in l.lower() for w in ("warn", "readable", "permission", "group", "other"))]
    assert not bad, "warning about a 0600 key file: %r" % bad


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604], ids=["0644", "0640", "0604"])
def test_key_file_readable_by_others_warns(sim, mount, tmp_path, mode):
    s = sim(jobs=25, api_key="file-key-8c1d")
    kf = _key_file(tmp_path, mode)
    m = mount(s, opts="ttl=30,api_key_file=" + kf, env_key=None)
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    assert any(kf in l for l in m.log().splitlines()), \
        "no warning mentioning %s in:\n%s" % (kf, m.log())
    assert stat.S_IMODE(os.stat(kf).st_mode) == mode


@pytest.mark.parametrize("source", ["env", "file"])
def test_key_never_shown(sim, mount, tmp_path, source):
    key = "k3y-N3ver-Sh0wn-71b9e2"
    s = sim(jobs=25, api_key=key)
    if source == "env":
        m = mount(s, opts="ttl=30", env_key=key, extra_args=["-d"])
    else:
        kf = _key_file(tmp_path, 0o600, key)
        m = mount(s, opts="ttl=30,api_key_file=" + kf, env_key=None, extra_args=["-d"])
    with open("/proc/%d/cmdline" % m.pid, "rb") as f:
        assert key.encode() not in f.read()
    # some traffic: listing, a detail lookup, a 404, a status view
    names = jobs_entries(m.path)
    assert names - VIEWS == expected_names(s.jobs())
    s.add({"job_id": "job_added_for_key_test", "status": "pending"})
    assert os.path.isdir(os.path.join(m.jobs, "job_added_for_key_test"))
    assert not os.path.exists(os.path.join(m.jobs, "job_does_not_exist"))
    os.listdir(os.path.join(m.jobs, "by-status", "completed"))
    for dirpath, dirnames, filenames in os.walk(m.jobs):
        for fn in filenames:
            with open(os.path.join(dirpath, fn), "rb") as f:
                assert key.encode() not in f.read(), os.path.join(dirpath, fn)
        for d in dirnames:
            for a in os.listxattr(os.path.join(dirpath, d)):
                assert key.encode() not in os.getxattr(os.path.join(dirpath, d), a)
    m.unmount()
    log = m.log()
    assert log.strip(), "-d produced no output at all"
    assert key not in log, "the API key appears in the daemon output"


def test_all_options_accepted(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=5,timeout=10,retries=2,max_conns=2,cache_size=1,page_size=7,"
                      "auth=x-api-key")
    s.reset()
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    assert s.requests() == (pages(25, 7), 0, 0), s.stats()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_unmounts_cleanly(sim, mount, sig):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=30")
    assert jobs_entries(m.path) - VIEWS == expected_names(s.jobs())
    os.kill(m.pid, sig)
    rc = m.reap(10)  # fails when the mount outlives the daemon or a sanitizer spoke
    assert rc is not None, "scrapefs did not exit within 10 s of %s" % sig.name
    assert rc == 0, "exit code %r after %s:\n%s" % (rc, sig.name, m.log())
