"""A full, then read-only, state directory (issue 13, part 2).

    .venv/bin/python bench/torture/torture.py --full-disk --bin target/release/xapid [--disk-mb 64]

The server's state directory (its store and its default SR) is on a small
tmpfs. The disk is filled with a filler file, then every kind of call is
made: each must succeed or fail with a clear XenAPI error (never
INTERNAL_ERROR, a hang, a crash or a panic). Once the filler goes, the data
acknowledged before is all there, the same calls succeed, and after a
restart `qemu-img check` is clean on every qcow2 file. The server is also
killed while the disk is full and restarted while it still is, then with
space again. Last, the filesystem is remounted read-only (reads go on,
writes fail clearly) and read-write again (normal service). Needs root
(mount)."""

from __future__ import annotations

import http.client
import os
import secrets
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import XenAPI

from server import Server

M = 1 << 20


class Run:
    def __init__(self, srv: Server, password: str, disk: Path):
        self.srv, self.password, self.disk = srv, password, disk
        self.rows: list[dict] = []
        self.findings: list[str] = []
        self.x = None
        self.sr = None
        self.made: list[str] = []

    def connect(self):
        s = XenAPI.Session(self.srv.url)
        s.xenapi.login_with_password("root", self.password, "1.0", "fulldisk")
        self.s, self.x = s, s.xenapi
        self.sr = self.x.SR.get_by_name_label("Local storage")[0]

    def call(self, phase: str, what: str, fn, timeout: float = 30, must_succeed: bool = False):
        """Runs fn with a time limit; records its answer; returns its
        result (None on failure)."""
        box: dict = {}

        def run():
            try:
                box["ok"] = fn()
            except XenAPI.Failure as e:
                box["err"] = list(e.details)
            except Exception as e:  # noqa: BLE001 - recorded
                box["exc"] = f"{type(e).__name__}: {e}"
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            answer = f"no answer in {timeout:.0f} s"
            self.findings.append(f"{phase}: {what}: hung")
        elif "err" in box:
            e = box["err"]
            answer = " ".join(str(p) for p in e[:3])[:160]
            if e and e[0] == "INTERNAL_ERROR":
                self.findings.append(f"{phase}: {what}: INTERNAL_ERROR {e}")
            if must_succeed:
                self.findings.append(f"{phase}: {what} failed: {e}")
        elif "exc" in box:
            answer = box["exc"][:160]
            self.findings.append(f"{phase}: {what}: {answer}")
        else:
            answer = "ok"
        self.rows.append({"phase": phase, "call": what, "answer": answer})
        if self.srv.proc is None or self.srv.proc.poll() is not None:
            self.findings.append(f"{phase}: the server died during {what}")
        return box.get("ok")

    # -- the calls ------------------------------------------------------------

    def vdi(self, fmt, size=4 * M, label="fulldisk"):
        v = self.x.VDI.create({"SR": self.sr, "virtual_size": str(size), "name_label": label,
                                  "sm_config": {"image-format": fmt}})
        self.made.append(v)
        return v

    def tidy(self):
        """Destroys what the last phase made (the disk is small)."""
        for v in reversed(self.made):
            try:
                self.x.VDI.destroy(v)
            except Exception:  # noqa: BLE001 - best effort
                pass
        self.made = []

    def put(self, vdi, data: bytes, offset: int = 0):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        c.request("PUT", f"/import_raw_vdi?session_id={self.s._session}&vdi={vdi}&offset={offset}", body=data)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            code = body.decode(errors="replace").split()[:1]
            if code and code[0] == "INTERNAL_ERROR":
                raise XenAPI.Failure(["INTERNAL_ERROR", body.decode(errors="replace")])
            raise XenAPI.Failure([f"HTTP {r.status}"] + body.decode(errors="replace").split()[:2])
        task = r.getheader("task-id")
        if task:
            while self.x.task.get_status(task) == "pending":
                time.sleep(0.05)
            if self.x.task.get_status(task) != "success":
                raise XenAPI.Failure(self.x.task.get_error_info(task))

    def get(self, vdi) -> bytes:
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=60)
        c.request("GET", f"/export_raw_vdi?session_id={self.s._session}&vdi={vdi}")
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise XenAPI.Failure([f"HTTP {r.status}"] + body.decode(errors="replace").split()[:2])
        return body

    def backup(self, src):
        tgt = self.vdi("qcow2", 8 * M, label="fulldisk-target")
        job = self.x.block_job.backup(src, tgt, {"auto_dismiss": "false"})
        while self.x.block_job.get_status(job) != "concluded":
            time.sleep(0.05)
        err = self.x.block_job.get_error(job)
        self.x.block_job.dismiss(job)
        if err:
            raise XenAPI.Failure(["JOB_FAILED", err])
        return tgt

    def exercise(self, phase: str, src_raw, src_qcow2, must_succeed: bool):
        x = self.x
        c = self.call
        c(phase, "session.login_with_password", lambda: XenAPI.Session(self.srv.url).xenapi.login_with_password(
            "root", self.password, "1.0", "fulldisk-2"), must_succeed=must_succeed)
        t = c(phase, "task.create", lambda: x.task.create("fulldisk", ""), must_succeed=must_succeed)
        if t:
            c(phase, "task.set_status", lambda: x.task.set_status(t, "success"), must_succeed=must_succeed)
        c(phase, "VDI.create raw", lambda: self.vdi("raw"), must_succeed=must_succeed)
        c(phase, "VDI.create qcow2", lambda: self.vdi("qcow2"), must_succeed=must_succeed)
        c(phase, "VDI.copy (8 MiB of data)", lambda: self.made.append(x.VDI.copy(src_raw, self.sr)),
          must_succeed=must_succeed)
        c(phase, "import 4 MiB into a qcow2 VDI",
          lambda: self.put(src_qcow2, os.urandom(4 * M), 4 * M), must_succeed=must_succeed)
        c(phase, "VDI.snapshot", lambda: self.made.append(x.VDI.snapshot(src_qcow2)), must_succeed=must_succeed)
        c(phase, "block_job.backup", lambda: self.backup(src_raw), must_succeed=must_succeed)
        c(phase, "block_dirty_bitmap.add", lambda: x.block_dirty_bitmap.add(
            src_qcow2, f"b{secrets.token_hex(3)}", {"persistent": "true"}), must_succeed=must_succeed)
        c(phase, "event.from", lambda: x.event_from(["task"], "", 0.0), must_succeed=True)
        c(phase, "VDI.get_all_records", lambda: x.VDI.get_all_records(), must_succeed=True)
        if must_succeed:
            self.tidy()

    # -- the disk ---------------------------------------------------------------

    def fill(self):
        fd = os.open(self.disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (M, 4096, 512):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self):
        (self.disk / "filler").unlink(missing_ok=True)

    def check_data(self, phase: str, expected: dict):
        for v, want in expected.items():
            got = self.call(phase, f"export of an acknowledged VDI", lambda v=v: self.get(v), must_succeed=True)
            if got is not None and got != want:
                self.findings.append(f"{phase}: VDI {v}: data differs from what was acknowledged")

    def check_images(self, phase: str):
        sr_dir = Path(self.x.SR.get_sm_config(self.sr)["path"])
        for f in sorted(sr_dir.iterdir()):
            if f.name.startswith("."):
                continue
            r = subprocess.run(["qemu-img", "check", "-U", str(f)], capture_output=True, text=True)
            if r.returncode not in (0, 63):  # 63: raw
                self.findings.append(f"{phase}: qemu-img check {f.name}: exit {r.returncode} {r.stdout[-200:]}")


