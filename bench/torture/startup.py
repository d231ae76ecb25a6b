"""Start-up with a large store (issue 13, part 2): the server must answer
within 2 s of its start with 100,000 tasks and 1,000 VDIs.

    .venv/bin/python bench/torture/torture.py --startup --bin target/release/xapid \
        [--tasks 100000] [--vdis 1000] [--repeat 5] [--build-procs 4] [--state-dir D [--reuse]]

The state is built through the API only, by --build-procs processes of 4
threads, each thread one keep-alive XML-RPC session (xapid has no
system.multicall): task.create for every task, then a quarter finished
`success` (one in five of those after task.set_result), a quarter `failure`
(one in five after task.set_error_info), one in twenty of the pending ones
given a progress; VDI.create of 1 MiB disks, raw and qcow2 alternately, each
qcow2 one with a persistent dirty bitmap.

With --reuse and a --state-dir holding the state of an earlier run, the
build is skipped (to time a changed binary on the same store).

Then the server is stopped --repeat times by SIGTERM and --repeat times by
kill -9, and started again on the same state each time, timing from the
spawn of the process to
  - its "listening on http://" line,
  - the first successful session.login_with_password of a new client,
  - that client's first full answer: login, task.get_all (every ref) and
    VDI.get_all (polling from the spawn, 5 ms between refused connects).
Each restart is checked: every task and VDI is there, and a sample of tasks
kept its status. A finding if any first full answer took more than 2 s."""

from __future__ import annotations

import multiprocessing
import random
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import XenAPI

from server import Server

M = 1 << 20
BOUND_S = 2.0
THREADS_PER_PROC = 4


def task_plan(i: int) -> str:
    """What becomes of task i: its expected status after the build."""
    return ("pending", "success", "pending", "failure")[i % 4]


