"""Snapshot deletion as xapi does it (API.md "VDI.destroy"): destroying a
snapshot that other images are built on succeeds, its record goes at once,
its file stays as a hidden base (never introduced by a scan) until the
background coalesce folds it into the image above it and deletes it. The
data of every remaining VDI never changes (qemu-img compare at every step),
in any order of deletions, and CBT chains survive (the destroyed
snapshot's set is merged into the next one). kill -9 at every step of the
protocol (crash points) leaves every VDI's data intact and ends with no
stray file and no stray VDI."""

import base64
import os
import subprocess

import pytest

from storage_util import (
    M, assert_same, check_image, create_vdi, default_sr, export_raw, flatten, import_raw, result_ref, sdk_x,
    sr_dir, vdi_path, wait_for,
)

K64 = 64 << 10
SIZE = 4 * M






def files_of(x, sr):
    return set(os.listdir(sr_dir(x, sr)))


def known_files(x, sr):
    return {r["location"] for r in x.VDI.get_all_records().values() if r["SR"] == sr and r["location"]}


def settled(x, sr, timeout=30):
    """Waits until every file of the SR is a VDI's (the coalesce is done),
    then checks that a scan introduces nothing."""
    wait_for(lambda: files_of(x, sr) == known_files(x, sr), timeout,
             what="the coalesce to delete every hidden base")
    before = set(x.VDI.get_all())
    x.SR.scan(sr)
    assert set(x.VDI.get_all()) == before, "a scan introduced a hidden base as a VDI"


def chain(srv, x, sr, fmt, tmp_path):
    """v with snapshots s1 (oldest), s2; returns them and each one's data."""
    v = create_vdi(x, sr, SIZE, fmt)
    import_raw(srv, x, v, os.urandom(M), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(M), M // 2)
    s2 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(K64), 3 * M)
    data = {r: flatten(vdi_path(srv, x, r), tmp_path / f"{i}.raw") for i, r in enumerate([v, s1, s2])}
    return v, s1, s2, data


def check_data(srv, x, data, settled_now=False):
    """Every VDI reads as before; once the coalesce is done, every image
    is also clean for qemu-img check (while a fold writes a file, its
    refcounts may run ahead of its end, as in any image being written)."""
    for r, want in data.items():
        if r in x.VDI.get_all():
            p = vdi_path(srv, x, r)
            if settled_now:
                check_image(p)
            assert_same(p, want, x.VDI.get_sm_config(r)["image-format"], "raw")


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("order", [("s1", "s2"), ("s2", "s1")])
def test_destroying_snapshots_in_any_order(server, tmp_path, fmt, order):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    v, s1, s2, data = chain(server, x, sr, fmt, tmp_path)
    names = {"s1": s1, "s2": s2}
    for n in order:
        x.VDI.destroy(names[n])
        assert names[n] not in x.VDI.get_all()
        data.pop(names[n])
        settled(x, sr)
        check_data(server, x, data, True)
    # Every hidden base is gone: v stands alone.
    out = subprocess.run(["qemu-img", "info", "--output=json", str(vdi_path(server, x, v))],
                         capture_output=True, text=True, check=True).stdout
    assert "backing-filename" not in out
    # And it still works.
    x.VDI.snapshot(v)




def test_readers_during_a_fold_see_the_same_data(server, tmp_path):
    """Exports started while a hidden base is being folded wait for the
    fold (the VDIs reading through the rewritten file are held), then read
    exactly the data of before; imports wait too, then land."""
    x = sdk_x(server)
    sr = default_sr(x)[0]
    size = 48 * M
    v = create_vdi(x, sr, size, "qcow2")
    import_raw(server, x, v, os.urandom(32 * M), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, os.urandom(M), 8 * M)
    s2 = x.VDI.snapshot(v)
    want_v, want_s2 = export_raw(server, x, v), export_raw(server, x, s2)
    x.VDI.destroy(s1)
    for _ in range(3):
        assert export_raw(server, x, v) == want_v
        assert export_raw(server, x, s2) == want_s2
    import_raw(server, x, v, b"after", 40 * M)
    settled(x, sr)
    assert export_raw(server, x, s2) == want_s2
    got = export_raw(server, x, v)
    assert got[:40 * M] == want_v[:40 * M] and got[40 * M:40 * M + 5] == b"after"
    check_image(vdi_path(server, x, v))


def blocks(b64):
    raw = base64.b64decode(b64)
    return {i * 8 + k for i, b in enumerate(raw) for k in range(8) if b & (0x80 >> k)}


def test_cbt_chain_survives_snapshot_deletion(server, tmp_path):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, SIZE, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"a", 1 * K64)
    s2 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"b", 2 * K64)
    s3 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"c", 3 * K64)
    s4 = x.VDI.snapshot(v)
    x.VDI.destroy(s2)  # its set {1} goes into s3's
    assert blocks(x.VDI.list_changed_blocks(s1, s3)) == {1, 2}
    assert blocks(x.VDI.list_changed_blocks(s1, s4)) == {1, 2, 3}
    x.VDI.data_destroy(s3)
    x.VDI.destroy(s1)  # the start of the chain: nothing after it changes
    assert blocks(x.VDI.list_changed_blocks(s3, s4)) == {3}
    x.VDI.destroy(s3)  # a cbt_metadata VDI: no file of its own
    settled(x, sr)
    import_raw(server, x, v, b"d", 0)
    s5 = x.VDI.snapshot(v)
    assert blocks(x.VDI.list_changed_blocks(s4, s5)) == {0}


