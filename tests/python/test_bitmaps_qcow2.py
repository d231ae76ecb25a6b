"""Persistent dirty bitmaps in the qcow2 file, byte-compatible with QEMU
(the bitmaps extension of the qcow2 specification): `qemu-img info` lists
a bitmap xapid made, `qemu-nbd -B` exports the same bits xapid serves,
`qemu-img bitmap` edits it (and a scan brings the edit back), the copy
follows the VDI through snapshots, jobs and resizes, and after kill -9
during writes the file is consistent and QEMU reads the bitmaps again."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from storage_util import (M, create_vdi, default_sr, import_raw, run, sdk_x, vdi_by_location,
                          vdi_path, wait_for, wait_job)
from test_bitmaps import K64, WRITES, dirty_blocks, merge_runs, nbd_map, nbdinfo_map


def qemu_info(path):
    return json.loads(run("qemu-img", "info", "-U", "--output=json", str(path)).stdout)


def qemu_bitmaps(path):
    """QEMU's view: {name: (granularity, flags)}."""
    bms = qemu_info(path).get("format-specific", {}).get("data", {}).get("bitmaps", [])
    return {b["name"]: (b["granularity"], sorted(b["flags"])) for b in bms}


def qemu_check(path):
    """`qemu-img check`: (corruptions + errors, leaks)."""
    p = subprocess.run(["qemu-img", "check", "-U", "--output=json", str(path)], capture_output=True,
                       text=True, timeout=60)
    v = json.loads(p.stdout)
    return v.get("corruptions", 0) + v.get("check-errors", 0), v.get("leaks", 0)


