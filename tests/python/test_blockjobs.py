"""block_job: backup (full/top/none), the verbs and QEMU's state machine,
auto_finalize/auto_dismiss, cancel through the task, progress/rate/speed,
mirror (ready, complete = pivot, soft and forced cancel), stream, commit
(non-active and active), error policies with injected faults, VDI claims,
job ids, option checking, and a crash in the middle of jobs. qemu-img is
the oracle for every image a job wrote."""

import os
import time
import uuid

import pytest

from storage_util import (
    M, NULL, allocated, assert_same, check_image, create_vdi, default_sr, flatten, info,
    place_image, qemu_img_create, qemu_io, random_writes, result_ref, sr_dir, vdi_by_uuid_or_none,
    vdi_path, wait_for, wait_job, wait_job_gone, wait_task, write,
)
from xapid_rpc import REF_RE, sdk_failure


@pytest.fixture
def sr(x):
    return default_sr(x)[0]


@pytest.fixture
def fx(make_server):
    """A fault-injection server of its own: (srv, x, sr)."""
    srv = make_server(fault_injection=True)
    x = srv.sdk().xenapi
    return srv, x, default_sr(x)[0]


def not_allowed(job_id, state, verb):
    return ["OPERATION_NOT_ALLOWED", f"Job '{job_id}' in state '{state}' cannot accept command verb '{verb}'"]


def tag() -> str:
    return uuid.uuid4().hex[:8]


def full_source(x, sr, size=32 * M, fmt="raw", seed=1, name=None):
    """A VDI whose every byte is data (so a speed limit bites), plus a few
    pseudo-random patterns on top."""
    cmds = ["write -P 0x5a 0 %d" % size] + [c for c in random_writes(seed, size) if "-z" not in c]
    return place_image(x, sr, name or f"src-{tag()}.{fmt}", fmt, size, cmds)


def patterned_source(x, sr, size=16 * M, fmt="qcow2", seed=2, name=None):
    """A VDI with pseudo-random patterns, zero writes and holes."""
    return place_image(x, sr, name or f"pat-{tag()}.{fmt}", fmt, size, random_writes(seed, size))


def start_slow_backup(x, sr, speed=4 * M, size=32 * M, **options):
    src = full_source(x, sr, size)
    tgt = create_vdi(x, sr, size, "qcow2", "backup target")
    opts = {"speed": str(speed), "auto_dismiss": "false"}
    opts.update(options)
    job = x.block_job.backup(src, tgt, opts)
    return src, tgt, job


def finish_job(x, job):
    """Dismisses a concluded job (auto_dismiss=false) so nothing lingers;
    returns its last record. (It waits for the job to be gone: dismiss is
    not synchronous, see test_dismiss_is_synchronous.)"""
    rec = wait_job(x, job, "concluded")
    x.block_job.dismiss(job)
    wait_job_gone(x, job)
    assert sdk_failure(x.block_job.get_record, job) == ["HANDLE_INVALID", "block_job", job]
    return rec


def task_of_job(x, job):
    for t, rec in x.task.get_all_records().items():
        if rec["other_config"].get("block_job") == job:
            return t
    return None


def progress_of(x, job):
    r = x.block_job.get_record(job)
    return int(r["current_progress"]), int(r["total_progress"])


# -- backup ------------------------------------------------------------------------------


@pytest.mark.parametrize("src_fmt, tgt_fmt", [("raw", "qcow2"), ("qcow2", "raw"), ("qcow2", "qcow2")])
def test_backup_full(server, x, sr, src_fmt, tgt_fmt):
    src = patterned_source(x, sr, 16 * M, src_fmt)
    tgt = create_vdi(x, sr, 16 * M, tgt_fmt, "target")
    job = x.block_job.backup(src, tgt, {"auto_dismiss": "false"})
    assert REF_RE.match(job)
    rec = x.block_job.get_record(job)
    assert rec["type"] == "backup"
    assert rec["device"] == src and rec["target"] == tgt
    assert rec["job_id"] == x.VDI.get_uuid(src), "the job id defaults to the device's uuid"
    assert rec["sync"] == "full"
    assert rec["auto_finalize"] is True and rec["auto_dismiss"] is False
    assert rec["on_source_error"] == "report" and rec["on_target_error"] == "report"
    assert rec["speed"] == "0"
    assert rec["ready"] is False
    task = rec["task"]
    assert x.task.get_other_config(task)["block_job"] == job
    assert x.block_job.get_by_uuid(rec["uuid"]) == job
    done = wait_job(x, job, "concluded")
    assert done["io_status"] == "ok"
    assert done["error"] == ""
    assert done["current_progress"] == done["total_progress"]
    t = wait_task(x, task)
    assert t["status"] == "success", t
    assert t["progress"] == 1.0
    assert result_ref(t["result"]) == job
    sp, tp = vdi_path(server, x, src), vdi_path(server, x, tgt)
    assert_same(sp, tp, src_fmt, tgt_fmt)
    check_image(tp)
    assert allocated(tp) < 14 * M, "holes and zeroes are not written as data"
    finish_job(x, job)
    assert x.task.get_status(task) == "success", "the task outlives its job"
    assert x.VDI.get_current_operations(src) == {} and x.VDI.get_current_operations(tgt) == {}
    x.VDI.destroy(tgt)
    x.VDI.destroy(src)


def test_backup_into_a_larger_target(server, x, sr, tmp_path):
    cmds = random_writes(5, 8 * M)
    src = place_image(x, sr, f"small-{tag()}.raw", "raw", 8 * M, cmds)
    tgt = create_vdi(x, sr, 12 * M, "qcow2")
    write(server, x, tgt, "write -P 0xee 0 12M")  # old data is overwritten up to the source's size
    job = x.block_job.backup(src, tgt, {"auto_dismiss": "false"})
    finish_job(x, job)
    expect = tmp_path / "expect.raw"
    qemu_img_create(expect, "raw", 12 * M)
    qemu_io(expect, "raw", "write -P 0xee 8M 4M", *cmds)
    assert_same(vdi_path(server, x, tgt), expect, "qcow2", "raw")


def test_backup_sync_top_copies_only_the_top_layer(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 16 * M, "raw", "layered")
    write(server, x, v, "write -P 0x11 0 16M")
    snap = x.VDI.snapshot(v)
    write(server, x, v, "write -P 0x22 4M 2M", "write -P 0x23 10M 64k")
    tgt = create_vdi(x, sr, 16 * M, "raw", "top only")
    job = x.block_job.backup(v, tgt, {"sync": "top", "auto_dismiss": "false"})
    rec = finish_job(x, job)
    assert rec["sync"] == "top"
    expect = tmp_path / "top.raw"
    qemu_img_create(expect, "raw", 16 * M)
    qemu_io(expect, "raw", "write -P 0x22 4M 2M", "write -P 0x23 10M 64k")
    assert_same(vdi_path(server, x, tgt), expect, "raw", "raw")
    # sync=full of the same device: everything, through the chain.
    full = create_vdi(x, sr, 16 * M, "qcow2", "full")
    finish_job(x, x.block_job.backup(v, full, {"auto_dismiss": "false"}))
    assert_same(vdi_path(server, x, full), vdi_path(server, x, v), "qcow2", "qcow2")
    for r in (full, tgt, v, snap):
        x.VDI.destroy(r)


