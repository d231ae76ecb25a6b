"""NBD and CBT figures (docs/performance.md, "Incremental backup"), in one run:

1. Sequential read with `nbdcopy ... null:` of a 1 GiB image, raw and
   qcow2 (fully written, in the page cache), from xapid's NBD server and
   from `qemu-nbd -r` on the same file (run at xapid's NBD niceness, 10):
   farm-bench, A/B pairs, medians of the client's wall time.
2. RPC latency (task.get_progress, p50/p99 of 2000 calls on one
   connection) idle and while 16 NBD connections each read the image in
   a loop.
3. VDI.list_changed_blocks on a 1 TiB qcow2 VDI with 10,000 scattered
   changed 64 KiB blocks, timed from the client (so including the XML-RPC
   encoding and parsing of the 2.8 MB answer: an upper bound of the
   server's time); list_changed_extents likewise.
4. An incremental backup of a 10 GiB disk with 1% changed (scattered 64 KiB
   writes): the bytes an XO-style client (changed 2 MiB blocks) and an
   extents client (list_changed_extents) read, against the bytes changed.
5. (Run right after 1.) What a dirty bitmap costs an import: none, a
   transient one, a persistent one kept in the qcow2 file.

usage: python bench/nbd_bench.py XAPID_BIN [--runs N]
needs: qemu-img, qemu-nbd, nbdcopy, farm-bench, the XenAPI module.
"""

import argparse
import base64
import http.client
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import XenAPI

M = 1 << 20
G = 1 << 30
K64 = 64 << 10
PORT, NBD, QNBD = 18201, 18202, 18203


def sh(*a, **kw):
    return subprocess.run(a, check=True, capture_output=True, text=True, **kw)


def start(binary, state, sr):
    env = dict(os.environ, XAPID_ROOT_PASSWORD="password", RUST_LOG="warn")
    p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{PORT}", "--listen-tls", "127.0.0.1:0",
                          "--nbd-listen", f"127.0.0.1:{NBD}", "--state-dir", state, "--sr", f"bench={sr}"],
                         env=env, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            c.request("GET", "/")
            c.getresponse().read()
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("xapid did not start")


def uri(info):
    return f"nbd://127.0.0.1:{info['port']}/" + urllib.parse.quote(info["exportname"], safe="")


def farm(a, b, runs):
    out = sh("farm-bench", "-n", str(runs), "--timeout", "600", "--vs", b, "--", *a.split()).stdout
    return out


def put(x, session, vdi, data, off):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    c.request("PUT", f"/import_raw_vdi?session_id={session}&vdi={vdi}&offset={off}", body=data)
    r = c.getresponse()
    r.read()
    assert r.status == 200
    t = r.getheader("task-id")
    while x.task.get_status(t) == "pending":
        time.sleep(0.01)


def latency(x, task, n=2000):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        x.task.get_progress(task)
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2], ts[int(len(ts) * 0.99)]


