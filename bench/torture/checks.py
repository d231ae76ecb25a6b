"""The invariants checked after each restart, against the oracle. Each check
appends a finding (a string) on failure; after the checks the oracle is
brought in line with what the server holds (uncertain ranges adopted, what
in-flight calls left behind destroyed) for the next round."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import time
from pathlib import Path

from oracle import BLOCK, Bitmap, Oracle

QEMU_IMG = "/usr/bin/qemu-img"


class Checker:
    def __init__(self, oracle: Oracle, x, session: str, port: int, sr_dir: Path):
        self.o, self.x, self.session, self.port, self.sr_dir = oracle, x, session, port, Path(sr_dir)
        self.checks = 0

    def ok(self, cond: bool, msg: str) -> bool:
        self.checks += 1
        if not cond:
            self.o.find(msg)
        return cond

    def export(self, ref) -> bytes | None:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", f"/export_raw_vdi?session_id={self.session}&vdi={ref}")
        r = c.getresponse()
        data = r.read()
        c.close()
        if not self.ok(r.status == 200, f"export of {ref}: HTTP {r.status} {data[:200]!r}"):
            return None
        return data

    def run_all(self):
        o, x = self.o, self.x
        inflight = list(o.inflight)
        tasks = x.task.get_all_records()
        vdis = x.VDI.get_all_records()
        by_uuid = {r["uuid"]: (ref, r) for ref, r in vdis.items()}

        # -- tasks ---------------------------------------------------------
        creating = {f["name"] for f in inflight if f["kind"] == "task_create"}
        destroying = {f["task"] for f in inflight if f["kind"] == "task_destroy"}
        for t in o.tasks:
            self.ok(t in tasks, f"acknowledged task.create {t} lost")
        for t in o.tasks_destroyed:
            self.ok(t not in tasks, f"acknowledged task.destroy {t}: task is back")
        for t in destroying:  # either outcome; keep the oracle honest
            if t in tasks:
                o.tasks.add(t)
        for t, rec in tasks.items():
            if rec["status"] == "pending":
                ours = t in o.tasks or t in destroying or rec["name_label"] in creating
                self.ok(ours, f"task {t} ({rec['name_label']}) still pending after the restart and not a client's task.create")
            elif rec["status"] == "failure" and rec["error_info"][:1] == ["INTERNAL_ERROR"]:
                self.ok(False, f"task {t} ({rec['name_label']}) failed INTERNAL_ERROR: {rec['error_info']}")
            if rec["status"] == "pending" and rec["name_label"] in creating:
                o.tasks.add(t)  # the in-flight create happened: the client now knows it
        for t, a in list(o.async_tasks.items()):
            rec = tasks.get(t)
            if not self.ok(rec is not None, f"acknowledged Async task {t} lost"):
                continue
            self.ok(rec["status"] in ("success", "failure"), f"Async task {t} still {rec['status']}")
            if rec["status"] == "success":
                ref = rec["result"].replace("<value>", "").replace("</value>", "")
                self.ok(ref in vdis, f"Async copy {t} succeeded but its VDI {ref} is gone")
                if ref in vdis:
                    inflight.append({"kind": "produce", "what": "async_copy(done)", "content": a["content"]})
            else:
                self.ok(rec["error_info"][:1] == ["TASK_INTERRUPTED"], f"Async copy {t} failed {rec['error_info']}")

        # -- jobs, claims ---------------------------------------------------
        jobs = x.block_job.get_all()
        self.ok(jobs == [], f"block jobs left after the restart: {jobs}")
        # The live server's background work (the coalesce, the leak check:
        # `blocked`, no owner) may hold a VDI a moment; nothing of the dead
        # process may hold one for good.
        held = {ref: (r["uuid"], r["current_operations"]) for ref, r in vdis.items() if r["current_operations"]}
        deadline = time.monotonic() + 30
        while held and time.monotonic() < deadline:
            if any(set(ops.values()) != {"blocked"} for _, ops in held.values()):
                break  # a claim of a call: no point waiting
            time.sleep(0.1)
            now = {ref: (u, x.VDI.get_current_operations(ref)) for ref, (u, _) in held.items()}
            held = {ref: v for ref, v in now.items() if v[1]}
        for ref, (u, ops) in held.items():
            self.ok(False, f"VDI {u} still claimed: {ops}")
        running = {j.target: j for j in o.jobs}
        for j in o.jobs:
            trec = tasks.get(j.task)
            if self.ok(trec is not None, f"{j.kind} task {j.task} lost"):
                self.ok(trec["status"] != "pending", f"{j.kind} task {j.task} still pending")

        # -- VDIs ------------------------------------------------------------
        destroying_v = {f["uuid"] for f in inflight if f["kind"] == "destroy"}
        for u in o.destroyed:
            self.ok(u not in by_uuid, f"acknowledged VDI.destroy of {u}: VDI is back")
        for u, v in list(o.vdis.items()):
            if u not in by_uuid:
                j = running.get(u)
                if j is not None and j.kind == "mirror":
                    continue  # pivoted before the kill (checked with the device)
                self.ok(u in destroying_v, f"acknowledged VDI {u} lost (snapshot={v.snapshot}, target_of={v.target_of}, "
                        f"busy={type(v.busy).__name__}, jobs={[(j.kind, j.device, j.target) for j in o.jobs]})")
                o.vdis.pop(u)
                continue
            ref, r = by_uuid[u]
            v.ref = ref
            if u in running:
                j = running[u]
                trec = tasks.get(j.task) or {}
                inc = r["sm_config"].get("incomplete")
                if trec.get("status") == "success":
                    self.ok(inc is None, f"{j.kind} target {u} of a successful job marked incomplete={inc}")
                    if j.kind == "backup":
                        v.model = bytearray(j.device_model)
                else:
                    self.ok(inc is not None, f"{j.kind} target {u} of an unfinished job ({trec.get('status')} {trec.get('error_info')}) not marked incomplete")
                    v.model = None  # not checked: destroyed below
                    continue
            elif v.expected is not None:
                self.ok("incomplete" not in r["sm_config"], f"finished backup target {u} marked incomplete")
            self.check_content(v, ref)

        # mirrors: a device whose target went is pivoted; its content is the same
        for j in o.jobs:
            if j.kind == "mirror" and j.target not in by_uuid:
                self.ok(j.device in by_uuid, f"mirror device {j.device} gone with its target")

        # VDIs nobody acknowledged: each must be what an in-flight call made, whole
        known = set(o.vdis) | {j.target for j in o.jobs}
        producers = [f for f in inflight if f["kind"] == "produce"]
        unknown = [(u, ref, r) for u, (ref, r) in by_uuid.items() if u not in known]
        self.ok(len(unknown) <= len(producers),
                f"{len(unknown)} unknown VDIs after the restart, {len(producers)} calls in flight: "
                f"{[(u, r['name_label'], r['sm_config']) for u, _, r in unknown]}")
        contents = [f["content"] for f in producers]
        for u, ref, r in unknown:
            data = self.export(ref)
            if data is not None:
                self.ok(data in contents, f"VDI {u} ({r['name_label']}, {r['location']}, {r['sm_config']}, "
                        f"{r['other_config']}) made by an in-flight call has unexpected content; in flight: "
                        f"{[(f.get('what'), f.get('name')) for f in producers]}")
        self.unknown = unknown
        self.present = set(by_uuid)

        # -- files -------------------------------------------------------------
        vdis = x.VDI.get_all_records()
        locations = {r["location"] for r in vdis.values() if r["location"]}
        files = set(os.listdir(self.sr_dir))
        backing = set()
        for loc in locations:
            p = self.sr_dir / loc
            if not p.exists():
                self.ok(False, f"VDI file {loc} missing")
                continue
            info = json.loads(subprocess.run([QEMU_IMG, "info", "-U", "--backing-chain", "--output=json", str(p)],
                                             capture_output=True, text=True).stdout or "[]")
            for layer in info:
                backing.add(os.path.basename(layer["filename"]))
        for f in sorted(files - locations):
            # (A hidden base the coalesce folded and deleted since the
            # listing is neither, and gone.)
            self.ok(f in backing or not (self.sr_dir / f).exists(),
                    f"file {f} in the SR is neither a VDI's nor a backing file (not swept)")
        for f in sorted(files):
            p = self.sr_dir / f
            if f.endswith(".qcow2") or f not in locations:
                # The live server's background work may be writing the
                # file (the restart's sync of its bitmaps, a fold into it):
                # a reader then sees clusters allocated but not yet named.
                # What a crash left stays: a file is at fault if five
                # checks 1 s apart all find fault.
                for _ in range(5):
                    r = subprocess.run([QEMU_IMG, "check", "-U", str(p)], capture_output=True, text=True)
                    if r.returncode in (0, 63) or not p.exists():
                        break
                    time.sleep(1)
                # 63: a raw file (no checks); a hidden base the coalesce
                # has folded and deleted since the listing is gone.
                if r.returncode == 63 or (f not in locations and not p.exists()):
                    continue
                self.ok(r.returncode == 0, f"qemu-img check {f}: exit {r.returncode} {r.stdout[-300:]} {r.stderr[-300:]}")

        # -- CBT and bitmaps -----------------------------------------------------
        for u, v in o.vdis.items():
            if v.model is None or u not in by_uuid:
                continue
            ref, r = by_uuid[u]
            if v.cbt:
                self.ok(r["cbt_enabled"], f"VDI {u}: acknowledged enable_cbt lost")
                base = by_uuid.get(v.cbt_base) if v.cbt_base else None
                if base is not None and v.cbt_written:
                    bits = base64.b64decode(x.VDI.list_changed_blocks(base[0], ref))
                    missing = [b for b in v.cbt_written if not (bits[b // 8] >> (7 - b % 8)) & 1]
                    self.ok(not missing, f"VDI {u}: changed blocks miss acknowledged writes {sorted(missing)[:8]}")
        bms = x.block_dirty_bitmap.get_all_records()
        for u, v in o.vdis.items():
            if u not in by_uuid:
                continue
            ref = by_uuid[u][0]
            have = {b["name"]: b for b in bms.values() if b["VDI"] == ref}
            for name, b in list(v.bitmaps.items()):
                if not b.persistent:
                    self.ok(name not in have, f"transient bitmap {name} of {u} survived the restart")
                    del v.bitmaps[name]
                    continue
                if not self.ok(name in have, f"persistent bitmap {name} of {u} lost"):
                    del v.bitmaps[name]
                    continue
                rec = have[name]
                self.ok(not rec["busy"] and not rec["inconsistent"], f"bitmap {name} of {u} busy/inconsistent after restart")
                need = min(len(b.written) * b.granularity, v.size)
                self.ok(int(rec["count"]) >= need, f"bitmap {name} of {u}: count {rec['count']} < {need} bytes acknowledged written")
            for name in have:
                if name not in v.bitmaps:
                    ok = any(f["kind"] in ("bitmap_add", "produce") and f.get("name", name) == name or f.get("what") == "transaction"
                             for f in inflight)
                    self.ok(ok, f"bitmap {name} of {u} nobody added")
                    if ok:  # the in-flight add happened: adopt it (its bits: none counted)
                        rec = have[name]
                        v.bitmaps[name] = Bitmap(name=name, persistent=rec["persistent"], granularity=int(rec["granularity"]))

    def check_content(self, v, ref):
        data = self.export(ref)
        if data is None:
            return
        model = bytes(v.model)
        if data == model:
            v.uncertain = []
            return
        # differences only inside ranges of imports in flight, each byte old or new
        bad = []
        for i in range(0, len(model), 4096):
            a, m = data[i:i + 4096], model[i:i + 4096]
            if a == m:
                continue
            pats = [p for off, ln, p in v.uncertain if off <= i < off + ln]
            if not pats or any(b != mb and b not in pats for b, mb in zip(a, m)):
                bad.append(i)
        self.ok(not bad, f"VDI {v.uuid} content differs from the acknowledged writes at {bad[:6]} (uncertain {v.uncertain}; history {v.history[-12:]})")
        v.model = bytearray(data)  # adopt (both outcomes valid, or reported)
        v.uncertain = []

    def settle(self):
        """Cleans what in-flight calls and interrupted jobs left, for the next round."""
        o, x = self.o, self.x
        for u, ref, r in self.unknown:
            try:
                x.VDI.destroy(ref)
            except Exception as e:
                o.find(f"destroying leftover VDI {u}: {e}")
        for j in o.jobs:
            dev, tgt = o.vdis.get(j.device), o.vdis.get(j.target)
            if dev:
                dev.busy = None
            if tgt and j.kind == "mirror" and tgt.uuid not in self.present:
                o.vdis.pop(tgt.uuid)  # pivoted before the kill
                o.destroyed.add(tgt.uuid)
            elif tgt:
                tgt.busy = tgt.target_of = None
                if tgt.model is None:
                    try:
                        x.VDI.destroy(tgt.ref)
                    except Exception as e:
                        o.find(f"destroying incomplete target {tgt.uuid}: {e}")
                    o.vdis.pop(tgt.uuid)
                    o.destroyed.add(tgt.uuid)
        o.jobs = []
        o.async_tasks = {}
        o.inflight = []
        for v in o.vdis.values():
            v.expected = None
            if v.cbt and v.cbt_base and v.cbt_base not in o.vdis:
                v.cbt_base = None