def test_backup_sync_none_runs_until_cancelled(server, x, sr):
    src = patterned_source(x, sr, 8 * M, "raw")
    tgt = create_vdi(x, sr, 8 * M, "qcow2")
    job = x.block_job.backup(src, tgt, {"sync": "none", "auto_dismiss": "false"})
    task = x.block_job.get_task(job)
    time.sleep(0.5)
    rec = x.block_job.get_record(job)
    assert rec["status"] == "running", rec
    assert rec["sync"] == "none"
    assert x.task.get_status(task) == "pending"
    x.block_job.cancel(job, False)
    rec = wait_job(x, job, "concluded")
    t = wait_task(x, task)
    assert t["status"] == "cancelled"
    assert t["error_info"] == ["TASK_CANCELLED", task]
    finish_job(x, job)
    x.VDI.destroy(tgt)
    x.VDI.destroy(src)


# -- verbs and states --------------------------------------------------------------------


def test_pause_resume_set_speed_and_wrong_states(server, x, sr):
    src, tgt, job = start_slow_backup(x, sr, speed=4 * M, job_id=f"pr-{tag()}")
    jid = x.block_job.get_job_id(job)
    task = x.block_job.get_task(job)
    wait_for(lambda: progress_of(x, job)[0] > 0, 10, what="some progress")
    # Running: complete, finalize and dismiss are refused; so is resume.
    assert sdk_failure(x.block_job.complete, job) == not_allowed(jid, "running", "complete")
    assert sdk_failure(x.block_job.finalize, job) == not_allowed(jid, "running", "finalize")
    assert sdk_failure(x.block_job.dismiss, job) == not_allowed(jid, "running", "dismiss")
    assert sdk_failure(x.block_job.resume, job) == ["OPERATION_NOT_ALLOWED", "Can't resume a job that was not paused"]
    # Pause: it stops moving.
    x.block_job.pause(job)
    wait_job(x, job, "paused", timeout=10)
    p1 = progress_of(x, job)[0]
    time.sleep(0.6)
    assert progress_of(x, job)[0] == p1, "a paused job makes no progress"
    assert x.block_job.get_status(job) == "paused"
    assert x.block_job.get_io_status(job) == "ok"
    assert x.task.get_status(task) == "pending"
    assert sdk_failure(x.block_job.pause, job) == ["OPERATION_NOT_ALLOWED", "Job is already paused"]
    assert sdk_failure(x.block_job.complete, job) == not_allowed(jid, "paused", "complete")
    assert sdk_failure(x.block_job.finalize, job) == not_allowed(jid, "paused", "finalize")
    assert sdk_failure(x.block_job.dismiss, job) == not_allowed(jid, "paused", "dismiss")
    # set_speed is allowed while paused; a negative speed never is.
    x.block_job.set_speed(job, str(2 * M))
    assert x.block_job.get_speed(job) == str(2 * M)
    assert sdk_failure(x.block_job.set_speed, job, "-1")[:1] == ["INVALID_VALUE"]
    assert x.block_job.get_speed(job) == str(2 * M)
    x.block_job.resume(job)
    wait_job(x, job, "running", timeout=5)
    wait_for(lambda: progress_of(x, job)[0] > p1, 10, what="progress after resume")
    # Unlimited from now on: takes effect at once, even for a sleeping job.
    t0 = time.monotonic()
    x.block_job.set_speed(job, "0")
    assert x.block_job.get_speed(job) == "0"
    wait_job(x, job, "concluded", timeout=10)
    assert time.monotonic() - t0 < 5, "set_speed(0) did not lift the limit"
    assert wait_task(x, task)["status"] == "success"
    assert_same(vdi_path(server, x, src), vdi_path(server, x, tgt), "raw", "qcow2")
    finish_job(x, job)


VERBS = [
    ("pause", ()), ("resume", ()), ("set_speed", ("1048576",)), ("complete", ()), ("finalize", ()),
]
QEMU_VERB = {"set_speed": "set-speed"}


def test_verbs_on_a_concluded_job(server, x, sr):
    src = patterned_source(x, sr, 4 * M, "raw")
    tgt = create_vdi(x, sr, 4 * M, "raw")
    job = x.block_job.backup(src, tgt, {"auto_dismiss": "false", "job_id": f"done-{tag()}"})
    jid = x.block_job.get_job_id(job)
    rec = wait_job(x, job, "concluded")
    for verb, args in VERBS:
        err = sdk_failure(getattr(x.block_job, verb), job, *args)
        assert err == not_allowed(jid, "concluded", QEMU_VERB.get(verb, verb)), verb
        assert x.block_job.get_record(job) == rec, f"{verb} changed the job"
    assert sdk_failure(x.block_job.set_speed, job, "-1")[0] in ("OPERATION_NOT_ALLOWED", "INVALID_VALUE")
    x.block_job.dismiss(job)
    wait_job_gone(x, job)
    time.sleep(0.2)  # dismiss is not synchronous (test_dismiss_is_synchronous)
    assert sdk_failure(x.block_job.get_record, job) == ["HANDLE_INVALID", "block_job", job]
    for verb, args in VERBS + [("dismiss", ()), ("cancel", (True,))]:
        assert sdk_failure(getattr(x.block_job, verb), job, *args) == ["HANDLE_INVALID", "block_job", job], verb
    # Cancelling a concluded job dismisses it (QEMU's job_cancel_locked).
    job2 = x.block_job.backup(src, tgt, {"auto_dismiss": "false", "job_id": jid})
    wait_job(x, job2, "concluded")
    x.block_job.cancel(job2, False)
    wait_job_gone(x, job2)
    assert x.task.get_status(rec["task"]) == "success"
    x.VDI.destroy(tgt)
    x.VDI.destroy(src)


def test_auto_dismiss_removes_the_job(server, x, sr):
    src = patterned_source(x, sr, 4 * M, "raw")
    tgt = create_vdi(x, sr, 4 * M, "raw")
    job = x.block_job.backup(src, tgt, {})
    task = task_of_job(x, job)
    assert task is not None
    wait_job_gone(x, job)
    assert wait_task(x, task)["status"] == "success"
    assert result_ref(x.task.get_result(task)) == job
    time.sleep(0.2)
    assert sdk_failure(x.block_job.pause, job) == ["HANDLE_INVALID", "block_job", job]
    assert_same(vdi_path(server, x, src), vdi_path(server, x, tgt), "raw", "raw")


