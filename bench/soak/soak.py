#!/usr/bin/env python3
"""Soak (issue 13, part 3): steady mixed load against the real xapid for a
long time, sampling the server every interval.

    .venv/bin/python bench/soak/soak.py --bin target/release/xapid --minutes 30 --out /tmp/soak

Load (threads, in three client processes so that no client's GIL is what
the latencies measure: the watchers; the work; the probes): --watchers
event.from watchers (task and VDI events, 30 s polls, one session each), 4 pollers reading a pending task's record
every 50 ms, a prober timing task.get_progress every 20 ms, an event prober
(task.set_progress every 0.5 s, timed until a watcher sees it), a copier
(VDI.copy of an 8 MiB VDI, then its destroy, back to back), a backup loop
(block_job.backup of an 8 MiB VDI to a new target at 8 MiB/s, waited for,
its task and target destroyed), an importer (1 MiB PUT /import_raw_vdi at a
random offset every second, its task destroyed), logins and logouts (every
200 ms), task create/set_progress/set_status/destroy (every 100 ms). Every
task the load makes is destroyed, as clients do: the store stays the same
size.

Every interval: server RSS, open files, threads (/proc), p50/p99 of
task.get_progress, p50/p99 of event latency, p50/p99 of store commits
(from GET /metrics bucket deltas), requests done and failed. Writes
series.csv, summary.json and soak.png (plot.py) to --out."""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import xmlrpc.client
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "bench" / "torture"))

import XenAPI  # noqa: E402

from server import Server  # noqa: E402

M = 1 << 20


class Stats:
    """Counters and latencies since the last sample."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = 0
        self.failed = 0
        self.failures: dict[str, int] = {}
        self.progress: list[float] = []
        self.events: list[float] = []

    def ok(self, n=1):
        with self.lock:
            self.done += n

    def fail(self, what: str):
        with self.lock:
            self.failed += 1
            self.failures[what] = self.failures.get(what, 0) + 1

    def take(self):
        with self.lock:
            out = (self.done, self.failed, self.progress, self.events)
            self.done, self.failed, self.progress, self.events = 0, 0, [], []
            return out


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class Load:
    def __init__(self, url, password, port, stats, stop, watchers):
        self.url, self.password, self.port = url, password, port
        self.stats, self.stop, self.watchers = stats, stop, watchers
        self.threads: list[threading.Thread] = []

    def session(self):
        s = XenAPI.Session(self.url)
        s.xenapi.login_with_password("root", self.password, "1.0", "xapid-soak")
        return s

    def loop(self, name, fn, period=0.0):
        """Runs fn() until stop; counts each call's success or failure."""
        def run():
            s = None
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    if s is None:
                        s = self.session()
                        self.stats.ok()
                    n = fn(s)
                    self.stats.ok(n if isinstance(n, int) else 1)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    if self.stop.is_set():
                        break
                    self.stats.fail(f"{name}: {type(e).__name__}: {str(e)[:120]}")
                    s = None
                    time.sleep(0.2)
                if period:
                    left = period - (time.monotonic() - t0)
                    if left > 0:
                        self.stop.wait(left)
        t = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(t)
        t.start()

    def start(self, group, sr, src, imp, pending):
        getattr(self, group)(sr, src, imp, pending)

    def watchers_group(self, sr, src, imp, pending):
        # event.from watchers: one session and one keep-alive connection
        # each (as separate clients). Each reads its whole answer but takes
        # only the token out of it (a regular expression, not an XML-RPC
        # parse): parsing 200 watchers' events in one Python process was
        # more than a core, and the watchers then measured themselves
        # (answers waiting in the server for a client's turn).
        tok_re = re.compile(rb"<name>token</name>\s*<value>(?:<string>)?([^<]*)")
        for i in range(self.watchers):
            state = {"t": "", "c": None}

            def watch(s, state=state):
                if state["c"] is None:
                    state["c"] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=90)
                body = xmlrpc.client.dumps((s._session, ["task", "VDI"], state["t"], 30.0), "event.from")
                try:
                    state["c"].request("POST", "/", body=body.encode(), headers={"Content-Type": "text/xml"})
                    r = state["c"].getresponse()
                    data = r.read()
                except Exception:
                    state["c"].close()
                    state["c"] = None
                    raise
                m = tok_re.search(data)
                if r.status != 200 or b"<fault>" in data or b"Failure" in data[:400] or not m:
                    raise RuntimeError(f"event.from: HTTP {r.status} {data[:200]!r}")
                state["t"] = m.group(1).decode()
            self.loop("watcher", watch)

    def probe_group(self, sr, src, imp, pending):
        def progress(s):
            t0 = time.perf_counter()
            s.xenapi.task.get_progress(pending)
            dt = time.perf_counter() - t0
            with self.stats.lock:
                self.stats.progress.append(dt)
        self.loop("get_progress", progress, 0.02)

        # event latency: a prober's set_progress until a watcher sees it
        sent = {"at": None}
        probe = {"task": None}

        def prober(s):
            if probe["task"] is None:
                probe["task"] = s.xenapi.task.create("soak-event-probe", "")
            sent["at"] = time.monotonic()
            s.xenapi.task.set_progress(probe["task"], round(random.random(), 6))
        self.loop("event_prober", prober, 0.5)
        etoken = {"t": ""}

        def event_watch(s):
            r = s.xenapi.event_from(["task"], etoken["t"], 30.0)
            etoken["t"] = r["token"]
            now = time.monotonic()
            for ev in r["events"]:
                if ev.get("ref") == probe["task"] and ev.get("operation") == "mod" and sent["at"]:
                    with self.stats.lock:
                        self.stats.events.append(now - sent["at"])
                    sent["at"] = None
        self.loop("event_watcher", event_watch)

    def work_group(self, sr, src, imp, pending):
        def poll(s):
            s.xenapi.task.get_record(pending)
        for _ in range(4):
            self.loop("poller", poll, 0.05)

        def copier(s):
            c = s.xenapi.VDI.copy(src, sr)
            s.xenapi.VDI.destroy(c)
            return 2
        self.loop("copier", copier, 0.5)

        def backup(s):
            x = s.xenapi
            tgt = x.VDI.create({"SR": sr, "virtual_size": str(8 * M), "name_label": "soak-target",
                                "sm_config": {"image-format": "qcow2"}})
            job = x.block_job.backup(src, tgt, {"speed": str(8 * M), "auto_dismiss": "true"})
            task = x.block_job.get_task(job)
            n = 3
            while job in x.block_job.get_all():
                n += 1
                if self.stop.wait(0.25):
                    break
            # As a client does once it has read the result (xapi keeps a
            # finished task until it is destroyed).
            x.task.destroy(task)
            x.VDI.destroy(tgt)
            return n + 2
        self.loop("backup", backup)

        def importer(s):
            off = random.randrange(8) * M
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("PUT", f"/import_raw_vdi?session_id={s._session}&vdi={imp}&offset={off}",
                      body=os.urandom(M))
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                raise RuntimeError(f"import: HTTP {r.status}")
            s.xenapi.task.destroy(r.getheader("task-id"))
            return 2
        self.loop("importer", importer, 1.0)

        def logins(s):
            t = XenAPI.Session(self.url)
            t.xenapi.login_with_password("root", self.password, "1.0", "xapid-soak-login")
            t.xenapi.session.logout()
            return 2
        self.loop("logins", logins, 0.2)

        def tasks(s):
            x = s.xenapi
            t = x.task.create("soak-task", "")
            x.task.set_progress(t, 0.5)
            # (A pending task's destroy only marks it, as xapi's.)
            x.task.set_status(t, "success")
            x.task.destroy(t)
            return 4
        self.loop("tasks", tasks, 0.1)


