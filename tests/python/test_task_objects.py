"""Which task touched what (issue 12, section 3): task.objects and
task.created_by, and the jobs sets of VDIs, VMs and SRs (xapid extensions,
as CloudSigma's drives): filled by Async calls, block jobs, imports and VM
copies, emptied when a task is destroyed, rebuilt after a restart, and seen
by event.from."""

import http.client
import os

from storage_util import (
    M, NULL, create_vdi, default_sr, import_raw, place_image, result_ref, sdk_x, wait_task,
)
from xapid_rpc import sdk_failure


def refs(x, task):
    return x.task.get_objects(task)


def test_an_async_copy_names_its_source_target_sr_and_result(server):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    src = create_vdi(x, sr, 1 * M, "raw", "history-src")
    t = x.Async.VDI.copy(src, sr)
    rec = wait_task(x, t)
    assert rec["status"] == "success"
    new = result_ref(rec["result"])
    assert rec["objects"] == [src, sr, new], "call arguments first, then the result"
    assert rec["created_by"] == "root"
    assert t in x.VDI.get_jobs(src)
    assert t in x.VDI.get_jobs(new)
    assert t in x.SR.get_jobs(sr)
    assert t in x.VDI.get_record(src)["jobs"]
    # A second task on the same VDI comes after the first.
    t2 = x.Async.VDI.resize(src, str(2 * M))
    assert wait_task(x, t2)["status"] == "success"
    jobs = x.VDI.get_jobs(src)
    assert jobs.index(t) < jobs.index(t2)
    assert x.task.get_objects(t2) == [src]
    # A destroyed task leaves every set.
    x.task.destroy(t)
    assert t not in x.VDI.get_jobs(src)
    assert t not in x.VDI.get_jobs(new)
    assert t not in x.SR.get_jobs(sr)
    assert x.VDI.get_jobs(src) == [t2]
    x.task.destroy(t2)
    assert x.VDI.get_jobs(src) == []
    for v in (src, new):
        x.VDI.destroy(v)


def test_a_failed_task_keeps_what_it_acted_on(server):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    src = create_vdi(x, sr, 1 * M, "raw", "history-fail")
    t = x.Async.VDI.resize(src, "-1")
    rec = wait_task(x, t)
    assert rec["status"] == "failure"
    assert rec["objects"] == [src]
    assert x.VDI.get_jobs(src) == [t]
    x.task.destroy(t)
    x.VDI.destroy(src)


def test_a_block_job_and_an_import_name_their_vdis(server):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    src = place_image(x, sr, "history-job.raw", "raw", 4 * M, ["write -P 0x11 0 1M"])
    tgt = create_vdi(x, sr, 4 * M, "qcow2", "history-target")
    job = x.block_job.backup(src, tgt, {})
    t = next(
        r for r, rec in x.task.get_all_records().items() if rec["other_config"].get("block_job") == job
    )
    wait_task(x, t)
    assert x.task.get_objects(t) == [src, tgt]
    assert x.task.get_name_label(t) == "block_job.backup"
    assert t in x.VDI.get_jobs(src) and t in x.VDI.get_jobs(tgt)
    # An import without task_id makes its own task; one with task_id adds
    # the VDI to the client's task.
    import_raw(server, x, tgt, os.urandom(64 * 1024))
    imports = [r for r in x.VDI.get_jobs(tgt) if x.task.get_name_label(r) != "block_job.backup"]
    assert len(imports) == 1 and x.task.get_objects(imports[0]) == [tgt]
    mine = x.task.create("my import", "")
    assert x.task.get_objects(mine) == []
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    c.request("PUT", f"/import_raw_vdi?session_id={x._session}&vdi={tgt}&task_id={mine}", body=b"\0" * 512)
    assert c.getresponse().status == 200
    assert x.task.get_objects(mine) == [tgt]
    assert x.VDI.get_jobs(tgt)[-1] == mine
    for r in [t, mine] + imports:
        x.task.destroy(r)
    assert x.VDI.get_jobs(tgt) == []
    for v in (src, tgt):
        x.VDI.destroy(v)