@pytest.mark.parametrize("how", ["finalize", "cancel"])
def test_auto_finalize_false_parks_in_pending(server, x, sr, how):
    src = patterned_source(x, sr, 8 * M, "raw")
    tgt = create_vdi(x, sr, 8 * M, "qcow2")
    jid = f"fin-{tag()}"
    job = x.block_job.backup(src, tgt, {"auto_finalize": "false", "auto_dismiss": "false", "job_id": jid})
    task = x.block_job.get_task(job)
    rec = wait_job(x, job, "pending")
    assert rec["auto_finalize"] is False
    time.sleep(0.3)
    assert x.block_job.get_status(job) == "pending", "it waits for finalize"
    assert x.task.get_status(task) == "pending"
    for verb, args in VERBS + [("dismiss", ())]:
        if verb == "finalize":
            continue
        err = sdk_failure(getattr(x.block_job, verb), job, *args)
        assert err == not_allowed(jid, "pending", QEMU_VERB.get(verb, verb)), verb
    if how == "finalize":
        x.block_job.finalize(job)
        rec = wait_job(x, job, "concluded")
        assert rec["error"] == ""
        t = wait_task(x, task)
        assert t["status"] == "success", t
        assert_same(vdi_path(server, x, src), vdi_path(server, x, tgt), "raw", "qcow2")
    else:
        x.block_job.cancel(job, False)
        wait_job(x, job, "concluded")
        t = wait_task(x, task)
        assert t["status"] == "cancelled", t
        assert t["error_info"] == ["TASK_CANCELLED", task]
    finish_job(x, job)


def test_task_cancel_cancels_the_job(server, x, sr):
    src, tgt, job = start_slow_backup(x, sr, speed=2 * M)
    task = x.block_job.get_task(job)
    assert "cancel" in x.task.get_allowed_operations(task)
    wait_for(lambda: progress_of(x, job)[0] > 0, 10)
    x.task.cancel(task)
    rec = wait_job(x, job, "concluded", timeout=10)
    t = wait_task(x, task)
    assert t["status"] == "cancelled", t
    assert t["error_info"] == ["TASK_CANCELLED", task]
    assert int(rec["current_progress"]) < 32 * M
    finish_job(x, job)
    # The VDIs are free again.
    assert x.VDI.get_current_operations(tgt) == {}
    x.VDI.destroy(tgt)
    x.VDI.destroy(src)


def test_cancel_of_a_paused_job(server, x, sr):
    src, tgt, job = start_slow_backup(x, sr, speed=2 * M)
    task = x.block_job.get_task(job)
    x.block_job.pause(job)
    wait_job(x, job, "paused", timeout=10)
    x.block_job.cancel(job, True)
    wait_job(x, job, "concluded", timeout=10)
    assert wait_task(x, task)["status"] == "cancelled"
    finish_job(x, job)


# -- progress, rate, speed ------------------------------------------------------------------


def test_progress_rate_and_speed_limit(server, x, sr):
    speed = 8 * M
    src, tgt, job = start_slow_backup(x, sr, speed=speed, size=24 * M)
    task = x.block_job.get_task(job)
    t0 = time.monotonic()
    samples, rates = [], []
    while True:
        rec = x.block_job.get_record(job)
        tp = x.task.get_progress(task)
        samples.append((int(rec["current_progress"]), tp))
        if rec["status"] == "running":
            rates.append(int(rec["rate"]))
        if rec["status"] == "concluded":
            break
        assert time.monotonic() - t0 < 20, "the job takes far too long"
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    currents = [c for c, _ in samples]
    tasks = [p for _, p in samples]
    assert currents == sorted(currents), f"current_progress went down: {currents}"
    assert tasks == sorted(tasks), f"task progress went down: {tasks}"
    assert all(0.0 <= p <= 1.0 for p in tasks)
    assert any(0 < c < 24 * M for c in currents), "no intermediate progress was seen"
    assert elapsed >= 2.5, f"24 MiB at 8 MiB/s took only {elapsed:.2f}s"
    assert elapsed < 10, f"24 MiB at 8 MiB/s took {elapsed:.2f}s"
    assert max(rates) > 0, f"rate was never positive while running: {rates}"
    assert max(rates) <= 2 * speed, f"rate above twice the limit: {rates}"
    assert rec["current_progress"] == rec["total_progress"] == str(24 * M)
    t = wait_task(x, task)
    assert t["progress"] == 1.0 and t["status"] == "success"
    finish_job(x, job)


# -- VDI claims, job ids, options ----------------------------------------------------------------


def test_busy_vdis_refuse_conflicting_operations(server, x, sr):
    src, tgt, job = start_slow_backup(x, sr, speed=2 * M)
    task = x.block_job.get_task(job)
    busy = ["OTHER_OPERATION_IN_PROGRESS", "VDI"]
    assert sdk_failure(x.VDI.destroy, tgt) == busy + [tgt, "backup", task]
    assert sdk_failure(x.VDI.resize, tgt, str(64 * M)) == busy + [tgt, "backup", task]
    assert sdk_failure(x.VDI.destroy, src) == busy + [src, "backup", task]
    assert x.VDI.get_current_operations(tgt) == {task: "backup"}
    assert x.VDI.get_current_operations(src) == {task: "backup"}
    assert "destroy" not in x.VDI.get_allowed_operations(tgt)
    for fn, v in ((x.VDI.snapshot, src), (x.VDI.snapshot, tgt), (x.VDI.clone, tgt)):
        assert sdk_failure(fn, v) == busy + [v, "backup", task], (fn, v)
    assert sdk_failure(x.VDI.copy, tgt, sr) == busy + [tgt, "backup", task]
    other = create_vdi(x, sr, 32 * M, "raw")
    # A second job writing the same target.
    assert sdk_failure(x.block_job.backup, other, tgt, {})[:3] == busy + [tgt]
    assert sdk_failure(x.block_job.set_speed, job, "abc") == ["INVALID_VALUE", "speed", "abc"]
    assert vdi_path(server, x, tgt).exists() and vdi_path(server, x, src).exists()
    x.block_job.cancel(job)  # force is optional
    finish_job(x, job)
    assert x.VDI.get_current_operations(tgt) == {}
    x.VDI.resize(tgt, str(40 * M))
    for r in (tgt, src, other):
        x.VDI.destroy(r)