def child(group, url, password, port, watchers, sr, src, imp, pending, q, stop):
    """One group of the load in a process of its own (the client's GIL must
    not be what the latencies measure); its counters go to `q` each second.
    The load's threads watch a stop of their own: a multiprocessing Event
    takes a lock shared by every process at each look, and 200 threads
    looking made the other processes' calls wait for it (the first soak's
    event latencies, 50-470 ms where a separate client saw 2-4 ms)."""
    stats = Stats()
    local_stop = threading.Event()
    load = Load(url, password, port, stats, local_stop, watchers)
    load.start(group, sr, src, imp, pending)
    while not stop.wait(1.0):
        q.put(stats.take() + (dict(stats.failures),))
        stats.failures.clear()
    local_stop.set()
    for t in load.threads:
        t.join(40)
    q.put(stats.take() + (dict(stats.failures),))


def drain(q, stats, stop):
    """Adds what the groups report to the sampler's counters."""
    import queue
    while True:
        try:
            done, failed, prog, evs, failures = q.get(timeout=0.5)
        except queue.Empty:
            if stop.is_set() and q.empty():
                return
            continue
        with stats.lock:
            stats.done += done
            stats.failed += failed
            stats.progress.extend(prog)
            stats.events.extend(evs)
            for k, v in failures.items():
                stats.failures[k] = stats.failures.get(k, 0) + v