def test_a_vm_copy_names_the_vm_and_its_subtasks_the_disks(server):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    vm = x.VM.create({"name_label": "history-vm"})
    disk = create_vdi(x, sr, 1 * M, "raw", "history-vm-disk")
    x.VBD.create({"VM": vm, "VDI": disk, "userdevice": "0", "mode": "RW", "type": "Disk"})
    t = x.Async.VM.copy(vm, "history-vm-copy", sr)
    rec = wait_task(x, t)
    assert rec["status"] == "success"
    new_vm = result_ref(rec["result"])
    assert rec["objects"] == [vm, sr, new_vm]
    assert x.VM.get_jobs(vm) == [t]
    assert x.VM.get_jobs(new_vm) == [t], "the copy lists the task that made it, not its source's"
    (sub,) = rec["subtasks"]
    sub_rec = x.task.get_record(sub)
    new_disk = result_ref(sub_rec["result"])
    assert sub_rec["objects"] == [disk, sr, new_disk]
    assert sub in x.VDI.get_jobs(disk)
    assert set(x.SR.get_jobs(sr)) >= {t, sub}
    for v in (vm, new_vm):
        x.VM.destroy(v)
    x.task.destroy(t)
    assert x.VDI.get_jobs(disk) == [sub], "the subtask stays until it is destroyed itself"
    x.task.destroy(sub)
    assert x.VDI.get_jobs(disk) == [] and not {t, sub} & set(x.SR.get_jobs(sr))
    for v in (disk, new_disk):
        x.VDI.destroy(v)


def test_created_by_names_the_user(make_server):
    srv = make_server()
    raw, root = srv.raw, srv.login()
    subj = raw.ok("subject.create", root, {"subject_identifier": "local:alice"})
    raw.ok("subject.set_password", root, subj, "pw-alice-S3cret!")
    srv.secrets.add("pw-alice-S3cret!")
    (op,) = raw.ok("role.get_by_name_label", root, "pool-operator")
    raw.ok("subject.add_to_roles", root, subj, op)
    alice = raw.login("pw-alice-S3cret!", "1.1", "history", user="alice")
    t = raw.ok("task.create", alice, "alice's", "")
    assert raw.ok("task.get_created_by", alice, t) == "alice"
    sub = raw.ok("task.create", root, "root's", "", headers={"subtask-of": t})
    assert raw.ok("task.get_created_by", root, sub) == "alice", "a subtask is its parent's user's"
    assert raw.ok("task.get_created_by", root, raw.ok("task.create", root, "r", "")) == "root"


def test_the_sets_come_back_after_a_restart_and_changes_are_events(make_server):
    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    src = create_vdi(x, sr, 1 * M, "qcow2", "history-restart")
    t = x.Async.VDI.snapshot(src, {})
    snap = result_ref(wait_task(x, t)["result"])
    gone = x.Async.VDI.resize(src, str(2 * M))
    wait_task(x, gone)
    x.task.destroy(gone)
    srv.restart(crash=True)
    x = sdk_x(srv)
    assert x.VDI.get_jobs(src) == [t]
    assert x.VDI.get_jobs(snap) == [t]
    assert x.SR.get_jobs(sr) == []
    # A new task on the VDI is a mod event on the VDI with the new set.
    ev = getattr(x.event, "from")(["VDI"], "", 0.0)
    token = ev["token"]
    t2 = x.Async.VDI.resize(src, str(3 * M))
    seen = []
    for _ in range(20):
        ev = getattr(x.event, "from")(["VDI"], token, 5.0)
        token = ev["token"]
        seen += [e for e in ev["events"] if e["ref"] == src and t2 in e["snapshot"].get("jobs", [])]
        if seen:
            break
    assert seen and seen[0]["operation"] == "mod"
    wait_task(x, t2)
    for r in (t, t2):
        x.task.destroy(r)
    for v in (snap, src):
        x.VDI.destroy(v)


def test_jobs_is_read_only(server):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    assert sdk_failure(x.SR.set_jobs, sr, [])[0] == "MESSAGE_METHOD_UNKNOWN"
    assert sdk_failure(x.task.set_objects, NULL, [])[0] == "MESSAGE_METHOD_UNKNOWN"
