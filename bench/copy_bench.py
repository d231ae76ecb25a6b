"""Block-job figures for docs/performance.md, in one run, on one disk:

1. VDI.copy of a 2 GiB half-sparse raw image against
   `qemu-img convert -t writeback -O raw` (which, like xapid, flushes the
   target before it ends), alternating, after one untimed warm-up copy;
   and how sparse the copy is.
2. A backup at speed = 32 MiB/s: the rate over 10 s, and how soon
   block_job.set_speed takes effect.
3. task.get_progress latency (wrk, a fixed request rate) while 8 copies run.

usage: python3 bench/copy_bench.py XAPID_BIN [--size-gib 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import XenAPI

MiB = 1 << 20


def make_half_sparse(path: Path, size: int) -> None:
    """1 MiB of random data in every 2 MiB, holes between."""
    pattern = os.urandom(64 * MiB)
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, 2 * MiB):
            p = (off // (2 * MiB)) % 64
            f.seek(off)
            f.write(pattern[p * MiB:(p + 1) * MiB])
        f.flush()
        os.fsync(f.fileno())


def make_full(path: Path, size: int) -> None:
    pattern = os.urandom(64 * MiB)
    with open(path, "wb") as f:
        for off in range(0, size, 64 * MiB):
            f.write(pattern[: min(64 * MiB, size - off)])
        f.flush()
        os.fsync(f.fileno())


def print_latency(wrk_output: str) -> None:
    """The percentile and rate lines of a `wrk --latency` run."""
    for line in wrk_output.splitlines():
        if any(k in line for k in ("50%", "90%", "99%", "Requests/sec")):
            print("  " + line.strip())


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--size-gib", type=float, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: copy,speed,latency")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="xapid-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    sr_dir = work / "sr"
    sr_dir.mkdir()
    size = int(args.size_gib * 1024) * MiB
    env = dict(os.environ, XAPID_ROOT_PASSWORD="pw", RUST_LOG="warn")
    proc = subprocess.Popen(
        [args.bin, "serve", "--listen", "127.0.0.1:18095", "--listen-tls", "127.0.0.1:0", "--state-dir", str(work / "state"),
         "--sr", f"bench={sr_dir}"], env=env)
    try:
        for _ in range(100):
            try:
                s = XenAPI.Session("http://127.0.0.1:18095/")
                s.xenapi.login_with_password("root", "pw")
                break
            except Exception:
                time.sleep(0.1)
        x = s.xenapi
        sr = [r for r, v in x.SR.get_all_records().items() if v["name_label"] == "bench"][0]

        if "copy" not in skip:
            src = sr_dir / "half-sparse.raw"
            make_half_sparse(src, size)
            x.SR.scan(sr)
            vdi = x.VDI.get_by_name_label("half-sparse.raw")[0]
            print(f"== copy of a {size // MiB} MiB half-sparse raw image "
                  f"({allocated(src) // MiB} MiB allocated)")
            warm = x.VDI.copy(vdi, sr)
            x.VDI.destroy(warm)
            subprocess.run(["qemu-img", "convert", "-t", "writeback", "-O", "raw", str(src),
                            str(work / "warm.raw")], check=True)
            os.unlink(work / "warm.raw")
            ours, theirs, sparse = [], [], []
            for i in range(args.rounds):
                drop_caches()
                t0 = time.monotonic()
                new = x.VDI.copy(vdi, sr)
                ours.append(time.monotonic() - t0)
                sparse.append(allocated(sr_dir / x.VDI.get_location(new)))
                x.VDI.destroy(new)
                drop_caches()
                dst = work / "qemu.raw"
                t0 = time.monotonic()
                subprocess.run(["qemu-img", "convert", "-t", "writeback", "-O", "raw", str(src), str(dst)],
                               check=True)
                theirs.append(time.monotonic() - t0)
                os.unlink(dst)
                print(f"  round {i + 1}: xapid {ours[-1]:.3f} s, qemu-img {theirs[-1]:.3f} s")
            mo, mt = statistics.median(ours), statistics.median(theirs)
            print(f"  median: xapid {mo:.3f} s, qemu-img {mt:.3f} s, ratio {mo / mt:.2f}x")
            print(f"  copy allocated: {statistics.median(sparse) // MiB} MiB "
                  f"(source {allocated(src) // MiB} MiB)")
            x.VDI.destroy(vdi)

        if "speed" not in skip:
            src = sr_dir / "full.raw"
            make_full(src, 1024 * MiB)
            x.SR.scan(sr)
            vdi = x.VDI.get_by_name_label("full.raw")[0]
            tgt = x.VDI.create({"SR": sr, "virtual_size": str(1024 * MiB)})
            speed = 32 * MiB
            print("== backup at speed = 32 MiB/s (fully allocated source)")
            job = x.block_job.backup(vdi, tgt, {"speed": str(speed), "auto_dismiss": "false"})
            time.sleep(1.0)
            p0, t0 = int(x.block_job.get_current_progress(job)), time.monotonic()
            time.sleep(10.0)
            p1, t1 = int(x.block_job.get_current_progress(job)), time.monotonic()
            rate = (p1 - p0) / (t1 - t0)
            print(f"  rate over {t1 - t0:.1f} s: {rate / MiB:.2f} MiB/s "
                  f"({(rate / speed - 1) * 100:+.1f}% of the limit); block_job.rate = "
                  f"{int(x.block_job.get_rate(job)) / MiB:.2f} MiB/s")
            # set_speed: sample progress every 20 ms around the change.
            samples = []
            t_set = None
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                now = time.monotonic()
                if t_set is None and now > end - 1.5:
                    x.block_job.set_speed(job, str(4 * speed))
                    t_set = time.monotonic()
                samples.append((time.monotonic(), int(x.block_job.get_current_progress(job))))
                time.sleep(0.02)
            after = [(t, p) for t, p in samples if t >= t_set]
            # The first moment the progress moved faster than the old limit allows.
            base_t, base_p = after[0]
            effect = None
            for t, p in after[1:]:
                if (p - base_p) > speed * (t - base_t) + 4 * MiB:
                    effect = t - t_set
                    break
            tail = [(t, p) for t, p in after if t >= t_set + 0.3]
            new_rate = (tail[-1][1] - tail[0][1]) / (tail[-1][0] - tail[0][0]) if len(tail) > 1 else 0
            print(f"  set_speed 32 -> 128 MiB/s: faster within {effect * 1000:.0f} ms "
                  f"(progress is published every 100 ms); then {new_rate / MiB:.1f} MiB/s"
                  if effect is not None else "  set_speed: no change seen")
            x.block_job.cancel(job)
            for _ in range(100):
                if x.block_job.get_status(job) == "concluded":
                    break
                time.sleep(0.05)
            x.block_job.dismiss(job)
            x.VDI.destroy(tgt)
            x.VDI.destroy(vdi)

        if "latency" not in skip:
            src = sr_dir / "lat.raw"
            make_half_sparse(src, 2048 * MiB)
            x.SR.scan(sr)
            vdi = x.VDI.get_by_name_label("lat.raw")[0]
            t = x.task.create("probe", "")
            body = (f"<?xml version='1.0'?><methodCall><methodName>task.get_progress</methodName>"
                    f"<params><param><value><string>{s._session}</string></value></param>"
                    f"<param><value><string>{t}</string></value></param></params></methodCall>")
            lua = work / "fixed.lua"
            # 4 connections, one request every 5 ms each: about 800 req/s.
            lua.write_text('wrk.method = "POST"\nwrk.body = [[' + body + ']]\n'
                           'wrk.headers["Content-Type"] = "text/xml"\n'
                           'function delay() return 5 end\n')
            base = subprocess.run(
                ["wrk", "-t1", "-c4", "-d5s", "--latency", "-s", str(lua), "http://127.0.0.1:18095/"],
                stdout=subprocess.PIPE, text=True).stdout
            print("== task.get_progress latency, idle server (wrk, ~800 req/s)")
            print_latency(base)
            print("== task.get_progress latency while 8 copies run (wrk, ~800 req/s)")
            import threading
            done = threading.Event()
            started = [0]

            def keep_copying():
                ks = XenAPI.Session("http://127.0.0.1:18095/")
                ks.xenapi.login_with_password("root", "pw")
                kx = ks.xenapi
                running = []
                while not done.is_set():
                    running = [tk for tk in running if kx.task.get_status(tk) == "pending"]
                    while len(running) < 8:
                        running.append(kx.Async.VDI.copy(vdi, sr))
                        started[0] += 1
                    time.sleep(0.2)
                for tk in running:
                    try:
                        kx.task.cancel(tk)
                    except Exception:
                        pass

            keeper = threading.Thread(target=keep_copying)
            keeper.start()
            time.sleep(1.0)
            out = subprocess.run(
                ["wrk", "-t1", "-c4", "-d10s", "--latency", "-s", str(lua), "http://127.0.0.1:18095/"],
                stdout=subprocess.PIPE, text=True).stdout
            print_latency(out)
            floor = Path(os.environ.get("ANCHOR_TARGET_DIR", "/tmp/xapid-anchors-target")) / "release" / "hyper-floor"
            if floor.exists():
                # The same load on the anchor that does nothing (a canned
                # reply), at the same time: what the machine itself allows.
                fp = subprocess.Popen([str(floor), "18096"], stdout=subprocess.DEVNULL)
                time.sleep(0.5)
                out = subprocess.run(
                    ["wrk", "-t1", "-c4", "-d10s", "--latency", "-s", str(lua), "http://127.0.0.1:18096/"],
                    stdout=subprocess.PIPE, text=True).stdout
                fp.terminate()
                print("== the same on hyper-floor (canned replies), while the copies go on")
                print_latency(out)
            done.set()
            keeper.join()
            print(f"  copies started: {started[0]}")
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
