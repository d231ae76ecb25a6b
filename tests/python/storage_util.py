"""Helpers for the storage and block-job tests: qemu-img/qemu-io as the
oracle for image contents, pollers, and small wrappers around SR/VDI/task/
block_job calls."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import XenAPI

from xapid_rpc import REF_RE

M = 1 << 20
QEMU_IMG = "/usr/bin/qemu-img"
QEMU_IO = "/usr/bin/qemu-io"
NULL = "OpaqueRef:NULL"

# -- processes -----------------------------------------------------------------


def run(*args, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def qemu_img_create(path, fmt: str, size: int, backing=None, backing_fmt=None, unsafe=False):
    args = [QEMU_IMG, "create", "-f", fmt]
    if unsafe:
        args.append("-u")
    if backing is not None:
        args += ["-b", str(backing), "-F", backing_fmt or "qcow2"]
    run(*args, path, str(size))


def qemu_io(path, fmt: str, *cmds: str):
    """Runs qemu-io commands (e.g. "write -P 0x5a 0 1M") on an image file."""
    args = [QEMU_IO, "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    p = run(*args, path)
    assert "error" not in p.stdout.lower() and "failed" not in p.stdout.lower(), p.stdout
    return p


def info(path, chain: bool = False):
    """`qemu-img info --output=json` (a list with --backing-chain)."""
    args = [QEMU_IMG, "info", "-U", "--output=json"]
    if chain:
        args.append("--backing-chain")
    return json.loads(run(*args, path).stdout)


def image_format(path) -> str:
    return info(path)["format"]


def compare(a, b, fmt_a=None, fmt_b=None) -> subprocess.CompletedProcess:
    """`qemu-img compare` (exit 0: the guest-visible contents are equal)."""
    args = [QEMU_IMG, "compare", "-U"]
    if fmt_a:
        args += ["-f", fmt_a]
    if fmt_b:
        args += ["-F", fmt_b]
    return run(*args, a, b, check=False)


def assert_same(a, b, fmt_a=None, fmt_b=None):
    p = compare(a, b, fmt_a or image_format(a), fmt_b or image_format(b))
    assert p.returncode == 0, f"{a} and {b} differ ({p.returncode}): {p.stdout}{p.stderr}"


def assert_differ(a, b, fmt_a=None, fmt_b=None):
    p = compare(a, b, fmt_a or image_format(a), fmt_b or image_format(b))
    assert p.returncode == 1, f"{a} and {b} were expected to differ ({p.returncode}): {p.stdout}{p.stderr}"


def check_image(path):
    """`qemu-img check` of a qcow2 file: no errors, no leaks (raw: nothing)."""
    if image_format(path) != "qcow2":
        return
    p = run(QEMU_IMG, "check", "-U", "-f", "qcow2", path, check=False)
    assert p.returncode == 0, f"qemu-img check {path}: {p.returncode}\n{p.stdout}{p.stderr}"


def flatten(path, out) -> Path:
    """The guest-visible contents of `path` (through its backing chain) as a raw file."""
    run(QEMU_IMG, "convert", "-U", "-O", "raw", path, out)
    return Path(out)


def allocated(path) -> int:
    """Bytes allocated on disk for the file."""
    return os.stat(path).st_blocks * 512


# -- polling -------------------------------------------------------------------


def wait_for(pred, timeout: float = 30, interval: float = 0.05, what: str = ""):
    """Polls `pred` until it returns a truthy value and returns it; fails the
    test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred} (last: {last!r})")
        time.sleep(interval)


# -- SR and VDI ---------------------------------------------------------------


def default_sr(x):
    """(ref, record) of the SR named "Local storage"."""
    for r, rec in x.SR.get_all_records().items():
        if rec["name_label"] == "Local storage":
            return r, rec
    raise AssertionError("no default SR")


def sr_dir(x, sr) -> Path:
    return Path(x.SR.get_sm_config(sr)["path"])


def vdi_path(srv, sdk, vdi) -> Path:
    """The image file of a VDI: its SR's directory / its location."""
    x = sdk.xenapi if isinstance(sdk, XenAPI.Session) else sdk
    rec = x.VDI.get_record(vdi)
    return sr_dir(x, rec["SR"]) / rec["location"]


def vdi_by_location(x, sr, location):
    for r, rec in x.VDI.get_all_records().items():
        if rec["SR"] == sr and rec["location"] == location:
            return r
    return None


