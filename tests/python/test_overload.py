"""The short form of bench/overload.py (issue 13, part 4; the full run and
its figures are in docs/reliability.md): a connection storm beyond the cap
and its waiting places, slow headers, stalled bodies, readers that never
read, and login floods, each while a probe client keeps calling; the
server stays up, answers every connection (served or 503), holds no more
sockets than its bounds, and cuts the slow ones off in their time."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_overload_short_form(make_server, tmp_path):
    srv = make_server(
        max_connections=256, max_waiting_connections=256, connection_wait_secs=2,
        header_read_timeout_secs=3, body_idle_timeout_secs=3, write_stall_timeout_secs=3,
    )
    out = tmp_path / "overload.json"
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "overload.py"), f"http://127.0.0.1:{srv.port}/",
         str(srv.proc.pid), "--password", srv.password, "--storm", "2000", "--slow", "40",
         "--stall", "40", "--readers", "2", "--tasks", "4000", "--hold", "20", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(out.read_text())
    storm = r["storm"]
    assert storm["failed"] == 0 and storm["served"] + storm["refused"] == 2000, storm
    assert storm["served"] >= 256 and storm["refused"] > 0, storm
    # Sockets: the cap, the waiting places, the refusals in flight, a few more.
    assert storm["fds_max"] < 256 + 256 + 256 + 100, storm
    for kind in ("slow", "stall"):
        assert r[kind]["kept_max_s"] < 3 + 5, r[kind]
    nr = r["nonreader"]
    assert nr["received_p50_bytes"] < nr["reply_bytes"], nr
    for sc in ("storm", "slow", "stall", "nonreader", "logins"):
        assert r[sc]["server_alive"] and r[sc]["during"]["probe_errors"] == 0, (sc, r[sc])
    # The flood's failures are held back, another user's logins are not.
    for mode in ("one-user", "many-names"):
        assert r["logins"][mode]["other_login_p50_ms"] < 2000, r["logins"]


def test_a_stalled_import_fails_and_lets_go_of_the_vdi(make_server):
    """An import whose body stops coming is given up after
    body_idle_timeout_secs: the client gets 400 with the task, the task
    fails saying why, the VDI is let go (the next import works), and each
    byte is old or new."""
    import socket
    import time

    from storage_util import M, create_vdi, default_sr, export_raw, import_raw, sdk_x, wait_for

    srv = make_server(body_idle_timeout_secs=2)
    x = sdk_x(srv)
    sr = default_sr(x)[0]
    v = create_vdi(x, sr, 4 * M, "qcow2")
    s = socket.create_connection(("127.0.0.1", srv.port))
    head = (f"PUT /import_raw_vdi?session_id={x._session}&vdi={v} HTTP/1.1\r\n"
            f"Host: localhost\r\nContent-Length: {2 * M}\r\n\r\n")
    s.sendall(head.encode() + b"\xab" * M)
    wait_for(lambda: x.VDI.get_current_operations(v), 10, what="the import to hold the VDI")
    t0 = time.monotonic()
    s.settimeout(15)
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = s.recv(4096)
        assert chunk, "closed without an answer"
        reply += chunk
    waited = time.monotonic() - t0
    s.close()
    status, *headers = reply.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.split()[1] == "400", reply[:300]
    assert 1.0 < waited < 8, waited
    task = dict(h.split(": ", 1) for h in headers)["task-id"]
    wait_for(lambda: x.task.get_status(task) != "pending", 10, what="the task to end")
    assert x.task.get_status(task) == "failure"
    assert "sent nothing" in " ".join(x.task.get_error_info(task))
    wait_for(lambda: not x.VDI.get_current_operations(v), 10, what="the VDI to be let go")
    got = export_raw(srv, x, v)
    # A failed import leaves each byte old or new.
    assert set(got[:M]) <= {0, 0xab} and got[M:] == bytes(3 * M)
    import_raw(srv, x, v, b"ok", 0)
    assert export_raw(srv, x, v)[:2] == b"ok"