def test_job_ids_are_unique_among_live_jobs(server, x, sr):
    jid = f"dup-{tag()}"
    src, tgt, job = start_slow_backup(x, sr, speed=2 * M, job_id=jid)
    assert x.block_job.get_job_id(job) == jid
    a = create_vdi(x, sr, 8 * M)
    b = create_vdi(x, sr, 8 * M)
    assert sdk_failure(x.block_job.backup, a, b, {"job_id": jid}) == [
        "OPERATION_NOT_ALLOWED", f"Job ID '{jid}' already in use"]
    assert x.VDI.get_current_operations(a) == {} and x.VDI.get_current_operations(b) == {}
    x.block_job.cancel(job, True)
    wait_job(x, job, "concluded")
    # Still taken while the concluded job exists...
    assert sdk_failure(x.block_job.backup, a, b, {"job_id": jid}) == [
        "OPERATION_NOT_ALLOWED", f"Job ID '{jid}' already in use"]
    finish_job(x, job)
    # ...and free once it is dismissed.
    job2 = x.block_job.backup(a, b, {"job_id": jid, "auto_dismiss": "false"})
    assert x.block_job.get_job_id(job2) == jid
    finish_job(x, job2)


def test_dismiss_is_synchronous(server, x, sr):
    src = patterned_source(x, sr, 2 * M, "raw")
    tgt = create_vdi(x, sr, 2 * M, "raw")
    jid = f"sync-dismiss-{tag()}"
    problems = []
    n = 12
    for i in range(n):
        job = x.block_job.backup(src, tgt, {"auto_dismiss": "false", "job_id": jid})
        wait_job(x, job, "concluded")
        x.block_job.dismiss(job)
        after = [sdk_failure(x.block_job.pause, job), sdk_failure(x.block_job.get_record, job)]
        if any(a != ["HANDLE_INVALID", "block_job", job] for a in after):
            problems.append((i, after))
        wait_job_gone(x, job)
        time.sleep(0.1)
    assert problems == [], f"{len(problems)}/{n} dismissals were not synchronous: {problems[:3]}"


def test_scan_during_a_copy_keeps_the_new_vdi(server, x, sr):
    src = full_source(x, sr, 32 * M)
    t = x.Async.VDI.copy(src, sr)
    job = wait_for(lambda: x.task.get_other_config(t).get("block_job"), 10)
    x.block_job.set_speed(job, str(4 * M))
    new = x.block_job.get_target(job)
    vdis = sorted(x.VDI.get_all())
    x.SR.scan(sr)
    assert sorted(x.VDI.get_all()) == vdis, "scan neither forgets nor re-introduces the copy"
    x.block_job.set_speed(job, "0")
    rec = wait_task(x, t)
    assert rec["status"] == "success"
    assert result_ref(rec["result"]) == new
    assert_same(vdi_path(server, x, src), vdi_path(server, x, new), "raw", "raw")
    x.VDI.destroy(new)
    x.VDI.destroy(src)


def test_bad_options_are_refused_and_leave_nothing(server, x, sr):
    src = create_vdi(x, sr, 8 * M, "qcow2")
    tgt = create_vdi(x, sr, 8 * M, "qcow2")
    small = create_vdi(x, sr, 4 * M, "raw")
    big = create_vdi(x, sr, 12 * M, "qcow2")
    snap = x.VDI.snapshot(src)
    jobs_before = set(x.block_job.get_all())
    bad = "OpaqueRef:" + str(uuid.uuid4())
    cases = [
        (x.block_job.backup, (src, tgt, {"bogus": "1"}), ["INVALID_VALUE", "options", "bogus"]),
        (x.block_job.backup, (src, tgt, {"granularity": "65536"}), ["INVALID_VALUE", "options", "granularity"]),
        (x.block_job.backup, (src, tgt, {"sync": "incremental"}),
         ["INVALID_VALUE", "bitmap", "must provide a valid bitmap name for 'incremental' sync mode"]),
        (x.block_job.backup, (src, tgt, {"sync": "sideways"}), ["INVALID_VALUE", "sync", "sideways"]),
        (x.block_job.mirror, (src, tgt, {"sync": "bitmap"}), ["INVALID_VALUE", "sync", "bitmap"]),
        (x.block_job.backup, (src, tgt, {"speed": "-1"}), ["INVALID_VALUE", "speed", "-1"]),
        (x.block_job.backup, (src, tgt, {"speed": "fast"}), ["INVALID_VALUE", "speed", "fast"]),
        (x.block_job.backup, (src, tgt, {"auto_finalize": "maybe"}), ["INVALID_VALUE", "auto_finalize", "maybe"]),
        (x.block_job.backup, (src, tgt, {"on_source_error": "retry"}), ["INVALID_VALUE", "on_source_error", "retry"]),
        (x.block_job.backup, (src, tgt, {"on_target_error": ""}), ["INVALID_VALUE", "on_target_error", ""]),
        (x.block_job.backup, (src, tgt, {"job_id": ""}), ["INVALID_VALUE", "job_id", ""]),
        (x.block_job.backup, (src, small, {}), ["VDI_TOO_SMALL", small, str(8 * M)]),
        (x.block_job.backup, (src, snap, {}), ["VDI_READ_ONLY", snap]),
        (x.block_job.backup, (src, bad, {}), ["HANDLE_INVALID", "VDI", bad]),
        (x.block_job.backup, (bad, tgt, {}), ["HANDLE_INVALID", "VDI", bad]),
        (x.block_job.mirror, (src, tgt, {"granularity": "3000"}), ["INVALID_VALUE", "granularity", "3000"]),
        (x.block_job.mirror, (src, tgt, {"on_error": "stop"}), ["INVALID_VALUE", "options", "on_error"]),
        (x.block_job.stream, (src, {"on_source_error": "stop"}), ["INVALID_VALUE", "options", "on_source_error"]),
        (x.block_job.stream, (src, {"base": "not-a-vdi"}), ["INVALID_VALUE", "base", "not-a-vdi"]),
        (x.block_job.commit, (src, {"base": str(uuid.uuid4())}), None),
        (x.block_job.commit, (src, {"top": src, "base": src}), None),
        (x.block_job.commit, (src, {"base": tgt}), None),  # not in the chain
        (x.block_job.commit, (tgt, {}), None),  # no backing image
        (x.block_job.stream, (src, {"base": big}), None),  # not in the chain
        (x.block_job.mirror, (src, big, {}), None),  # sizes differ
        (x.block_job.backup, (src, src, {}), None),  # onto itself
    ]
    for fn, args, expected in cases:
        err = sdk_failure(fn, *args)
        if expected is None:
            assert err[0] == "INVALID_VALUE", (args, err)
        else:
            assert err == expected, (args, err)
        assert set(x.block_job.get_all()) == jobs_before, f"{args} left a job"
        for v in (src, tgt, small, big, snap):
            assert x.VDI.get_current_operations(v) == {}, f"{args} left a claim on {v}"
    for r in (src, snap, tgt, small, big):
        x.VDI.destroy(r)


# -- mirror --------------------------------------------------------------------------