def vdi_by_uuid_or_none(x, uuid):
    for r, rec in x.VDI.get_all_records().items():
        if rec["uuid"] == uuid:
            return r
    return None


def place_image(x, sr, name: str, fmt: str, size: int, writes=(), backing=None):
    """Creates `name` in the SR's directory by hand (qemu-img), writes the
    given qemu-io patterns into it, scans the SR and returns the new VDI."""
    path = sr_dir(x, sr) / name
    qemu_img_create(path, fmt, size, backing=backing)
    if writes:
        qemu_io(path, fmt, *writes)
    x.SR.scan(sr)
    v = vdi_by_location(x, sr, name)
    assert v is not None, f"{name} was not introduced by SR.scan"
    return v


def create_vdi(x, sr, size: int, fmt: str = "raw", label: str = "test-disk", **extra):
    rec = {
        "SR": sr,
        "virtual_size": str(size),
        "name_label": label,
        "sm_config": {"image-format": fmt},
    }
    rec.update(extra)
    return x.VDI.create(rec)


def write(srv, x, vdi, *cmds: str):
    """qemu-io writes into a VDI's file (only while no job uses it)."""
    rec = x.VDI.get_record(vdi)
    qemu_io(sr_dir(x, rec["SR"]) / rec["location"], rec["sm_config"]["image-format"], *cmds)


# -- tasks and jobs -----------------------------------------------------------

RESULT_RE = re.compile(r"^<value>(OpaqueRef:[0-9a-f-]+)</value>$")


def result_ref(result: str) -> str:
    """The ref in a task result `<value>OpaqueRef:...</value>`."""
    m = RESULT_RE.match(result)
    assert m and REF_RE.match(m.group(1)), f"not a ref result: {result!r}"
    return m.group(1)


def wait_task(x, task, timeout: float = 60):
    """The task's record once it is no longer pending."""
    return wait_for(
        lambda: (lambda r: r if r["status"] not in ("pending", "cancelling") else None)(x.task.get_record(task)),
        timeout, what=f"task {task} to finish",
    )


def wait_job(x, job, *statuses: str, timeout: float = 60):
    """The job's record once its status is one of `statuses`."""
    return wait_for(
        lambda: (lambda r: r if r["status"] in statuses else None)(x.block_job.get_record(job)),
        timeout, what=f"job {job} to reach {statuses}",
    )


def job_exists(x, job) -> bool:
    return job in x.block_job.get_all()


def wait_job_gone(x, job, timeout: float = 30):
    wait_for(lambda: not job_exists(x, job), timeout, what=f"job {job} to be dismissed")


def random_writes(seed: int, size: int, n: int = 10, max_len: int = 2 * M) -> list[str]:
    """qemu-io commands writing `n` pseudo-random patterns (64 KiB-aligned
    ranges, some of them zero writes) into an image of `size` bytes."""
    import random

    rnd = random.Random(seed)
    cmds = []
    for i in range(n):
        length = rnd.randrange(1, max_len // (64 << 10) + 1) * (64 << 10)
        offset = rnd.randrange(0, (size - length) // (64 << 10) + 1) * (64 << 10)
        if i % 5 == 4:
            cmds.append(f"write -z {offset} {length}")
        else:
            cmds.append(f"write -P {rnd.randrange(1, 256):#04x} {offset} {length}")
    return cmds


def sdk_x(srv):
    """The SDK's `xenapi` of a new root session, with the session ref in
    `x._session` (for the HTTP data paths)."""
    s = srv.sdk()
    x = s.xenapi
    x._session = s._session
    return x


def import_raw(srv, x, vdi, data: bytes, offset: int = 0):
    """PUT /import_raw_vdi of `data` at `offset`; waits for its task's
    success."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    c.request("PUT", f"/import_raw_vdi?session_id={x._session}&vdi={vdi}&offset={offset}", body=data)
    r = c.getresponse()
    r.read()
    c.close()
    assert r.status == 200, r.status
    assert wait_task(x, r.getheader("task-id"))["status"] == "success"


def export_raw(srv, x, vdi) -> bytes:
    """GET /export_raw_vdi: the VDI's whole data."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    c.request("GET", f"/export_raw_vdi?session_id={x._session}&vdi={vdi}")
    r = c.getresponse()
    data = r.read()
    c.close()
    assert r.status == 200, data[:200]
    return data
