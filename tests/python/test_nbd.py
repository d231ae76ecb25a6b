"""The NBD server (API.md "NBD"): VDI.get_nbd_info, exports named as xapi
names them (/<vdi-uuid>?session_id=<ref>) checked against the session and
its permissions, read with real clients: nbdinfo (sizes, flags, the
base:allocation, qemu:allocation-depth and qemu:dirty-bitmap maps),
nbdcopy then cmp, qemu-img compare against an nbd:// URI, nbds://
(STARTTLS with the host's certificate)."""

import json
import os
import subprocess
import urllib.parse

import pytest
import XenAPI

from storage_util import M, create_vdi, default_sr, import_raw, run

K64 = 64 << 10




def uri(info: dict, scheme="nbd", query="") -> str:
    name = urllib.parse.quote(info["exportname"], safe="")
    return f"{scheme}://{info['address']}:{info['port']}/{name}{query}"


def nbd_info(x, vdi) -> dict:
    infos = x.VDI.get_nbd_info(vdi)
    assert len(infos) == 1, infos
    return infos[0]


def nbdinfo(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["nbdinfo", *args], capture_output=True, text=True, timeout=60)


def test_get_nbd_info_is_xapis_record(server, x, sr):
    v = create_vdi(x, sr, M)
    i = nbd_info(x, v)
    uuid = x.VDI.get_uuid(v)
    assert i["exportname"] == f"/{uuid}?session_id={x._session}"
    assert i["address"] == "127.0.0.1"
    assert int(i["port"]) == server.nbd_port
    host = x.host.get_all()[0]
    assert i["cert"] == x.host.get_server_certificate(host)
    assert i["subject"]
    # No Async form ([Session] only in xapi).
    with pytest.raises(XenAPI.Failure) as e:
        x.Async.VDI.get_nbd_info(v)
    assert e.value.details[0] == "MESSAGE_METHOD_UNKNOWN"


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_nbdinfo_nbdcopy_and_qemu_img_read_a_vdi(server, x, sr, fmt, tmp_path):
    v = create_vdi(x, sr, 4 * M, fmt)
    data = os.urandom(M + 3)
    import_raw(server, x, v, data, M)
    i = nbd_info(x, v)
    out = nbdinfo("--json", uri(i))
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    e = j["exports"][0]
    assert e["export-size"] == 4 * M
    assert e["is_read_only"] is True and e["can_multi_conn"] is True
    assert "base:allocation" in e["contexts"] and "qemu:allocation-depth" in e["contexts"]
    copy = tmp_path / "copy.raw"
    r = subprocess.run(["nbdcopy", uri(i), str(copy)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    want = bytes(M) + data + bytes(4 * M - 2 * M - 3)
    assert copy.read_bytes() == want
    r = run("qemu-img", "compare", "-f", "raw", str(copy), uri(i), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # base:allocation: the data is where it was written (64 KiB clusters).
    m = nbdinfo("--json", "--map", uri(i))
    assert m.returncode == 0, m.stderr
    data_ranges = [(a["offset"], a["length"]) for a in json.loads(m.stdout) if a["type"] & 1 == 0]
    assert data_ranges and data_ranges[0][0] <= M and sum(n for _, n in data_ranges) >= M
    assert data_ranges[0][0] >= M - K64


def test_allocation_depth_and_changed_blocks_since_a_base(server, x, sr):
    v = create_vdi(x, sr, 2 * M, "qcow2")
    x.VDI.enable_cbt(v)
    import_raw(server, x, v, os.urandom(K64), 0)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, os.urandom(K64), M)
    s2 = x.VDI.snapshot(v)
    i = nbd_info(x, s2)
    depth = nbdinfo("--json", "--map=qemu:allocation-depth", uri(i))
    assert depth.returncode == 0, depth.stderr
    d = {(a["offset"], a["length"]): a["type"] for a in json.loads(depth.stdout)}
    # s2's own file holds [1M, 1M+64K); [0, 64K) comes from s1 (depth 2).
    assert d.get((0, K64)) == 2 and d.get((M, K64)) == 1, d
    base = x.VDI.get_uuid(s1)
    q = "%26base%3D" + base  # part of the export name
    name_uri = uri(i)[: -0 or None] + q
    bm = nbdinfo("--json", f"--map=qemu:dirty-bitmap:{base}", name_uri)
    assert bm.returncode == 0, bm.stderr
    dirty = [(a["offset"], a["length"]) for a in json.loads(bm.stdout) if a["type"] & 1]
    assert dirty == [(M, K64)]


def test_bad_sessions_and_names_are_refused(server, x, sr):
    v = create_vdi(x, sr, M)
    i = nbd_info(x, v)
    bad = dict(i, exportname=i["exportname"].replace(x._session, "OpaqueRef:" + "0" * 8 + "-0000-0000-0000-000000000000"))
    assert nbdinfo(uri(bad)).returncode != 0
    assert nbdinfo(uri(dict(i, exportname="/nope?session_id=" + x._session))).returncode != 0
    assert nbdinfo(uri(dict(i, exportname="garbage"))).returncode != 0
    # A session that logged out can no longer open the export.
    s2 = server.sdk()
    i2 = nbd_info(s2.xenapi, v)
    assert nbdinfo(uri(i2)).returncode == 0
    s2.xenapi.session.logout()
    assert nbdinfo(uri(i2)).returncode != 0
    # The session reference is never logged.
    assert x._session not in server.log


def test_starttls_with_the_hosts_certificate(server, x, sr, tmp_path):
    v = create_vdi(x, sr, M)
    import_raw(server, x, v, b"tls!" * 1024, 0)
    i = nbd_info(x, v)
    (tmp_path / "ca-cert.pem").write_text(i["cert"])
    u = uri(i, "nbds", f"?tls-certificates={tmp_path}&tls-verify-peer=false")
    out = tmp_path / "out.raw"
    r = subprocess.run(["nbdcopy", u, str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4096] == b"tls!" * 1024


def export_name_handshake(port: int, name: str):
    """The handshake Xen Orchestra's client does: fixed newstyle, then
    NBD_OPT_EXPORT_NAME, reading the size, flags and the 124 zero bytes.
    Returns the connected socket, the size and the flags."""
    import socket
    import struct
    s = socket.create_connection(("127.0.0.1", port), timeout=10)

    def recv(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            assert c, "server closed"
            b += c
        return b

    magic, opt, flags = struct.unpack(">QQH", recv(18))
    assert magic == 0x4E42444D41474943 and opt == 0x49484156454F5054 and flags & 1
    s.sendall(struct.pack(">I", 1))
    n = name.encode()
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 1, len(n)) + n)
    size, tflags = struct.unpack(">QH", recv(10))
    assert recv(124) == bytes(124)
    return s, size, tflags


def test_export_name_as_xen_orchestra_does(server, x, sr):
    import struct
    v = create_vdi(x, sr, 2 * M)
    data = os.urandom(2 * M)
    import_raw(server, x, v, data, 0)
    i = nbd_info(x, v)
    s, size, tflags = export_name_handshake(server.nbd_port, i["exportname"])
    assert size == 2 * M and tflags & 2  # read-only
    # Several reads in flight, matched by cookie (simple replies).
    for cookie, off in enumerate([0, M, 3 * K64], start=7):
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, cookie, off, K64))
    for cookie, off in enumerate([0, M, 3 * K64], start=7):
        head = b""
        while len(head) < 16:
            head += s.recv(16 - len(head))
        magic, errno, got = struct.unpack(">IIQ", head)
        assert magic == 0x67446698 and errno == 0 and got == cookie
        body = b""
        while len(body) < K64:
            body += s.recv(K64 - len(body))
        assert body == data[off:off + K64]
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 0, 0, 0))  # DISC
    s.close()