def two_sr_server(make_server, tmp_path, **config):
    srv = make_server(start=False, **config)
    a, b = tmp_path / "sr-alpha", tmp_path / "sr-beta"
    with open(srv.config_path, "a") as f:
        f.write(f'sr = {{ alpha = "{a}", beta = "{b}" }}\n')
    srv.start()
    x = srv.sdk().xenapi
    return srv, x, x.SR.get_by_name_label("alpha")[0], x.SR.get_by_name_label("beta")[0]


def test_mirror_ready_then_complete_pivots(make_server, tmp_path):
    srv, x, alpha, beta = two_sr_server(make_server, tmp_path)
    dev = patterned_source(x, alpha, 16 * M, "qcow2", name="disk.qcow2")
    x.VDI.set_name_label(dev, "the disk")
    x.VDI.add_to_other_config(dev, "keep", "me")
    dev_uuid = x.VDI.get_uuid(dev)
    old = sr_dir(x, alpha) / "disk.qcow2"
    saved = flatten(old, tmp_path / "saved.raw")
    tgt = create_vdi(x, beta, 16 * M, "raw", "mirror target")
    tgt_loc = x.VDI.get_location(tgt)
    jid = f"mir-{tag()}"
    job = x.block_job.mirror(dev, tgt, {"auto_dismiss": "false", "job_id": jid, "speed": str(4 * M)})
    task = x.block_job.get_task(job)
    assert sdk_failure(x.block_job.complete, job)[0] == "OPERATION_NOT_ALLOWED", "not ready yet"
    x.block_job.set_speed(job, "0")
    rec = wait_job(x, job, "ready", timeout=20)
    assert rec["ready"] is True
    assert rec["type"] == "mirror" and rec["sync"] == "full"
    assert x.task.get_status(task) == "pending", "a ready mirror keeps running"
    assert sdk_failure(x.block_job.finalize, job) == not_allowed(jid, "ready", "finalize")
    assert sdk_failure(x.block_job.dismiss, job) == not_allowed(jid, "ready", "dismiss")
    # Pause in ready is standby; resume goes back to ready.
    x.block_job.pause(job)
    wait_job(x, job, "standby", timeout=5)
    assert sdk_failure(x.block_job.pause, job) == ["OPERATION_NOT_ALLOWED", "Job is already paused"]
    x.block_job.resume(job)
    wait_job(x, job, "ready", timeout=5)
    x.block_job.complete(job)
    rec = wait_job(x, job, "concluded")
    assert rec["error"] == ""
    t = wait_task(x, task)
    assert t["status"] == "success", t
    # The pivot: the device lives in the target's file and SR.
    d = x.VDI.get_record(dev)
    assert d["uuid"] == dev_uuid
    assert d["SR"] == beta
    assert d["location"] == tgt_loc
    assert d["name_label"] == "the disk" and d["other_config"] == {"keep": "me"}
    assert d["sm_config"]["image-format"] == "raw"
    assert sdk_failure(x.VDI.get_record, tgt) == ["HANDLE_INVALID", "VDI", tgt]
    assert not old.exists(), "the old source file is deleted"
    assert x.SR.get_VDIs(alpha) == [] and x.SR.get_VDIs(beta) == [dev]
    new = sr_dir(x, beta) / tgt_loc
    assert_same(new, saved, "raw", "raw")
    finish_job(x, job)


@pytest.mark.parametrize("force", [False, True])
def test_mirror_cancel_in_ready(server, x, sr, force):
    dev = patterned_source(x, sr, 16 * M, "raw")
    dev_loc = x.VDI.get_location(dev)
    tgt = create_vdi(x, sr, 16 * M, "qcow2")
    job = x.block_job.mirror(dev, tgt, {"auto_dismiss": "false"})
    task = x.block_job.get_task(job)
    wait_job(x, job, "ready", timeout=20)
    x.block_job.cancel(job, force)
    rec = wait_job(x, job, "concluded")
    t = wait_task(x, task)
    if force:
        assert t["status"] == "cancelled", t
    else:
        assert t["status"] == "success", "a soft cancel in ready completes without a pivot"
        assert rec["error"] == ""
    # Both stay, in their own files, with the same contents.
    assert x.VDI.get_location(dev) == dev_loc
    assert x.VDI.get_record(tgt)["SR"] == sr
    assert_same(vdi_path(server, x, dev), vdi_path(server, x, tgt), "raw", "qcow2")
    check_image(vdi_path(server, x, tgt))
    finish_job(x, job)
    x.VDI.destroy(tgt)
    x.VDI.destroy(dev)


def test_mirror_of_a_chain_sync_top(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 8 * M, "qcow2")
    write(server, x, v, "write -P 0x31 0 8M")
    snap = x.VDI.snapshot(v)
    write(server, x, v, "write -P 0x32 1M 1M")
    tgt = create_vdi(x, sr, 8 * M, "raw")
    job = x.block_job.mirror(v, tgt, {"sync": "top", "auto_dismiss": "false"})
    wait_job(x, job, "ready", timeout=20)
    x.block_job.cancel(job, False)
    finish_job(x, job)
    expect = tmp_path / "top.raw"
    qemu_img_create(expect, "raw", 8 * M)
    qemu_io(expect, "raw", "write -P 0x32 1M 1M")
    assert_same(vdi_path(server, x, tgt), expect, "raw", "raw")
    for r in (tgt, v, snap):
        x.VDI.destroy(r)


# -- stream and commit -----------------------------------------------------------------


def build_chain(server, x, sr, tmp_path, fmt="raw", size=16 * M):
    """base (fmt) <- mid <- v (qcow2): three layers with overlapping data.
    Returns (v, mid, base, flattened copy of v)."""
    v = create_vdi(x, sr, size, fmt, f"chain-{tag()}")
    write(server, x, v, *random_writes(11, size, 8))
    base = x.VDI.snapshot(v)
    write(server, x, v, *random_writes(12, size, 8))
    mid = x.VDI.snapshot(v)
    write(server, x, v, *random_writes(13, size, 6))
    flat = flatten(vdi_path(server, x, v), tmp_path / f"flat-{tag()}.raw")
    return v, mid, base, flat


def chain_of(path):
    return [os.path.basename(c["filename"]) for c in info(path, chain=True)]


