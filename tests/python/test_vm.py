"""VM and VBD: create/destroy, and VM.clone/VM.copy of a VM with three
disks of different sizes: one parent task with a subtask per disk, the
copies equal to their sources, cancel half-way (nothing left behind), and
the failure of one disk (its error fails the whole call, nothing left)."""

import os
import time

import pytest

from storage_util import (
    M, NULL, assert_same, default_sr, place_image, result_ref, sr_dir, vdi_path, wait_for,
    wait_task,
)
from xapid_rpc import sdk_failure

SIZES = (4 * M, 8 * M, 12 * M)


def make_vm(x, sr, tag):
    vm = x.VM.create({"name_label": f"vm-{tag}", "other_config": {"k": "v"}})
    disks = []
    for i, size in enumerate(SIZES):
        cmds = [f"write -P 0x{0x30 + i:x} 0 {size}"]
        v = place_image(x, sr, f"{tag}-disk{i}.raw", "raw", size, cmds)
        x.VBD.create({"VM": vm, "VDI": v, "userdevice": str(i), "bootable": i == 0,
                      "mode": "RW", "type": "Disk"})
        disks.append(v)
    # An empty CD drive is attached as it is.
    x.VBD.create({"VM": vm, "VDI": NULL, "userdevice": "3", "type": "CD", "mode": "RO"})
    return vm, disks


def disks_of(x, vm):
    out = {}
    for b in x.VM.get_VBDs(vm):
        rec = x.VBD.get_record(b)
        out[rec["userdevice"]] = rec
    return out


def test_create_destroy_and_links(server):
    x = server.sdk().xenapi
    sr = default_sr(x)[0]
    vm, disks = make_vm(x, sr, "links")
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Halted" and rec["other_config"] == {"k": "v"}
    assert len(rec["VBDs"]) == 4
    for v in disks:
        (b,) = x.VDI.get_VBDs(v)
        assert x.VBD.get_VM(b) == vm
    assert sdk_failure(x.VBD.create, {"VM": NULL, "VDI": disks[0]})[0] in ("FIELD_TYPE_ERROR", "HANDLE_INVALID")
    x.VM.destroy(vm)
    for v in disks:
        assert x.VDI.get_VBDs(v) == []
        x.VDI.destroy(v)
    assert sdk_failure(x.VM.get_record, vm)[0] == "HANDLE_INVALID"


@pytest.mark.parametrize("how", ["clone", "copy"])
def test_clone_and_copy_copy_every_disk(server, how):
    x = server.sdk().xenapi
    sr = default_sr(x)[0]
    vm, disks = make_vm(x, sr, f"full-{how}")
    t = x.Async.VM.clone(vm, "the clone") if how == "clone" else x.Async.VM.copy(vm, "the copy", sr)
    rec = wait_task(x, t)
    assert rec["status"] == "success", rec
    assert rec["progress"] == 1.0
    new = result_ref(rec["result"])
    assert x.VM.get_name_label(new) == ("the clone" if how == "clone" else "the copy")
    subs = rec["subtasks"]
    assert len(subs) == 3
    for st in subs:
        srec = x.task.get_record(st)
        assert srec["subtask_of"] == t and srec["status"] == "success" and srec["progress"] == 1.0
    old, copied = disks_of(x, vm), disks_of(x, new)
    assert sorted(old) == sorted(copied) == ["0", "1", "2", "3"]
    for dev in ("0", "1", "2"):
        a, b = old[dev]["VDI"], copied[dev]["VDI"]
        assert a != b
        assert x.VDI.get_virtual_size(a) == x.VDI.get_virtual_size(b)
        assert_same(vdi_path(server, x, a), vdi_path(server, x, b), "raw", "raw")
        assert copied[dev]["bootable"] == (dev == "0")
    assert copied["3"]["VDI"] == NULL and copied["3"]["type"] == "CD"