def crash_server(make_server):
    srv = make_server(fault_injection=True)
    return srv, sdk_x(srv)


def arm(srv, point):
    srv.env = {"XAPID_CRASH_AT": point}
    srv.restart(crash=True)
    return sdk_x(srv)


def restart_clean(srv):
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    return sdk_x(srv)


@pytest.mark.parametrize("point", [
    "coalesce.hidden", "cbt.merged", "coalesce.folded", "coalesce.deleted",
])
def test_killed_at_each_step(make_server, tmp_path, point):
    srv, x = crash_server(make_server)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, SIZE, "qcow2")
    x.VDI.enable_cbt(v)
    import_raw(srv, x, v, os.urandom(M), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(M), M // 2)
    s2 = x.VDI.snapshot(v)
    import_raw(srv, x, v, b"z", 2 * M)
    s3 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(K64), 3 * M)
    data = {r: flatten(vdi_path(srv, x, r), tmp_path / f"{i}.raw") for i, r in enumerate([v, s1, s2, s3])}
    x = arm(srv, point)
    try:
        x.VDI.destroy(s2)
    except Exception:
        pass  # killed during the call (hidden, merged) or after it (folded, deleted)
    x = restart_clean(srv)
    if point in ("coalesce.hidden", "cbt.merged"):
        # Killed before the row went: the snapshot is still there, whole.
        assert s2 in x.VDI.get_all(), srv.log
        x.VDI.destroy(s2)
    assert s2 not in x.VDI.get_all()
    data.pop(s2)
    # Through xapid while the coalesce may still run (it holds the VDIs
    # it rewrites; an outside reader of the files would race it).
    for r, want in data.items():
        assert export_raw(srv, x, r) == want.read_bytes()
    settled(x, sr)
    check_data(srv, x, data, True)
    # The CBT chain went through s2: its set is in s3's now.
    changed = blocks(x.VDI.list_changed_blocks(s1, s3))
    assert changed >= set(range(M // 2 // K64, 3 * M // 2 // K64)) | {2 * M // K64}
    import_raw(srv, x, v, b"y", 0)
    s4 = x.VDI.snapshot(v)
    assert blocks(x.VDI.list_changed_blocks(s3, s4)) == {3 * M // K64, 0}


def test_data_destroy_killed_between_hide_and_row(make_server, tmp_path):
    srv, x = crash_server(make_server)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, SIZE, "qcow2")
    x.VDI.enable_cbt(v)
    import_raw(srv, x, v, os.urandom(M), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(M), M)
    want = flatten(vdi_path(srv, x, v), tmp_path / "v.raw")
    x = arm(srv, "coalesce.hidden")
    try:
        x.VDI.data_destroy(s1)
    except Exception:
        pass
    x = restart_clean(srv)
    assert x.VDI.get_type(s1) == "cbt_metadata"
    settled(x, sr)
    assert_same(vdi_path(srv, x, v), want, "qcow2", "raw")
    assert x.VDI.get_location(s1) == ""


def test_calls_during_a_fold_wait_for_it(make_server, tmp_path):
    """The background coalesce holds the VDIs it rewrites (operation
    `blocked`, no task): a copy, an Async copy and a block job started
    meanwhile wait for it, as a snapshot or an import does, and succeed;
    none is refused OTHER_OPERATION_IN_PROGRESS (found by the torture run:
    an Async.VDI.copy right after a restart, while the restart's coalesce
    ran)."""
    srv = make_server(fault_injection=True)
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, SIZE, "qcow2")
    import_raw(srv, x, v, os.urandom(M), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, os.urandom(K64), 2 * M)
    want = export_raw(srv, x, v)
    # The fold's first write into v's file takes 3 s. The rule reaches the
    # fault table when a job on v starts.
    x.VDI.add_to_other_config(v, "xapid-fault", "write:SLOW=3000*1")
    probe = create_vdi(x, sr, SIZE, "raw")
    job = x.block_job.backup(v, probe, {"auto_dismiss": "true"})
    wait_for(lambda: job not in x.block_job.get_all(), 30, what="the probe backup")
    x.VDI.destroy(s1)
    wait_for(lambda: "blocked" in x.VDI.get_current_operations(v).values(), 10,
             what="the coalesce to hold v")
    copy = x.VDI.copy(v, sr)
    task = x.Async.VDI.copy(v, sr)
    tgt = create_vdi(x, sr, SIZE, "qcow2")
    job = x.block_job.backup(v, tgt, {"auto_dismiss": "true"})
    wait_for(lambda: x.task.get_status(task) != "pending", 60, what="the Async copy")
    assert x.task.get_status(task) == "success", x.task.get_error_info(task)
    acopy = result_ref(x.task.get_result(task))
    wait_for(lambda: job not in x.block_job.get_all(), 60, what="the backup")
    settled(x, sr)
    for r in (v, copy, tgt):
        assert export_raw(srv, x, r) == want
    assert export_raw(srv, x, acopy) == want
