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
