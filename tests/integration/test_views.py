"""The derived views jobs/by-domain and jobs/by-date (README "The tree").

The expected grouping is computed here from the simulator's jobs with
urllib.parse (host) and datetime (UTC day), independently of the daemon
(helpers.expected_domain / expected_day), and compared exactly.
"""

import errno
import os
import time

import pytest

from helpers import (INVALID_GROUP, JOB_FILES, encode_id, expected_day, expected_domain,
                     expected_groups, expected_job_json, is_ro_dir, is_ro_file, listdir_b, pages,
                     read_bytes, valid_jobs)

GROUPINGS = {"by-domain": expected_domain, "by-date": expected_day}

# Jobs with urls / created_at values that exercise the grouping rules:
# (job_id, url, created_at, expected domain group, expected day group).
# The last two columns guard the test's own reference functions.
EDGE = [
    ("edge-upper-port", "HTTPS://Upper.Example.COM:8080/x", "2026-11-30T23:30:00-02:00",
     b"upper.example.com:8080", b"2026-12-01"),
    ("edge-userinfo", "https://user:pw@Cred.Example.com/login", "2026-12-01T01:30:00+05:00",
     b"cred.example.com", b"2026-11-30"),
    ("edge-named-default-port", "https://www.example.com:443/x", "2026-11-15T00:00:00Z",
     b"www.example.com:443", b"2026-11-15"),
    ("edge-ftp", "ftp://Files.Example.NET/pub/a.txt", "2026-11-15T23:59:59.999999Z",
     b"files.example.net", b"2026-11-15"),
    ("edge-query", "https://Q.Example.com?x=1", "2026-12-31T23:30:00-01:00",
     b"q.example.com", b"2027-01-01"),
    ("edge-fragment", "https://frag.example.com#top", "2027-01-01T00:30:00+01:00",
     b"frag.example.com", b"2026-12-31"),
    ("edge-empty-port", "http://h2.example.com:/x", "2028-02-29T12:00:00Z",
     b"h2.example.com", b"2028-02-29"),
    ("edge-bad-port", "http://h.example.com:99999/", "2026-11-28T12:00:00.5+05:30",
     INVALID_GROUP, b"2026-11-28"),
    ("edge-mailto", "mailto:someone@example.com", "yesterday", INVALID_GROUP, INVALID_GROUP),
    ("edge-url-number", 42, 17, INVALID_GROUP, INVALID_GROUP),
    ("edge-url-empty", "", "", INVALID_GROUP, INVALID_GROUP),
    ("edge-url-null", None, None, INVALID_GROUP, INVALID_GROUP),
]


def _edge_job(job_id, url, created):
    return {"job_id": job_id, "status": "completed", "url": url, "created_at": created,
            "completed_at": "2026-11-28T13:00:00Z", "extracted_data": [{"edge": job_id}]}


def test_reference_functions():
    for job_id, url, created, dom, day in EDGE:
        job = {"url": url, "created_at": created}
        assert expected_domain(job) == dom, (job_id, url)
        assert expected_day(job) == day, (job_id, created)
    assert expected_domain({"url": "http://Docs.Example.NET/guide"}) == b"docs.example.net"
    assert expected_domain({"url": "https://shop.example.org:8443/i?x=1"}) == \
        b"shop.example.org:8443"
    assert expected_domain({"url": "not a url"}) == INVALID_GROUP
    assert expected_domain({}) == INVALID_GROUP
    assert expected_day({"created_at": "not a date"}) == INVALID_GROUP


@pytest.fixture(scope="module")
def views(module_sim, module_mount):
    s = module_sim(jobs=60, hostile=True)
    s.add([_edge_job(j, u, c) for j, u, c, _, _ in EDGE])
    m = module_mount(s, opts="ttl=600")
    return s, m


def _group_dirs(base):
    """The group directories of by-domain/ or by-date/ (bytes). Beside each
    is its .jsonl file and nothing else is there (README "The tree", "One file per view")."""
    names = listdir_b(base)
    dirs = {n for n in names if not n.endswith(b".jsonl")}
    assert names - dirs == {d + b".jsonl" for d in dirs}, sorted(names ^ (dirs | {d + b".jsonl" for d in dirs}))[:10]
    return dirs


def _group_diff(got, want):
    """A readable difference between two {group: set(names)} maps ('' when equal)."""
    lines = []
    for g in sorted(set(got) | set(want)):
        a, b = got.get(g), want.get(g)
        if a == b:
            continue
        if a is None:
            lines.append("group %r missing (want %d jobs: %r)" % (g, len(b), sorted(b)[:5]))
        elif b is None:
            lines.append("group %r unexpected (has %r)" % (g, sorted(a)[:5]))
        else:
            lines.append("group %r: missing %r, extra %r" % (g, sorted(b - a), sorted(a - b)))
    return "\n".join(lines)


