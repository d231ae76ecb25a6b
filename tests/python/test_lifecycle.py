"""The process: graceful shutdown, what the log never contains, curl, and a
generated root password."""

import os
import re
import signal
import stat
import subprocess
import threading
import time
import uuid

from xapid_rpc import REF_RE, success_bytes

LOGIN = "session.login_with_password"


def test_sigterm_lets_an_in_flight_call_finish(make_server):
    srv = make_server(login_failure_delay_secs=1.0)
    srv.secrets.add("slow-wrong-password")
    raw = srv.raw
    s = srv.login()
    result = {}

    def slow_call():
        try:
            result["details"] = raw.fail(LOGIN, "root", "slow-wrong-password")
        except Exception as e:  # noqa: BLE001 - reported below
            result["error"] = repr(e)

    th = threading.Thread(target=slow_call)
    th.start()
    time.sleep(0.3)
    raw.ok("task.get_all", s)  # the server is still serving while the call is delayed
    srv.proc.send_signal(signal.SIGTERM)
    th.join(10)
    assert result.get("details", [None])[0] == "SESSION_AUTHENTICATION_FAILED", result
    assert srv.proc.wait(15) == 0
    srv.proc = None


def test_passwords_never_appear_in_the_log(make_server):
    srv = make_server()
    raw, j = srv.raw, srv.json
    wrong = ["wrong-" + uuid.uuid4().hex for _ in range(3)]
    new = "new-" + uuid.uuid4().hex
    srv.secrets.update(wrong + [new])
    s = srv.login()
    raw.fail(LOGIN, "root", wrong[0])
    raw.fail(LOGIN, "nobody", wrong[1], "1.0", "log-test")
    j.fail(LOGIN, "root", wrong[2])
    raw.fail("session.change_password", s, wrong[0], new)
    raw.ok("session.change_password", s, srv.password, new)
    raw.ok("session.change_password", s, new, srv.password)
    raw.post(b"<methodCall><methodName>" + LOGIN.encode() + b"</methodName><params><param><value>root"
             b"</value></param><param><value>" + wrong[0].encode() + b"</value></param>")
    j.post(b'{"method":"session.login_with_password","params":["root","' + wrong[1].encode() + b'"')
    srv.restart()
    srv.login()
    assert srv.stop() == 0
    log = srv.log
    assert "listening on http://127.0.0.1:" in log
    for secret in [srv.password, new, *wrong]:
        assert secret not in log


def test_curl(server, tmp_path):
    login = tmp_path / "login.xml"
    login.write_text(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>session.login_with_password</methodName>\n"
        f"<params>\n<param><value><string>root</string></value></param>\n"
        f"<param><value><string>{server.password}</string></value></param>\n</params>\n</methodCall>\n")
    out = subprocess.run(
        ["curl", "-s", "-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", f"@{login}", server.url],
        capture_output=True, check=True, timeout=30).stdout
    m = re.fullmatch(re.escape(success_bytes(b"<value>@</value>")).replace(b"@", rb"(OpaqueRef:[0-9a-f-]{36})"), out)
    assert m, out
    session = m.group(1).decode()

    getter = tmp_path / "getter.xml"
    getter.write_text(
        "<methodCall><methodName>session.get_auth_user_name</methodName><params>"
        f"<param><value>{session}</value></param><param><value>{session}</value></param>"
        "</params></methodCall>")
    out = subprocess.run(
        ["curl", "-s", "-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", f"@{getter}", server.url],
        capture_output=True, check=True, timeout=30).stdout
    assert out == success_bytes(b"<value>root</value>")
    out = subprocess.run(
        ["curl", "-s", "-i", "-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", f"@{getter}",
         server.url + "RPC2"],
        capture_output=True, check=True, timeout=30).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert re.search(rb"(?im)^content-type: text/xml\r?$", head), head
    assert body == success_bytes(b"<value>root</value>")


def test_generated_root_password(make_server):
    srv = make_server(password=None)
    pw_file = srv.state_dir / "root-password"
    assert pw_file.exists()
    assert stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600
    pw = pw_file.read_text().strip()
    srv.password = pw
    srv.secrets.add(pw)
    assert REF_RE.match(srv.login())
    srv.restart()
    assert pw_file.read_text().strip() == pw
    assert REF_RE.match(srv.login())
