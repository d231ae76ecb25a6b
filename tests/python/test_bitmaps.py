"""Named dirty bitmaps (block_dirty_bitmap, a xapid extension after QEMU's
block-dirty-bitmap-*): QEMU's rules for add (names, granularity, defaults,
persistent only on qcow2), clear, enable, disable, merge; writes recorded;
`count`; the NBD context qemu:dirty-bitmap:<name>, checked against QEMU
itself (the same writes through qemu-io into an image with a bitmap,
exported by qemu-nbd -B); transient bitmaps go at a restart, persistent
ones stay, also after kill -9."""

import json
import os
import signal
import subprocess
import time
import urllib.parse

import pytest
import XenAPI

from storage_util import M, create_vdi, default_sr, import_raw, run, sdk_x

K64 = 64 << 10
WRITES = [(0, 1), (K64 - 1, 2), (5 * K64 + 100, 3 * K64), (M, 512), (3 * M - 1, 1)]


def err(f, *a):
    with pytest.raises(XenAPI.Failure) as e:
        f(*a)
    return e.value.details


def nbdinfo_map(uri, context):
    """`nbdinfo --map=<context>` of an NBD URI: the (offset, length) extents
    whose type has bit 0 set (dirty, for a dirty-bitmap context)."""
    out = subprocess.run(["nbdinfo", "--json", f"--map={context}", uri], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [(e["offset"], e["length"]) for e in json.loads(out.stdout) if e["type"] & 1]


def nbd_map(x, vdi, context):
    i = x.VDI.get_nbd_info(vdi)[0]
    u = f"nbd://{i['address']}:{i['port']}/" + urllib.parse.quote(i["exportname"], safe="")
    return nbdinfo_map(u, context)


def test_add_follows_qemus_rules(server, x, sr):
    raw = create_vdi(x, sr, M, "raw")
    q = create_vdi(x, sr, M, "qcow2")
    b = x.block_dirty_bitmap.add(raw, "b", {})
    rec = x.block_dirty_bitmap.get_record(b)
    assert rec["name"] == "b" and rec["VDI"] == raw and rec["granularity"] == "65536"
    assert rec["recording"] is True and rec["persistent"] is False and rec["busy"] is False
    assert rec["count"] == "0" and rec["inconsistent"] is False
    assert x.block_dirty_bitmap.get_granularity(x.block_dirty_bitmap.add(q, "d", {})) == "65536"
    g = x.block_dirty_bitmap.add(q, "g", {"granularity": "512", "persistent": "true"})
    assert x.block_dirty_bitmap.get_granularity(g) == "512"
    assert x.block_dirty_bitmap.get_granularity(
        x.block_dirty_bitmap.add(q, "big", {"granularity": str(1 << 31)})) == str(1 << 31)
    for bad in ["3000", "256", str(1 << 32), "-1", "x"]:
        assert err(x.block_dirty_bitmap.add, q, "n", {"granularity": bad})[:2] == ["INVALID_VALUE", "granularity"]
    assert err(x.block_dirty_bitmap.add, raw, "b", {}) == ["BLOCK_DIRTY_BITMAP_EXISTS", raw, "b"]
    assert err(x.block_dirty_bitmap.add, raw, "p", {"persistent": "true"})[0] == "OPERATION_NOT_ALLOWED"
    assert err(x.block_dirty_bitmap.add, raw, "", {})[0] == "INVALID_VALUE"
    assert err(x.block_dirty_bitmap.add, raw, "o", {"bogus": "1"})[0] == "INVALID_VALUE"


def test_writes_are_recorded_and_counted(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {})
    off = x.block_dirty_bitmap.add(v, "off", {"disabled": "true"})
    fine = x.block_dirty_bitmap.add(v, "fine", {"granularity": "4096"})
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
    blocks = set()
    for o, n in WRITES:
        blocks |= set(range(o // K64, (o + n + K64 - 1) // K64))
    assert int(x.block_dirty_bitmap.get_count(b)) == len(blocks) * K64
    assert int(x.block_dirty_bitmap.get_count(off)) == 0
    assert nbd_map(x, v, "qemu:dirty-bitmap:b") == merge_runs(sorted(blocks), K64)
    # Disable, write, enable: the write in between is not recorded.
    x.block_dirty_bitmap.disable(b)
    import_raw(server, x, v, b"x", 2 * M)
    x.block_dirty_bitmap.enable(b)
    assert int(x.block_dirty_bitmap.get_count(b)) == len(blocks) * K64
    # Merge: sources of another granularity mark every bit they overlap.
    x.block_dirty_bitmap.merge(off, [fine])
    assert int(x.block_dirty_bitmap.get_count(off)) == (len(blocks) + 1) * K64
    x.block_dirty_bitmap.clear(b)
    assert int(x.block_dirty_bitmap.get_count(b)) == 0
    assert nbd_map(x, v, "qemu:dirty-bitmap:b") == []
    x.block_dirty_bitmap.remove(b)
    assert b not in x.block_dirty_bitmap.get_all()
    other = create_vdi(x, sr, M, "raw")
    ob = x.block_dirty_bitmap.add(other, "o", {})
    assert err(x.block_dirty_bitmap.merge, off, [ob])[0] == "INVALID_VALUE"
    # Destroying the VDI removes its bitmaps.
    x.VDI.destroy(other)
    assert ob not in x.block_dirty_bitmap.get_all()


def merge_runs(blocks, g):
    out = []
    for b in blocks:
        if out and out[-1][0] + out[-1][1] == b * g:
            out[-1] = (out[-1][0], out[-1][1] + g)
        else:
            out.append((b * g, g))
    return out


def test_same_map_as_qemu(server, x, sr, tmp_path):
    """Oracle: the same writes through qemu-io into a qcow2 with a bitmap
    (recorded by QEMU), exported by qemu-nbd -r -B, give the same
    nbdinfo --map=qemu:dirty-bitmap:<name> as xapid's bitmap."""
    img = tmp_path / "q.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(img), str(4 * M))
    run("qemu-img", "bitmap", "--add", "-g", "65536", str(img), "b")
    run("qemu-io", "-f", "qcow2", *sum((["-c", f"write -P 7 {o} {n}"] for o, n in WRITES), []), str(img))
    port = 18000 + os.getpid() % 1000
    q = subprocess.Popen(["qemu-nbd", "-r", "-t", "-f", "qcow2", "-B", "b", "-p", str(port),
                          "-b", "127.0.0.1", "-x", "", str(img)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = subprocess.run(["nbdinfo", "--json", "--map=qemu:dirty-bitmap:b", f"nbd://127.0.0.1:{port}/"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        theirs = [(e["offset"], e["length"]) for e in json.loads(out.stdout) if e["type"] & 1]
    finally:
        q.send_signal(signal.SIGTERM)
        q.wait(10)
    v = create_vdi(x, sr, 4 * M, "qcow2")
    x.block_dirty_bitmap.add(v, "b", {"granularity": "65536"})
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
    assert nbd_map(x, v, "qemu:dirty-bitmap:b") == theirs


def test_persistent_bitmaps_survive_restarts_and_kills(make_server):
    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 2 * M, "qcow2")
    p = x.block_dirty_bitmap.add(v, "p", {"persistent": "true"})
    t = x.block_dirty_bitmap.add(v, "t", {})
    import_raw(srv, x, v, b"a", K64)
    srv.restart()
    x = sdk_x(srv)
    assert x.block_dirty_bitmap.get_all() == [p]
    import_raw(srv, x, v, b"b", 3 * K64)
    srv.restart(crash=True)
    x = sdk_x(srv)
    rec = x.block_dirty_bitmap.get_record(p)
    assert rec["inconsistent"] is False and int(rec["count"]) == 2 * K64
    assert nbd_map(x, v, "qemu:dirty-bitmap:p") == [(K64, K64), (3 * K64, K64)]
    assert t not in x.block_dirty_bitmap.get_all()


def bitmap_vdi(server, x, sr, size=4 * M):
    """A qcow2 VDI with bitmap `b` and data written at WRITES (recorded)."""
    v = create_vdi(x, sr, size, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {})
    for o, n in WRITES:
        import_raw(server, x, v, os.urandom(n), o)
    return v, b


def dirty_blocks(writes):
    out = set()
    for o, n in writes:
        out |= set(range(o // K64, (o + n + K64 - 1) // K64))
    return out


def run_backup(x, v, t, options):
    from storage_util import wait_job
    job = x.block_job.backup(v, t, dict(options, auto_dismiss="false"))
    rec = wait_job(x, job, "concluded", timeout=60)
    x.block_job.dismiss(job)
    return rec


def test_incremental_backup_copies_what_the_bitmap_marks(server, x, sr):
    from storage_util import export_raw
    v, b = bitmap_vdi(server, x, sr)
    t = create_vdi(x, sr, 4 * M, "qcow2")
    rec = run_backup(x, v, t, {"sync": "incremental", "bitmap": "b"})
    assert rec["error"] == "" and rec["sync"] == "bitmap"
    # on-success: cleared (no write came during the job).
    assert int(x.block_dirty_bitmap.get_count(b)) == 0
    assert x.block_dirty_bitmap.get_busy(b) is False
    src, dst = export_raw(server, x, v), export_raw(server, x, t)
    for blk in range(4 * M // K64):
        want = src[blk * K64:(blk + 1) * K64] if blk in dirty_blocks(WRITES) else bytes(K64)
        assert dst[blk * K64:(blk + 1) * K64] == want, blk


@pytest.mark.parametrize("mode,success,left", [
    ("on-success", True, "new"),
    ("on-success", False, "old+new"),
    ("never", True, "old+new"),
    ("never", False, "old+new"),
    ("always", True, "new"),
    ("always", False, "uncopied+new"),
])
def test_bitmap_mode_outcomes_are_qemus(server, x, sr, mode, success, left):
    """QEMU's table: on success on-success and always clear the bitmap (the
    writes made during the job remain: the successor), never keeps it; on
    cancel on-success and never keep it (plus the new writes), always keeps
    only what was not copied yet."""
    from storage_util import wait_job
    v, b = bitmap_vdi(server, x, sr, 8 * M)
    import_raw(server, x, v, os.urandom(4 * M), 4 * M)  # more to copy
    old = dirty_blocks(WRITES + [(4 * M, 4 * M)])
    t = create_vdi(x, sr, 8 * M, "qcow2")
    job = x.block_job.backup(v, t, {"sync": "bitmap", "bitmap": "b", "bitmap_mode": mode,
                                    "speed": str(1 * M), "auto_dismiss": "false"})
    assert x.block_dirty_bitmap.get_busy(b) is True
    assert err(x.block_dirty_bitmap.clear, b) == ["BLOCK_DIRTY_BITMAP_BUSY", b]
    import_raw(server, x, v, b"n", 3 * M)  # a new write during the job
    new = {3 * M // K64}
    if success:
        rec = wait_job(x, job, "concluded", timeout=60)
        assert rec["error"] == "", rec
    else:
        time.sleep(1.5)  # part copied, not all
        x.block_job.cancel(job, True)
        wait_job(x, job, "concluded", timeout=60)
    x.block_job.dismiss(job)
    assert x.block_dirty_bitmap.get_busy(b) is False
    count = int(x.block_dirty_bitmap.get_count(b))
    if left == "new":
        assert count == len(new) * K64
    elif left == "old+new":
        assert count == len(old | new) * K64
    else:
        assert len(new) * K64 < count < len(old | new) * K64, count


@pytest.mark.parametrize("options,field", [
    ({"sync": "incremental", "bitmap": "b", "bitmap_mode": "never"}, "bitmap_mode"),
    ({"sync": "bitmap", "bitmap": "b"}, "bitmap_mode"),
    ({"sync": "bitmap"}, "bitmap"),
    ({"sync": "full", "bitmap": "b", "bitmap_mode": "never"}, "bitmap_mode"),
    ({"sync": "none", "bitmap": "b", "bitmap_mode": "always"}, "sync"),
    ({"sync": "full", "bitmap_mode": "always"}, "bitmap_mode"),
    ({"sync": "bitmap", "bitmap": "nope", "bitmap_mode": "always"}, "bitmap"),
])
def test_qemus_refusals(server, x, sr, options, field):
    v, _ = bitmap_vdi(server, x, sr)
    t = create_vdi(x, sr, 4 * M, "qcow2")
    d = err(x.block_job.backup, v, t, options)
    assert d[:2] == ["INVALID_VALUE", field], d


def test_a_crash_during_a_bitmap_backup_gives_the_bits_back(make_server):
    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 8 * M, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
    import_raw(srv, x, v, os.urandom(8 * M), 0)
    t = create_vdi(x, sr, 8 * M, "qcow2")
    x.block_job.backup(v, t, {"sync": "incremental", "bitmap": "b", "speed": str(M)})
    time.sleep(0.5)
    srv.restart(crash=True)
    x = sdk_x(srv)
    rec = x.block_dirty_bitmap.get_record(b)
    assert rec["busy"] is False and int(rec["count"]) == 8 * M


def test_transaction_bitmap_actions(server, x, sr):
    """QEMU's idiom in one transaction: add a disabled bitmap, merge the
    live one into it, clear the live one; the frozen bitmap is exported
    over NBD. A transaction that fails undoes its bitmap actions."""
    v, live = bitmap_vdi(server, x, sr)
    before = int(x.block_dirty_bitmap.get_count(live))
    assert before > 0
    x.block_job.transaction([
        {"type": "bitmap_add", "device": v, "name": "frozen", "options": {"disabled": "true"}},
        {"type": "bitmap_merge", "device": v, "name": "frozen", "sources": ["b"]},
        {"type": "bitmap_clear", "device": v, "name": "b"},
    ], "individual")
    frozen = [r for r in x.block_dirty_bitmap.get_all() if x.block_dirty_bitmap.get_name(r) == "frozen"][0]
    assert x.block_dirty_bitmap.get_recording(frozen) is False
    assert int(x.block_dirty_bitmap.get_count(frozen)) == before
    assert int(x.block_dirty_bitmap.get_count(live)) == 0
    assert nbd_map(x, v, "qemu:dirty-bitmap:frozen") == merge_runs(sorted(dirty_blocks(WRITES)), K64)
    # Undone: the abort at the end makes the whole transaction fail.
    import_raw(server, x, v, b"z", 2 * M)
    with pytest.raises(XenAPI.Failure):
        x.block_job.transaction([
            {"type": "bitmap_add", "device": v, "name": "other", "options": {}},
            {"type": "bitmap_clear", "device": v, "name": "b"},
            {"type": "bitmap_disable", "device": v, "name": "b"},
            {"type": "abort"},
        ], "individual")
    names = sorted(x.block_dirty_bitmap.get_name(r) for r in x.block_dirty_bitmap.get_all()
                   if x.block_dirty_bitmap.get_VDI(r) == v)
    assert names == ["b", "frozen"]
    assert int(x.block_dirty_bitmap.get_count(live)) == K64
    assert x.block_dirty_bitmap.get_recording(live) is True
    # Grouped mode is for backups only, as QEMU's.
    assert err(x.block_job.transaction, [{"type": "bitmap_clear", "device": v, "name": "b"}],
               "grouped")[0] == "OPERATION_NOT_ALLOWED"


def test_a_bitmap_qemu_made_is_picked_up(server, x, sr):
    """A qcow2 placed in the SR with a persistent bitmap QEMU recorded
    (qemu-img bitmap --add, then qemu-io writes): the scan that introduces
    it gives the VDI that bitmap, same name, granularity and bits."""
    from storage_util import sr_dir, vdi_by_location
    name = f"qemu-made-{os.getpid()}-{time.time_ns()}.qcow2"
    img = sr_dir(x, sr) / name
    run("qemu-img", "create", "-q", "-f", "qcow2", str(img), str(4 * M))
    run("qemu-img", "bitmap", "--add", "-g", "131072", str(img), "qb")
    run("qemu-io", "-f", "qcow2", *sum((["-c", f"write -P 7 {o} {n}"] for o, n in WRITES), []), str(img))
    x.SR.scan(sr)
    v = vdi_by_location(x, sr, name)
    (b,) = [r for r in x.block_dirty_bitmap.get_all() if x.block_dirty_bitmap.get_VDI(r) == v]
    rec = x.block_dirty_bitmap.get_record(b)
    assert rec["name"] == "qb" and rec["granularity"] == "131072"
    assert rec["persistent"] is True and rec["recording"] is True and rec["inconsistent"] is False
    g = 128 << 10
    want = set()
    for o, n in WRITES:
        want |= set(range(o // g, (o + n + g - 1) // g))
    assert int(rec["count"]) == len(want) * g
    assert nbd_map(x, v, "qemu:dirty-bitmap:qb") == merge_runs(sorted(want), g)
    # xapid records the writes from here on.
    import_raw(server, x, v, b"w", 3 * M + 5)
    assert int(x.block_dirty_bitmap.get_count(b)) == len(want | {3 * M // g}) * g
