"""Oracle: what becomes of a dirty bitmap used by a backup job, in xapid
and in QEMU itself (qemu-storage-daemon driven over QMP), for the same
writes and the same job: every bitmap mode (and sync=incremental), ending
in success, in cancel and in failure. The job waits in `pending` (auto
finalize off) with everything copied, a new write comes, then the job is
finalized or cancelled; the failure is a target whose first write fails
(blkdebug in QEMU, xapid's fault injection). Compared: the bitmap as
`nbdinfo --map=qemu:dirty-bitmap:b` reads it from each."""

import json
import os
import signal
import socket
import subprocess

import pytest

from storage_util import M, create_vdi, default_sr, import_raw, run, sdk_x, wait_for, wait_job
from test_bitmaps import K64, WRITES, dirty_blocks, merge_runs, nbd_map, nbdinfo_map

NEW = (3 * M + 17, 1)  # written while the job waits in pending
SIZE = 4 * M

# (sync, bitmap_mode, ending)
CASES = [(sync, mode, end)
         for sync, mode in [("bitmap", "on-success"), ("bitmap", "never"), ("bitmap", "always"),
                            ("incremental", None)]
         for end in ["success", "cancel", "failure"]]


class Qmp:
    """A minimal QMP client: one command at a time, events skipped."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        wait_for(lambda: self._connect(path), 30, what="QMP socket")
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def _connect(self, path):
        try:
            self.s.connect(path)
            return True
        except OSError:
            return False

    def cmd(self, _name, **args):
        self.f.write(json.dumps({"execute": _name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            m = json.loads(self.f.readline())
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise RuntimeError(f"{_name}: {m['error']}")

    def job(self):
        (j,) = self.cmd("query-jobs")
        return j


def qemu_outcome(tmp, sync, mode, end):
    """The bitmap after the case, in QEMU: [(offset, length)] dirty."""
    for name in ["src.qcow2", "tgt.qcow2"]:
        run("qemu-img", "create", "-q", "-f", "qcow2", str(tmp / name), str(SIZE))
    qmp, nbd = str(tmp / "qmp.sock"), str(tmp / "nbd.sock")
    d = subprocess.Popen([
        "qemu-storage-daemon",
        "--chardev", f"socket,path={qmp},server=on,wait=off,id=qmp", "--monitor", "chardev=qmp",
        "--blockdev", f"driver=file,filename={tmp / 'src.qcow2'},node-name=srcf",
        "--blockdev", "driver=qcow2,file=srcf,node-name=src",
        "--nbd-server", f"addr.type=unix,addr.path={nbd}",
        "--export", "type=nbd,id=w,node-name=src,name=src,writable=on",
    ], stderr=subprocess.DEVNULL)
    try:
        q = Qmp(qmp)
        q.cmd("block-dirty-bitmap-add", node="src", name="b", granularity=65536)

        def write(o, n):
            run("qemu-io", "-f", "raw", "-c", f"write -P 7 {o} {n}", f"nbd+unix:///src?socket={nbd}")

        for o, n in WRITES:
            write(o, n)
        tgt_file = {"driver": "file", "filename": str(tmp / "tgt.qcow2")}
        if end == "failure":
            tgt_file = {"driver": "blkdebug", "image": tgt_file,
                        "inject-error": [{"event": "pwritev", "errno": 5}]}
        q.cmd("blockdev-add", **{"driver": "qcow2", "node-name": "tgt", "file": tgt_file})
        opts = {"job-id": "j", "auto-finalize": False, "auto-dismiss": False}
        if mode:
            opts["bitmap-mode"] = mode
        q.cmd("blockdev-backup", device="src", target="tgt", sync=sync, bitmap="b", **opts)
        if end == "failure":
            wait_for(lambda: q.job()["status"] == "concluded", 30, what="QEMU's job to fail")
            assert q.job().get("error"), q.job()
        else:
            wait_for(lambda: q.job()["status"] == "pending", 30, what="QEMU's job pending")
            write(*NEW)
            if end == "success":
                q.cmd("job-finalize", id="j")
            else:
                q.cmd("job-cancel", id="j")
            wait_for(lambda: q.job()["status"] == "concluded", 30, what="QEMU's job to end")
        q.cmd("job-dismiss", id="j")
        # (QEMU exports an enabled bitmap only on a writable export.)
        q.cmd("block-export-add", type="nbd", id="r", **{"node-name": "src"}, name="final",
              writable=True, bitmaps=["b"])
        return nbdinfo_map(f"nbd+unix:///final?socket={nbd}", "qemu:dirty-bitmap:b")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(10)


def xapid_outcome(srv, x, sr, sync, mode, end):
    v = create_vdi(x, sr, SIZE, "qcow2")
    b = x.block_dirty_bitmap.add(v, "b", {"granularity": "65536"})
    for o, n in WRITES:
        import_raw(srv, x, v, os.urandom(n), o)
    t = create_vdi(x, sr, SIZE, "qcow2")
    if end == "failure":
        x.VDI.add_to_other_config(t, "xapid-fault", "write:EIO")
    opts = {"sync": sync, "bitmap": "b", "auto_finalize": "false", "auto_dismiss": "false"}
    if mode:
        opts["bitmap_mode"] = mode
    job = x.block_job.backup(v, t, opts)
    if end == "failure":
        assert wait_job(x, job, "concluded", timeout=60)["error"] != ""
    else:
        wait_job(x, job, "pending", timeout=60)
        import_raw(srv, x, v, os.urandom(NEW[1]), NEW[0])
        if end == "success":
            x.block_job.finalize(job)
        else:
            x.block_job.cancel(job, False)
        wait_job(x, job, "concluded", timeout=60)
    x.block_job.dismiss(job)
    assert x.block_dirty_bitmap.get_busy(b) is False
    return nbd_map(x, v, "qemu:dirty-bitmap:b")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """A server that honours xapid-fault (its own: the shared one does not)."""
    from conftest import Servers
    servers = Servers(tmp_path_factory.mktemp("oracle"))
    srv = servers(fault_injection=True)
    yield srv
    servers.close()


@pytest.mark.parametrize("sync,mode,end", CASES)
def test_bitmap_outcomes_match_qemus(faulty, tmp_path, sync, mode, end):
    x = sdk_x(faulty)
    sr = default_sr(x)[0]
    theirs = qemu_outcome(tmp_path, sync, mode, end)
    ours = xapid_outcome(faulty, x, sr, sync, mode, end)
    assert ours == theirs, f"{sync}/{mode}/{end}: xapid {ours} QEMU {theirs}"
    # What QEMU's table says (everything was copied before the new write,
    # nothing when the first write failed), so the oracle is not vacuous.
    old = merge_runs(sorted(dirty_blocks(WRITES)), K64)
    new = [(NEW[0] // K64 * K64, K64)]
    if end == "failure":
        want = old
    elif (end == "success" and mode != "never") or (end == "cancel" and mode == "always"):
        want = new
    else:
        want = merge_runs(sorted(dirty_blocks(WRITES + [NEW])), K64)
    assert theirs == want
