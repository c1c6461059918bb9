"""The store's budgets: a remount starts from what the last mount knew.

  - remount, nothing changed: the first `ls jobs/` within 0.5 s at 100,000
    jobs (2 s at 1,000,000) and at most 3 requests (the listing comes from
    the store, stale, and is refreshed cheaply);
  - `cat` of final jobs' job.json whose texts are not in memory (a remount
    holds none; they come from the store): within 2x of the same `cat` of
    as many other jobs on the mount before, whose texts were in memory
    (each a first read for the kernel, so both go through scrapefs), and
    no request;
  - the store's files on disk (database and WAL) against the bytes of JSON
    the mount received: <= 1.3x.
"""
import os
import random
import time

from lib import (check, ctl, fs_stats, memory_check, mount, note, rss_kib, sim_requests,
                 umount)

SAMPLE = 500


def store_bytes(store):
    return sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store)
               if f.endswith((".db", ".db-wal")))


def cat_jobs(mnt, names):
    t = time.perf_counter()
    for n in names:
        with open(os.path.join(mnt, "jobs", n, "job.json"), "rb") as f:
            f.read()
    return time.perf_counter() - t


def final_names(mnt, k, seed):
    """2k jobs of the completed view, in two disjoint halves."""
    names = sorted(os.listdir(os.path.join(mnt, "jobs", "by-status", "completed")))
    pick = random.Random(seed).sample(names, 2 * k)
    return pick[:k], pick[k:]


def remount(port, mnt, daemon, opts, cache_mib, limit_s, cold_kib):
    """Unmounts daemon, mounts again on its store and measures; returns the
    new daemon. cold_kib: the RSS of a mount that started with nothing, the
    baseline of the memory check (the records loaded from the store are
    what the 300 bytes a job pay for, so they count)."""
    in_memory, from_store = final_names(mnt, SAMPLE, 7)
    ctl(port, "/_sim/reset", {})
    t_mem = cat_jobs(mnt, in_memory)
    n_mem, _ = sim_requests(port)
    received = fs_stats(mnt)["bytes_received"]
    store = mount.last_store
    umount(daemon, mnt)
    on_disk = store_bytes(store)
    note("store: %.1f MiB on disk (database and WAL) for %.1f MiB of JSON received"
         % (on_disk / 2**20, received / 2**20))
    check("store on disk / JSON received", on_disk / received, 1.3, "%.2fx")

    daemon = mount(port, mnt, opts, store=store)
    note("remount: RSS %.1f MiB at mount with the store loaded (%.1f MiB on a cold mount)"
         % (rss_kib(daemon.pid, "VmRSS") / 1024, cold_kib / 1024))
    ctl(port, "/_sim/reset", {})
    t = time.perf_counter()
    n = len(os.listdir(os.path.join(mnt, "jobs")))
    t_ls = time.perf_counter() - t
    reqs, kinds = sim_requests(port)
    note("remount: first ls jobs/ (%d entries) %.3f s, %d requests (list %d, detail %d)"
         % (n, t_ls, reqs, kinds["list"], kinds["detail"]))
    check("remount: first ls jobs/ (s)", t_ls, limit_s, "%.2f")
    check("remount: requests for the first ls jobs/", reqs, 3, "%d")

    ctl(port, "/_sim/reset", {})
    reads0 = fs_stats(mnt)["store"]["reads"]
    t_store = cat_jobs(mnt, from_store)
    n_store, _ = sim_requests(port)
    reads = fs_stats(mnt)["store"]["reads"] - reads0
    note("cat of %d job.json: texts in memory %.3f s (%d requests), from the store after the "
         "remount %.3f s (%d requests, %d texts read from disk)"
         % (SAMPLE, t_mem, n_mem, t_store, n_store, reads))
    check("cat of final jobs from the store / from memory", t_store / t_mem, 2.0, "%.2fx")
    check("requests for cat of final jobs from the store", n_store, 0, "%d")
    # (a few may be in memory already: the refresh of the first ls read the
    # newest pages; the request count above is what must hold)
    memory_check(daemon, mnt, cold_kib, cache_mib, "after a remount")
    return daemon
