"""kill -9 between every two durable steps of the protocols that make or
change files (crash points, `XAPID_CRASH_AT`, honoured only with
`fault_injection = true`): after the restart nothing acknowledged is lost
and nothing half-made looks whole.

- A snapshot (of a raw VDI and of a qcow2 one) killed after its row, after
  its files were switched over (the VDI's row still says raw), or after the
  VDI's row: the VDI's data is intact and readable, its recorded format is
  its file's format, and the snapshot is either complete or gone.
- A snapshot undone by a failed transaction, killed after the mark or
  after the rename back: no snapshot, the VDI as it was.
- VDI.create and VDI.copy killed after the new row or after the new file:
  no stray VDI and no stray file.
- Async.VDI.copy killed after its task's success was written but before the
  copy was committed: the task says success and its VDI is there; killed
  after the job, or after the call returned but before the task's success
  was written: the task says TASK_INTERRUPTED and no copy is left.
"""

import json
import os
import shutil
import subprocess
import xmlrpc.client

import pytest

from storage_util import (
    M, assert_same, check_image, create_vdi, default_sr, flatten, image_format, place_image,
    result_ref, sr_dir, vdi_path, wait_for, wait_job, wait_task,
)

SIZE = 8 * M


def crash_server(make_server, point):
    srv = make_server(start=False, fault_injection=True)
    srv.env = {"XAPID_CRASH_AT": point}
    srv.start()
    x = srv.sdk().xenapi
    return srv, x, default_sr(x)[0]


def arm(srv, point):
    """Restarts the server (kill -9: all before was acknowledged) with the
    crash point armed."""
    srv.env = {"XAPID_CRASH_AT": point}
    srv.restart(crash=True)
    return srv.sdk().xenapi


def call_until_killed(srv, fn, *args):
    """Calls `fn`, which the crash point cuts short; waits for the process
    to die of SIGKILL; restarts without the crash point."""
    with pytest.raises((xmlrpc.client.ProtocolError, ConnectionError, OSError,
                        xmlrpc.client.Fault, Exception)):
        fn(*args)
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    return srv.sdk().xenapi


def files_of(x, sr):
    return set(os.listdir(sr_dir(x, sr)))


def known_files(x, sr):
    return {rec["location"] for rec in x.VDI.get_all_records().values() if rec["SR"] == sr}


def assert_every_file_known(x, sr):
    """Every file of the SR is a VDI's, and a scan introduces nothing new."""
    before = set(x.VDI.get_all())
    x.SR.scan(sr)
    assert set(x.VDI.get_all()) == before, "a scan introduced a stray file as a VDI"
    assert files_of(x, sr) == known_files(x, sr)


def source(x, sr, fmt, tag):
    return place_image(x, sr, f"{tag}.{fmt}", fmt, SIZE,
                       ["write -P 0x5a 0 1M", "write -P 0xa5 3M 2M", "write -P 0x11 7M 1M"])


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("point,complete", [
    ("snapshot.row", False),
    ("snapshot.files", True),
    ("snapshot.vdi", True),
])
def test_snapshot_killed_at_each_step(make_server, tmp_path, fmt, point, complete):
    srv, x, sr = crash_server(make_server, point)
    v = source(x, sr, fmt, "snapme")
    before = flatten(vdi_path(srv, x, v), tmp_path / "before.raw")
    x = call_until_killed(srv, x.VDI.snapshot, v)

    rec = x.VDI.get_record(v)
    path = vdi_path(srv, x, v)
    # The recorded format is the file's, whatever the step.
    assert rec["sm_config"]["image-format"] == image_format(path)
    check_image(path)
    assert_same(path, before, rec["sm_config"]["image-format"], "raw")
    snaps = x.VDI.get_snapshots(v)
    if complete:
        (snap,) = snaps
        srec = x.VDI.get_record(snap)
        assert srec["is_a_snapshot"] and srec["snapshot_of"] == v
        assert rec["sm_config"]["image-format"] == "qcow2"
        assert_same(vdi_path(srv, x, snap), before, fmt, "raw")
    else:
        assert snaps == []
        assert rec["sm_config"]["image-format"] == fmt
    # Exported data is the VDI's data.
    assert_every_file_known(x, sr)
    # And the VDI still works: a new snapshot can be taken.
    x.VDI.snapshot(v)
    assert_same(vdi_path(srv, x, v), before, "qcow2", "raw")