@pytest.mark.parametrize("with_base", [True, False])
def test_stream(server, x, sr, tmp_path, with_base):
    v, mid, base, flat = build_chain(server, x, sr, tmp_path)
    path = vdi_path(server, x, v)
    base_loc, mid_loc = x.VDI.get_location(base), x.VDI.get_location(mid)
    mid_flat = flatten(vdi_path(server, x, mid), tmp_path / "mid.raw")
    base_flat = flatten(vdi_path(server, x, base), tmp_path / "base.raw")
    assert chain_of(path) == [path.name, mid_loc, base_loc]
    opts = {"auto_dismiss": "false"}
    if with_base:
        opts["base"] = x.VDI.get_uuid(base)  # by uuid; a ref works too
    job = x.block_job.stream(v, opts)
    rec = x.block_job.get_record(job)
    assert rec["type"] == "stream" and rec["device"] == v
    assert rec["target"] == (base if with_base else NULL)
    rec = finish_job(x, job)
    assert rec["error"] == ""
    check_image(path)
    assert_same(path, flat, "qcow2", "raw")
    if with_base:
        assert chain_of(path) == [path.name, base_loc]
        assert x.VDI.get_sm_config(v)["backing-file"] == base_loc
        assert info(path)["backing-filename"] == base_loc
    else:
        assert chain_of(path) == [path.name], "the device is standalone"
        assert "backing-file" not in x.VDI.get_sm_config(v)
        assert "backing-filename" not in info(path)
    # The snapshots are unchanged.
    assert_same(vdi_path(server, x, mid), mid_flat, "qcow2", "raw")
    assert_same(vdi_path(server, x, base), base_flat, "raw", "raw")
    if not with_base:
        x.VDI.destroy(mid)  # nothing depends on the snapshots any more
        x.VDI.destroy(base)


def test_commit_non_active(server, x, sr, tmp_path):
    v, mid, base, flat = build_chain(server, x, sr, tmp_path)
    path = vdi_path(server, x, v)
    base_path = vdi_path(server, x, base)
    mid_flat = flatten(vdi_path(server, x, mid), tmp_path / "mid.raw")
    job = x.block_job.commit(v, {"top": mid, "base": base, "auto_dismiss": "false"})
    rec = x.block_job.get_record(job)
    assert rec["type"] == "commit" and rec["device"] == v and rec["target"] == base
    rec = finish_job(x, job)
    assert rec["error"] == ""
    assert wait_task(x, rec["task"])["status"] == "success"
    # v now sits directly on base, which holds what mid showed.
    assert chain_of(path) == [path.name, base_path.name]
    assert x.VDI.get_sm_config(v)["backing-file"] == base_path.name
    assert_same(path, flat, "qcow2", "raw")
    assert_same(base_path, mid_flat, x.VDI.get_sm_config(base)["image-format"], "raw")
    # mid still reads as it did (its layer, now over the merged base).
    assert_same(vdi_path(server, x, mid), mid_flat, "qcow2", "raw")
    check_image(path)
    check_image(base_path)


def test_commit_active_needs_complete(server, x, sr, tmp_path):
    v, mid, base, flat = build_chain(server, x, sr, tmp_path, fmt="qcow2")
    old_path = vdi_path(server, x, v)
    mid_loc = x.VDI.get_location(mid)
    base_loc = x.VDI.get_location(base)
    jid = f"ac-{tag()}"
    job = x.block_job.commit(v, {"base": mid, "auto_dismiss": "false", "job_id": jid})
    task = x.block_job.get_task(job)
    rec = wait_job(x, job, "ready", timeout=20)
    assert rec["ready"] is True and rec["type"] == "commit"
    time.sleep(0.2)
    assert x.block_job.get_status(job) == "ready", "an active commit waits for complete"
    assert sdk_failure(x.block_job.finalize, job) == not_allowed(jid, "ready", "finalize")
    x.block_job.complete(job)
    rec = wait_job(x, job, "concluded")
    assert rec["error"] == ""
    assert wait_task(x, task)["status"] == "success"
    d = x.VDI.get_record(v)
    assert d["location"] == mid_loc, "the device lives in the base's file"
    assert d["sm_config"]["backing-file"] == base_loc
    assert d["read_only"] is False
    assert sdk_failure(x.VDI.get_record, mid) == ["HANDLE_INVALID", "VDI", mid]
    assert mid not in x.VDI.get_snapshots(v)
    new_path = vdi_path(server, x, v)
    assert not old_path.exists(), "the committed top file is deleted"
    assert chain_of(new_path) == [mid_loc, base_loc]
    assert_same(new_path, flat, "qcow2", "raw")
    check_image(new_path)
    finish_job(x, job)


# -- error policies -----------------------------------------------------------------


def policy_job(x, sr, side, policy, fault, size=16 * M):
    src = full_source(x, sr, size, "raw", name=f"src-{tag()}.raw")
    tgt = create_vdi(x, sr, size, "qcow2", "target")
    victim = src if side == "source" else tgt
    x.VDI.add_to_other_config(victim, "xapid-fault", fault)
    job = x.block_job.backup(src, tgt, {"auto_dismiss": "false", f"on_{side}_error": policy})
    return src, tgt, victim, job


@pytest.mark.parametrize("side, policy, fault, code", [
    ("source", "report", "read:EIO", "VDI_IO_ERROR"),
    ("target", "report", "write:EIO", "VDI_IO_ERROR"),
    ("target", "report", "write:ENOSPC", "SR_FULL"),
    ("target", "enospc", "write:EIO", "VDI_IO_ERROR"),
    ("source", "auto", "read:EIO", "VDI_IO_ERROR"),
    ("target", "report", "write:EIO@8388608", "VDI_IO_ERROR"),
])
def test_error_policy_fails_the_job(fx, side, policy, fault, code):
    srv, x, sr = fx
    src, tgt, victim, job = policy_job(x, sr, side, policy, fault)
    task = x.block_job.get_task(job)
    rec = wait_job(x, job, "concluded")
    t = wait_task(x, task)
    assert t["status"] == "failure", t
    assert t["error_info"][0] == code, t
    assert rec["error"] != "" and rec["error"].startswith(code), rec
    if "@" in fault:
        assert 0 < int(rec["current_progress"]) < 16 * M, "data before the bad offset was copied"
    finish_job(x, job)
    assert x.VDI.get_current_operations(tgt) == {}


@pytest.mark.parametrize("side, policy, fault, io_status", [
    ("source", "stop", "read:EIO", "failed"),
    ("target", "stop", "write:EIO", "failed"),
    ("target", "stop", "write:ENOSPC", "nospace"),
    ("target", "enospc", "write:ENOSPC", "nospace"),
    ("target", "auto", "write:ENOSPC", "nospace"),
    ("target", "stop", "write:EIO@4194304", "failed"),
])
def test_error_policy_stops_the_job_until_resumed(fx, side, policy, fault, io_status):
    srv, x, sr = fx
    src, tgt, victim, job = policy_job(x, sr, side, policy, fault)
    jid = x.block_job.get_job_id(job)
    task = x.block_job.get_task(job)
    rec = wait_job(x, job, "paused", timeout=20)
    assert rec["io_status"] == io_status, rec
    assert x.task.get_status(task) == "pending"
    if "@" in fault:
        assert int(rec["current_progress"]) >= 4 * M
    assert sdk_failure(x.block_job.pause, job) == ["OPERATION_NOT_ALLOWED", "Job is already paused"]
    # Resumed with the fault still there: it stops again.
    x.block_job.resume(job)
    wait_for(lambda: (lambda r: r["status"] == "paused" and r["io_status"] == io_status)(
        x.block_job.get_record(job)), 20, what="the job to stop again")
    # Without the fault it runs to the end, io_status back to ok.
    x.VDI.remove_from_other_config(victim, "xapid-fault")
    x.block_job.resume(job)
    rec = wait_job(x, job, "concluded")
    assert rec["io_status"] == "ok"
    assert rec["error"] == ""
    t = wait_task(x, task)
    assert t["status"] == "success", t
    assert_same(vdi_path(srv, x, src), vdi_path(srv, x, tgt), "raw", "qcow2")
    check_image(vdi_path(srv, x, tgt))
    finish_job(x, job)
    assert jid


