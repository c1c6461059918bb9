"""The refresh budgets over the six views (jobs/ and the five status
directories): what a refresh costs after realistic changes, and that every
view then lists exactly what the API lists.

  - 20,000 jobs, the newest 200 may be unfinished (`--settled-after 200`);
    each round the simulator creates 30 jobs and finishes 20 unfinished
    ones (`/_sim/mutate` create/finish: a job that finishes enters its
    final view at its `created_at` place, not at the newest end). <= 15
    requests for the six views;
  - steady state, 200,000 jobs (1,000,000 in the large scenario): each
    round 50 created, 20 finished and the 50 oldest purged, as an account
    with retention sees it. <= 40 (60) requests for the six views.

Each round: the change, SIGHUP (every listing stale, as at the end of
ttl), the simulator's counters reset, then `ls` of jobs/ and of each status
directory; the requests the simulator counted are the cost. Every view is
then compared, name by name and in order, with the simulator's own list.
"""
import os
import signal

from lib import check, ctl, fs_stats, note, sim_requests, state, wait_refresh

STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


def view_dir(mnt, status):
    return os.path.join(mnt, "jobs") if status is None else \
        os.path.join(mnt, "jobs", "by-status", status)


def api_ids(port, status):
    q = "?fields=id" + ("&status=" + status if status else "")
    return ctl(port, "/_sim/jobs" + q)


def shown(mnt, status):
    return [n for n in os.listdir(view_dir(mnt, status)) if not n.startswith("by-")]


def exact(port, mnt):
    """The views that differ from the API (names compared as sets: ls
    sorts; the API's order is what the .jsonl views keep)."""
    wrong = []
    for s in (None,) + STATUSES:
        want, got = api_ids(port, s), shown(mnt, s)
        if len(got) != len(want) or set(got) != set(want):
            wrong.append("%s: %d shown, %d in the API, %d missing, %d extra"
                         % (s or "jobs", len(got), len(want), len(set(want) - set(got)),
                            len(set(got) - set(want))))
    return wrong


def list_six(mnt):
    for s in (None,) + STATUSES:
        os.listdir(view_dir(mnt, s))


def six_view_rounds(port, mnt, daemon, spec, rounds, seed, budget, label):
    """Rounds of spec (a /_sim/mutate body without its seed), each followed
    by a refresh of the six views. Returns the most requests a round cost."""
    list_six(mnt)  # every view read once (cold)
    worst = 0
    for r in range(rounds):
        ctl(port, "/_sim/mutate", dict(spec, seed=seed + r))
        st0 = fs_stats(mnt)
        os.kill(daemon.pid, signal.SIGHUP)
        wait_refresh(mnt, daemon.pid, st0["refreshes"])
        ctl(port, "/_sim/reset", {})
        list_six(mnt)
        n, kinds = sim_requests(port)
        st1 = fs_stats(mnt)
        full = sum(st1["listings"][v]["refreshes"]["full"] - st0["listings"][v]["refreshes"]["full"]
                   for v in st1["listings"])
        wrong = exact(port, mnt)
        note("%s round %d: %d requests (list %d, detail %d), %d full reads; %s"
             % (label, r + 1, n, kinds["list"], kinds["detail"], full,
                "every view exact" if not wrong else "WRONG: " + "; ".join(wrong)))
        if wrong:
            state.failures.append("%s: a view differs from the API at %s" % (label, state.current))
        worst = max(worst, n)
    check("requests: refresh of the six views, %s" % label, worst, budget, "%d")
    return worst


SIX_VIEWS = {"create": 30, "finish": 20}
STEADY = {"create": 50, "finish": 20, "purge": 50}