def _read_view(m, view):
    base = os.path.join(os.fsencode(m.jobs), view.encode())
    return {g: listdir_b(os.path.join(base, g)) for g in _group_dirs(base)}


@pytest.mark.parametrize("view", sorted(GROUPINGS))
def test_groups_exact(views, view):
    s, m = views
    want = expected_groups(s.jobs(), GROUPINGS[view])
    # the data really exercises the rules (so the comparison is not vacuous)
    assert len(want) >= 6 and INVALID_GROUP in want, sorted(want)
    if view == "by-domain":
        for g in (b"docs.example.net", b"shop.example.org:8443", b"www.example.com",
                  b"upper.example.com:8080", b"www.example.com:443"):
            assert g in want, g
        assert {b"hostile-invalid-values", b"hostile-missing-fields"} <= want[INVALID_GROUP]
    else:
        assert {b"hostile-invalid-values", b"hostile-missing-fields"} <= want[INVALID_GROUP]
        assert b"2026-12-01" in want and b"2027-01-01" in want
    got = _read_view(m, view)
    assert got == want, "jobs/%s differs from the expected grouping:\n%s" \
        % (view, _group_diff(got, want))


def test_every_named_job_in_exactly_one_group(views):
    s, m = views
    named = {encode_id(j["job_id"]) for j in valid_jobs(s.jobs())} - {None}
    for view in GROUPINGS:
        got = _read_view(m, view)
        seen = {}
        for g, names in got.items():
            for n in names:
                seen.setdefault(n, []).append(g)
        twice = {n: gs for n, gs in seen.items() if len(gs) > 1}
        assert not twice, "%s: jobs in several groups: %r" % (view, twice)
        assert set(seen) == named, "%s: missing %r, extra %r" \
            % (view, sorted(named - set(seen)), sorted(set(seen) - named))


def test_view_files_equal_jobs_files(views):
    """Every job file under every group has the content, size and mtime of
    the same file under jobs/, and the expected content."""
    s, m = views
    by_name = {encode_id(j["job_id"]): j for j in valid_jobs(s.jobs())}
    raw = {b"hostile-numbers"}  # raw text: compared with jobs/ only
    jobs_dir = os.fsencode(m.jobs)
    checked = 0
    for view in GROUPINGS:
        for g, names in _read_view(m, view).items():
            for n in names:
                d = os.path.join(jobs_dir, view.encode(), g, n)
                assert listdir_b(d) == {f.encode() for f in JOB_FILES}, d
                for f in sorted(JOB_FILES):
                    p = os.path.join(d, f.encode())
                    ref = os.path.join(jobs_dir, n, f.encode())
                    data, want = read_bytes(p), read_bytes(ref)
                    assert data == want, "%s differs from %s" % (p, ref)
                    st, rst = os.stat(p), os.stat(ref)
                    assert st.st_size == len(data), p
                    assert st.st_mtime == rst.st_mtime, p
                    if f == "job.json" and n not in raw:
                        assert data == expected_job_json(by_name[n]), p
                    checked += 1
                for a in ("user.scrapefs.job_id", "user.scrapefs.created_at"):
                    try:
                        v = os.getxattr(d, a)
                    except OSError as e:
                        v = e.errno
                    try:
                        rv = os.getxattr(os.path.join(jobs_dir, n), a)
                    except OSError as e:
                        rv = e.errno
                    assert v == rv, (d, a, v, rv)
    assert checked > 200


def test_view_modes(views):
    s, m = views
    for view in GROUPINGS:
        base = os.path.join(m.jobs, view)
        assert is_ro_dir(os.stat(base)), base
        for g in sorted(_group_dirs(base))[:8]:
            gd = os.path.join(os.fsencode(base), g)
            assert is_ro_dir(os.stat(gd)), gd
            for n in sorted(listdir_b(gd))[:3]:
                assert is_ro_dir(os.stat(os.path.join(gd, n)))
                for f in JOB_FILES:
                    assert is_ro_file(os.stat(os.path.join(gd, n, f.encode())))
        with pytest.raises(OSError) as ei:
            os.mkdir(os.path.join(base, "new-group"))
        assert ei.value.errno == errno.EROFS