def qemu_nbd_map(path, bitmap):
    """nbdinfo --map=qemu:dirty-bitmap:<bitmap> of the file exported by
    qemu-nbd -r -B <bitmap> (QEMU reading the bitmap from the file)."""
    sock = f"/tmp/xapid-qnbd-{os.getpid()}-{time.time_ns()}.sock"
    q = subprocess.Popen(["qemu-nbd", "-r", "-f", "qcow2", "-B", bitmap, "-k", sock, "-x", "",
                          str(path)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: os.path.exists(sock) or q.poll() is not None, 30, what="qemu-nbd")
        assert q.poll() is None, q.stderr.read()
        return nbdinfo_map(f"nbd+unix:///?socket={sock}", f"qemu:dirty-bitmap:{bitmap}")
    finally:
        q.send_signal(signal.SIGTERM)
        q.wait(10)
        if os.path.exists(sock):
            os.unlink(sock)


def settled(path):
    """Bitmap `b` is in the file and no store left an intent beside it. (Killed
    before its commit, a store leaves the old set in place: the restart's
    check settles its intent in the background.)"""
    left = [n for n in os.listdir(path.parent) if n.startswith(".") and ".bitmaps" in n]
    return not left and "b" in qemu_bitmaps(path)


def named(x, v):
    return {x.block_dirty_bitmap.get_name(r): r for r in x.block_dirty_bitmap.get_all()
            if x.block_dirty_bitmap.get_VDI(r) == v}


def test_qemu_reads_the_bitmaps_xapid_stores(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    path = vdi_path(server, x, v)
    p = x.block_dirty_bitmap.add(v, "p", {"persistent": "true"})
    q = x.block_dirty_bitmap.add(v, "q", {"persistent": "true", "granularity": "4096",
                                          "disabled": "true"})
    x.block_dirty_bitmap.add(v, "t", {})  # transient: never in the file
    assert qemu_bitmaps(path) == {"p": (65536, ["auto"]), "q": (4096, [])}
    assert qemu_check(path) == (0, 0)
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
        # Stored again before the import's task ended.
        assert set(qemu_bitmaps(path)) == {"p", "q"}
    assert qemu_check(path) == (0, 0)
    ours = nbd_map(x, v, "qemu:dirty-bitmap:p")
    assert ours == merge_runs(sorted(dirty_blocks(WRITES)), K64)
    assert qemu_nbd_map(path, "p") == ours
    assert qemu_nbd_map(path, "q") == []
    # Every change is in the file when the call returns.
    x.block_dirty_bitmap.merge(q, [p])
    assert qemu_nbd_map(path, "q") == nbd_map(x, v, "qemu:dirty-bitmap:q") != []
    x.block_dirty_bitmap.clear(p)
    assert qemu_nbd_map(path, "p") == []
    x.block_dirty_bitmap.disable(p)
    x.block_dirty_bitmap.enable(q)
    assert qemu_bitmaps(path) == {"p": (65536, []), "q": (4096, ["auto"])}
    x.block_dirty_bitmap.remove(p)
    assert qemu_bitmaps(path) == {"q": (4096, ["auto"])}
    x.block_dirty_bitmap.remove(q)
    assert qemu_bitmaps(path) == {}
    assert qemu_check(path) == (0, 0)


def test_qemu_img_bitmap_edits_and_a_scan_brings_the_edit_back(server, x, sr, tmp_path):
    """`qemu-img bitmap` on a copy of the file: --clear, --add, --merge,
    --disable work on what xapid stored, and the edited file, placed in the
    SR, comes back as a VDI with the edited bitmaps."""
    v = create_vdi(x, sr, 4 * M, "qcow2")
    x.block_dirty_bitmap.add(v, "a", {"persistent": "true"})
    x.block_dirty_bitmap.add(v, "b", {"persistent": "true", "granularity": "131072"})
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
    src = vdi_path(server, x, v)
    name = f"edited-{os.getpid()}-{time.time_ns()}.qcow2"
    copy = src.parent / name
    shutil.copyfile(src, tmp_path / "c.qcow2")
    c = str(tmp_path / "c.qcow2")
    run("qemu-img", "bitmap", "--clear", c, "a")
    run("qemu-img", "bitmap", "--add", "-g", "65536", c, "n")
    run("qemu-img", "bitmap", "--merge", "b", c, "n")
    run("qemu-img", "bitmap", "--disable", c, "b")
    assert qemu_check(c) == (0, 0)
    assert qemu_bitmaps(c) == {"a": (65536, ["auto"]), "b": (131072, []), "n": (65536, ["auto"])}
    shutil.copyfile(c, copy)
    x.SR.scan(sr)
    nv = vdi_by_location(x, sr, name)
    bms = named(x, nv)
    assert sorted(bms) == ["a", "b", "n"]
    g = 128 << 10
    want_b = set()
    for o, n in WRITES:
        want_b |= set(range(o // g, (o + n + g - 1) // g))
    assert int(x.block_dirty_bitmap.get_count(bms["a"])) == 0
    assert int(x.block_dirty_bitmap.get_count(bms["b"])) == len(want_b) * g
    assert x.block_dirty_bitmap.get_recording(bms["b"]) is False
    # n got b's bits at its own granularity: whole 128 KiB blocks.
    assert int(x.block_dirty_bitmap.get_count(bms["n"])) == len(want_b) * g
    assert nbd_map(x, nv, "qemu:dirty-bitmap:n") == merge_runs(sorted(want_b), g)


def test_the_copy_follows_the_vdi(server, x, sr):
    """Through a snapshot (the VDI's new file has the bitmaps, the
    snapshot's file none), a backup job using the bitmap, a resize and a
    snapshot's deletion: QEMU always reads what xapid serves, and every
    file stays clean."""
    v = create_vdi(x, sr, 4 * M, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
    path = vdi_path(server, x, v)
    inode = path.stat().st_ino
    snap = x.VDI.snapshot(v, {})
    # The snapshot's file is the VDI's old one; the VDI has a new file.
    old_path = vdi_path(server, x, snap)
    assert old_path.stat().st_ino == inode != path.stat().st_ino
    assert qemu_bitmaps(path) == {"b": (65536, ["auto"])}
    assert qemu_bitmaps(old_path) == {}
    assert qemu_check(path) == (0, 0) and qemu_check(old_path) == (0, 0)
    assert qemu_nbd_map(path, "b") == nbd_map(x, v, "qemu:dirty-bitmap:b") != []
    # A backup with the bitmap: on success it is cleared, in the file too.
    t = create_vdi(x, sr, 4 * M, "qcow2")
    job = x.block_job.backup(v, t, {"sync": "incremental", "bitmap": "b", "auto_dismiss": "false"})
    assert wait_job(x, job, "concluded", timeout=60)["error"] == ""
    x.block_job.dismiss(job)
    assert int(x.block_dirty_bitmap.get_count(b)) == 0
    assert qemu_nbd_map(path, "b") == []
    import_raw(server, x, v, b"z", 3 * M)
    x.VDI.resize(v, 8 * M)
    assert qemu_check(path) == (0, 0)
    assert qemu_bitmaps(path) == {"b": (65536, ["auto"])}
    import_raw(server, x, v, b"y", 7 * M)
    assert qemu_nbd_map(path, "b") == nbd_map(x, v, "qemu:dirty-bitmap:b") == [
        (3 * M, K64), (7 * M, K64)]
    # The snapshot goes; its data is folded away in the background.
    x.VDI.destroy(snap)
    wait_for(lambda: not old_path.exists(), 60, what="the snapshot's file folded away")
    path = vdi_path(server, x, v)
    wait_for(lambda: qemu_bitmaps(path) == {"b": (65536, ["auto"])}, 10, what="bitmaps after fold")
    assert qemu_check(path) == (0, 0)
    assert qemu_nbd_map(path, "b") == nbd_map(x, v, "qemu:dirty-bitmap:b")


def test_kill_during_writes_leaves_bitmaps_qemu_reads(make_server):
    """kill -9 while imports write into a VDI with a persistent bitmap, at
    several moments: after the restart the file is consistent for
    `qemu-img check`, QEMU reads the bitmap again (stored back by the
    recovery), and it covers every write that was acknowledged."""
    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 64 * M, "qcow2")
    x.block_dirty_bitmap.add(v, "b", {"persistent": "true", "granularity": "65536"})
    acked = []
    for round_, delay in enumerate([0.05, 0.2, 0.5, 0.9, 1.4]):
        stop = threading.Event()
        done = []

        def writer(x=x, srv=srv, base=round_):
            k = 0
            while not stop.is_set():
                off = ((base * 97 + k * 13) % 60) * M + (k % 7) * 4096
                try:
                    import_raw(srv, x, v, os.urandom(256 << 10), off)
                except Exception:
                    return
                done.append((off, 256 << 10))
                k += 1

        th = threading.Thread(target=writer)
        th.start()
        time.sleep(delay)
        srv.kill()
        stop.set()
        th.join(60)
        acked += done
        srv.start()
        x = sdk_x(srv)
        path = vdi_path(srv, x, v)
        wait_for(lambda: settled(path), 30, what="the bitmap stored back, no intent left")
        assert qemu_check(path) == (0, 0), f"round {round_}"
        qemu_runs = qemu_nbd_map(path, "b")
        covered = set()
        for o, n in qemu_runs:
            covered |= set(range(o // K64, (o + n) // K64))
        assert dirty_blocks(acked) <= covered, f"round {round_}"
        assert qemu_runs == nbd_map(x, v, "qemu:dirty-bitmap:b")
    assert acked, "no write was acknowledged"


POINTS = ["qcow2.bitmaps.data", "qcow2.bitmaps.intent", "qcow2.bitmaps.refcounts",
          "qcow2.bitmaps.header", "qcow2.bitmaps.freed"]


@pytest.mark.parametrize("op", ["detach", "store"])
@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_step_of_a_copy(make_server, op, point):
    """kill -9 at each step of taking the copy out before a writer
    (`detach`: an import) and of storing it again (`store`: a clear):
    after the restart the file is clean for `qemu-img check` (the step's
    intent settled: not even a leak), holds the VDI's bitmaps as xapid
    has them, and nothing acknowledged was lost."""
    from test_crash_points import arm, call_until_killed
    srv = make_server(fault_injection=True)
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 4 * M, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
    for o, n in WRITES:
        import_raw(srv, x, v, os.urandom(n), o)
    path = vdi_path(srv, x, v)
    assert "b" in qemu_bitmaps(path)
    arm(srv, point)
    x = sdk_x(srv)
    if op == "detach":
        x = call_until_killed(srv, import_raw, srv, x, v, b"k", 2 * M)
    else:
        x = call_until_killed(srv, x.block_dirty_bitmap.clear, b)
    x = sdk_x(srv)
    wait_for(lambda: settled(path), 30, what="the intent settled and the copy stored back")
    assert qemu_check(path) == (0, 0)
    assert qemu_nbd_map(path, "b") == nbd_map(x, v, "qemu:dirty-bitmap:b")
    if op == "detach":
        # The writes acknowledged before are all still marked.
        covered = set()
        for o, n in nbd_map(x, v, "qemu:dirty-bitmap:b"):
            covered |= set(range(o // K64, (o + n) // K64))
        assert dirty_blocks(WRITES) <= covered