@pytest.mark.parametrize("side, fault", [("target", "write:EIO*2"), ("source", "read:EIO*2")])
def test_error_policy_ignore_retries(fx, side, fault):
    srv, x, sr = fx
    src, tgt, victim, job = policy_job(x, sr, side, "ignore", fault)
    rec = wait_job(x, job, "concluded")
    t = wait_task(x, rec["task"])
    assert t["status"] == "success", t
    assert rec["io_status"] == "ok" and rec["error"] == ""
    finish_job(x, job)
    assert_same(vdi_path(srv, x, src), vdi_path(srv, x, tgt), "raw", "qcow2")
    assert srv.log.count("policy=\"ignore\"") >= 1, "an error was met and ignored"


def test_mirror_target_error_stop_then_resume(fx, tmp_path):
    srv, x, sr = fx
    dev = patterned_source(x, sr, 16 * M, "raw")
    tgt = create_vdi(x, sr, 16 * M, "qcow2")
    x.VDI.add_to_other_config(tgt, "xapid-fault", "write:EIO@2097152")
    job = x.block_job.mirror(dev, tgt, {"auto_dismiss": "false", "on_target_error": "stop"})
    rec = wait_job(x, job, "paused", timeout=20)
    assert rec["io_status"] == "failed" and rec["ready"] is False
    x.VDI.remove_from_other_config(tgt, "xapid-fault")
    x.block_job.resume(job)
    wait_job(x, job, "ready", timeout=20)
    assert x.block_job.get_io_status(job) == "ok"
    x.block_job.cancel(job, False)
    rec = finish_job(x, job)
    assert rec["error"] == ""
    assert_same(vdi_path(srv, x, dev), vdi_path(srv, x, tgt), "raw", "qcow2")


def test_stream_on_error_stop_then_resume(fx, tmp_path):
    srv, x, sr = fx
    v, mid, base, flat = build_chain(srv, x, sr, tmp_path)
    x.VDI.add_to_other_config(v, "xapid-fault", "write:EIO")
    job = x.block_job.stream(v, {"auto_dismiss": "false", "on_error": "stop"})
    rec = wait_job(x, job, "paused", timeout=20)
    assert rec["io_status"] == "failed"
    x.VDI.remove_from_other_config(v, "xapid-fault")
    x.block_job.resume(job)
    rec = finish_job(x, job)
    assert rec["error"] == "" and rec["io_status"] == "ok"
    path = vdi_path(srv, x, v)
    assert chain_of(path) == [path.name]
    assert_same(path, flat, "qcow2", "raw")
    check_image(path)


def test_failed_commit_keeps_the_chain(fx, tmp_path):
    srv, x, sr = fx
    v, mid, base, flat = build_chain(srv, x, sr, tmp_path)
    path = vdi_path(srv, x, v)
    chain = chain_of(path)
    x.VDI.add_to_other_config(base, "xapid-fault", "write:EIO@1048576")
    job = x.block_job.commit(v, {"top": mid, "base": base, "auto_dismiss": "false", "on_error": "report"})
    rec = finish_job(x, job)
    assert rec["error"].startswith("VDI_IO_ERROR"), rec
    assert wait_task(x, rec["task"])["error_info"][0] == "VDI_IO_ERROR"
    assert chain_of(path) == chain, "a failed commit leaves the chain as it was"
    assert x.VDI.get_record(mid)["location"] == chain[1]
    assert_same(path, flat, "qcow2", "raw")


def test_failed_copy_leaves_no_vdi(fx):
    srv, x, sr = fx
    src = full_source(x, sr, 8 * M)
    x.VDI.add_to_other_config(src, "xapid-fault", "read:EIO@2097152")
    files = set(os.listdir(sr_dir(x, sr)))
    vdis = set(x.VDI.get_all())
    err = sdk_failure(x.VDI.copy, src, sr)
    assert err[0] == "VDI_IO_ERROR", err
    t = x.Async.VDI.clone(src)
    rec = wait_task(x, t)
    assert rec["status"] == "failure" and rec["error_info"][0] == "VDI_IO_ERROR", rec
    assert set(x.VDI.get_all()) == vdis, "the half-written copy is destroyed"
    assert set(os.listdir(sr_dir(x, sr))) == files


# -- a crash in the middle of jobs ----------------------------------------------------