def proc_figures(pid):
    st = Path(f"/proc/{pid}/status").read_text()
    rss = int(next(line.split()[1] for line in st.splitlines() if line.startswith("VmRSS:"))) / 1024
    threads = int(next(line.split()[1] for line in st.splitlines() if line.startswith("Threads:")))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def commit_buckets(port, session):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", f"/metrics?session_id={session}")
    body = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in body.splitlines():
        if line.startswith("xapid_store_commit_duration_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def bucket_quantile(before, after, q):
    """The upper bound of the bucket holding quantile q of the commits
    between two scrapes (cumulative buckets)."""
    les = sorted(after)
    delta = [after[le] - before.get(le, 0.0) for le in les]
    total = delta[-1] if delta else 0
    if total <= 0:
        return None
    for le, n in zip(les, delta):
        if n >= q * total:
            return le
    return les[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "xapid"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=120)
    ap.add_argument("--watchers", type=int, default=200)
    ap.add_argument("--out", default="soak-out")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="xapid-soak-"))
    password = secrets.token_hex(12)
    srv = Server(args.bin, work / "state", out / "xapid.log", password)
    srv.start()
    url = srv.url
    s = XenAPI.Session(url)
    s.xenapi.login_with_password("root", password, "1.0", "xapid-soak")
    x = s.xenapi
    sr = x.SR.get_by_name_label("Local storage")[0]

    def vdi(fmt):
        return x.VDI.create({"SR": sr, "virtual_size": str(8 * M), "name_label": "soak",
                             "sm_config": {"image-format": fmt}})
    src, imp = vdi("qcow2"), vdi("qcow2")
    for off in range(0, 8 * M, 2 * M):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        c.request("PUT", f"/import_raw_vdi?session_id={s._session}&vdi={src}&offset={off}", body=os.urandom(M))
        c.getresponse().read()
        c.close()
    pending = x.task.create("soak-pending", "the task the pollers read")
    import multiprocessing as mp
    stats, stop = Stats(), mp.Event()
    q = mp.Queue()
    procs = [mp.Process(target=child, args=(g, url, password, srv.port, args.watchers, sr, src, imp, pending,
                                             q, stop), daemon=True)
             for g in ("watchers_group", "work_group", "probe_group")]
    for p in procs:
        p.start()
    drainer_stop = threading.Event()
    drainer = threading.Thread(target=drain, args=(q, stats, drainer_stop), daemon=True)
    drainer.start()
    pid = srv.proc.pid
    rows = []
    t_start = time.monotonic()
    before = commit_buckets(srv.port, s._session)
    end = t_start + args.minutes * 60
    next_at = t_start + args.interval
    while time.monotonic() < end:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += args.interval
        if srv.proc.poll() is not None:
            stats.fail("server: died")
            break
        rss, fds, threads = proc_figures(pid)
        after = commit_buckets(srv.port, s._session)
        done, failed, prog, evs = stats.take()
        row = {
            "t": round(time.monotonic() - t_start, 1), "rss_mib": round(rss, 1), "fds": fds, "threads": threads,
            "progress_p50_ms": pct(prog, 0.5) and round(pct(prog, 0.5) * 1e3, 3),
            "progress_p99_ms": pct(prog, 0.99) and round(pct(prog, 0.99) * 1e3, 3),
            "event_p50_ms": pct(evs, 0.5) and round(pct(evs, 0.5) * 1e3, 2),
            "event_p99_ms": pct(evs, 0.99) and round(pct(evs, 0.99) * 1e3, 2),
            "commit_p50_ms": (lambda v: v and round(v * 1e3, 3))(bucket_quantile(before, after, 0.5)),
            "commit_p99_ms": (lambda v: v and round(v * 1e3, 3))(bucket_quantile(before, after, 0.99)),
            "requests": done, "failed": failed,
        }
        before = after
        rows.append(row)
        print(json.dumps(row), flush=True)
    stop.set()
    for p in procs:
        p.join(60)
    drainer_stop.set()
    drainer.join(10)
    with open(out / "series.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    steady = [r for r in rows if r["t"] > args.warmup] or rows
    summary = {"minutes": args.minutes, "interval_s": args.interval, "warmup_s": args.warmup,
               "watchers": args.watchers, "samples": len(rows), "steady_samples": len(steady)}
    for k in ("rss_mib", "fds", "threads"):
        vals = [r[k] for r in steady]
        med = statistics.median(vals)
        third = max(1, len(vals) // 3)
        first, last = statistics.median(vals[:third]), statistics.median(vals[-third:])
        summary[k] = {"median": med, "min": min(vals), "max": max(vals),
                      "max_dev_pct": round(max(abs(v - med) for v in vals) / med * 100, 2),
                      # the trend: the last third's median against the first's
                      "drift_pct": round((last - first) / first * 100, 2)}
    for k in ("progress", "event", "commit"):
        p50s = [r[f"{k}_p50_ms"] for r in steady if r[f"{k}_p50_ms"] is not None]
        p99s = [r[f"{k}_p99_ms"] for r in steady if r[f"{k}_p99_ms"] is not None]
        summary[k] = {"p50_median_ms": p50s and statistics.median(p50s),
                      "p99_median_ms": p99s and statistics.median(p99s),
                      "p99_max_ms": p99s and max(p99s)}
    summary["requests"] = sum(r["requests"] for r in rows)
    summary["failed"] = sum(r["failed"] for r in rows)
    summary["failures"] = stats.failures
    summary["flat"] = all(abs(summary[k]["drift_pct"]) <= 10 for k in ("rss_mib", "fds", "threads"))
    summary["passed"] = summary["flat"] and summary["failed"] == 0
    summary["server_alive"] = srv.proc.poll() is None
    srv.stop()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    try:
        from plot import plot
        plot(rows, out / "soak.png", args.warmup)
    except ImportError as e:
        print(f"no plot: {e}", file=sys.stderr)
    print(json.dumps(summary))
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