def test_a_reader_holds_the_vdi(server, x, sr):
    """While an NBD client is connected, the VDI is claimed as a reader
    (current_operations shows an export): a snapshot (a writer) is
    refused until it goes."""
    import time
    v = create_vdi(x, sr, M)
    i = nbd_info(x, v)
    s, _, _ = export_name_handshake(server.nbd_port, i["exportname"])
    try:
        deadline = time.time() + 10
        while time.time() < deadline and not x.VDI.get_current_operations(v):
            time.sleep(0.05)
        ops = list(x.VDI.get_current_operations(v).values())
        assert ops == ["export"], ops
        with pytest.raises(XenAPI.Failure) as e:
            x.VDI.snapshot(v)
        assert e.value.details[0] == "OTHER_OPERATION_IN_PROGRESS"
    finally:
        s.close()
    deadline = time.time() + 10
    while time.time() < deadline and x.VDI.get_current_operations(v):
        time.sleep(0.05)
    assert x.VDI.get_current_operations(v) == {}
    x.VDI.snapshot(v)


def test_connection_limit(make_server, tmp_path):
    srv = make_server(nbd_max_connections=2)
    s = srv.sdk()
    x = s.xenapi
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, M)
    name = nbd_info(x, v)["exportname"]
    held = [export_name_handshake(srv.nbd_port, name)[0] for _ in range(2)]
    import socket
    c = socket.create_connection(("127.0.0.1", srv.nbd_port), timeout=10)
    assert c.recv(18) == b""  # closed at once
    c.close()
    for h in held:
        h.close()


