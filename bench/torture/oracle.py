"""What the server acknowledged (the oracle) and what was in flight when it
was killed. A change is acknowledged when its reply arrived; one whose call
was cut by the kill is in flight: after the restart it either happened
whole or not at all."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

BLOCK = 64 << 10  # CBT block and default bitmap granularity


@dataclass
class Bitmap:
    name: str
    persistent: bool
    granularity: int
    recording: bool = True
    written: set = field(default_factory=set)  # granule indices written since add/clear


@dataclass
class Vdi:
    uuid: str
    ref: str
    owner: int
    size: int
    model: bytearray
    snapshot: bool = False
    # (offset, length, pattern) of imports whose reply never came
    uncertain: list = field(default_factory=list)
    cbt: bool = False
    cbt_base: str | None = None  # uuid of the snapshot the written set is counted from
    cbt_written: set = field(default_factory=set)
    bitmaps: dict = field(default_factory=dict)  # name -> Bitmap
    busy: object = None  # the job using it (device or target)
    # a backup/mirror target whose job has not been seen to succeed: it may
    # be marked sm_config:incomplete (then its content is not checked)
    target_of: object = None
    expected: bytes | None = None  # a finished backup's target: this content
    history: list = field(default_factory=list)  # what was done to it (for findings)


@dataclass
class Job:
    kind: str  # backup | mirror
    job: str
    task: str
    device: str  # uuid
    target: str  # uuid
    device_model: bytes  # backup: the point in time copied
    completing: bool = False  # mirror: complete was called (in flight or acked)


class Oracle:
    def __init__(self):
        self.lock = threading.RLock()
        self.vdis: dict[str, Vdi] = {}
        self.destroyed: set[str] = set()  # acknowledged destroys (uuids)
        self.tasks: set[str] = set()  # acknowledged task.create, not destroyed
        self.tasks_destroyed: set[str] = set()
        self.async_tasks: dict[str, dict] = {}  # Async.VDI.copy: task -> {source model}
        self.jobs: list[Job] = []
        # what each worker had in flight when the server died: dicts with kind, ...
        self.inflight: list[dict] = []
        self.acked = 0  # acknowledged changes (all rounds)
        self.errors: dict[str, int] = {}  # error codes answered
        self.findings: list[str] = []

    def ack(self):
        with self.lock:
            self.acked += 1

    def error(self, code: str):
        with self.lock:
            self.errors[code] = self.errors.get(code, 0) + 1

    def find(self, msg: str):
        with self.lock:
            self.findings.append(msg)

    def owned(self, worker: int) -> list[Vdi]:
        with self.lock:
            return [v for v in self.vdis.values() if v.owner == worker]
