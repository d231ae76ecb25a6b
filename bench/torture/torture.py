#!/usr/bin/env python3
"""Crash-and-restart torture run (issue 13, part 2): a mixed workload
against the real xapid, kill -9 at a random instant, restart on the same
state, check the invariants against what the server acknowledged.

    .venv/bin/python bench/torture/torture.py --bin target/release/xapid --rounds 200 --seed 1

Modes: the torture run (default), --startup (start-up time with 100k tasks
and 1,000 VDIs), --full-disk (a tmpfs state directory filled up, then made
read-only). Prints a JSON summary on the last line; exit 1 on findings."""

from __future__ import annotations

import argparse
import json
import random
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import XenAPI  # noqa: E402

from checks import Checker  # noqa: E402
from oracle import Oracle  # noqa: E402
from server import Server  # noqa: E402
from workload import Worker  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def login(srv, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = XenAPI.Session(srv.url)
            s.xenapi.login_with_password("root", srv.password, "1.0", "torture-check")
            return s
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def backing_name(path: Path) -> str | None:
    """The backing file named in a qcow2 header, if any."""
    try:
        with open(path, "rb") as f:
            h = f.read(20)
            if len(h) < 20 or h[:4] != b"QFI\xfb":
                return None
            off, size = int.from_bytes(h[8:16], "big"), int.from_bytes(h[16:20], "big")
            if not off or not size or size > 1023:
                return None
            f.seek(off)
            return f.read(size).decode(errors="replace")
    except OSError:
        return None


def unsettled_files(sr_path: Path, recs: dict) -> list[str]:
    """Files of the SR no VDI names that the background coalesce has yet to
    handle: a hidden base nobody is built on (to delete, as a pivot killed
    half-way leaves) or with one image built on it (to fold into it: the
    fold writes that image's file, and `qemu-img check` of a file being
    written sees clusters allocated but not yet mapped). A base with
    several children stays (the coalesce leaves it alone)."""
    locs = {r["location"] for r in recs.values() if r["location"]}
    files = [p for p in sr_path.iterdir() if not p.name.startswith(".")]
    if all(p.name in locs for p in files):
        return []
    children: dict[str, int] = {}
    for p in files:
        b = backing_name(p)
        if b:
            children[b] = children.get(b, 0) + 1
    return [p.name for p in files if p.name not in locs and children.get(p.name, 0) <= 1]


def torture(args) -> dict:
    rnd = random.Random(args.seed)
    work = Path(args.state_dir or tempfile.mkdtemp(prefix="xapid-torture-"))
    work.mkdir(parents=True, exist_ok=True)
    srv = Server(args.bin, work / "state", work / "xapid.log", "pw-" + secrets.token_hex(6))
    o = Oracle()
    socket.setdefaulttimeout(60)
    srv.start()
    t0 = time.monotonic()
    checks = kills = 0
    restart_times = []
    for rnd_no in range(1, args.rounds + 1):
        stop = threading.Event()
        workers = [Worker(i, srv.url, srv.port, srv.password, o, rnd.randrange(1 << 30), stop) for i in range(args.workers)]
        for w in workers:
            w.start()
        time.sleep(rnd.uniform(args.min_run, args.max_run))
        srv.kill()
        kills += 1
        stop.set()
        for w in workers:
            w.join(90)
            if w.is_alive():
                o.find(f"round {rnd_no}: worker {w.wid} hung after the kill")
        t = time.monotonic()
        srv.start()
        s = login(srv)
        restart_times.append(time.monotonic() - t)
        x = s.xenapi
        sr = x.SR.get_by_name_label("Local storage")[0]
        before = len(o.findings)
        sr_path = Path(x.SR.get_sm_config(sr)["path"])
        # After a restart the server checks every qcow2 VDI's file in the
        # background (its copy of the bitmaps, the intent of a killed store
        # settled, leaked clusters freed; a claim with no owner), and the
        # coalesce deletes the files nobody names: the checks start once
        # that is done, as docs/design.md describes it.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            recs = x.VDI.get_all_records()
            busy = any(r["current_operations"] for r in recs.values())
            intents = [p for p in sr_path.iterdir() if p.name.startswith(".") and p.name.endswith(".bitmaps")]
            if not busy and not intents and not unsettled_files(sr_path, recs):
                break
            time.sleep(0.1)
        c = Checker(o, x, s._session, srv.port, sr_path)
        try:
            c.run_all()
            c.settle()
        except Exception as e:
            o.find(f"round {rnd_no}: checks raised {type(e).__name__}: {e}")
        checks += c.checks
        log = srv.log_text()
        if "panicked" in log:
            o.find(f"round {rnd_no}: the server panicked (see {srv.log_path})")
        try:
            s.xenapi.session.logout()
        except Exception:
            pass
        if any("qemu-img check" in f for f in o.findings[before:]):
            # What the restart's leak check said (to tell a leak it skipped
            # from one made after it).
            said = [ln[-300:] for ln in log.splitlines() if "leak" in ln or "coalesced" in ln]
            o.find(f"round {rnd_no}: the server's log on leaks and folds: {said[-12:]}")
        new = o.findings[before:]
        if args.verbose or new:
            print(f"round {rnd_no}: {o.acked} acked, {len(o.vdis)} VDIs, {c.checks} checks, "
                  f"in flight {len(o.inflight)}; findings: {new}", flush=True)
        if new and args.stop_on_finding:
            break
        # the panics of this run are reported once
        if "panicked" in log:
            srv.log_path.rename(srv.log_path.with_suffix(f".{rnd_no}.log"))
    srv.stop()
    return {
        "mode": "torture", "seed": args.seed, "rounds": rnd_no, "kills": kills, "workers": args.workers,
        "acked": o.acked, "checks": checks, "findings": o.findings, "errors": o.errors,
        "seconds": round(time.monotonic() - t0, 1),
        "restart_median_s": round(sorted(restart_times)[len(restart_times) // 2], 3) if restart_times else None,
        "restart_max_s": round(max(restart_times), 3) if restart_times else None,
        "state": str(work),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "xapid"))
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--state-dir", help="work directory (default: a new temporary one)")
    ap.add_argument("--min-run", type=float, default=0.3, help="shortest workload before a kill (s)")
    ap.add_argument("--max-run", type=float, default=2.0, help="longest workload before a kill (s)")
    ap.add_argument("--stop-on-finding", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--startup", action="store_true", help="measure start-up with --tasks tasks and --vdis VDIs")
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--vdis", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5, help="restarts of each kind (SIGTERM, kill -9)")
    ap.add_argument("--build-procs", type=int, default=4, help="client processes building the start-up state")
    ap.add_argument("--reuse", action="store_true", help="--startup: reuse the state in --state-dir if there")
    ap.add_argument("--full-disk", action="store_true", help="tmpfs state directory: full, then read-only")
    ap.add_argument("--disk-mb", type=int, default=64, help="--full-disk: size of the tmpfs (and of the ext4 image)")
    ap.add_argument("--no-ext4", action="store_true", help="--full-disk: skip the ext4 read-only-under-a-running-server phase")
    args = ap.parse_args()
    if args.startup:
        from startup import startup
        out = startup(args)
    elif args.full_disk:
        from fulldisk import full_disk
        out = full_disk(args)
    else:
        out = torture(args)
    print(json.dumps(out))
    sys.exit(1 if out.get("findings") else 0)


if __name__ == "__main__":
    main()
