"""A full, then read-only, state directory (issue 13, part 2).

    .venv/bin/python bench/torture/torture.py --full-disk --bin target/release/xapid [--disk-mb 64]

The server's state directory (its store, audit log, change logs and its
default SR) is on a small tmpfs. Each phase fills or breaks the disk, then
makes every kind of call: logins, task.create/set_status/destroy,
VDI.create (raw, qcow2), VDI.set_name_label, VDI.copy, Async.VDI.copy,
VDI.clone, an import (PUT /import_raw_vdi) and an export, VDI.snapshot,
block_job.backup, VDI.enable_cbt/disable_cbt, block_dirty_bitmap.add,
VDI.destroy, SR.scan, event.from, VDI.get_all_records. Each must succeed or
fail with a clear XenAPI error within CALL_LIMIT_S: never INTERNAL_ERROR, a
hang, a dead server or a panic in its log. A call that failed must have
changed nothing (no object, no field it was refused).

Phases:
  1. full (a filler file takes every free byte), then the filler goes: the
     same calls must all succeed;
  2. full of the SR's own data (imports, then copies, until ENOSPC), then
     space freed through the API (VDI.destroy): the same calls must succeed;
  3. full, kill -9, restarted while full (start or a clear refusal), space
     back, restarted: whole;
  4. full, SIGTERM (must exit promptly), restarted while full;
  5. read-only: the tmpfs remounted read-only (which a running server's
     open files forbid: the server is stopped first) and the server started
     on it; then read-write again and normal service;
  6. read-only under a running server: an ext4 file system on a loop
     device (errors=remount-ro) made to fail by `mount -o remount,abort`,
     which turns it read-only (EROFS) with the server's files open, as a
     disk error does; the server is then stopped, the file system checked
     (e2fsck) and mounted again, and the server started on it (skipped
     without losetup/mkfs.ext4).
After each phase: every acknowledged change is there (tasks and their
statuses, VDIs with their bytes: an import that failed may leave each 4 KiB
block old or new, names set, destroys), nothing that failed is there, and
at the end `qemu-img check` is clean on every qcow2 file, no file of the SR
is one SR.scan would introduce, and SR.scan introduces nothing.

Findings are tagged: [internal_error] [hang] [crash] [panic] [exception]
[read] (a login, export, event.from or get_all_records failed) [must_succeed]
[errno] (SR_BACKEND_FAILURE naming another errno than the disk's) [lost]
[data] [phantom] (a refused change is visible) [phantom_durable] (it
survived a restart) [image] [stray] [start] [other].
Needs root (mount)."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import XenAPI

from server import Server

M = 1 << 20
BLOCK = 4096
CALL_LIMIT_S = 20.0
SLOW_S = 5.0


def result_ref(v: str) -> str:
    m = re.search(r"OpaqueRef:[0-9a-fA-F-]+", v or "")
    return m.group(0) if m else ""


class Expect:
    """A VDI's expected bytes: each 4 KiB block as in `cur`, or (after a
    failed write, which may have landed in part) as in `alt`."""

    def __init__(self, cur: bytes, alt: bytes | None = None):
        self.cur, self.alt = cur, alt

    def matches(self, got: bytes) -> str | None:
        if len(got) != len(self.cur):
            return f"{len(got)} bytes, expected {len(self.cur)}"
        if got == self.cur or (self.alt is not None and got == self.alt):
            return None
        for off in range(0, len(got), BLOCK):
            g = got[off:off + BLOCK]
            if g == self.cur[off:off + BLOCK]:
                continue
            if self.alt is not None and g == self.alt[off:off + BLOCK]:
                continue
            return f"block at {off} differs from what was acknowledged"
        return None

    def written(self, off: int, data: bytes, ok: bool) -> "Expect":
        new = self.cur[:off] + data + self.cur[off + len(data):]
        return Expect(new) if ok else Expect(self.cur, new)


class Oracle:
    def __init__(self):
        self.tasks: dict[str, str] = {}        # acknowledged task -> status
        self.vdis: dict[str, Expect | None] = {}  # acknowledged VDI -> bytes (None: any)
        self.names: dict[str, str] = {}        # VDI -> name_label acknowledged
        self.gone: set[str] = set()            # acknowledged destroys
        self.refused: list[tuple[str, str, str]] = []  # (kind, ref or label, what): must not be there


class Run:
    def __init__(self, srv: Server, password: str, disk: Path, label: str = "tmpfs"):
        self.srv, self.password, self.disk, self.label = srv, password, disk, label
        self.rows: list[dict] = []
        self.findings: list[str] = []
        self.o = Oracle()
        self.s = self.x = self.sr = None
        self.src_raw = self.src_qcow2 = None
        self.pool: list[dict] = []  # per phase: a victim VDI, pending tasks
        self.deaths = 0
        self.errno: str | None = None  # what the disk's failures are (ENOSPC, EROFS) in this phase
        self.reported: set = set()
        self.refused_run: dict[str, int] = {}  # refused key -> the server run it was refused in

    def find(self, tag: str, msg: str):
        self.findings.append(f"[{tag}] {self.label}: {msg}")

    # -- connection and calls --------------------------------------------------

    def connect(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = XenAPI.Session(self.srv.url)
                s.xenapi.login_with_password("root", self.password, "1.0", "fulldisk")
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.s, self.x = s, s.xenapi
        self.sr = self.x.SR.get_by_name_label("Local storage")[0]

    def alive(self) -> bool:
        return self.srv.proc is not None and self.srv.proc.poll() is None

    def call(self, phase: str, what: str, fn, must_succeed: bool = False, limit: float = CALL_LIMIT_S,
             read: bool = False):
        """Runs fn with a time limit and records its answer. Returns
        (True, value) or (False, error details or None). A read must
        succeed whatever the disk's state (tag [read])."""
        box: dict = {}

        def run():
            try:
                box["ok"] = fn()
            except XenAPI.Failure as e:
                box["err"] = list(e.details)
            except Exception as e:  # noqa: BLE001 - recorded
                box["exc"] = f"{type(e).__name__}: {e}"
        was_alive = self.alive()
        t0 = time.monotonic()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(limit)
        took = time.monotonic() - t0
        if t.is_alive():
            answer = f"no answer in {limit:.0f} s"
            self.find("hang", f"{phase}: {what}: no answer in {limit:.0f} s")
        elif "err" in box:
            e = box["err"]
            answer = " ".join(str(p) for p in e[:2])[:200]
            if len(e) > 2:
                answer += " | " + str(e[2])[:160]
            if e and e[0] == "INTERNAL_ERROR":
                self.find("internal_error", f"{phase}: {what}: {e}")
            elif read:
                self.find("read", f"{phase}: {what} failed: {' '.join(str(p) for p in e[:3])[:200]}")
            elif must_succeed:
                self.find("must_succeed", f"{phase}: {what} failed: {e[:3]}")
        elif "exc" in box:
            answer = box["exc"][:200]
            if "INTERNAL_ERROR" in answer:
                self.find("internal_error", f"{phase}: {what}: {answer}")
            else:
                self.find("exception", f"{phase}: {what}: {answer}")
        else:
            answer = "ok"
        if "err" in box and self.errno and box["err"][:1] == ["SR_BACKEND_FAILURE"] \
                and len(box["err"]) > 1 and box["err"][1] != self.errno:
            self.find("errno", f"{phase}: {what}: SR_BACKEND_FAILURE {box['err'][1]} where the disk is "
                               f"{self.errno} ({str(box['err'][3:4])[:140]})")
        if took > SLOW_S and not t.is_alive():
            self.find("hang", f"{phase}: {what}: answered after {took:.1f} s")
        self.rows.append({"phase": phase, "call": what, "answer": answer, "s": round(took, 2)})
        if was_alive and not self.alive():
            self.deaths += 1
            self.find("crash", f"{phase}: the server died during {what} (exit {self.srv.proc.poll()})")
        if "ok" in box:
            return True, box["ok"]
        return False, box.get("err")

    # -- objects -----------------------------------------------------------------

    def vdi(self, fmt: str, size: int, label: str) -> str:
        return self.x.VDI.create({"SR": self.sr, "virtual_size": str(size), "name_label": label,
                                  "sm_config": {"image-format": fmt}})

    def put(self, vdi: str, data: bytes, offset: int = 0):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=CALL_LIMIT_S + 10)
        try:
            c.request("PUT", f"/import_raw_vdi?session_id={self.s._session}&vdi={vdi}&offset={offset}",
                      body=data)
            r = c.getresponse()
            body = r.read().decode(errors="replace")
        finally:
            c.close()
        if r.status != 200:
            raise http_failure(r.status, body)
        task = r.getheader("task-id")
        if task:
            while self.x.task.get_status(task) == "pending":
                time.sleep(0.02)
            if self.x.task.get_status(task) != "success":
                raise XenAPI.Failure(self.x.task.get_error_info(task))

    def get(self, vdi: str) -> bytes:
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=CALL_LIMIT_S + 10)
        try:
            c.request("GET", f"/export_raw_vdi?session_id={self.s._session}&vdi={vdi}")
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        if r.status != 200:
            raise http_failure(r.status, body.decode(errors="replace"))
        return body

    def wait_task(self, task: str, limit: float = CALL_LIMIT_S) -> str:
        end = time.monotonic() + limit
        while self.x.task.get_status(task) == "pending":
            if time.monotonic() > end:
                raise TimeoutError(f"task {task} still pending")
            time.sleep(0.02)
        if self.x.task.get_status(task) != "success":
            raise XenAPI.Failure(self.x.task.get_error_info(task))
        return result_ref(self.x.task.get_result(task))

    def backup(self, src: str, target_label: str) -> str:
        tgt = self.vdi("qcow2", 4 * M, target_label)
        self.o.vdis[tgt] = None  # acknowledged (its bytes: once the job succeeds)
        job = self.x.block_job.backup(src, tgt, {"auto_dismiss": "false"})
        end = time.monotonic() + CALL_LIMIT_S
        while self.x.block_job.get_status(job) != "concluded":
            if time.monotonic() > end:
                raise TimeoutError("the backup job did not conclude")
            time.sleep(0.02)
        err = self.x.block_job.get_error(job)
        self.x.block_job.dismiss(job)
        if err:
            raise XenAPI.Failure(["JOB_FAILED", err])
        return tgt

    # -- set-up ------------------------------------------------------------------

    def setup(self, phases: int):
        """Two source VDIs with data, and per phase: a victim VDI to destroy,
        a pending task to finish, a finished task to destroy."""
        x = self.x
        self.src_raw = self.vdi("raw", 4 * M, "source raw")
        self.src_qcow2 = self.vdi("qcow2", 4 * M, "source qcow2")
        data = os.urandom(4 * M)
        self.put(self.src_raw, data)
        self.o.vdis[self.src_raw] = Expect(data)
        half = os.urandom(2 * M)
        self.put(self.src_qcow2, half)
        self.o.vdis[self.src_qcow2] = Expect(half + bytes(2 * M))
        for i in range(phases):
            v = self.vdi("raw", M, f"victim {i}")
            d = os.urandom(M)
            self.put(v, d)
            self.o.vdis[v] = Expect(d)
            t1 = x.task.create(f"to finish {i}", "")
            t2 = x.task.create(f"to destroy {i}", "")
            x.task.set_status(t2, "success")
            self.o.tasks[t1] = "pending"
            self.o.tasks[t2] = "success"
            self.pool.append({"victim": v, "pending": t1, "finished": t2})

    # -- the calls of a phase -------------------------------------------------

    def exercise(self, phase: str, must_succeed: bool, tidy: bool = True):
        """Every kind of call; acknowledged changes go into the oracle, and a
        refused change is checked not to be there."""
        x, o, c, ms = self.x, self.o, self.call, must_succeed
        tok = secrets.token_hex(3)
        made: list[str] = []
        pool = self.pool.pop(0) if self.pool else None

        c(phase, "session.login_with_password", lambda: XenAPI.Session(self.srv.url).xenapi.login_with_password(
            "root", self.password, "1.0", "fulldisk-2"), read=True)

        label = f"task {phase} {tok}"
        ok, t = c(phase, "task.create", lambda: x.task.create(label, ""), must_succeed=ms)
        if ok:
            o.tasks[t] = "pending"
        else:
            self.refused_check(phase, "task.create", "task", label)

        if pool:
            ok, _ = c(phase, "task.set_status success", lambda: x.task.set_status(pool["pending"], "success"),
                      must_succeed=ms)
            if ok:
                o.tasks[pool["pending"]] = "success"
            else:
                o.refused.append(("task-status", pool["pending"], "pending"))
                self.refused_now(phase, "task.set_status", "task-status", pool["pending"], "pending")
            ok, _ = c(phase, "task.destroy", lambda: x.task.destroy(pool["finished"]), must_succeed=ms)
            if ok:
                o.tasks.pop(pool["finished"], None)
                o.gone.add(pool["finished"])
            else:
                o.refused.append(("present", pool["finished"], "task"))
                self.refused_now(phase, "task.destroy", "present", pool["finished"], "task")

        for fmt in ("raw", "qcow2"):
            label = f"create {fmt} {phase} {tok}"
            ok, v = c(phase, f"VDI.create {fmt}", lambda fmt=fmt, label=label: self.vdi(fmt, 4 * M, label),
                      must_succeed=ms)
            if ok:
                o.vdis[v] = Expect(bytes(4 * M))
                made.append(v)
            else:
                self.refused_check(phase, f"VDI.create {fmt}", "vdi-label", label)

        name = f"source raw {phase} {tok}"
        old_name = o.names.get(self.src_raw, "source raw")
        ok, _ = c(phase, "VDI.set_name_label", lambda: x.VDI.set_name_label(self.src_raw, name), must_succeed=ms)
        if ok:
            o.names[self.src_raw] = name
        else:
            o.refused.append(("vdi-name", self.src_raw, name))
            self.refused_now(phase, "VDI.set_name_label", "vdi-name", self.src_raw, name)
            o.names[self.src_raw] = old_name

        before = set(x.VDI.get_all())
        ok, v = c(phase, "VDI.copy (4 MiB of data)", lambda: x.VDI.copy(self.src_raw, self.sr), must_succeed=ms)
        if ok:
            o.vdis[v] = Expect(o.vdis[self.src_raw].cur)
            made.append(v)
        else:
            self.no_new_vdis(phase, "VDI.copy", before)

        before = set(x.VDI.get_all())
        ok, v = c(phase, "Async.VDI.copy", lambda: self.wait_task(x.Async.VDI.copy(self.src_qcow2, self.sr)),
                  must_succeed=ms)
        if ok:
            o.vdis[v] = Expect(o.vdis[self.src_qcow2].cur)
            made.append(v)
        else:
            self.no_new_vdis(phase, "Async.VDI.copy", before)

        before = set(x.VDI.get_all())
        ok, v = c(phase, "VDI.clone", lambda: x.VDI.clone(self.src_raw), must_succeed=ms)
        if ok:
            o.vdis[v] = Expect(o.vdis[self.src_raw].cur)
            made.append(v)
        else:
            self.no_new_vdis(phase, "VDI.clone", before)

        data = os.urandom(2 * M)
        ok, _ = c(phase, "import 2 MiB into the qcow2 VDI (PUT)", lambda: self.put(self.src_qcow2, data, 2 * M),
                  must_succeed=ms)
        o.vdis[self.src_qcow2] = o.vdis[self.src_qcow2].written(2 * M, data, ok)

        ok, got = c(phase, "export of the raw VDI (GET)", lambda: self.get(self.src_raw), read=True)
        if ok:
            bad = o.vdis[self.src_raw].matches(got)
            if bad:
                self.find("data", f"{phase}: export of the raw source: {bad}")

        before = set(x.VDI.get_all())
        ok, v = c(phase, "VDI.snapshot", lambda: x.VDI.snapshot(self.src_qcow2), must_succeed=ms)
        if ok:
            e = o.vdis[self.src_qcow2]
            o.vdis[v] = None if e.alt is not None else Expect(e.cur)
            made.append(v)
        else:
            self.no_new_vdis(phase, "VDI.snapshot", before)

        before = set(x.VDI.get_all())
        label = f"backup target {phase} {tok}"
        ok, v = c(phase, "block_job.backup (into a new qcow2 VDI)", lambda: self.backup(self.src_raw, label),
                  must_succeed=ms)
        if ok:
            o.vdis[v] = Expect(o.vdis[self.src_raw].cur)
            made.append(v)
        else:
            tgt = [r for r in o.vdis if r not in before]
            for r in tgt:  # the target was made: it stays, marked incomplete
                made.append(r)
            self.no_new_vdis(phase, "block_job.backup", before | set(tgt))

        enabled = self.safe(lambda: x.VDI.get_cbt_enabled(self.src_raw))
        verb = "disable_cbt" if enabled else "enable_cbt"
        c(phase, f"VDI.{verb}", lambda: getattr(x.VDI, verb)(self.src_raw), must_succeed=ms)

        bname = f"b{tok}"
        ok, _ = c(phase, "block_dirty_bitmap.add (persistent)", lambda: x.block_dirty_bitmap.add(
            self.src_qcow2, bname, {"persistent": "true"}), must_succeed=ms)

        if pool:
            ok, _ = c(phase, "VDI.destroy", lambda: x.VDI.destroy(pool["victim"]), must_succeed=ms)
            if ok:
                o.vdis.pop(pool["victim"], None)
                o.gone.add(pool["victim"])
            else:
                o.refused.append(("present", pool["victim"], "VDI"))
                self.refused_now(phase, "VDI.destroy", "present", pool["victim"], "VDI")

        before = set(x.VDI.get_all())
        ok, _ = c(phase, "SR.scan", lambda: x.SR.scan(self.sr), must_succeed=ms)
        after = set(self.safe(lambda: x.VDI.get_all()) or [])
        if after - before:
            self.find("stray", f"{phase}: SR.scan introduced {len(after - before)} VDI(s)")

        c(phase, "event.from", lambda: x.event_from(["task", "VDI"], "", 0.0), read=True)
        c(phase, "VDI.get_all_records", lambda: x.VDI.get_all_records(), read=True)

        if tidy and must_succeed:
            for v in reversed(made):
                try:
                    x.VDI.destroy(v)
                    o.vdis.pop(v, None)
                    o.gone.add(v)
                except XenAPI.Failure:
                    pass

    def safe(self, fn):
        try:
            return fn()
        except Exception:  # noqa: BLE001 - a read for a check
            return None

    # -- what a refused call must not have done ---------------------------------

    def refused_check(self, phase: str, what: str, kind: str, label: str):
        """A refused create must have made nothing (looked up by its
        unique label)."""
        self.o.refused.append((kind, label, what))
        self.refused_now(phase, what, kind, label, what)

    def refused_now(self, phase: str, what: str, kind: str, key: str, detail: str):
        self.refused_run.setdefault(key, self.srv.runs)
        bad = self.refused_visible(kind, key, detail)
        if bad:
            self.reported.add((self.srv.runs, kind, key))
            self.find("phantom", f"{phase}: {what} answered an error, yet {bad}")

    def refused_visible(self, kind: str, key: str, detail: str) -> str | None:
        x = self.x
        if kind == "task":
            refs = self.safe(lambda: x.task.get_by_name_label(key)) or []
            if refs:
                return f"the task '{key}' is there ({self.safe(lambda: x.task.get_status(refs[0]))})"
        elif kind == "vdi-label":
            refs = self.safe(lambda: x.VDI.get_by_name_label(key)) or []
            if refs:
                return f"the VDI '{key}' is there"
        elif kind == "task-status":
            st = self.safe(lambda: x.task.get_status(key))
            if st is not None and st != detail:
                return f"the task is '{st}'"
        elif kind == "vdi-name":
            nm = self.safe(lambda: x.VDI.get_name_label(key))
            if nm == detail:
                return f"the VDI is named '{detail}'"
        elif kind == "present":
            cls = x.task if detail == "task" else x.VDI
            if self.safe(lambda: cls.get_uuid(key)) is None:
                return f"the {detail} is gone"
        return None

    def no_new_vdis(self, phase: str, what: str, before: set):
        """A refused copy/snapshot left no new VDI (once its clean-up ran:
        a failed job's target goes in the background; seconds on a loaded
        machine)."""
        deadline = time.monotonic() + 5
        while True:
            now = set(self.safe(lambda: self.x.VDI.get_all()) or [])
            new = now - before
            if not new or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if new:
            names = [self.safe(lambda r=r: self.x.VDI.get_name_label(r)) for r in new]
            self.find("phantom", f"{phase}: {what} answered an error, yet left {len(new)} new VDI(s) {names}")
            for r in new:
                self.o.refused.append(("vdi-ref", r, what))
                self.refused_run.setdefault(r, self.srv.runs)
                self.reported.add((self.srv.runs, "vdi-ref", r))

    # -- the disk ---------------------------------------------------------------

    def fill(self) -> int:
        """A filler file takes every free byte; returns its size."""
        fd = os.open(self.disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (M, BLOCK, 512):
                try:
                    while True:
                        os.write(fd, b"\xa5" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return (self.disk / "filler").stat().st_size

    def free(self):
        (self.disk / "filler").unlink(missing_ok=True)
        self.errno = None

    def press_store(self, phase: str, limit: int = 3000):
        """Small durable changes (task.create) until the store itself fails
        (redb reuses its free pages first): the calls after it find the
        store failing."""
        for i in range(limit):
            label = f"store pressure {phase} {i}"
            ok, t = self.call(phase, "task.create (until the store fails)", lambda: self.x.task.create(label, ""))
            if ok:
                self.o.tasks[t] = "pending"
            else:
                self.refused_check(phase, "task.create", "task", label)
                break
        self.rows = compress_rows(self.rows, phase)

    # -- checks ------------------------------------------------------------------

    def settle(self, limit: float = 30):
        """Waits for the restart's background work (leak check, coalesce)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            recs = self.safe(lambda: self.x.VDI.get_all_records()) or {}
            if not any(r["current_operations"] for r in recs.values()) and not self.stray_files(recs):
                return
            time.sleep(0.1)

    def check_state(self, phase: str):
        """Every acknowledged change is there; no refused one is."""
        x, o = self.x, self.o
        tasks = set(x.task.get_all())
        for t, st in o.tasks.items():
            if t not in tasks:
                self.find("lost", f"{phase}: acknowledged task {t} ({st}) is gone")
                continue
            got = x.task.get_status(t)
            if got != st and ("task-status", t, st) not in o.refused:
                self.find("lost", f"{phase}: task {t} is '{got}', acknowledged '{st}'")
        recs = x.VDI.get_all_records()
        for v, exp in o.vdis.items():
            if v not in recs:
                self.find("lost", f"{phase}: acknowledged VDI {v} is gone")
                continue
            if exp is not None:
                ok, got = self.call(phase, "export of an acknowledged VDI", lambda v=v: self.get(v), read=True)
                if ok:
                    bad = exp.matches(got)
                    if bad:
                        self.find("data", f"{phase}: VDI {v} ({recs[v]['name_label']}): {bad}")
        refused_names = {(k, d) for kind, k, d in o.refused if kind == "vdi-name"}
        for v, name in o.names.items():
            if v in recs and recs[v]["name_label"] != name and (v, recs[v]["name_label"]) not in refused_names:
                self.find("lost", f"{phase}: VDI {v} is named '{recs[v]['name_label']}', acknowledged '{name}'")
        for r in o.gone:
            if r in recs or r in tasks:
                self.find("lost", f"{phase}: {r}, acknowledged destroyed, is there")
        for kind, key, detail in o.refused:
            if (self.srv.runs, kind, key) in self.reported:
                continue
            if kind == "vdi-ref":
                bad = f"the VDI {key} of a refused {detail} is there" if key in recs else None
            else:
                bad = self.refused_visible(kind, key, detail)
            if bad:
                self.reported.add((self.srv.runs, kind, key))
                restarted = self.srv.runs > self.refused_run.get(key, 0)
                self.find("phantom_durable" if restarted else "phantom",
                          f"{phase}: {'after a restart' if restarted else 'still'}: a refused "
                                     f"{detail if kind in ('task', 'vdi-label', 'vdi-ref') else kind}: {bad}")
        # VDIs nobody acknowledged
        known = set(o.vdis) | {k for kind, k, _ in o.refused if kind == "vdi-ref"}
        extra = [r for r in recs if r not in known and not recs[r]["is_a_snapshot"]
                 and recs[r]["type"] != "cbt_metadata"]
        for r in extra:
            self.find("phantom", f"{phase}: VDI {r} ('{recs[r]['name_label']}') nobody acknowledged")

    def stray_files(self, recs: dict) -> list[str]:
        """Files of the SR that are neither a VDI's nor a backing file."""
        sr_dir = self.sr_dir()
        locs = {r["location"] for r in recs.values() if r["location"]}
        files = [p for p in sr_dir.iterdir()]
        backing = set()
        for p in files:
            b = backing_name(p)
            if b:
                backing.add(b)
        return [p.name for p in files if p.name not in locs and p.name not in backing]

    def sr_dir(self) -> Path:
        return Path(self.x.SR.get_sm_config(self.sr)["path"])

    def check_images(self, phase: str):
        recs = self.x.VDI.get_all_records()
        stray = self.stray_files(recs)
        if stray:
            self.find("stray", f"{phase}: files no VDI names: {stray}")
        for f in sorted(self.sr_dir().iterdir()):
            if f.name.startswith("."):
                continue
            r = subprocess.run(["qemu-img", "check", "-U", str(f)], capture_output=True, text=True)
            if r.returncode not in (0, 63):  # 63: a raw file, nothing to check
                self.find("image", f"{phase}: qemu-img check {f.name}: exit {r.returncode} "
                                   f"{(r.stdout + r.stderr)[-300:]}")
        incomplete = [r for r, v in recs.items() if v["sm_config"].get("incomplete") and r in self.o.vdis]
        for r in incomplete:
            if self.o.vdis[r] is not None:
                self.find("data", f"{phase}: acknowledged VDI {r} is marked incomplete")

    def check_log(self, phase: str):
        log = self.srv.log_text()
        if "panicked" in log:
            lines = [line for line in log.splitlines() if "panicked" in line]
            self.find("panic", f"{phase}: {lines[:2]}")

    def start_or_refusal(self, phase: str, limit: float = 30) -> bool:
        """Starts the server; a refusal is recorded with its message and
        is allowed if it is clear (an `Error:` line, no panic)."""
        t0 = time.monotonic()
        try:
            self.srv.start(timeout=limit)
            self.connect()
            self.rows.append({"phase": phase, "call": "server start", "answer": "started",
                              "s": round(time.monotonic() - t0, 2)})
            return True
        except Exception as e:  # noqa: BLE001 - a clear refusal is allowed
            said = [line for line in self.srv.log_text().splitlines() if line.startswith("Error")]
            answer = f"refused: {said[-1] if said else e}"[:240]
            self.rows.append({"phase": phase, "call": "server start", "answer": answer,
                              "s": round(time.monotonic() - t0, 2)})
            if self.srv.proc is not None:
                self.srv.kill()
            if not said:
                self.find("start", f"{phase}: the server neither started nor said why: {e}")
            self.check_log(phase)
            return False

    def stop(self, phase: str, how: str = "sigterm"):
        t0 = time.monotonic()
        if how == "kill9":
            self.srv.kill()
            code = -9
        else:
            code = self.srv.stop(timeout=30)
        took = time.monotonic() - t0
        self.rows.append({"phase": phase, "call": f"server stop ({how})", "answer": f"exit {code}",
                          "s": round(took, 2)})
        if how == "sigterm" and (code == -9 or took > 15):
            self.find("hang", f"{phase}: SIGTERM took {took:.1f} s (exit {code})")
        self.check_log(phase)

    def restart_and_check(self, phase: str):
        self.srv.start()
        self.connect()
        self.settle()
        self.check_state(phase)


def http_failure(status: int, body: str) -> XenAPI.Failure:
    """An HTTP data path's error answer (`CODE [PARAM...] message` in the
    body) as a XenAPI failure; the status goes last."""
    words = body.split()
    code = words[0] if words and words[0].isupper() else f"HTTP {status}"
    params = [words[1]] if code == "SR_BACKEND_FAILURE" and len(words) > 1 else []
    return XenAPI.Failure([code] + params + ["", f"HTTP {status}: {body.strip()[:200]}"])


def backing_name(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            h = f.read(20)
            if len(h) < 20 or h[:4] != b"QFI\xfb":
                return None
            off, size = int.from_bytes(h[8:16], "big"), int.from_bytes(h[16:20], "big")
            if not off or not size or size > 1023:
                return None
            f.seek(off)
            return f.read(size).decode(errors="replace")
    except OSError:
        return None


def mount_tmpfs(path: Path, mb: int) -> str | None:
    path.mkdir(parents=True, exist_ok=True)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return None if m.returncode == 0 else (m.stderr.strip() or f"mount exit {m.returncode}")


def full_disk(args) -> dict:
    work = Path(args.state_dir or tempfile.mkdtemp(prefix="xapid-fulldisk-"))
    work.mkdir(parents=True, exist_ok=True)
    disk = work / "disk"
    err = mount_tmpfs(disk, args.disk_mb)
    if err:
        return {"mode": "full-disk", "skipped": f"cannot mount a tmpfs: {err}", "findings": []}
    t0 = time.monotonic()
    password = secrets.token_hex(12)
    srv = Server(args.bin, disk / "state", work / "xapid.log", password)
    run = Run(srv, password, disk, "tmpfs")
    out = {"mode": "full-disk", "disk_mb": args.disk_mb, "bin": args.bin}
    try:
        tmpfs_phases(run, args)
    except Exception as e:  # noqa: BLE001 - reported
        run.find("other", f"the run stopped: {type(e).__name__}: {e}")
    finally:
        if srv.proc is not None:
            srv.kill()
        subprocess.run(["umount", "-l", str(disk)], check=False)
    rows, findings = run.rows, run.findings
    if not getattr(args, "no_ext4", False):
        r2 = ext4_phase(args, work)
        if r2 is not None:
            rows += r2.rows
            findings += r2.findings
            out["ext4"] = "done"
        else:
            out["ext4"] = "skipped (no loop device or mkfs.ext4)"
    out.update({"rows": rows, "findings": findings, "seconds": round(time.monotonic() - t0, 1),
                "state": str(work)})
    return out


def tmpfs_phases(run: Run, args):
    srv, x = run.srv, None
    srv.start()
    run.connect()
    run.setup(phases=12)
    run.exercise("before", must_succeed=True)

    # 1. a filler takes every free byte
    run.fill()
    run.errno = "ENOSPC"
    run.exercise("full (filler)", must_succeed=False)
    run.check_log("full (filler)")
    run.free()
    run.check_state("space back")
    run.exercise("space back", must_succeed=True)

    # 2. the SR's own data fills the disk
    x = run.x
    fill_vdis = []
    phase = "filling by imports"
    n = 0
    while n < 64:
        ok, v = run.call(phase, "VDI.create raw 4 MiB", lambda: run.vdi("raw", 4 * M, "fill"))
        if not ok:
            break
        run.o.vdis[v] = Expect(bytes(4 * M))
        fill_vdis.append(v)
        data = os.urandom(4 * M)
        ok, _ = run.call(phase, "import 4 MiB", lambda: run.put(v, data))
        run.o.vdis[v] = run.o.vdis[v].written(0, data, ok)
        n += 1
        if not ok:
            break
    run.rows = compress_rows(run.rows, phase)
    phase = "filling by copies"
    n = 0
    while n < 64:
        before = set(x.VDI.get_all())
        ok, v = run.call(phase, "VDI.copy 4 MiB", lambda: x.VDI.copy(run.src_raw, run.sr))
        if not ok:
            run.no_new_vdis(phase, "VDI.copy", before)
            break
        run.o.vdis[v] = Expect(run.o.vdis[run.src_raw].cur)
        fill_vdis.append(v)
        n += 1
    run.rows = compress_rows(run.rows, phase)
    run.errno = "ENOSPC"
    run.press_store("store pressure (SR data)")
    run.exercise("full (SR data)", must_succeed=False)
    run.check_log("full (SR data)")
    # space back through the API
    phase = "freeing by VDI.destroy"
    for v in fill_vdis:
        ok, _ = run.call(phase, "VDI.destroy", lambda v=v: x.VDI.destroy(v))
        if ok:
            run.o.vdis.pop(v, None)
            run.o.gone.add(v)
    run.rows = compress_rows(run.rows, phase)
    if any(v in run.o.vdis for v in fill_vdis):
        run.find("must_succeed", f"{phase}: {sum(v in run.o.vdis for v in fill_vdis)} VDI(s) could not be "
                                 "destroyed to free space")
        for v in fill_vdis:
            if v in run.o.vdis:
                ok, _ = run.call(phase + " (again)", "VDI.destroy", lambda v=v: x.VDI.destroy(v))
                if ok:
                    run.o.vdis.pop(v, None)
                    run.o.gone.add(v)
        run.rows = compress_rows(run.rows, phase + " (again)")
    run.check_state("space back (destroyed)")
    run.exercise("space back (destroyed)", must_succeed=True)

    # 3. kill -9 while full, restart while full, then with space
    run.fill()
    run.errno = "ENOSPC"
    run.stop("kill -9 while full", "kill9")
    if run.start_or_refusal("restarted while full"):
        run.errno = "ENOSPC"
        run.settle(10)
        run.check_state("restarted while full")
        run.press_store("store pressure (restarted while full)")
        run.exercise("restarted while full", must_succeed=False)
        run.stop("restarted while full", "kill9")
    run.free()
    run.restart_and_check("restarted, space back")
    run.check_images("restarted, space back")
    run.exercise("restarted, space back", must_succeed=True)

    # 4. SIGTERM while full, restart while full
    run.fill()
    run.errno = "ENOSPC"
    ok, t = run.call("SIGTERM while full", "task.create", lambda: run.x.task.create("sigterm while full", ""))
    if ok:
        run.o.tasks[t] = "pending"
    else:
        run.refused_check("SIGTERM while full", "task.create", "task", "sigterm while full")
    run.stop("SIGTERM while full", "sigterm")
    if run.start_or_refusal("restarted while full (2)"):
        run.stop("restarted while full (2)", "sigterm")
    run.free()
    run.restart_and_check("restarted after SIGTERM, space back")

    # 5. read-only: a running server's open files forbid the remount, so it
    # is stopped first (the attempt with it running is recorded)
    r = subprocess.run(["mount", "-o", "remount,ro", str(run.disk)], capture_output=True, text=True)
    run.rows.append({"phase": "read-only", "call": "mount -o remount,ro (server running)",
                     "answer": "ok" if r.returncode == 0 else f"refused: {r.stderr.strip()[:120]}", "s": 0})
    if r.returncode == 0:
        # it worked: the server keeps running on a read-only disk
        run.errno = "EROFS"
        run.exercise("read-only (running)", must_succeed=False)
        run.check_state("read-only (running)")
        run.stop("read-only (running)", "sigterm")
    else:
        run.stop("read-only", "sigterm")
        subprocess.run(["mount", "-o", "remount,ro", str(run.disk)], check=True)
    if run.start_or_refusal("read-only"):
        run.errno = "EROFS"
        run.settle(10)
        run.check_state("read-only")
        run.exercise("read-only", must_succeed=False)
        run.stop("read-only", "sigterm")
    subprocess.run(["mount", "-o", "remount,rw", str(run.disk)], check=True)
    run.errno = None
    run.restart_and_check("read-write again")
    run.exercise("read-write again", must_succeed=True)

    # last: a restart, then the images
    run.stop("final", "sigterm")
    run.restart_and_check("final")
    run.check_images("final")
    run.check_log("final")
    run.stop("final", "sigterm")


def compress_rows(rows: list[dict], phase: str) -> list[dict]:
    """Repeated successful calls of a fill phase as one row with a count."""
    out, mine = [], []
    for r in rows:
        (mine if r["phase"] == phase else out).append(r)
    seen: dict[tuple, dict] = {}
    for r in mine:
        key = (r["call"], r["answer"])
        if key in seen:
            seen[key]["n"] = seen[key].get("n", 1) + 1
            seen[key]["s"] = max(seen[key]["s"], r["s"])
        else:
            seen[key] = dict(r)
            out.append(seen[key])
    return out


def ext4_phase(args, work: Path) -> Run | None:
    """Phase 6: read-only under a running server (ext4 aborted)."""
    if not shutil.which("losetup") or not shutil.which("mkfs.ext4"):
        return None
    img = work / "ext4.img"
    mnt = work / "ext4"
    mnt.mkdir(exist_ok=True)
    subprocess.run(["truncate", "-s", f"{max(args.disk_mb, 32)}M", str(img)], check=True)
    if subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], capture_output=True).returncode != 0:
        return None
    m = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(img), str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        return None
    password = secrets.token_hex(12)
    srv = Server(args.bin, mnt / "state", work / "xapid-ext4.log", password)
    run = Run(srv, password, mnt, "ext4")
    try:
        srv.start()
        run.connect()
        run.setup(phases=3)
        run.exercise("ext4 before", must_succeed=True)
        a = subprocess.run(["mount", "-o", "remount,abort", str(mnt)], capture_output=True, text=True)
        run.rows.append({"phase": "read-only (ext4 aborted, running)", "call": "mount -o remount,abort",
                         "answer": "ok" if a.returncode == 0 else a.stderr.strip()[:120], "s": 0})
        run.errno = "EROFS"
        run.exercise("read-only (ext4 aborted, running)", must_succeed=False)
        run.check_log("read-only (ext4 aborted, running)")
        run.stop("read-only (ext4 aborted, running)", "sigterm")
        run.errno = None
        subprocess.run(["umount", str(mnt)], check=True)
        f = subprocess.run(["e2fsck", "-fy", str(img)], capture_output=True, text=True)
        fixes = [line for line in f.stdout.splitlines() if line.endswith("?") or "Fix" in line or "count wrong" in line]
        run.rows.append({"phase": "ext4 checked", "call": "e2fsck -fy", "answer": f"exit {f.returncode} {fixes[:3]}",
                         "s": 0})
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(img), str(mnt)], check=True)
        run.restart_and_check("ext4 mounted again")
        run.exercise("ext4 mounted again", must_succeed=True)
        run.stop("ext4 final", "sigterm")
        run.restart_and_check("ext4 final")
        run.check_images("ext4 final")
        run.check_log("ext4 final")
        run.stop("ext4 final", "sigterm")
    except Exception as e:  # noqa: BLE001 - reported
        run.find("other", f"the run stopped: {type(e).__name__}: {e}")
    finally:
        if srv.proc is not None:
            srv.kill()
        subprocess.run(["umount", "-l", str(mnt)], check=False)
    return run
