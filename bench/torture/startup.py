"""Start-up with a large store (issue 13, part 2): the server must answer
within 2 s of its start with 100,000 tasks and 1,000 VDIs.

    .venv/bin/python bench/torture/torture.py --startup --bin target/release/xapid \
        [--tasks 100000] [--vdis 1000] [--repeat 3]

Builds the state through the API (task.create, half of the tasks then
finished success or failure; VDI.create of 1 MiB raw and qcow2 disks, the
qcow2 ones with a persistent dirty bitmap each), then restarts the server
--repeat times after a graceful stop (SIGTERM) and --repeat times after
kill -9, timing from the process's spawn to (a) its "listening" line and (b)
the first answer of a new client: session.login_with_password, then
task.get_all (all 100,000 refs) and VDI.get_all_records."""

from __future__ import annotations

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


def build(srv: Server, password: str, tasks: int, vdis: int, workers: int = 8) -> float:
    t0 = time.monotonic()
    s = XenAPI.Session(srv.url)
    s.xenapi.login_with_password("root", password, "1.0", "startup-build")
    sr = s.xenapi.SR.get_by_name_label("Local storage")[0]
    errors: list[str] = []

    def work(w: int):
        c = XenAPI.Session(srv.url)
        c.xenapi.login_with_password("root", password, "1.0", "startup-build")
        x = c.xenapi
        try:
            for i in range(w, tasks, workers):
                t = x.task.create(f"startup-{i}", "a task of the start-up figure")
                if i % 4 == 1:
                    x.task.set_status(t, "success")
                elif i % 4 == 3:
                    x.task.set_status(t, "failure")
            for i in range(w, vdis, workers):
                fmt = "qcow2" if i % 2 else "raw"
                v = x.VDI.create({"SR": sr, "virtual_size": str(M), "name_label": f"startup-{i}",
                                  "sm_config": {"image-format": fmt}})
                if fmt == "qcow2":
                    x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"worker {w}: {e}")

    ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return time.monotonic() - t0


def first_answer(srv: Server, password: str, tasks: int, vdis: int, deadline: float = 60) -> float:
    """Seconds from the spawn to a client's first full answer."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            s = XenAPI.Session(srv.url)
            s.xenapi.login_with_password("root", password, "1.0", "startup-probe")
            n = len(s.xenapi.task.get_all())
            m = len(s.xenapi.VDI.get_all_records())
            got = time.monotonic() - srv.started_at
            if n < tasks or m < vdis:
                raise RuntimeError(f"only {n} tasks and {m} VDIs after the restart")
            s.xenapi.session.logout()
            return got
        except (ConnectionError, OSError):
            time.sleep(0.005)
    raise RuntimeError("no answer")


def startup(args) -> dict:
    work = Path(args.state_dir or tempfile.mkdtemp(prefix="xapid-startup-"))
    password = secrets.token_hex(12)
    srv = Server(args.bin, work / "state", work / "xapid.log", password,
                 {"max_sessions_per_originator": 10000})
    srv.start()
    built = build(srv, password, args.tasks, args.vdis)
    out = {"mode": "startup", "tasks": args.tasks, "vdis": args.vdis, "build_s": round(built, 1),
           "findings": []}
    store = work / "state" / "xapid.redb"
    out["store_mib"] = round(store.stat().st_size / M, 1) if store.exists() else None
    for how in ("sigterm", "kill9"):
        listening, answered = [], []
        for _ in range(args.repeat):
            if how == "sigterm":
                srv.stop()
            else:
                srv.kill()
            subprocess.run(["sync"], check=False)
            srv.start()
            listening.append(srv.listening_after)
            answered.append(first_answer(srv, password, args.tasks, args.vdis))
        out[how] = {
            "listening_s": [round(v, 3) for v in listening],
            "answered_s": [round(v, 3) for v in answered],
            "answered_median_s": round(statistics.median(answered), 3),
            "answered_max_s": round(max(answered), 3),
        }
        if max(answered) > 2.0:
            out["findings"].append(f"{how}: first answer after {max(answered):.2f} s (bound 2 s)")
    srv.stop()
    return out
