"""HTTP data paths (API.md section 3): PUT /import_raw_vdi (whole, at an
offset, refused before anything is written when it cannot fit or the
session is bad), GET /export_raw_vdi, both tracked by a task named in the
task-id header; writes into a mirror's device during ready reach the
target; writes into a backup's device leave the backup a point-in-time
copy; a steady backup has a steady ETA."""

import http.client
import os
import time

import pytest

from storage_util import (
    M, assert_same, check_image, create_vdi, default_sr, flatten, result_ref, sr_dir, vdi_path,
    wait_for, wait_job, wait_job_gone, wait_task,
)
from xapid_rpc import REF_RE, parse_datetime


@pytest.fixture
def sr(x):
    return default_sr(x)[0]


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def put(srv, x, vdi, data, offset=None, session=None, task=None):
    q = f"/import_raw_vdi?session_id={x_session(x) if session is None else session}&vdi={vdi}"
    if offset is not None:
        q += f"&offset={offset}"
    if task is not None:
        q += f"&task_id={task}"
    return request(srv.port, "PUT", q, body=data)


def get(srv, x, vdi, session=None):
    return request(srv.port, "GET", f"/export_raw_vdi?session_id={x_session(x) if session is None else session}&vdi={vdi}")


def x_session(x):
    return x._session


@pytest.fixture
def x(server):
    s = server.sdk()
    x = s.xenapi
    x._session = s._session
    return x


