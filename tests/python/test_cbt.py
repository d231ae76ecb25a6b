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


@pytest.fixture
def x(server):
    return sdk_x(server)


@pytest.fixture
def sr(x):
    return default_sr(x)[0]




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