def test_group_lookups_exact_and_free(views):
    """Only the exact group name resolves; misses cost no request while the
    all-jobs listing is fresh (and never a detail call)."""
    s, m = views
    jobs = valid_jobs(s.jobs())
    os.listdir(m.jobs)  # make sure the listing is fresh
    docs = next(j for j in jobs if expected_domain(j) == b"docs.example.net")
    www = next(j for j in jobs if expected_domain(j) == b"www.example.com")
    other_day = next(expected_day(j) for j in jobs if expected_day(j) != expected_day(docs))
    assert b"shop.example.org" not in expected_groups(jobs, expected_domain)
    s.reset()
    bd = os.path.join(os.fsencode(m.jobs), b"by-domain")
    bt = os.path.join(os.fsencode(m.jobs), b"by-date")
    assert os.path.isdir(os.path.join(bd, b"docs.example.net"))
    assert os.path.isdir(os.path.join(bd, b"docs.example.net", encode_id(docs["job_id"])))
    missing = [
        os.path.join(bd, b"Docs.Example.NET"),
        os.path.join(bd, b"shop.example.org"),          # the port is part of the name
        os.path.join(bd, b"nothing.example.com"),
        os.path.join(bd, b"_INVALID"),
        os.path.join(bd, b"docs.example.net", encode_id(www["job_id"])),
        os.path.join(bd, b"docs.example.net", b"job_not_there"),
        os.path.join(bt, b"2030-01-01"),
        os.path.join(bt, b"2026-11-28T12:00:00Z"),
        os.path.join(bt, other_day, encode_id(docs["job_id"])),
    ]
    for p in missing:
        with pytest.raises(FileNotFoundError):
            os.stat(p)
    assert s.requests() == (0, 0, 0), s.stats()


def test_views_cost_nothing_after_ls_jobs(views, mount):
    """After `ls jobs/`, walking both views and reading every file there costs
    no request (README "The tree": derived from the fresh all-jobs listing)."""
    s, _ = views
    m = mount(s, opts="ttl=600")
    os.listdir(m.jobs)
    s.reset()
    n = 0
    for view in GROUPINGS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(os.fsencode(m.jobs),
                                                                 view.encode())):
            for f in filenames:
                p = os.path.join(dirpath, f)
                assert len(read_bytes(p)) == os.stat(p).st_size, p
                n += 1
    assert n > 200
    assert s.requests() == (0, 0, 0), s.stats()


@pytest.mark.parametrize("view", sorted(GROUPINGS))
def test_cold_view_costs_the_all_pages(sim, mount, view):
    """On a cold mount, `ls jobs/<view>` costs exactly the pages of the
    all-jobs listing; then the other view, the groups and `ls jobs/` cost
    nothing more."""
    s = sim(jobs=95)
    m = mount(s, opts="ttl=600,page_size=10")
    s.reset()
    got = _group_dirs(os.path.join(m.jobs, view))
    st = s.stats()
    total = st["jobs"]
    assert st["requests"] == {"list": pages(total, 10), "detail": 0, "other": 0}, st
    assert st["list_by_status"].get("", 0) == pages(total, 10), st
    assert got == set(expected_groups(s.jobs(), GROUPINGS[view]))
    for v in GROUPINGS:
        for g in _group_dirs(os.path.join(m.jobs, v)):
            listdir_b(os.path.join(os.fsencode(m.jobs), v.encode(), g))
    os.listdir(m.jobs)
    assert s.stats()["requests"] == {"list": pages(total, 10), "detail": 0, "other": 0}


def test_cold_group_lookup_costs_the_all_pages(sim, mount):
    """A group path looked up first thing on a cold mount resolves with the
    all-jobs pages only (no detail call, no status listing)."""
    s = sim(jobs=45)
    m = mount(s, opts="ttl=600,page_size=10")
    job = s.jobs()[7]
    s.reset()
    p = os.path.join(os.fsencode(m.jobs), b"by-date", expected_day(job), encode_id(job["job_id"]),
                     b"job.json")
    assert read_bytes(p) == expected_job_json(job)
    st = s.stats()
    assert st["requests"] == {"list": pages(st["jobs"], 10), "detail": 0, "other": 0}, st
    assert st["list_by_status"].get("", 0) == pages(st["jobs"], 10), st