def full_disk(args) -> dict:
    work = Path(args.state_dir or tempfile.mkdtemp(prefix="xapid-fulldisk-"))
    disk = work / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.disk_mb}m", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if m.returncode != 0:
        return {"mode": "full-disk", "skipped": f"cannot mount a tmpfs: {m.stderr.strip()}", "findings": []}
    password = secrets.token_hex(12)
    srv = Server(args.bin, disk / "state", work / "xapid.log", password)
    run = Run(srv, password, disk)
    try:
        try_run(run, srv, disk)
    except Exception as e:  # noqa: BLE001 - reported
        run.findings.append(f"the run stopped: {type(e).__name__}: {e}")
    finally:
        if srv.proc is not None:
            srv.kill()
        subprocess.run(["umount", "-l", str(disk)], check=False)
    return {"mode": "full-disk", "disk_mb": args.disk_mb, "rows": run.rows, "findings": run.findings}


def try_run(run: Run, srv: Server, disk: Path):
    if True:
        srv.start()
        run.connect()
        src_raw, src_qcow2 = run.vdi("raw", 8 * M, "source raw"), run.vdi("qcow2", 8 * M, "source qcow2")
        run.put(src_raw, os.urandom(8 * M))
        run.put(src_qcow2, os.urandom(4 * M))
        run.made = []  # the sources stay
        expected = {src_raw: run.get(src_raw)}

        run.fill()
        run.exercise("full", src_raw, src_qcow2, must_succeed=False)
        run.free()
        run.check_data("space back", expected)
        run.exercise("space back", src_raw, src_qcow2, must_succeed=True)
        expected[src_qcow2] = run.get(src_qcow2)

        # killed while full, restarted while full, then with space again
        run.fill()
        srv.kill()
        try:
            srv.start(timeout=30)
            run.connect()
            run.rows.append({"phase": "restart while full", "call": "start", "answer": "started"})
            run.exercise("restart while full", src_raw, src_qcow2, must_succeed=False)
            srv.kill()
        except Exception as e:  # noqa: BLE001 - a refusal to start is allowed, if clear
            run.rows.append({"phase": "restart while full", "call": "start", "answer": f"refused: {e}"[:160]})
            if "panicked" in srv.log_text():
                run.findings.append("restart while full: panicked")
            if srv.proc is not None:
                srv.kill()
        run.free()
        srv.start()
        run.connect()
        time.sleep(1.0)  # the restart's background leak check
        run.check_data("restart, space back", expected)
        run.exercise("restart, space back", src_raw, src_qcow2, must_succeed=True)
        expected = {v: run.get(v) for v in expected}

        # read-only (a filesystem with files open for writing cannot be
        # remounted read-only: the server is stopped, the filesystem made
        # read-only, the server started on it), then read-write again
        srv.stop()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        try:
            srv.start(timeout=30)
            run.connect()
            run.rows.append({"phase": "read-only", "call": "start", "answer": "started"})
            run.check_data("read-only", expected)
            run.exercise("read-only", src_raw, src_qcow2, must_succeed=False)
            srv.stop()
        except Exception as e:  # noqa: BLE001 - a clear refusal to start is allowed
            said = [line for line in srv.log_text().splitlines() if line.startswith("Error:")]
            run.rows.append({"phase": "read-only", "call": "start",
                             "answer": f"refused: {said[-1] if said else e}"[:200]})
            if "panicked" in srv.log_text():
                run.findings.append("read-only: panicked")
            if srv.proc is not None:
                srv.kill()
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        srv.start()
        run.connect()
        run.check_data("read-write again", expected)
        run.exercise("read-write again", src_raw, src_qcow2, must_succeed=True)
        srv.stop()
        srv.start()
        run.connect()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                r["current_operations"] for r in run.x.VDI.get_all_records().values()):
            time.sleep(0.1)
        run.check_images("after a restart")
        if "panicked" in srv.log_text():
            run.findings.append("the server's log has a panic")