def pattern(n, seed):
    b = bytes((i * 7 + seed) & 0xFF for i in range(256))
    return (b * (n // 256 + 1))[:n]


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_import_then_export(server, x, sr, fmt, tmp_path):
    v = create_vdi(x, sr, 8 * M, fmt)
    data = os.urandom(3 * M)
    st, h, body = put(server, x, v, data, offset=M)
    assert st == 200, body
    t = h["task-id"]
    assert REF_RE.match(t)
    rec = wait_task(x, t)
    assert rec["status"] == "success" and rec["progress"] == 1.0, rec
    st, h, out = get(server, x, v)
    assert st == 200 and len(out) == 8 * M
    assert REF_RE.match(h["task-id"])
    assert out[:M] == bytes(M) and out[M:4 * M] == data and out[4 * M:] == bytes(4 * M)
    assert wait_task(x, h["task-id"])["status"] == "success"
    path = vdi_path(server, x, v)
    if fmt == "qcow2":
        check_image(path)
    expected = tmp_path / "expected.raw"
    expected.write_bytes(out)
    assert_same(path, expected, fmt, "raw")
    # The VDI's utilisation is read anew from the file.
    assert int(x.VDI.get_physical_utilisation(v)) >= 3 * M


def test_import_with_a_client_task(server, x, sr):
    v = create_vdi(x, sr, 4 * M)
    t = x.task.create("my import", "")
    st, h, _ = put(server, x, v, pattern(M, 3), task=t)
    assert st == 200 and h["task-id"] == t
    rec = wait_task(x, t)
    assert rec["status"] == "success"


def test_bad_session_is_401_and_writes_nothing(server, x, sr):
    v = create_vdi(x, sr, 4 * M)
    before = vdi_path(server, x, v).read_bytes()
    for s in ("OpaqueRef:00000000-0000-0000-0000-000000000000", "garbage", ""):
        st, _, body = put(server, x, v, pattern(M, 1), session=s)
        assert st == 401, (s, st, body)
        st, _, _ = get(server, x, v, session=s)
        assert st == 401
    assert vdi_path(server, x, v).read_bytes() == before


def test_imports_that_do_not_fit_are_refused(server, x, sr):
    v = create_vdi(x, sr, 2 * M)
    before = vdi_path(server, x, v).read_bytes()
    for off, n in [(0, 2 * M + 1), (M, M + 512), (2 * M + 1, 1), (-1, 1)]:
        st, h, body = put(server, x, v, pattern(n, 2), offset=off)
        assert st == 400, (off, n, st, body)
        assert b"INVALID_VALUE" in body
    assert vdi_path(server, x, v).read_bytes() == before
    # Unknown VDI: 404; read-only VDI: 403.
    st, _, _ = put(server, x, "OpaqueRef:11111111-2222-3333-4444-555555555555", b"x")
    assert st == 404
    snap = x.VDI.snapshot(v)
    st, _, body = put(server, x, snap, b"x" * 512)
    assert st == 403 and b"VDI_READ_ONLY" in body


def test_export_of_a_snapshot_chain(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    a, b = pattern(M, 5), pattern(M, 6)
    assert put(server, x, v, a, offset=0)[0] == 200
    x.VDI.snapshot(v)
    assert put(server, x, v, b, offset=2 * M)[0] == 200
    st, _, out = get(server, x, v)
    assert st == 200 and out[:M] == a and out[2 * M:3 * M] == b


def test_writes_during_a_mirror_reach_the_target(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 16 * M, "qcow2")
    assert put(server, x, v, pattern(4 * M, 7))[0] == 200
    t = create_vdi(x, sr, 16 * M, "raw")
    job = x.block_job.mirror(v, t, {"auto_dismiss": "false"})
    wait_job(x, job, "ready")
    late = pattern(2 * M, 9)
    st, _, body = put(server, x, v, late, offset=10 * M)
    assert st == 200, body
    # The device is exported as it is now, while the mirror runs.
    st, _, out = get(server, x, v)
    assert st == 200 and out[10 * M:12 * M] == late
    snapshot = tmp_path / "device.raw"
    snapshot.write_bytes(out)
    x.block_job.cancel(job, False)  # soft cancel in ready: in sync, no pivot
    rec = wait_job(x, job, "concluded")
    assert rec["error"] == ""
    x.block_job.dismiss(job)
    assert_same(vdi_path(server, x, t), snapshot, "raw", "raw")


def test_writes_during_a_backup_keep_it_point_in_time(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 32 * M, "raw")
    original = pattern(32 * M, 11)
    assert put(server, x, v, original)[0] == 200
    t = create_vdi(x, sr, 32 * M, "raw")
    job = x.block_job.backup(v, t, {"speed": str(4 * M), "auto_dismiss": "false"})
    wait_for(lambda: int(x.block_job.get_current_progress(job)) > 0, 10)
    # Overwrite the end of the disk before the backup got there.
    st, _, body = put(server, x, v, b"\xee" * (4 * M), offset=28 * M)
    assert st == 200, body
    x.block_job.set_speed(job, "0")
    rec = wait_job(x, job, "concluded")
    assert rec["error"] == "", rec
    x.block_job.dismiss(job)
    copy = vdi_path(server, x, t).read_bytes()
    assert copy == original, "the backup is the disk as it was when the job started"
    st, _, now = get(server, x, v)
    assert now[28 * M:] == b"\xee" * (4 * M)


def test_import_conflicts_with_a_copy_target(server, x, sr):
    v = create_vdi(x, sr, 16 * M)
    t = create_vdi(x, sr, 16 * M)
    job = x.block_job.backup(v, t, {"speed": str(M), "auto_dismiss": "false"})
    st, _, body = put(server, x, t, b"x" * 512)
    assert st == 409 and b"OTHER_OPERATION_IN_PROGRESS" in body
    x.block_job.cancel(job)
    wait_job(x, job, "concluded")
    x.block_job.dismiss(job)


def test_eta_is_steady(server, x, sr):
    """A backup at a fixed speed: the task's ETA moves little from the
    first seconds on (a smoothed rate, not the instantaneous one)."""
    v = create_vdi(x, sr, 24 * M)
    assert put(server, x, v, pattern(24 * M, 13))[0] == 200
    t = create_vdi(x, sr, 24 * M)
    job = x.block_job.backup(v, t, {"speed": str(6 * M), "auto_dismiss": "false"})
    task = x.block_job.get_task(job)
    etas = []
    start = time.time()
    time.sleep(0.8)  # the job opens its images and takes its first steps
    while time.time() - start < 3.4:
        time.sleep(0.3)
        e = x.task.get_eta(task)
        if parse_datetime(e).year > 1970:
            etas.append(parse_datetime(e).timestamp())
    assert len(etas) >= 4, etas
    assert max(etas) - min(etas) <= 2.0, f"ETA moved by {max(etas) - min(etas)} s: {etas}"
    # Expected end: 24 MiB at 6 MiB/s = 4 s after the start.
    assert abs(etas[-1] - (start + 4)) <= 2.5
    wait_job(x, job, "concluded")
    x.block_job.dismiss(job)
    assert wait_task(x, task)["status"] == "success"


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_export_answers_ranges(server, x, sr, fmt):
    """`Range` on export_raw_vdi (xapi has none): 206 with Content-Range for
    one range, the whole body for what cannot be read as one range, 416
    past the end; holes read as zeroes inside a range too."""
    v = create_vdi(x, sr, 4 * M, fmt)
    data = pattern(M, 9)
    assert put(server, x, v, data, offset=M)[0] == 200
    whole = bytes(M) + data + bytes(2 * M)
    path = f"/export_raw_vdi?session_id={x_session(x)}&vdi={v}"
    for rng, start, end in [("bytes=0-99", 0, 100), (f"bytes={M - 10}-{M + 9}", M - 10, M + 10),
                            (f"bytes={3 * M}-", 3 * M, 4 * M), ("bytes=-4096", 4 * M - 4096, 4 * M),
                            (f"bytes={M}-{99 * M}", M, 4 * M)]:
        st, h, body = request(server.port, "GET", path, headers={"Range": rng})
        assert st == 206, (rng, st, body[:200])
        assert h["content-range"] == f"bytes {start}-{end - 1}/{4 * M}", h
        assert int(h["content-length"]) == end - start and body == whole[start:end], rng
        assert wait_task(x, h["task-id"])["status"] == "success"
    st, h, body = request(server.port, "GET", path)
    assert st == 200 and h["accept-ranges"] == "bytes" and body == whole
    # Several ranges, or another unit: the whole body, as RFC 9110 allows.
    st, _, body = request(server.port, "GET", path, headers={"Range": "bytes=0-1,5-6"})
    assert st == 200 and body == whole
    st, h, body = request(server.port, "GET", path, headers={"Range": f"bytes={4 * M}-"})
    assert st == 416 and h["content-range"] == f"bytes */{4 * M}", (st, h)
    assert wait_task(x, h["task-id"])["status"] == "failure"
    # The VDI is not left claimed.
    assert put(server, x, v, data)[0] == 200