def test_added_job_appears_in_views_after_ttl(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=2")
    bd, bt = os.path.join(m.jobs, "by-domain"), os.path.join(m.jobs, "by-date")
    before_d, before_t = _group_dirs(bd), _group_dirs(bt)
    assert before_d == set(expected_groups(s.jobs(), expected_domain))
    t0 = time.monotonic()
    s.add({"job_id": "job_late_view", "status": "pending", "url": "https://Late.Example.com:9090/x",
           "created_at": "2026-12-24T23:59:59-01:00"})
    assert _group_dirs(bd) == before_d
    assert _group_dirs(bt) == before_t
    assert time.monotonic() - t0 < 1.5, "too slow to check within ttl"
    time.sleep(2.5)
    assert _group_dirs(bd) == before_d | {b"late.example.com:9090"}
    assert _group_dirs(bt) >= before_t | {b"2026-12-25"}
    assert listdir_b(os.path.join(bd, "late.example.com:9090")) == {b"job_late_view"}
    assert listdir_b(os.path.join(bt, "2026-12-25")) == {b"job_late_view"}
    job = next(j for j in s.jobs() if j["job_id"] == "job_late_view")
    for p in (os.path.join(bd, "late.example.com:9090", "job_late_view", "job.json"),
              os.path.join(bt, "2026-12-25", "job_late_view", "job.json")):
        assert read_bytes(p) == expected_job_json(job), p
    for view, fn in GROUPINGS.items():
        got = _read_view(m, view)
        want = expected_groups(s.jobs(), fn)
        assert got == want, "%s:\n%s" % (view, _group_diff(got, want))


def test_patched_job_moves_after_ttl(sim, mount):
    s = sim(jobs=25)
    m = mount(s, opts="ttl=2")
    jobs = s.jobs()
    pend = next(j for j in jobs if j["status"] == "pending")
    done = next(j for j in jobs if j["status"] == "completed")
    pn, dn = encode_id(pend["job_id"]), encode_id(done["job_id"])
    bd = os.path.join(os.fsencode(m.jobs), b"by-domain")
    bt = os.path.join(os.fsencode(m.jobs), b"by-date")
    old_pd, old_pt, old_dd = expected_domain(pend), expected_day(pend), expected_domain(done)
    assert pn in listdir_b(os.path.join(bd, old_pd))
    assert pn in listdir_b(os.path.join(bt, old_pt))
    assert dn in listdir_b(os.path.join(bd, old_dd))
    read_bytes(os.path.join(bd, old_pd, pn, b"job.json"))
    s.patch(pend["job_id"], {"url": "https://Moved.Example.com/p",
                             "created_at": "2026-12-20T10:00:00Z"})
    s.patch(done["job_id"], {"url": "http://MOVED.example.com:81/c"})
    assert pn in listdir_b(os.path.join(bd, old_pd))  # within ttl: unchanged
    time.sleep(2.5)
    assert listdir_b(os.path.join(bd, b"moved.example.com")) == {pn}
    assert listdir_b(os.path.join(bd, b"moved.example.com:81")) == {dn}
    assert pn in listdir_b(os.path.join(bt, b"2026-12-20"))
    for g, n in ((old_pd, pn), (old_dd, dn)):
        gd = os.path.join(bd, g)
        assert not os.path.exists(gd) or n not in listdir_b(gd), (g, n)
    assert pn not in listdir_b(os.path.join(bt, old_pt))
    new = next(j for j in s.jobs() if j["job_id"] == pend["job_id"])
    assert read_bytes(os.path.join(bd, b"moved.example.com", pn, b"job.json")) == \
        expected_job_json(new)
    assert os.getxattr(os.path.join(bd, b"moved.example.com:81", dn), "user.xdg.origin.url") == \
        b"http://MOVED.example.com:81/c"
    for view, fn in GROUPINGS.items():
        got = _read_view(m, view)
        want = expected_groups(s.jobs(), fn)
        assert got == want, "%s:\n%s" % (view, _group_diff(got, want))


def test_url_without_host_is_invalid(sim, mount):
    """A url with an empty authority names no host: `_invalid`, not a group
    named after the path."""
    s = sim(jobs=5)
    cases = {"nohost-triple-slash": "http:///nohost/page",
             "nohost-port-only": "https://:8443/x",
             "nohost-bare-scheme": "https://"}
    s.add([_edge_job(j, u, "2026-11-20T00:00:00Z") for j, u in cases.items()])
    m = mount(s, opts="ttl=600")
    got = _read_view(m, "by-domain")
    where = {n: g for g, names in got.items() for n in names}
    wrong = {j: (u, where.get(j.encode())) for j, u in cases.items()
             if where.get(j.encode()) != INVALID_GROUP}
    assert not wrong, "jobs whose url has no host, not in by-domain/_invalid " \
        "(id: (url, group)): %r" % wrong


def test_impossible_calendar_day_is_invalid(sim, mount):
    """created_at naming a day that does not exist is unparsable: `_invalid`,
    not the day it would roll over to."""
    s = sim(jobs=5)
    cases = {"day-feb29-2026": "2026-02-29T00:00:00Z",
             "day-nov31": "2026-11-31T12:00:00Z",
             "day-apr31": "2026-04-31T12:00:00+00:00"}
    s.add([_edge_job(j, "https://d.example.com/", c) for j, c in cases.items()])
    m = mount(s, opts="ttl=600")
    got = _read_view(m, "by-date")
    where = {n: g for g, names in got.items() for n in names}
    wrong = {j: (c, where.get(j.encode())) for j, c in cases.items()
             if where.get(j.encode()) != INVALID_GROUP}
    assert not wrong, "impossible dates not in by-date/_invalid (id: (created_at, group)): %r" \
        % wrong