def test_jobs_interrupted_by_a_crash(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    src = full_source(x, sr, 64 * M, "raw", name="big.raw")
    x.VDI.set_name_label(src, "big source")
    x.VDI.add_to_other_config(src, "role", "source")
    # A copy, held still by pausing its job.
    t_copy = x.Async.VDI.copy(src, sr)
    copy_job = wait_for(lambda: x.task.get_other_config(t_copy).get("block_job"), 10)
    x.block_job.pause(copy_job)
    new = x.block_job.get_target(copy_job)
    new_uuid, new_loc = x.VDI.get_uuid(new), x.VDI.get_location(new)
    assert (sr_dir(x, sr) / new_loc).exists()
    # A slow backup that stays concluded.
    other = full_source(x, sr, 16 * M, "qcow2", name="other.qcow2")
    tgt = create_vdi(x, sr, 16 * M, "raw", "backup target")
    x.VDI.set_name_description(tgt, "keep this")
    jid = "slow-backup"
    bj = x.block_job.backup(other, tgt, {"speed": str(M), "auto_dismiss": "false", "job_id": jid})
    t_backup = x.block_job.get_task(bj)
    wait_for(lambda: progress_of(x, bj)[0] > 0, 10)
    assert x.task.get_status(t_copy) == "pending" and x.task.get_status(t_backup) == "pending"
    keep = {r: x.VDI.get_record(r) for r in (src, other, tgt)}

    srv.restart(crash=True)
    x = srv.sdk().xenapi
    for t in (t_copy, t_backup):
        rec = x.task.get_record(t)
        assert rec["status"] == "failure", rec
        assert rec["error_info"][0] == "TASK_INTERRUPTED", rec
        assert rec["error_info"][1] == t
        assert rec["progress"] == 1.0
        assert rec["allowed_operations"] == []
    # The half-made copy is gone, object and file; so is its job.
    assert vdi_by_uuid_or_none(x, new_uuid) is None
    assert sdk_failure(x.VDI.get_by_uuid, new_uuid) == ["UUID_INVALID", "VDI", new_uuid]
    assert not (sr_dir(x, sr) / new_loc).exists()
    assert copy_job not in x.block_job.get_all()
    # The backup job is concluded, with an error, until dismissed.
    rec = x.block_job.get_record(bj)
    assert rec["status"] == "concluded", rec
    assert rec["error"] != ""
    assert rec["job_id"] == jid
    assert rec["task"] == t_backup
    assert sdk_failure(x.block_job.pause, bj) == not_allowed(jid, "concluded", "pause")
    # The other VDIs are as they were, and free.
    for r, before in keep.items():
        now = x.VDI.get_record(r)
        if r == tgt:
            # The interrupted backup's target says it is not a good copy.
            assert now["sm_config"].pop("incomplete") == "TASK_INTERRUPTED", now
        for f in ("uuid", "name_label", "name_description", "other_config", "location", "sm_config",
                  "virtual_size", "SR"):
            assert now[f] == before[f], (r, f)
        assert now["current_operations"] == {}, (r, now["current_operations"])
    assert sorted(x.SR.get_VDIs(sr)) == sorted(keep)
    x.block_job.dismiss(bj)
    wait_job_gone(x, bj)
    # Everything works again: a new backup into the same target.
    job = x.block_job.backup(other, tgt, {"auto_dismiss": "false", "job_id": jid})
    assert finish_job(x, job)["error"] == ""
    assert_same(vdi_path(srv, x, other), vdi_path(srv, x, tgt), "qcow2", "raw")


def test_job_id_of_a_concluded_job_stays_taken_across_a_crash(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    src, tgt, job = start_slow_backup(x, sr, speed=M, size=8 * M, job_id="keeper")
    wait_for(lambda: progress_of(x, job)[0] > 0, 10)
    srv.restart(crash=True)
    x = srv.sdk().xenapi
    assert x.block_job.get_status(job) == "concluded"
    a, b = create_vdi(x, sr, 4 * M), create_vdi(x, sr, 4 * M)
    try:
        err = sdk_failure(x.block_job.backup, a, b, {"job_id": "keeper", "auto_dismiss": "false"})
        assert err == ["OPERATION_NOT_ALLOWED", "Job ID 'keeper' already in use"]
    finally:
        for j in x.block_job.get_all():
            if x.block_job.get_status(j) != "concluded":
                wait_job(x, j, "concluded")
            x.block_job.dismiss(j)


@pytest.mark.parametrize("kind", ["backup-target", "stream-device"])
def test_qcow2_written_by_a_job_survives_a_crash(make_server, tmp_path, kind):
    srv = make_server()
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    if kind == "backup-target":
        src = full_source(x, sr, 16 * M, "raw")
        written = create_vdi(x, sr, 16 * M, "qcow2", "backup target")
        job = x.block_job.backup(src, written, {"speed": str(2 * M), "auto_dismiss": "false"})
        expect = vdi_path(srv, x, src)
    else:
        written = create_vdi(x, sr, 16 * M, "raw", "streamed disk")
        write(srv, x, written, "write -P 0x5a 0 16M")
        snap = x.VDI.snapshot(written)  # a fresh, empty overlay on the data
        expect = flatten(vdi_path(srv, x, written), tmp_path / "expect.raw")
        job = x.block_job.stream(written, {"speed": str(2 * M), "auto_dismiss": "false"})
        assert snap
    wait_for(lambda: progress_of(x, job)[0] >= M, 10)
    srv.restart(crash=True)
    x = srv.sdk().xenapi
    path = vdi_path(srv, x, written)
    x.block_job.dismiss(job)
    wait_job_gone(x, job)
    try:
        # The image a crash left behind is consistent...
        check_image(path)
        # ...and the job, run again, gives the right data.
        if kind == "backup-target":
            job = x.block_job.backup(src, written, {"auto_dismiss": "false"})
        else:
            job = x.block_job.stream(written, {"auto_dismiss": "false"})
        assert finish_job(x, job)["error"] == ""
        assert_same(path, expect, "qcow2", "raw")
        check_image(path)
    finally:
        for j in x.block_job.get_all():
            wait_job(x, j, "concluded")
            x.block_job.dismiss(j)


# -- shutdown ------------------------------------------------------------------------


@pytest.mark.parametrize("left_in", ["concluded", "pending"])
def test_shutdown_is_prompt_with_a_job_left_waiting(make_server, left_in):
    srv = make_server(shutdown_grace_secs=3)
    x = srv.sdk().xenapi
    sr = default_sr(x)[0]
    src = patterned_source(x, sr, 4 * M, "raw")
    tgt = create_vdi(x, sr, 4 * M, "raw")
    opts = {"auto_dismiss": "false"}
    if left_in == "pending":
        opts["auto_finalize"] = "false"
    job = x.block_job.backup(src, tgt, opts)
    wait_job(x, job, left_in)
    t0 = time.monotonic()
    assert srv.stop() == 0
    elapsed = time.monotonic() - t0
    srv.start()
    x = srv.sdk().xenapi
    try:
        assert "did not stop in time" not in srv.log
        assert elapsed < 2, f"SIGTERM took {elapsed:.1f}s"
        rec = x.block_job.get_record(job)
        assert rec["status"] == "concluded"
        if left_in == "concluded":
            assert rec["error"] == "" and x.task.get_status(rec["task"]) == "success"
        else:
            assert x.task.get_status(rec["task"]) != "pending"
    finally:
        for j in x.block_job.get_all():
            x.block_job.cancel(j, True)


def test_stream_with_nothing_to_pull_is_a_no_op(server, x, sr, tmp_path):
    """A device without a backing image (raw), and a stream whose base is
    the device's own backing image: both succeed and change nothing."""
    raw = full_source(x, sr, 4 * M)
    before = flatten(vdi_path(server, x, raw), tmp_path / "raw-before.raw")
    job = x.block_job.stream(raw, {"auto_dismiss": "false"})
    assert finish_job(x, job)["error"] == ""
    assert_same(vdi_path(server, x, raw), before, "raw", "raw")
    v, mid, base, flat = build_chain(server, x, sr, tmp_path)
    path = vdi_path(server, x, v)
    chain = chain_of(path)
    job = x.block_job.stream(v, {"base": mid, "auto_dismiss": "false"})
    assert finish_job(x, job)["error"] == ""
    assert chain_of(path) == chain
    assert_same(path, flat, "qcow2", "raw")
