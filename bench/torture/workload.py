"""The mixed workload: one worker thread per client, each owning its VDIs (so
its calls never race another worker's on the same disk), recording every
acknowledged change in the oracle and what it has in flight when the server
dies."""

from __future__ import annotations

import http.client
import random
import socket
import threading
import xmlrpc.client

import XenAPI

from oracle import BLOCK, Bitmap, Job, Oracle, Vdi

SIZE = 2 << 20
CONN_ERRORS = (ConnectionError, OSError, http.client.HTTPException, xmlrpc.client.ProtocolError, socket.timeout)


class Dead(Exception):
    """The server went away during a call."""


def result_ref(result: str) -> str:
    return result.replace("<value>", "").replace("</value>", "")


class Worker(threading.Thread):
    def __init__(self, wid: int, url: str, port: int, password: str, oracle: Oracle, seed: int, stop: threading.Event):
        super().__init__(daemon=True, name=f"worker-{wid}")
        self.wid, self.url, self.port, self.password = wid, url, port, password
        self.o, self.rnd, self.stop = oracle, random.Random(seed), stop
        self.inflight: dict | None = None
        self.seq = 0
        self.ops = 0

    # -- calls -----------------------------------------------------------

    def login(self):
        self.s = XenAPI.Session(self.url)
        self.s.xenapi.login_with_password("root", self.password, "1.0", f"torture-{self.wid}")
        self.x = self.s.xenapi

    def call(self, fn, *args):
        try:
            return fn(*args)
        except XenAPI.Failure as e:
            code = e.details[0] if e.details else "?"
            self.o.error(code)
            if code == "INTERNAL_ERROR":
                self.o.find(f"worker {self.wid}: INTERNAL_ERROR from {self.inflight}: {e.details}")
            raise
        except CONN_ERRORS as e:
            raise Dead() from e

    def begin(self, **op):
        self.inflight = op

    def done(self):
        self.inflight = None
        self.ops += 1
        self.o.ack()

    def run(self):
        try:
            self.login()
            while not self.stop.is_set():
                self.step()
        except Dead:
            pass
        except CONN_ERRORS:
            pass
        except Exception as e:  # a bug of the tool or an unexpected answer
            if not self.stop.is_set():
                self.o.find(f"worker {self.wid}: {type(e).__name__}: {e} during {self.inflight}")
        finally:
            if self.inflight is not None:
                with self.o.lock:
                    if self.inflight.get("kind") == "import":  # may have written all, some or none
                        self.inflight["vdi"].uncertain.append(self.inflight["range"])
                    self.o.inflight.append(dict(self.inflight, worker=self.wid))

    # -- the mix ---------------------------------------------------------

    def step(self):
        self.poll_jobs()
        mine = self.o.owned(self.wid)
        free = [v for v in mine if v.busy is None and v.target_of is None]
        # (a mirror's device refuses writes while it completes: not chosen then)
        writable = [v for v in mine if not v.snapshot and v.target_of is None
                    and not (getattr(v.busy, "completing", False))]
        ops = [("task_create", 4), ("task_destroy", 3), ("login", 1), ("vdi_create", 3 if len(mine) < 8 else 0)]
        if writable:
            ops += [("import", 8)]
        if free:
            ops += [("vdi_destroy", 4 if len(mine) > 5 else 1), ("copy", 2 if len(mine) < 10 else 0),
                    ("async_copy", 1 if len(mine) < 10 else 0), ("clone", 1 if len(mine) < 10 else 0)]
        free_live = [v for v in free if not v.snapshot]
        if free_live:
            ops += [("snapshot", 2 if len(mine) < 10 else 0), ("backup", 2), ("mirror", 1), ("transaction", 1),
                    ("cbt", 1), ("bitmap", 2)]
        names = [n for n, w in ops if w]
        weights = [w for n, w in ops if w]
        op = self.rnd.choices(names, weights)[0]
        try:
            getattr(self, "op_" + op)(free, free_live, writable)
        except XenAPI.Failure:
            # An error answer: the call did nothing (an import may have
            # written part of its data: its range stays uncertain).
            if self.inflight and self.inflight.get("kind") == "import":
                with self.o.lock:
                    self.inflight["vdi"].uncertain.append(self.inflight["range"])
            self.inflight = None

    def label(self):
        self.seq += 1
        return f"torture-{self.wid}-{self.seq}"

    def op_login(self, *_):
        self.begin(kind="login")
        self.call(self.x.session.logout)
        self.login()
        self.done()

    def op_task_create(self, *_):
        name = self.label()
        self.begin(kind="task_create", name=name)
        t = self.call(self.x.task.create, name, "torture")
        with self.o.lock:
            self.o.tasks.add(t)
        self.done()

    def op_task_destroy(self, *_):
        with self.o.lock:
            mine = sorted(self.o.tasks)
        if not mine:
            return
        t = self.rnd.choice(mine)
        with self.o.lock:
            if t not in self.o.tasks:
                return
            self.o.tasks.discard(t)  # taken by this worker
        # A pending task is only marked by destroy (deleted when it
        # finishes): the client finishes it first.
        self.begin(kind="task_destroy", task=t)
        self.call(self.x.task.set_status, t, "success")
        self.call(self.x.task.destroy, t)
        with self.o.lock:
            self.o.tasks_destroyed.add(t)
        self.done()

    def new_vdi(self, fmt=None, label=None, expected=b""):
        fmt = fmt or self.rnd.choice(["raw", "qcow2"])
        name = label or self.label()
        self.begin(kind="produce", what="create", name=name, content=bytes(SIZE))
        ref = self.call(self.x.VDI.create, {"SR": self.sr, "virtual_size": str(SIZE), "name_label": name,
                                            "sm_config": {"image-format": fmt}, "type": "user",
                                            "sharable": False, "read_only": False, "other_config": {}})
        uuid = self.call(self.x.VDI.get_uuid, ref)
        v = Vdi(uuid=uuid, ref=ref, owner=self.wid, size=SIZE, model=bytearray(SIZE))
        with self.o.lock:
            self.o.vdis[uuid] = v
        self.done()
        return v

    @property
    def sr(self):
        if not hasattr(self, "_sr"):
            self._sr = self.call(self.x.SR.get_by_name_label, "Local storage")[0]
        return self._sr

    def op_vdi_create(self, *_):
        self.new_vdi()

    def op_import(self, free, free_live, writable):
        v = self.rnd.choice(writable)
        length = self.rnd.choice([4096, 65536, 3 * 65536, 512 << 10]) if self.rnd.random() < 0.9 else 4096 * self.rnd.randrange(1, 64)
        offset = self.rnd.randrange(0, (SIZE - length) // 4096 + 1) * 4096
        pat = self.rnd.randrange(0, 256)
        data = bytes([pat]) * length
        self.begin(kind="import", vdi=v, range=(offset, length, pat))
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            c.request("PUT", f"/import_raw_vdi?session_id={self.s._session}&vdi={v.ref}&offset={offset}", body=data)
            r = c.getresponse()
            body = r.read()
            c.close()
        except CONN_ERRORS as e:
            raise Dead() from e
        if r.status != 200:
            self.o.error(f"HTTP {r.status}")
            if r.status >= 500:
                self.o.find(f"import answered {r.status}: {body[:200]!r}")
            with self.o.lock:
                v.uncertain.append((offset, length, pat))
            self.inflight = None
            return
        with self.o.lock:
            v.model[offset:offset + length] = data
            v.history.append(f"import {offset}+{length}={pat:#x} busy={type(v.busy).__name__}")
            first, last = offset // BLOCK, (offset + length - 1) // BLOCK
            if v.cbt:
                v.cbt_written.update(range(first, last + 1))
            for b in v.bitmaps.values():
                if b.recording:
                    b.written.update(range(offset // b.granularity, (offset + length - 1) // b.granularity + 1))
        self.done()

    def op_vdi_destroy(self, free, *_):
        v = self.rnd.choice(free)
        self.begin(kind="destroy", uuid=v.uuid)
        self.call(self.x.VDI.destroy, v.ref)
        with self.o.lock:
            self.o.vdis.pop(v.uuid, None)
            self.o.destroyed.add(v.uuid)
            for w in self.o.vdis.values():
                if w.cbt_base == v.uuid:
                    w.cbt_base = None
        self.done()

    def adopt(self, ref, src: Vdi, snapshot=False):
        uuid = self.call(self.x.VDI.get_uuid, ref)
        v = Vdi(uuid=uuid, ref=ref, owner=self.wid, size=src.size, model=bytearray(src.model), snapshot=snapshot)
        with self.o.lock:
            self.o.vdis[uuid] = v
        return v

    def op_copy(self, free, *_):
        src = self.rnd.choice(free)
        self.begin(kind="produce", what="copy", content=bytes(src.model))
        ref = self.call(self.x.VDI.copy, src.ref, self.sr)
        self.adopt(ref, src)
        self.done()

    def op_clone(self, free, *_):
        src = self.rnd.choice(free)
        self.begin(kind="produce", what="clone", content=bytes(src.model))
        ref = self.call(self.x.VDI.clone, src.ref, {})
        self.adopt(ref, src)
        self.done()

    def op_async_copy(self, free, *_):
        src = self.rnd.choice(free)
        content = bytes(src.model)
        self.begin(kind="produce", what="async_copy", content=content)
        task = self.call(self.x.Async.VDI.copy, src.ref, self.sr)
        with self.o.lock:
            self.o.async_tasks[task] = {"content": content}
        # The task is acknowledged; what it makes counts once it succeeded.
        self.inflight = dict(kind="async_copy", task=task, content=content)
        while True:
            rec = self.call(self.x.task.get_record, task)
            if rec["status"] != "pending":
                break
            if self.stop.wait(0.05):
                break
        if rec["status"] == "success":
            self.adopt(result_ref(rec["result"]), src)
            with self.o.lock:
                del self.o.async_tasks[task]
        self.done()

    def snapshotted(self, v: Vdi, snap_ref):
        s = self.adopt(snap_ref, v, snapshot=True)
        v.history.append(f"snapshot {s.uuid}")
        with self.o.lock:
            if v.cbt:
                v.cbt_base, v.cbt_written = s.uuid, set()
        return s

    def op_snapshot(self, free, free_live, *_):
        v = self.rnd.choice(free_live)
        self.begin(kind="produce", what="snapshot", content=bytes(v.model), of=v.uuid)
        ref = self.call(self.x.VDI.snapshot, v.ref, {})
        self.snapshotted(v, ref)
        self.done()

    def op_cbt(self, free, free_live, *_):
        v = self.rnd.choice(free_live)
        if v.cbt:
            return
        self.begin(kind="cbt", uuid=v.uuid)
        self.call(self.x.VDI.enable_cbt, v.ref)
        with self.o.lock:
            v.cbt = True
        self.done()

    def fmt(self, v):
        return self.call(self.x.VDI.get_sm_config, v.ref).get("image-format", "raw")

    def op_bitmap(self, free, free_live, *_):
        v = self.rnd.choice(free_live)
        if v.bitmaps and self.rnd.random() < 0.5:
            b = self.rnd.choice(sorted(v.bitmaps.values(), key=lambda b: b.name))
            self.begin(kind="bitmap_clear", uuid=v.uuid, name=b.name)
            with self.o.lock:
                b.written = set()  # in flight counts as cleared: the minimum guaranteed
            refs = [r for r, rec in self.call(self.x.block_dirty_bitmap.get_all_records).items()
                    if rec["VDI"] == v.ref and rec["name"] == b.name]
            if refs:
                self.call(self.x.block_dirty_bitmap.clear, refs[0])
            self.done()
            return
        persistent = self.fmt(v) == "qcow2"
        name = f"bm{self.label()}"
        self.begin(kind="bitmap_add", uuid=v.uuid, name=name)
        self.call(self.x.block_dirty_bitmap.add, v.ref, name,
                  {"persistent": "true" if persistent else "false", "granularity": str(BLOCK)})
        with self.o.lock:
            v.bitmaps[name] = Bitmap(name=name, persistent=persistent, granularity=BLOCK)
        self.done()

    def op_transaction(self, free, free_live, *_):
        v = self.rnd.choice(free_live)
        persistent = self.fmt(v) == "qcow2"
        name = f"tx{self.label()}"
        self.begin(kind="produce", what="transaction", content=bytes(v.model), of=v.uuid, name=name)
        before = set(self.call(self.x.VDI.get_snapshots, v.ref))
        res = self.call(self.x.block_job.transaction, [
            {"type": "snapshot", "device": v.ref},
            {"type": "bitmap_add", "device": v.ref, "name": name,
             "options": {"persistent": "true" if persistent else "false", "granularity": str(BLOCK)}},
        ], "individual")
        snaps = self.call(self.x.VDI.get_snapshots, v.ref)
        known = {w.ref for w in self.o.vdis.values()}
        new = [s for s in snaps if s not in known]
        if len(new) != 1:
            recs = []
            for s in new:
                try:
                    r = self.x.VDI.get_record(s)
                    recs.append((r["uuid"], r["snapshot_time"], r["location"], r["sm_config"],
                                 s in before))
                except Exception as e:  # noqa: BLE001 - a diagnostic
                    recs.append((s, repr(e)))
            self.o.find(f"transaction on {v.uuid}: {len(new)} new snapshots (result {res!r}; "
                        f"uuid, time, file, sm_config, there before: {recs}; history {v.history[-8:]})")
        else:
            self.snapshotted(v, new[0])
        with self.o.lock:
            v.bitmaps[name] = Bitmap(name=name, persistent=persistent, granularity=BLOCK)
        self.done()

    def start_job(self, kind, free_live):
        dev = self.rnd.choice(free_live)
        tgt = self.new_vdi(fmt=self.rnd.choice(["raw", "qcow2"]))
        speed = self.rnd.choice([1, 2, 4, 8]) << 20
        with self.o.lock:
            tgt.target_of = kind
            tgt.busy = dev.busy = kind
        self.begin(kind="job_start", what=kind, device=dev.uuid, target=tgt.uuid)
        fn = self.x.block_job.backup if kind == "backup" else self.x.block_job.mirror
        try:
            job = self.call(fn, dev.ref, tgt.ref, {"speed": str(speed)})
            task = self.call(self.x.block_job.get_task, job)
        except XenAPI.Failure:
            with self.o.lock:
                tgt.busy = dev.busy = None
            raise
        with self.o.lock:
            dev.history.append(f"{kind} device -> {tgt.uuid}")
            j = Job(kind=kind, job=job, task=task, device=dev.uuid, target=tgt.uuid, device_model=bytes(dev.model))
            self.o.jobs.append(j)
            tgt.busy = dev.busy = j
        self.done()

    def op_backup(self, free, free_live, *_):
        self.start_job("backup", free_live)

    def op_mirror(self, free, free_live, *_):
        self.start_job("mirror", free_live)

    def poll_jobs(self):
        with self.o.lock:
            mine = [j for j in self.o.jobs if j.device in self.o.vdis and self.o.vdis[j.device].owner == self.wid]
        for j in mine:
            rec = self.call(self.x.task.get_record, j.task)
            if rec["status"] == "pending":
                if j.kind == "mirror" and not j.completing:
                    try:
                        ready = self.call(self.x.block_job.get_ready, j.job)
                    except XenAPI.Failure:
                        continue
                    if ready:
                        j.completing = True
                        self.begin(kind="mirror_complete", job=j.job)
                        try:
                            self.call(self.x.block_job.complete, j.job)
                        except XenAPI.Failure:
                            self.inflight = None
                            continue
                        self.done()
                continue
            with self.o.lock:
                self.o.jobs.remove(j)
                dev, tgt = self.o.vdis.get(j.device), self.o.vdis.get(j.target)
                if dev:
                    dev.busy = None
                    dev.history.append(f"{j.kind} ended {rec['status']}")
                if rec["status"] != "success":
                    self.o.find(f"{j.kind} job {j.job} ended {rec['status']} {rec['error_info']}")
                    if tgt:
                        tgt.busy = None
                    continue
                if j.kind == "backup" and tgt:
                    tgt.busy = tgt.target_of = None
                    tgt.model = bytearray(j.device_model)
                    tgt.expected = j.device_model
                elif j.kind == "mirror" and tgt:
                    # pivoted: the device lives in the target's file, the target VDI is gone
                    self.o.vdis.pop(j.target, None)
                    self.o.destroyed.add(j.target)
            self.o.ack()