def test_parent_progress_is_weighted_by_bytes(make_server):
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    vm, disks = make_vm(x, sr, "weights")
    # The biggest disk (12 of the 24 MiB) stalls for a few seconds half-way,
    # which holds every disk's progress still for a while.
    x.VDI.add_to_other_config(disks[2], "xapid-fault", "read:SLOW=4000@%d*1" % (6 * M))
    t = x.Async.VM.clone(vm, "weighed")
    subs = wait_for(lambda: (lambda s: s if len(s) == 3 else None)(x.task.get_subtasks(t)), 10)
    size = {}

    def size_of(st):
        # A finished copy's size is its result's; a running one's its job's
        # device's.
        if st not in size:
            rec = x.task.get_record(st)
            if rec["status"] == "success":
                size[st] = int(x.VDI.get_virtual_size(result_ref(rec["result"])))
            else:
                job = rec["other_config"]["block_job"]
                size[st] = int(x.VDI.get_virtual_size(x.block_job.get_device(job)))
        return size[st]

    seen, checked = [], 0
    while x.task.get_status(t) == "pending":
        before = [float(x.task.get_progress(st)) for st in subs]
        time.sleep(0.3)  # the parent's progress is recomputed every 100 ms
        parent = float(x.task.get_progress(t))
        after = [float(x.task.get_progress(st)) for st in subs]
        seen.append(parent)
        if before != after or len(set(after)) == 1 or x.task.get_status(t) != "pending":
            continue  # moved while we looked, or all equal (no weights to tell)
        weights = [size_of(st) for st in subs]
        assert sorted(weights) == list(SIZES)
        weighed = sum(w * p for w, p in zip(weights, after)) / sum(weights)
        assert parent == pytest.approx(weighed, abs=1e-3), (after, weights)
        assert parent != pytest.approx(sum(after) / 3, abs=1e-3)
        checked += 1
    assert checked >= 1, "the stall should hold the progress still at least once"
    rec = wait_task(x, t, timeout=30)
    assert rec["status"] == "success", rec
    seen.append(float(rec["progress"]))
    assert seen == sorted(seen), "the parent's progress never goes back"
    assert seen[-1] == 1.0


def test_cancel_half_way_leaves_nothing(server):
    x = server.sdk().xenapi
    sr = default_sr(x)[0]
    vm, disks = make_vm(x, sr, "cancel")
    vms, vdis = set(x.VM.get_all()), set(x.VDI.get_all())
    files = set(os.listdir(sr_dir(x, sr)))
    t = x.Async.VM.clone(vm, "never")
    # Hold one disk's copy still, so the cancel lands half-way.
    subs = wait_for(lambda: (lambda s: s if len(s) == 3 else None)(x.task.get_subtasks(t)), 10)
    job = wait_for(lambda: x.task.get_other_config(subs[2]).get("block_job"), 10)
    try:
        x.block_job.pause(job)
    except Exception:
        pass  # it may already have finished; the cancel still has the others
    x.task.cancel(t)
    rec = wait_task(x, t)
    assert rec["status"] == "cancelled", rec
    assert rec["error_info"] == ["TASK_CANCELLED", t]
    for st in subs:
        assert x.task.get_status(st) in ("cancelled", "success")
    assert set(x.VM.get_all()) == vms
    assert set(x.VDI.get_all()) == vdis
    assert set(os.listdir(sr_dir(x, sr))) == files


def test_one_failing_disk_fails_the_call(make_server):
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    vm, disks = make_vm(x, sr, "fail")
    x.VDI.add_to_other_config(disks[1], "xapid-fault", "read:EIO@1048576")
    vms, vdis = set(x.VM.get_all()), set(x.VDI.get_all())
    files = set(os.listdir(sr_dir(x, sr)))
    t = x.Async.VM.copy(vm, "broken", sr)
    rec = wait_task(x, t)
    assert rec["status"] == "failure", rec
    assert rec["error_info"][0] == "VDI_IO_ERROR", rec
    assert set(x.VM.get_all()) == vms
    assert set(x.VDI.get_all()) == vdis
    assert set(os.listdir(sr_dir(x, sr))) == files
    # Without the fault it works.
    x.VDI.remove_from_other_config(disks[1], "xapid-fault")
    tasks = set(x.task.get_all())
    new = x.VM.copy(vm, "fine", sr)
    assert len(x.VM.get_VBDs(new)) == 4
    # A synchronous call leaves none of its tasks (its own, its disks').
    assert set(x.task.get_all()) <= tasks
