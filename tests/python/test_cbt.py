"""Changed block tracking (xapi's CBT, API.md "Changed block tracking"):
VDI.enable_cbt / disable_cbt / data_destroy / list_changed_blocks with
xapi's checks, errors and idempotency; SM's chain semantics (a snapshot
takes the set, destroying a snapshot merges it into the next one); the
answer's encoding (base64, one bit per 64 KiB, MSB first, padded to 4
bytes), also as an Async task's result; the range and extents extensions;
raw VDIs tracked too; a resize keeps the chain."""

import base64
import http.client
import os
import re

import pytest
import XenAPI

from storage_util import M, create_vdi, default_sr, export_raw, import_raw, sdk_x, wait_task

K64 = 64 << 10
VALUE_RE = re.compile(r"^<value>([A-Za-z0-9+/=]*)</value>$")




def err(f, *a):
    with pytest.raises(XenAPI.Failure) as e:
        f(*a)
    return e.value.details


def blocks(b64: str) -> set[int]:
    raw = base64.b64decode(b64)
    assert len(raw) % 4 == 0, "padded to a multiple of 4 bytes (Xen Orchestra reads u32s)"
    return {i * 8 + k for i, byte in enumerate(raw) for k in range(8) if byte & (0x80 >> k)}


def touched(offset, length):
    return set(range(offset // K64, (offset + length + K64 - 1) // K64))


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_chain_of_snapshots(server, x, sr, fmt):
    v = create_vdi(x, sr, 10 * M + 3 * K64, fmt)
    assert x.VDI.get_cbt_enabled(v) is False
    x.VDI.enable_cbt(v)
    x.VDI.enable_cbt(v)  # idempotent
    assert x.VDI.get_cbt_enabled(v) is True
    import_raw(server, x, v, os.urandom(3 * K64), 2 * K64)
    s1 = x.VDI.snapshot(v)
    assert x.VDI.get_cbt_enabled(s1) is True
    # Two bytes across a 64 KiB boundary dirty two blocks; a write at the
    # very end dirties the last (partial) block.
    import_raw(server, x, v, b"ab", 5 * K64 - 1)
    import_raw(server, x, v, os.urandom(M), 8 * M)
    import_raw(server, x, v, b"z", 10 * M + 3 * K64 - 1)
    s2 = x.VDI.snapshot(v)
    second = touched(5 * K64 - 1, 2) | touched(8 * M, M) | {(10 * M + 3 * K64 - 1) // K64}
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == second
    import_raw(server, x, v, os.urandom(K64), 0)
    s3 = x.VDI.snapshot(v)
    assert blocks(x.VDI.list_changed_blocks(s2, s3)) == {0}
    # The union of the sets after `from` up to and including `to`.
    assert blocks(x.VDI.list_changed_blocks(s1, s3)) == second | {0}
    # Bit order: block 0 is the top bit of byte 0; size: ceil(size / 64K)
    # bits, padded to 4 bytes.
    raw = base64.b64decode(x.VDI.list_changed_blocks(s2, s3))
    assert raw[0] == 0x80 and len(raw) == 24
    # Unrelated, reversed, the same VDI twice.
    for a, b in [(s3, s1), (s2, s2)]:
        d = err(x.VDI.list_changed_blocks, a, b)
        assert d[0] == "SR_BACKEND_FAILURE_460", d
    other = create_vdi(x, sr, M, fmt)
    assert err(x.VDI.list_changed_blocks, s1, other) == ["VDI_NO_CBT_METADATA", other]


def test_async_result_and_extensions(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, os.urandom(2 * K64), M)
    import_raw(server, x, v, os.urandom(1), 3 * M + 5)
    s2 = x.VDI.snapshot(v)
    want = touched(M, 2 * K64) | touched(3 * M + 5, 1)
    t = x.Async.VDI.list_changed_blocks(s1, s2)
    rec = wait_task(x, t)
    assert rec["status"] == "success", rec
    m = VALUE_RE.match(rec["result"])
    assert m, rec["result"]
    assert blocks(m.group(1)) == want
    r = x.VDI.list_changed_blocks_range(s1, s2, str(M), str(M))
    assert r["granularity"] == "65536"
    assert blocks(r["bitmap"]) == {b - M // K64 for b in want if M // K64 <= b < 2 * M // K64}
    assert err(x.VDI.list_changed_blocks_range, s1, s2, "100", "1")[0] == "INVALID_VALUE"
    ext = [int(n) for n in x.VDI.list_changed_extents(s1, s2)]
    assert ext == [M, 2 * K64, 3 * M, K64]


def test_checks_and_idempotency(server, x, sr):
    v = create_vdi(x, sr, M, "raw")
    s = x.VDI.snapshot(v)
    d = err(x.VDI.enable_cbt, s)
    assert d[0] == "OPERATION_NOT_ALLOWED" and "VDI is a snapshot" in d[1], d
    assert err(x.VDI.data_destroy, v)[0] == "OPERATION_NOT_ALLOWED"
    assert err(x.VDI.data_destroy, s) == ["VDI_NO_CBT_METADATA", s]
    x.VDI.disable_cbt(v)  # disabled already: a no-op
    ops = x.VDI.get_allowed_operations(v)
    assert "enable_cbt" in ops and "data_destroy" not in ops
    sops = x.VDI.get_allowed_operations(s)
    assert "enable_cbt" not in sops and "data_destroy" in sops
    # Async forms exist.
    assert wait_task(x, x.Async.VDI.enable_cbt(v))["status"] == "success"
    assert x.VDI.get_cbt_enabled(v) is True
    assert wait_task(x, x.Async.VDI.disable_cbt(v))["status"] == "success"
    assert x.VDI.get_cbt_enabled(v) is False
    # The internal setter is root only (the tests' session is root).
    x.VDI.set_cbt_enabled(v, True)
    assert x.VDI.get_cbt_enabled(v) is True


def test_disable_breaks_the_chain_but_snapshots_keep_theirs(server, x, sr):
    v = create_vdi(x, sr, M, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"x", 0)
    s2 = x.VDI.snapshot(v)
    x.VDI.disable_cbt(v)
    assert x.VDI.get_cbt_enabled(s2) is True
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {0}
    x.VDI.enable_cbt(v)
    import_raw(server, x, v, b"y", K64)
    s3 = x.VDI.snapshot(v)
    d = err(x.VDI.list_changed_blocks, s2, s3)
    assert d[0] == "SR_BACKEND_FAILURE_460" and "unrelated" in d[2] + d[1], d


def test_data_destroy_keeps_the_set(server, x, sr):
    v = create_vdi(x, sr, 2 * M, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, os.urandom(K64), M)
    s2 = x.VDI.snapshot(v)
    x.VDI.data_destroy(s1)
    x.VDI.data_destroy(s1)  # a no-op on cbt_metadata
    assert x.VDI.get_type(s1) == "cbt_metadata"
    assert sorted(x.VDI.get_allowed_operations(s1)) == sorted(
        ["destroy", "update", "data_destroy", "list_changed_blocks"])
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {M // K64}
    for f, a in [(x.VDI.snapshot, (s1,)), (x.VDI.clone, (s1,)), (x.VDI.get_nbd_info, (s1,))]:
        d = err(f, *a)
        assert d == ["VDI_INCOMPATIBLE_TYPE", s1, "cbt_metadata"], d
    # The data of the VDI built on it never changes (checked by export).
    x.VDI.data_destroy(s2)
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {M // K64}


def test_resize_keeps_the_chain(server, x, sr):
    v = create_vdi(x, sr, M, "raw")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    x.VDI.resize(v, str(3 * M))
    import_raw(server, x, v, b"q", 2 * M + 1)
    s2 = x.VDI.snapshot(v)
    raw = base64.b64decode(x.VDI.list_changed_blocks(s1, s2))
    assert len(raw) == 8  # 48 bits, padded to 8 bytes
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {2 * M // K64}


def test_a_tracked_snapshot_survives_a_restart(make_server):
    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, M, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, b"x", 3 * K64)
    srv.restart()
    x = sdk_x(srv)
    import_raw(srv, x, v, b"y", 5 * K64)
    s2 = x.VDI.snapshot(v)
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {3, 5}




@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_kill_during_writes_never_loses_a_change(make_server, fmt):
    """kill -9 while imports write into a tracked VDI, at several moments:
    after each restart, every 64 KiB block whose data differs from the
    previous snapshot is in the changed set (a superset: record before
    write), CBT is still on, and the images are clean."""
    import random
    import threading
    import time

    from storage_util import check_image, vdi_path

    srv = make_server()
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    size = 24 * M
    v = create_vdi(x, sr, size, fmt)
    x.VDI.enable_cbt(v)
    import_raw(srv, x, v, os.urandom(4 * M), 0)
    prev = x.VDI.snapshot(v)
    prev_data = export_raw(srv, x, prev)
    rnd = random.Random(11)
    for delay in (0.0, 0.05, 0.15, 0.4, 0.8):
        stop = threading.Event()

        def writer(session=x._session, port=srv.port):
            while not stop.is_set():
                off = rnd.randrange(0, size - M) & ~511
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("PUT", f"/import_raw_vdi?session_id={session}&vdi={v}&offset={off}",
                              body=os.urandom(rnd.choice([512, 70000, M])))
                    c.getresponse().read()
                    c.close()
                except OSError:
                    return

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(delay)
        srv.kill()
        stop.set()
        t.join(20)
        srv.start()
        x = sdk_x(srv)
        assert x.VDI.get_cbt_enabled(v) is True
        snap = x.VDI.snapshot(v)
        data = export_raw(srv, x, snap)
        differ = {b for b in range(size // K64) if data[b * K64:(b + 1) * K64] != prev_data[b * K64:(b + 1) * K64]}
        listed = blocks(x.VDI.list_changed_blocks(prev, snap))
        assert differ <= listed, (delay, sorted(differ - listed)[:10])
        check_image(vdi_path(srv, x, v))
        prev, prev_data = snap, data
    srv.stop()



def finish(x, job):
    from storage_util import wait_job
    rec = wait_job(x, job, "concluded", timeout=60)
    x.block_job.dismiss(job)
    return rec


def test_a_mirror_keeps_the_chain(server, x, sr):
    """xapi refuses to move a VDI with CBT (VDI_CBT_ENABLED); xapid's
    mirror keeps the VDI, and so its chain, across the pivot, and imports
    during the mirror are recorded."""
    from storage_util import wait_job
    v = create_vdi(x, sr, 4 * M, "qcow2")
    x.VDI.enable_cbt(v)
    import_raw(server, x, v, os.urandom(M), 0)
    s1 = x.VDI.snapshot(v)
    tgt = create_vdi(x, sr, 4 * M, "raw")
    job = x.block_job.mirror(v, tgt, {"auto_dismiss": "false"})
    wait_job(x, job, "ready", timeout=30)
    import_raw(server, x, v, b"during", 2 * M)
    x.block_job.complete(job)
    assert finish(x, job)["error"] == ""
    assert x.VDI.get_cbt_enabled(v) is True
    import_raw(server, x, v, b"after", 3 * M)
    s2 = x.VDI.snapshot(v)
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {2 * M // K64, 3 * M // K64}
    assert export_raw(server, x, s2)[2 * M:2 * M + 6] == b"during"


def test_a_commit_moves_the_changes_into_its_base(server, x, sr):
    """block_job.commit of s2 into s1: s1's data becomes s2's, so what
    changed in s2 joins s1's set (recorded before the commit writes)."""
    v = create_vdi(x, sr, 4 * M, "qcow2")
    x.VDI.enable_cbt(v)
    s0 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"1", 1 * K64)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, b"2", 2 * K64)
    s2 = x.VDI.snapshot(v)
    job = x.block_job.commit(v, {"top": s2, "base": s1, "auto_dismiss": "false"})
    assert finish(x, job)["error"] == ""
    assert blocks(x.VDI.list_changed_blocks(s0, s1)) == {1, 2}
    assert export_raw(server, x, s1) == export_raw(server, x, s2)


def test_export_of_the_changes_since_a_base(server, x, sr):
    """GET /export_raw_vdi?...&base=<vdi>: only the changed ranges, as
    multipart/byteranges (one part per extent, with its Content-Range)."""
    import email.parser
    v = create_vdi(x, sr, 4 * M + 5, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    a, b = os.urandom(K64 + 1), os.urandom(3)
    import_raw(server, x, v, a, M)
    import_raw(server, x, v, b, 4 * M + 2)
    s2 = x.VDI.snapshot(v)
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    c.request("GET", f"/export_raw_vdi?session_id={x._session}&vdi={s2}&base={x.VDI.get_uuid(s1)}")
    r = c.getresponse()
    body = r.read()
    c.close()
    assert r.status == 200
    ctype = r.getheader("content-type")
    assert ctype.startswith("multipart/byteranges; boundary=")
    assert int(r.getheader("content-length")) == len(body)
    msg = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = [(p["Content-Range"], p.get_payload(decode=True)) for p in msg.get_payload()]
    whole = export_raw(server, x, s2)
    size = int(x.VDI.get_virtual_size(s2))  # 4 MiB + 512 (sizes round up to 512)
    assert [cr for cr, _ in parts] == [
        f"bytes {M}-{M + 2 * K64 - 1}/{size}", f"bytes {4 * M}-{size - 1}/{size}"]
    assert parts[0][1] == whole[M:M + 2 * K64] and parts[0][1][:K64 + 1] == a
    assert parts[1][1] == whole[4 * M:] and parts[1][1][2:5] == b
    # No CBT on the base: 400 with the XenAPI error.
    other = create_vdi(x, sr, M)
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    c.request("GET", f"/export_raw_vdi?session_id={x._session}&vdi={s2}&base={other}")
    r = c.getresponse()
    assert r.status == 400 and b"VDI_NO_CBT_METADATA" in r.read()
    c.close()


def crash_restart(srv, point, fn, *args):
    """Restarts `srv` with crash point `point` armed, calls `fn` (which
    the point kills), restarts clean; returns a new `x`."""
    srv.env = {"XAPID_CRASH_AT": point}
    srv.restart(crash=True)
    x = sdk_x(srv)
    try:
        fn(x)(*args)
    except Exception:
        pass
    assert srv.wait_dead() == -9, srv.log
    srv.env = {}
    srv.start()
    return sdk_x(srv)


def cbt_logs(srv):
    d = srv.state_dir / "cbt"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.mark.parametrize("point", ["cbt.log", "cbt.disabled", "cbt.moved", "cbt.data_destroy"])
def test_killed_at_each_step_of_cbt(make_server, point):
    """kill -9 between the durable steps of enable_cbt (log, then row),
    disable_cbt (row, then log), a tracked snapshot (the VDI's log moved to
    the snapshot, then a new one) and data_destroy (type, then the file):
    after the restart the state is whole and no change is lost."""
    srv = make_server(fault_injection=True)
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 2 * M, "qcow2")
    uuid = x.VDI.get_uuid(v)
    if point == "cbt.log":
        x = crash_restart(srv, point, lambda x: x.VDI.enable_cbt, v)
        assert x.VDI.get_cbt_enabled(v) is False
        assert cbt_logs(srv) == [], "the log of a VDI not tracked is swept"
        x.VDI.enable_cbt(v)
        assert cbt_logs(srv) == [f"{uuid}.cbtlog"]
        return
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(srv, x, v, b"a", K64)
    if point == "cbt.disabled":
        x = crash_restart(srv, point, lambda x: x.VDI.disable_cbt, v)
        assert x.VDI.get_cbt_enabled(v) is False
        assert f"{uuid}.cbtlog" not in cbt_logs(srv)
        return
    if point == "cbt.moved":
        x = crash_restart(srv, point, lambda x: x.VDI.snapshot, v)
        (s2,) = [s for s in x.VDI.get_snapshots(v) if s != s1]
        assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {1}
        import_raw(srv, x, v, b"b", 2 * K64)
        s3 = x.VDI.snapshot(v)
        assert blocks(x.VDI.list_changed_blocks(s2, s3)) == {2}
        return
    s2 = x.VDI.snapshot(v)
    x = crash_restart(srv, point, lambda x: x.VDI.data_destroy, s1)
    assert x.VDI.get_type(s1) == "cbt_metadata"
    wait_for_location(x, s1)
    assert blocks(x.VDI.list_changed_blocks(s1, s2)) == {1}


def wait_for_location(x, vdi):
    from storage_util import wait_for
    wait_for(lambda: x.VDI.get_location(vdi) == "", 30, what="data_destroy to finish at restart")
