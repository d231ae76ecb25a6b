"""block_job.transaction: success (snapshots and backups at once), a failing
action (nothing changed: snapshots undone, no job left), abort, grouped
completion (jobs wait for each other; one failing cancels the rest), and
grouped with an action that does not support it."""

import os

import pytest

from storage_util import (
    M, assert_same, create_vdi, default_sr, flatten, place_image, sr_dir, vdi_path, wait_for,
    wait_job, wait_task,
)
from xapid_rpc import sdk_failure


@pytest.fixture
def fx(make_server):
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    return srv, x, default_sr(x)[0]


def source(x, sr, tag, size=8 * M, seed=0x41):
    return place_image(x, sr, f"{tag}.raw", "raw", size, [f"write -P 0x{seed:x} 0 {size}"])


def state(srv, x, sr):
    return (set(x.VDI.get_all()), set(os.listdir(sr_dir(x, sr))), set(x.block_job.get_all()),
            {v: x.VDI.get_sm_config(v).get("image-format") for v in x.VDI.get_all()})


def test_snapshots_and_backups_together(fx, tmp_path):
    srv, x, sr = fx
    a, b = source(x, sr, "ta", seed=0x41), source(x, sr, "tb", seed=0x42)
    ta, tb = create_vdi(x, sr, 8 * M), create_vdi(x, sr, 8 * M)
    before_a = flatten(vdi_path(srv, x, a), tmp_path / "a.raw")
    jobs = x.block_job.transaction([
        {"type": "snapshot", "device": a},
        {"type": "backup", "device": a, "target": ta, "options": {"auto_dismiss": "false"}},
        {"type": "backup", "device": b, "target": tb, "options": {"auto_dismiss": "false"}},
    ], "individual")
    assert len(jobs) == 2
    for j in jobs:
        assert wait_job(x, j, "concluded")["error"] == ""
        x.block_job.dismiss(j)
    (snap,) = x.VDI.get_snapshots(a)
    assert_same(vdi_path(srv, x, snap), before_a, "raw", "raw")
    assert_same(vdi_path(srv, x, ta), before_a, "raw", "raw")
    assert_same(vdi_path(srv, x, tb), vdi_path(srv, x, b), "raw", "raw")


def test_a_failing_action_changes_nothing(fx):
    srv, x, sr = fx
    a = source(x, sr, "fa")
    ta = create_vdi(x, sr, 8 * M)
    small = create_vdi(x, sr, 4 * M)
    before = state(srv, x, sr)
    err = sdk_failure(x.block_job.transaction, [
        {"type": "snapshot", "device": a},
        {"type": "backup", "device": a, "target": ta, "options": {}},
        {"type": "backup", "device": a, "target": small, "options": {}},  # too small
    ], "individual")
    assert err[0] == "VDI_TOO_SMALL", err
    assert state(srv, x, sr) == before, "the snapshot was undone, no job was left"
    assert x.VDI.get_snapshots(a) == []
    assert x.VDI.get_current_operations(a) == {} and x.VDI.get_current_operations(ta) == {}


def test_abort_aborts_everything(fx):
    srv, x, sr = fx
    a = source(x, sr, "ab")
    before = state(srv, x, sr)
    err = sdk_failure(x.block_job.transaction, [
        {"type": "snapshot", "device": a},
        {"type": "abort"},
    ], "individual")
    assert err == ["OPERATION_NOT_ALLOWED", "Transaction aborted using Abort action"]
    assert state(srv, x, sr) == before


def test_grouped_needs_backups_only(fx):
    srv, x, sr = fx
    a = source(x, sr, "gn")
    err = sdk_failure(x.block_job.transaction, [{"type": "snapshot", "device": a}], "grouped")
    assert err == ["OPERATION_NOT_ALLOWED",
                   "Action 'snapshot' does not support transaction property completion-mode = grouped"]
    assert sdk_failure(x.block_job.transaction, [], "sideways")[0] == "INVALID_VALUE"
    assert sdk_failure(x.block_job.transaction, [{"type": "mirror", "device": a}], "individual")[0] == "INVALID_VALUE"


def test_grouped_jobs_wait_for_each_other(fx):
    srv, x, sr = fx
    fast, slow = source(x, sr, "gf", 2 * M), source(x, sr, "gs", 16 * M)
    tf, ts = create_vdi(x, sr, 2 * M), create_vdi(x, sr, 16 * M)
    jf, js = x.block_job.transaction([
        {"type": "backup", "device": fast, "target": tf, "options": {"auto_dismiss": "false"}},
        {"type": "backup", "device": slow, "target": ts,
         "options": {"auto_dismiss": "false", "speed": str(8 * M)}},
    ], "grouped")
    # The fast one has finished its work and waits for the slow one.
    wait_job(x, jf, "waiting", timeout=10)
    assert x.block_job.get_status(js) == "running"
    assert wait_job(x, js, "concluded")["error"] == ""
    assert wait_job(x, jf, "concluded")["error"] == ""
    for j in (jf, js):
        assert wait_task(x, x.block_job.get_task(j))["status"] == "success"
        x.block_job.dismiss(j)


def test_grouped_failure_cancels_the_rest(fx):
    srv, x, sr = fx
    good, bad = source(x, sr, "gg", 2 * M), source(x, sr, "gb", 16 * M)
    tg, tb = create_vdi(x, sr, 2 * M), create_vdi(x, sr, 16 * M)
    x.VDI.add_to_other_config(tb, "xapid-fault", "write:EIO@8388608")
    jg, jb = x.block_job.transaction([
        {"type": "backup", "device": good, "target": tg, "options": {"auto_dismiss": "false"}},
        {"type": "backup", "device": bad, "target": tb,
         "options": {"auto_dismiss": "false", "speed": str(8 * M)}},
    ], "grouped")
    rb = wait_job(x, jb, "concluded")
    rg = wait_job(x, jg, "concluded")
    assert rb["error"].startswith("VDI_IO_ERROR"), rb
    tg_task = wait_task(x, rg["task"])
    assert tg_task["status"] == "cancelled", tg_task
    assert wait_task(x, rb["task"])["status"] == "failure"
    for j in (jg, jb):
        x.block_job.dismiss(j)
    # Neither target is presented as a good copy.
    assert x.VDI.get_sm_config(tg).get("incomplete") == "TASK_CANCELLED"
    assert x.VDI.get_sm_config(tb).get("incomplete") == "VDI_IO_ERROR"