def test_qemu_img_map_of_the_changes_since_a_base(server, x, sr):
    """QEMU's own NBD client reads the changed-since-base context
    (x-dirty-bitmap): qemu-img map reports the dirty ranges inverted, as
    data:false (as it does against qemu-nbd -B)."""
    v = create_vdi(x, sr, 2 * M, "qcow2")
    x.VDI.enable_cbt(v)
    s1 = x.VDI.snapshot(v)
    import_raw(server, x, v, os.urandom(K64), M)
    s2 = x.VDI.snapshot(v)
    i = nbd_info(x, s2)
    base = x.VDI.get_uuid(s1)
    name = i["exportname"] + "&base=" + base
    opts = (f"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={i['port']},"
            f"export={name},x-dirty-bitmap=qemu:dirty-bitmap:{base}")
    r = run("qemu-img", "map", "--output=json", "--image-opts", opts, check=False)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    dirty = [(e["start"], e["length"]) for e in m if not e["data"]]
    assert dirty == [(M, K64)], m


def test_hostile_clients_end_cleanly(server, x, sr):
    """Garbage, a bad request magic and reads past the end: the connection
    ends (or the request fails) cleanly, the server goes on serving, and no
    export name (which holds a session) reaches the log."""
    import socket
    import struct
    v = create_vdi(x, sr, M)
    name = nbd_info(x, v)["exportname"]
    # Garbage instead of the client flags and options.
    g = socket.create_connection(("127.0.0.1", server.nbd_port), timeout=10)
    g.recv(18)
    g.sendall(os.urandom(4096))
    g.settimeout(10)
    try:
        while g.recv(65536):
            pass
    except OSError:
        pass
    g.close()
    # A read past the end: EINVAL, the connection stays usable.
    s, size, _ = export_name_handshake(server.nbd_port, name)
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, size - 512, 1024))
    magic, errno, cookie = struct.unpack(">IIQ", s.recv(16))
    assert (magic, cookie) == (0x67446698, 1) and errno == 22
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 2, 0, 512))
    head = s.recv(16)
    assert struct.unpack(">IIQ", head) == (0x67446698, 0, 2)
    got = b""
    while len(got) < 512:
        got += s.recv(512 - len(got))
    # A bad request magic: the server closes.
    s.sendall(b"\0" * 28)
    assert s.recv(16) == b""
    s.close()
    # Still serving.
    assert nbdinfo(uri(nbd_info(x, v))).returncode == 0
    assert x._session not in server.log


def test_nbd_off_means_no_records(make_server):
    """--nbd-listen off: no listener, and VDI.get_nbd_info answers the empty
    set (as xapi does with no NBD network)."""
    srv = make_server(start=False)
    srv.args = ["--nbd-listen", "off"]
    srv.start()
    assert srv.nbd_port is None
    x = srv.sdk().xenapi
    v = create_vdi(x, default_sr(x)[0], M)
    assert x.VDI.get_nbd_info(v) == []