def _build_part(url: str, password: str, sr: str, tasks: int, vdis: int, part: int, parts: int) -> tuple[int, list[str]]:
    """One process of the build: THREADS_PER_PROC threads, every
    `parts`-th task and VDI from `part` on. Returns (calls, errors)."""
    errors: list[str] = []
    calls = [0] * THREADS_PER_PROC

    def work(t: int):
        c = XenAPI.Session(url)
        c.xenapi.login_with_password("root", password, "1.0", "startup-build")
        x = c.xenapi
        n = 0
        stride = parts * THREADS_PER_PROC
        first = part * THREADS_PER_PROC + t
        try:
            for i in range(first, tasks, stride):
                r = x.task.create(f"startup-{i}", "a task of the start-up figure")
                n += 1
                plan = task_plan(i)
                if plan == "success":
                    if i % 20 == 1:
                        x.task.set_result(r, "<value>OpaqueRef:NULL</value>")
                        n += 1
                    x.task.set_status(r, "success")
                    n += 1
                elif plan == "failure":
                    if i % 20 == 3:
                        x.task.set_error_info(r, ["STARTUP_FIGURE_FAILURE", str(i)])
                        n += 1
                    x.task.set_status(r, "failure")
                    n += 1
                elif i % 20 == 2:
                    x.task.set_progress(r, 0.5)
                    n += 1
            for i in range(first, vdis, stride):
                fmt = "qcow2" if i % 2 else "raw"
                v = x.VDI.create({"SR": sr, "virtual_size": str(M), "name_label": f"startup-{i}",
                                  "sm_config": {"image-format": fmt}})
                n += 1
                if fmt == "qcow2":
                    x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
                    n += 1
            c.xenapi.session.logout()
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"process {part} thread {t}: {type(e).__name__}: {e}")
        calls[t] = n

    ts = [threading.Thread(target=work, args=(t,)) for t in range(THREADS_PER_PROC)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(calls), errors


def build(srv: Server, password: str, tasks: int, vdis: int, procs: int) -> dict:
    t0 = time.monotonic()
    s = XenAPI.Session(srv.url)
    s.xenapi.login_with_password("root", password, "1.0", "startup-build")
    sr = s.xenapi.SR.get_by_name_label("Local storage")[0]
    s.xenapi.session.logout()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(procs) as pool:
        parts = pool.starmap(_build_part, [(srv.url, password, sr, tasks, vdis, p, procs) for p in range(procs)])
    calls = sum(p[0] for p in parts)
    errors = [e for p in parts for e in p[1]]
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    took = time.monotonic() - t0
    return {"build_s": round(took, 1), "build_calls": calls, "build_calls_per_s": round(calls / took)}


def first_answer(srv: Server, password: str, deadline: float = 60) -> tuple[float, float, int, int]:
    """Seconds from the spawn to a new client's first successful login, and
    to its first full answer (login, task.get_all, VDI.get_all); and the
    counts it got."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            s = XenAPI.Session(srv.url)
            s.xenapi.login_with_password("root", password, "1.0", "startup-probe")
            logged_in = time.monotonic() - srv.started_at
            n = len(s.xenapi.task.get_all())
            m = len(s.xenapi.VDI.get_all())
            answered = time.monotonic() - srv.started_at
            s.xenapi.session.logout()
            return logged_in, answered, n, m
        except (ConnectionError, OSError):
            time.sleep(0.005)
    raise RuntimeError(f"no answer within {deadline} s of the spawn")


def check_sample(srv: Server, password: str, sample: list[tuple[str, str]]) -> list[str]:
    """The sampled tasks kept their status."""
    s = XenAPI.Session(srv.url)
    s.xenapi.login_with_password("root", password, "1.0", "startup-check")
    bad = []
    for r, want in sample:
        try:
            got = s.xenapi.task.get_status(r)
        except XenAPI.Failure as e:
            got = f"{e.details[:2]}"
        if got != want:
            bad.append(f"task {r}: {got}, expected {want}")
    s.xenapi.session.logout()
    return bad


def stats(v: list[float]) -> dict:
    return {"min": round(min(v), 3), "median": round(statistics.median(v), 3), "max": round(max(v), 3),
            "all": [round(x, 3) for x in v]}


def startup(args) -> dict:
    work = Path(args.state_dir or tempfile.mkdtemp(prefix="xapid-startup-"))
    work.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)
    srv = Server(args.bin, work / "state", work / "xapid.log", password,
                 {"max_sessions_per_originator": 10000})
    reuse = getattr(args, "reuse", False) and (work / "state" / "xapid.redb").exists()
    srv.start()
    out: dict = {"mode": "startup", "bin": args.bin, "tasks": args.tasks, "vdis": args.vdis,
                 "repeat": args.repeat, "findings": []}
    if reuse:
        out["build"] = "reused the state of an earlier run"
    else:
        out.update(build(srv, password, args.tasks, args.vdis, args.build_procs))

    s = XenAPI.Session(srv.url)
    s.xenapi.login_with_password("root", password, "1.0", "startup-check")
    try:
        s.xenapi.task.get_all_records_where('field "status" = "pending"')
        out["get_all_records_where"] = "supported"
    except XenAPI.Failure as e:
        out["get_all_records_where"] = " ".join(e.details[:2])
    refs = s.xenapi.task.get_all()
    rnd = random.Random(1)
    sample = [(r, s.xenapi.task.get_status(r)) for r in rnd.sample(refs, min(200, len(refs)))]
    by = {}
    for _, st in sample:
        by[st] = by.get(st, 0) + 1
    out["sample_statuses"] = by
    tasks_total, vdis_total = len(refs), len(s.xenapi.VDI.get_all())
    s.xenapi.session.logout()
    if tasks_total < args.tasks or vdis_total < args.vdis:
        out["findings"].append(f"after the build: {tasks_total} tasks, {vdis_total} VDIs")

    for how in ("sigterm", "kill9"):
        listening, logged_in, answered, stop_s = [], [], [], []
        for k in range(args.repeat):
            t = time.monotonic()
            if how == "sigterm":
                code = srv.stop()
                if code != 0:
                    out["findings"].append(f"{how} #{k}: SIGTERM: exit {code}")
            else:
                srv.kill()
            stop_s.append(time.monotonic() - t)
            subprocess.run(["sync"], check=False)
            time.sleep(0.2)
            srv.start()
            li, an, n, m = first_answer(srv, password)
            listening.append(srv.listening_after)
            logged_in.append(li)
            answered.append(an)
            if n != tasks_total or m != vdis_total:
                out["findings"].append(f"{how} #{k}: {n} tasks and {m} VDIs after the restart, "
                                       f"{tasks_total} and {vdis_total} before")
            for b in check_sample(srv, password, sample)[:5]:
                out["findings"].append(f"{how} #{k}: {b}")
            # let the restart's background work (leak check of every qcow2
            # VDI, coalesce) run before the next stop
            time.sleep(1.0)
        out[how] = {"listening_s": stats(listening), "login_s": stats(logged_in),
                    "answered_s": stats(answered), "stop_s": stats(stop_s)}
        if max(answered) > BOUND_S:
            out["findings"].append(f"{how}: first full answer {max(answered):.2f} s after the spawn "
                                   f"(bound {BOUND_S} s)")
    store = work / "state" / "xapid.redb"
    out["store_mib"] = round(store.stat().st_size / M, 1) if store.exists() else None
    if "panicked" in srv.log_text():
        out["findings"].append(f"the server panicked (see {srv.log_path})")
    srv.stop()
    out["state"] = str(work)
    return out