@pytest.mark.parametrize("point", ["undo.marked", "undo.renamed"])
def test_snapshot_undo_killed_at_each_step(make_server, tmp_path, point):
    srv, x, sr = crash_server(make_server, point)
    v = source(x, sr, "raw", "undome")
    small = create_vdi(x, sr, SIZE // 2)
    before = flatten(vdi_path(srv, x, v), tmp_path / "before.raw")
    x = call_until_killed(srv, x.block_job.transaction, [
        {"type": "snapshot", "device": v},
        {"type": "backup", "device": v, "target": small},  # too small: fails
    ], "individual")

    rec = x.VDI.get_record(v)
    path = vdi_path(srv, x, v)
    assert rec["sm_config"]["image-format"] == image_format(path)
    assert_same(path, before, rec["sm_config"]["image-format"], "raw")
    snaps = x.VDI.get_snapshots(v)
    if point == "undo.renamed":
        # The rename back happened: no snapshot, the VDI raw again.
        assert snaps == [] and rec["sm_config"]["image-format"] == "raw"
    else:
        # Killed before the rename: the snapshot stands, complete.
        (snap,) = snaps
        assert_same(vdi_path(srv, x, snap), before, "raw", "raw")
    assert_every_file_known(x, sr)


@pytest.mark.parametrize("point", ["vdi.row", "vdi.file"])
def test_vdi_create_killed_leaves_nothing(make_server, point):
    srv, x, sr = crash_server(make_server, point)
    vdis, files = set(x.VDI.get_all()), files_of(x, sr)
    x = call_until_killed(srv, create_vdi, x, sr, SIZE, "qcow2", "half-made")
    assert set(x.VDI.get_all()) == vdis
    assert files_of(x, sr) == files
    assert_every_file_known(x, sr)


@pytest.mark.parametrize("point", ["vdi.row", "vdi.file"])
def test_vdi_copy_killed_leaves_nothing(make_server, point):
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    v = source(x, sr, "raw", "copyme")
    vdis, files = set(x.VDI.get_all()), files_of(x, sr)
    x = arm(srv, point)
    x = call_until_killed(srv, x.VDI.copy, v, sr)
    assert set(x.VDI.get_all()) == vdis
    assert files_of(x, sr) == files
    assert_every_file_known(x, sr)


def test_async_copy_killed_after_its_success_keeps_the_copy(make_server, tmp_path):
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    v = source(x, sr, "qcow2", "keepme")
    before = flatten(vdi_path(srv, x, v), tmp_path / "before.raw")
    x = arm(srv, "task.success")
    task = x.Async.VDI.copy(v, sr)
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    x = srv.sdk().xenapi
    rec = x.task.get_record(task)
    assert rec["status"] == "success", rec
    new = result_ref(rec["result"])
    assert x.VDI.get_record(new)["SR"] == sr
    assert_same(vdi_path(srv, x, new), before, "qcow2", "raw")
    assert_every_file_known(x, sr)


@pytest.mark.parametrize("point", ["copy.done", "task.finishing"])
def test_async_copy_killed_before_its_success_leaves_nothing(make_server, point):
    # copy.done: the job succeeded, the copy is not yet returned;
    # task.finishing: the call returned the copy, its task's success is not
    # yet written.
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    v = source(x, sr, "raw", "dropme")
    vdis, files = set(x.VDI.get_all()), files_of(x, sr)
    x = arm(srv, point)
    task = x.Async.VDI.copy(v, sr)
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    x = srv.sdk().xenapi
    rec = wait_task(x, task)
    assert rec["status"] == "failure" and rec["error_info"][0] == "TASK_INTERRUPTED", rec
    assert set(x.VDI.get_all()) == vdis
    assert files_of(x, sr) == files
    assert_every_file_known(x, sr)


def test_a_job_killed_between_its_success_and_its_tasks_ends_a_success(make_server):
    # task.finishing in a block job's own task: the job concluded (durably)
    # without error, its task's success is not yet written. The restart
    # ends the task as the job did, and the target, a whole copy, is not
    # marked incomplete (found by bench/torture).
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    v = source(x, sr, "raw", "jobsrc")
    tgt = create_vdi(x, sr, SIZE, "qcow2", "jobtgt")
    x = arm(srv, "task.finishing")
    job = x.block_job.backup(v, tgt, {"auto_dismiss": "false"})
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    x = srv.sdk().xenapi
    assert x.block_job.get_status(job) == "concluded" and x.block_job.get_error(job) == ""
    task = x.block_job.get_task(job)
    rec = wait_task(x, task)
    assert rec["status"] == "success", rec
    assert "incomplete" not in x.VDI.get_sm_config(tgt)
    assert_same(vdi_path(srv, x, tgt), vdi_path(srv, x, v), "qcow2", "raw")
    x.block_job.dismiss(job)


@pytest.mark.parametrize("point", ["journal.shifted", "journal.rotated"])
def test_audit_log_rotation_killed_loses_no_line(make_server, point):
    srv = make_server(start=False, fault_injection=True, audit_log_max_bytes=4096, audit_log_keep=3)
    srv.start()
    root = srv.login()
    t = srv.raw.ok("task.create", root, "t", "")

    def lines():
        out = []
        for p in ["audit.log.3", "audit.log.2", "audit.log.1", "audit.log"]:
            f = srv.state_dir / p
            if f.exists():
                out += [json.loads(x) for x in f.read_text().splitlines() if x]
        return out

    # Fill the log to just before its first rotation, then arm the point.
    while (srv.state_dir / "audit.log").stat().st_size < 3000:
        srv.raw.ok("task.set_other_config", root, t, {"n": "x"})
    srv.env = {"XAPID_CRASH_AT": point}
    srv.restart(crash=True)
    root = srv.login()
    before = lines()
    with pytest.raises(Exception):
        for i in range(100):
            srv.raw.ok("task.set_other_config", root, t, {"n": str(i)})
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    after = lines()
    # Every line written before the kill is there, in order.
    assert after[: len(before)] == before
    assert all(l["call"] for l in after)
    root = srv.login()
    srv.raw.ok("task.set_other_config", root, t, {"n": "after"})
    assert lines()[-1]["call"] == "task.set_other_config"
    assert len(lines()) > len(after)


@pytest.mark.parametrize("point", ["pivot.hidden", "pivot.forgotten", "pivot.moved", "pivot.deleted"])
def test_mirror_pivot_killed_at_each_step(make_server, tmp_path, point):
    """A mirror's pivot killed after each durable step: the device is whole
    in its old file (target kept and marked incomplete, or target gone) or
    in the target's file (old file gone), and no file is left for a scan to
    introduce as a VDI (found by the torture run: a kill in the pivot left
    the target's file without a row, and the restart's scan introduced it)."""
    srv, x, sr = crash_server(make_server, point)
    dev = source(x, sr, "qcow2", "mirdev")
    old_loc = x.VDI.get_location(dev)
    want = flatten(vdi_path(srv, x, dev), tmp_path / "want.raw")
    tgt = create_vdi(x, sr, SIZE, "qcow2", "mirtgt")
    tgt_uuid, tgt_loc = x.VDI.get_uuid(tgt), x.VDI.get_location(tgt)
    job = x.block_job.mirror(dev, tgt, {"auto_dismiss": "false"})
    wait_job(x, job, "ready", timeout=30)
    with pytest.raises(Exception):
        x.block_job.complete(job)
        wait_job(x, job, "concluded", timeout=30)
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    x = srv.sdk().xenapi
    wait_for(lambda: files_of(x, sr) == known_files(x, sr), 30,
             what="the coalesce to settle the pivot's files")
    assert_every_file_known(x, sr)
    uuids = {r["uuid"]: r for r in x.VDI.get_all_records().values()}
    d = x.VDI.get_record(dev)
    moved = point in ("pivot.moved", "pivot.deleted")
    assert d["location"] == (tgt_loc if moved else old_loc), (point, d["location"])
    assert (tgt_uuid in uuids) == (point == "pivot.hidden"), point
    if tgt_uuid in uuids:
        assert "incomplete" in uuids[tgt_uuid]["sm_config"]
    assert_same(vdi_path(srv, x, dev), want, "qcow2", "raw")
    for f in files_of(x, sr):
        check_image(sr_dir(x, sr) / f)


def _leak_a_cluster(path):
    """Gives one cluster past the end of a qcow2 file (64 KiB clusters,
    16-bit refcounts) a refcount and writes it, as a writer killed between
    a data cluster's allocation and its mapping leaves it."""
    with open(path, "r+b") as f:
        h = f.read(104)
        assert int.from_bytes(h[20:24], "big") == 16 and int.from_bytes(h[96:100], "big") == 4
        rt = int.from_bytes(h[48:56], "big")
        f.seek(rt)
        block = int.from_bytes(f.read(8), "big")
        end = os.fstat(f.fileno()).st_size
        c = end // 65536
        assert c < 32768
        f.seek(block + 2 * c)
        f.write((1).to_bytes(2, "big"))
        f.seek(end)
        f.write(b"\xcd" * 65536)


def test_leaked_clusters_are_freed_after_a_restart(make_server, tmp_path):
    """A qcow2 file with a leaked cluster (what a kill during a write
    leaves, found by the torture run) is clean for qemu-img check soon
    after the restart, its data and bitmaps as they were."""
    srv = make_server()
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    v = source(x, sr, "qcow2", "leaky")
    x.block_dirty_bitmap.add(v, "b", {"persistent": "true"})
    p = vdi_path(srv, x, v)
    want = flatten(p, tmp_path / "want.raw")
    srv.kill()
    _leak_a_cluster(p)
    r = subprocess.run(["qemu-img", "check", "--output=json", str(p)], capture_output=True, text=True)
    assert json.loads(r.stdout).get("leaks") == 1
    srv.start()
    x = srv.sdk().xenapi
    wait_for(lambda: "leaked clusters freed" in srv.log, 30, what="the leak check")
    check_image(p)
    assert_same(p, want, "qcow2", "raw")
    assert [b["name"] for b in x.block_dirty_bitmap.get_all_records().values()] == ["b"]
    wait_for(lambda: not x.VDI.get_current_operations(v), 10, what="the leak check to let go")