def imports_with_bitmaps(x, session, sr, runs):
    """5. What a dirty bitmap costs an import into a qcow2 VDI: none, a
    transient one (a change log marked before each write), a persistent
    one (also taken out of the qcow2 file when the import opens it and
    stored back before its task ends). Rounds alternate the three; each
    round times 40 imports of 64 KiB at random places and one of 64 MiB."""
    print("== 5. imports into a 1 GiB qcow2 VDI: no bitmap, a transient one, a persistent one")
    kinds = ["none", "transient", "persistent"]
    small = {k: [] for k in kinds}
    big = {k: [] for k in kinds}
    rnd = random.Random(11)
    data = os.urandom(64 * M)
    for _ in range(runs):
        for k in kinds:
            v = x.VDI.create({"SR": sr, "virtual_size": str(G), "name_label": f"imp-{k}",
                              "sm_config": {"image-format": "qcow2"}})
            if k != "none":
                x.block_dirty_bitmap.add(v, "b", {"persistent": str(k == "persistent").lower()})
            for _ in range(40):
                t0 = time.perf_counter()
                put(x, session, v, data[:K64], rnd.randrange(G // K64) * K64)
                small[k].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            put(x, session, v, data, 128 * M)
            big[k].append(64 / (time.perf_counter() - t0))
            x.VDI.destroy(v)
    for k in kinds:
        print(f"{k}: 64 KiB import median {statistics.median(small[k]):.2f} ms "
              f"(min {min(small[k]):.2f}, max {max(small[k]):.2f}); "
              f"64 MiB import median {statistics.median(big[k]):.0f} MiB/s "
              f"(min {min(big[k]):.0f}, max {max(big[k]):.0f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("xapid")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    ap.add_argument("--readers-nice", type=int, default=19,
                    help="niceness of the 16 local NBD readers (0: as the server)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nbd-bench-"))
    sr = work / "sr"
    sr.mkdir()
    state = str(work / "state")
    try:
        raw = sr / "seq.raw"
        with open(raw, "wb") as f:
            block = os.urandom(M)
            for i in range(1024):
                f.write(block[i % 7:] + block[:i % 7])
        sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(sr / "seq.qcow2"))
        p = start(a.xapid, state, sr)
        s = XenAPI.Session(f"http://127.0.0.1:{PORT}")
        s.xenapi.login_with_password("root", "password", "1.0", "nbd-bench")
        x = s.xenapi
        vdis = {r["location"]: v for v, r in x.VDI.get_all_records().items()}
        print("== 1. nbdcopy to null:, 1 GiB, xapid (A) vs qemu-nbd -r (B)")
        for name, fmt in (("seq.raw", "raw"), ("seq.qcow2", "qcow2")) if 1 in a.only else ():
            info = x.VDI.get_nbd_info(vdis[name])[0]
            # qemu-nbd at the niceness of xapid's NBD threads (10): both
            # servers then share the 2 CPUs with the client alike.
            q = subprocess.Popen(["nice", "-n", "10", "qemu-nbd", "-r", "-t", "-e", "16", "-f", fmt, "-p", str(QNBD),
                                  "-b", "127.0.0.1", "-x", "", str(sr / name)],
                                 stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            sh("nbdcopy", uri(info), "null:")  # warm the page cache
            print(f"-- {fmt}")
            print(farm(f"nbdcopy {uri(info)} null:", f"nbdcopy nbd://127.0.0.1:{QNBD}/ null:", a.runs))
            q.send_signal(signal.SIGTERM)
            q.wait()

        if 5 in a.only:
            imports_with_bitmaps(x, s._session, x.VDI.get_SR(vdis["seq.raw"]), a.runs)

        print("== 2. RPC latency (task.get_progress), idle and under 16 NBD readers")
        if 2 not in a.only:
            return p.send_signal(signal.SIGTERM)
        task = x.task.create("probe", "")
        idle = [latency(x, task) for _ in range(3)]
        info = x.VDI.get_nbd_info(vdis["seq.raw"])[0]
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                # The readers stand for remote clients: on this 2-core
                # machine they run at the lowest priority, so that what is
                # measured is the server's effect on the RPC threads.
                subprocess.run(["nice", "-n", str(a.readers_nice), "nbdcopy", "--connections=1", uri(info), "null:"],
                               capture_output=True)

        ts = [threading.Thread(target=reader) for _ in range(16)]
        for t in ts:
            t.start()
        time.sleep(1)
        busy = [latency(x, task) for _ in range(3)]
        stop.set()
        for t in ts:
            t.join()
        idle += [latency(x, task) for _ in range(3)]  # before and after
        med = lambda xs, i: statistics.median(v[i] for v in xs)
        print(f"idle: p50 {med(idle, 0):.3f} ms, p99 {med(idle, 1):.3f} ms (median of 6 x 2000 calls, before and after)")
        print(f"16 NBD readers: p50 {med(busy, 0):.3f} ms, p99 {med(busy, 1):.3f} ms; "
              f"p99 added {med(busy, 1) - med(idle, 1):.3f} ms")

        if 3 not in a.only:
            return p.send_signal(signal.SIGTERM)
        print("== 3. list_changed_blocks, 1 TiB qcow2, 10,000 changed 64 KiB blocks")
        big = x.VDI.create({"SR": x.VDI.get_SR(vdis["seq.raw"]),
                            "virtual_size": str(1 << 40), "name_label": "big",
                            "sm_config": {"image-format": "qcow2"}})
        x.VDI.enable_cbt(big)
        s1 = x.VDI.snapshot(big)
        rnd = random.Random(7)
        picks = rnd.sample(range((1 << 40) // K64), 10000)
        # One import per block (small writes, each marked before it lands).
        session = s._session
        for b in picks:
            put(x, session, big, b"\x01" * 512, b * K64)
        s2 = x.VDI.snapshot(big)
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            r = x.VDI.list_changed_blocks(s1, s2)
            times.append((time.perf_counter() - t0) * 1000)
        bits = base64.b64decode(r)
        n = sum(bin(b).count("1") for b in bits)
        assert n == 10000, n
        print(f"answer: {len(r)} bytes of base64, {n} bits set; call time (client to client) "
              f"median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f}")
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            e = x.VDI.list_changed_extents(s1, s2)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"list_changed_extents: {len(e) // 2} extents, median {statistics.median(times):.1f} ms")

        print("== 4. incremental backup of a 10 GiB disk, 1% changed in scattered 64 KiB writes")
        d = x.VDI.create({"SR": x.VDI.get_SR(vdis['seq.raw']), "virtual_size": str(10 * G),
                          "name_label": "inc", "sm_config": {"image-format": "qcow2"}})
        x.VDI.enable_cbt(d)
        b1 = x.VDI.snapshot(d)
        nblocks = (10 * G) // K64
        chosen = rnd.sample(range(nblocks), nblocks // 100)
        for b in chosen:
            put(x, session, d, os.urandom(K64), b * K64)
        b2 = x.VDI.snapshot(d)
        changed = len(chosen) * K64
        ext = [int(v) for v in x.VDI.list_changed_extents(b1, b2)]
        ext_bytes = sum(ext[1::2])
        bm = base64.b64decode(x.VDI.list_changed_blocks(b1, b2))
        xo = sum(1 for i in range(len(bm) // 4) if bm[4 * i:4 * i + 4] != b"\0\0\0\0") * 2 * M
        print(f"changed {changed / M:.1f} MiB; extents client reads {ext_bytes / M:.1f} MiB "
              f"({ext_bytes / changed:.3f}x); XO's 2 MiB blocks read {xo / M:.1f} MiB ({xo / changed:.2f}x)")
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
