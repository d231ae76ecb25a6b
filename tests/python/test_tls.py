"""TLS: the HTTPS listener beside the plain one, the self-signed
certificate made at first start, host.get/install/reset_server_certificate
with xapi's checks and error codes, host.https_only, the handshake timeout,
and the refusal of plain HTTP on a non-loopback address. Clients: the
XenAPI SDK (with ignore_ssl and with the generated certificate as CA
bundle), xmlrpc.client, curl, openssl s_client and Xen Orchestra's
xen-api."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import time
import xmlrpc.client
from pathlib import Path

import pytest
import XenAPI

from conftest import xapid_bin
from storage_util import M, create_vdi, default_sr
from test_xo_client import run_xo_client
from tls_util import (fingerprint, make_cert, make_key, openssl, peer_cert, pem_der,
                      unverified)
from xapid_rpc import Raw, http_request, sdk_failure, xml_call_body

FINGERPRINT_RE = re.compile(r"TLS certificate: (\S+) \(SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")


def ca_context(srv) -> ssl.SSLContext:
    """Verification on, with the server's generated certificate as the CA."""
    return ssl.create_default_context(cafile=str(srv.tls_dir / "server.pem"))


def https_sdk(srv, **kw) -> XenAPI.Session:
    s = XenAPI.Session(srv.https_url, **kw)
    s.xenapi.login_with_password("root", srv.password, "1.0", "tls-tests")
    return s


def https_conn(srv) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", srv.tls_port, context=unverified(), timeout=30)


def served_fingerprints(srv) -> list[str]:
    return FINGERPRINT_RE.findall(srv.log)


def keep_secret(srv, key: Path) -> str:
    """Marks every line of a key's PEM body as a secret the log must never
    show; returns the key's text."""
    text = key.read_text()
    srv.secrets.update(l for l in text.splitlines() if len(l) >= 20 and not l.startswith("-----"))
    return text


def assert_no_key(details, key_text: str) -> None:
    joined = "\n".join(details)
    for line in key_text.splitlines():
        if len(line) >= 20 and not line.startswith("-----"):
            assert line not in joined, "the private key appears in an error"


# -- clients ----------------------------------------------------------------


def test_sdk_over_https_ignore_ssl(server):
    s = https_sdk(server, ignore_ssl=True)
    try:
        assert s.xenapi.pool.get_all()
        assert s.API_version == "2.21"
    finally:
        s.xenapi.session.logout()


def test_sdk_verifies_the_generated_certificate(server):
    # The SDK's own default (verification against the system's CAs) refuses
    # a self-signed certificate...
    with pytest.raises(ssl.SSLCertVerificationError):
        https_sdk(server)
    # ...and takes it with the certificate as CA bundle: the SANs name
    # 127.0.0.1, so the host name check passes too.
    s = https_sdk(server, transport=xmlrpc.client.SafeTransport(context=ca_context(server)))
    try:
        assert s.xenapi.host.get_all()
    finally:
        s.xenapi.session.logout()


def test_xmlrpc_client_with_a_context(server):
    p = xmlrpc.client.ServerProxy(server.https_url, context=ca_context(server), allow_none=True)
    r = p.session.login_with_password("root", server.password, "1.0", "tls-xmlrpc")
    assert r["Status"] == "Success", r
    assert p.session.logout(r["Value"])["Status"] == "Success"


def test_curl_with_cacert(server):
    body = xml_call_body("session.login_with_password", "root", server.password)
    pem = str(server.tls_dir / "server.pem")
    p = subprocess.run(["curl", "-sS", "--cacert", pem, "-H", "Content-Type: text/xml",
                        "--data-binary", "@-", server.https_url],
                       input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    (value,), _ = xmlrpc.client.loads(p.stdout)
    assert value["Status"] == "Success", value
    # Without the CA, curl refuses the certificate (exit 60).
    p = subprocess.run(["curl", "-sS", server.https_url], capture_output=True, timeout=30)
    assert p.returncode == 60, p


def test_tls_versions(server):
    def handshake(flag):
        return subprocess.run([openssl(), "s_client", "-connect", f"127.0.0.1:{server.tls_port}", flag],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    for ok in ("-tls1_2", "-tls1_3"):
        p = handshake(ok)
        assert p.returncode == 0, (ok, p.stderr[-500:])
    p = handshake("-tls1_1")
    assert p.returncode != 0


def test_xen_orchestra_client_over_https(server):
    x = server.sdk().xenapi
    create_vdi(x, default_sr(x)[0], 4 * M, "raw", "xo-source")
    out = run_xo_client(server.https_url, server.password)
    assert out["status"] == "connected"
    assert out["types"].get("host", 0) >= 1 and out["arrived"], out


# -- the generated certificate ----------------------------------------------


def test_generated_certificate_files_and_log(server):
    d = server.tls_dir
    assert stat.S_IMODE(os.stat(d / "server.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    pem = (d / "server.pem").read_text()
    der = pem_der(pem)
    # The log says where it is and its fingerprint, as openssl prints it.
    (path, fp), = set(served_fingerprints(server))
    assert Path(path) == d / "server.pem"
    assert fp == fingerprint(der)
    out = subprocess.run([openssl(), "x509", "-noout", "-fingerprint", "-sha256", "-in", str(d / "server.pem")],
                         capture_output=True, text=True).stdout
    assert fp in out
    text = subprocess.run([openssl(), "x509", "-noout", "-text", "-in", str(d / "server.pem")],
                          capture_output=True, text=True).stdout
    assert "IP Address:127.0.0.1" in text
    assert "id-ecPublicKey" in text and "prime256v1" in text
    enddate = subprocess.run([openssl(), "x509", "-noout", "-enddate", "-in", str(d / "server.pem")],
                             capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    end = dt.datetime.strptime(enddate, "%b %d %H:%M:%S %Y %Z")
    assert 3640 < (end - dt.datetime.utcnow()).days <= 3650
    # The listener serves it, and host.get_server_certificate answers it.
    assert peer_cert(server.tls_port) == der
    x = server.sdk().xenapi
    assert pem_der(x.host.get_server_certificate(x.host.get_all()[0])) == der


# -- install and reset ------------------------------------------------------


def test_install_swaps_for_new_connections_only(make_server, tmp_path):
    srv = make_server()
    old = peer_cert(srv.tls_port)
    key = make_key(tmp_path, "rsa:2048")
    key_text = keep_secret(srv, key)
    cert = make_cert(tmp_path, key)
    # A kept-alive HTTPS connection, made before the install.
    conn = https_conn(srv)
    raw = Raw(srv.tls_port)
    s = raw.ok("session.login_with_password", "root", srv.password, conn=conn)
    assert conn.sock.getpeercert(binary_form=True) == old
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    x.host.install_server_certificate(host, cert.read_text(), key_text, "")
    new = pem_der(cert.read_text())
    assert peer_cert(srv.tls_port) == new
    assert pem_der(x.host.get_server_certificate(host)) == new
    # The established connection goes on, with its certificate.
    assert raw.ok("session.get_this_host", s, s, conn=conn) == host
    assert conn.sock.getpeercert(binary_form=True) == old
    conn.close()
    # Durable: the files, and the certificate after a restart.
    assert pem_der((srv.tls_dir / "server.pem").read_text()) == new
    assert stat.S_IMODE(os.stat(srv.tls_dir / "server.key").st_mode) == 0o600
    srv.restart()
    assert peer_cert(srv.tls_port) == new
    assert served_fingerprints(srv)[-1][1] == fingerprint(new)
    # The certificate's SAN names 127.0.0.1: verification passes with it
    # as the CA.
    p = xmlrpc.client.ServerProxy(srv.https_url, context=ssl.create_default_context(cafile=str(cert)))
    assert p.session.login_with_password("root", srv.password)["Status"] == "Success"
    # Async form, with a chain (any certificate will do as one).
    x = srv.sdk().xenapi
    other = make_cert(tmp_path, make_key(tmp_path, "ec:P-256", "k2.pem"), "c2.pem")
    t = x.Async.host.install_server_certificate(host, cert.read_text(), key_text, other.read_text())
    for _ in range(100):
        if x.task.get_status(t) != "pending":
            break
        time.sleep(0.1)
    assert x.task.get_status(t) == "success", x.task.get_error_info(t)
    assert (srv.tls_dir / "server.pem").read_text().count("BEGIN CERTIFICATE") == 2


def test_install_errors(make_server, tmp_path):
    srv = make_server()
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    before = peer_cert(srv.tls_port)
    now = dt.datetime.now(dt.timezone.utc)
    good_key = make_key(tmp_path, "rsa:2048", "good.key")
    good = make_cert(tmp_path, good_key, "good.pem")
    other_key = make_key(tmp_path, "rsa:2048", "other.key")
    rsa1024 = make_key(tmp_path, "rsa:1024", "rsa1024.key")
    rsa3 = make_key(tmp_path, "rsa3:2048", "rsa3.key")
    ed = make_key(tmp_path, "ed25519", "ed.key")
    p521 = make_key(tmp_path, "ec:P-521", "p521.key")
    expired = make_cert(tmp_path, good_key, "expired.pem", start=now - dt.timedelta(days=30),
                        end=now - dt.timedelta(days=1))
    future = make_cert(tmp_path, good_key, "future.pem", start=now + dt.timedelta(days=2),
                       end=now + dt.timedelta(days=30))
    sha1 = make_cert(tmp_path, good_key, "sha1.pem", md="sha1")
    for k in (good_key, other_key, rsa1024, rsa3, ed, p521):
        keep_secret(srv, k)

    def install(cert, key, chain=""):
        cert = cert.read_text() if isinstance(cert, Path) else cert
        key = key.read_text() if isinstance(key, Path) else key
        details = sdk_failure(x.host.install_server_certificate, host, cert, key, chain)
        assert_no_key(details, key)
        return details

    assert install(good, other_key) == ["SERVER_CERTIFICATE_KEY_MISMATCH"]
    assert install(good, rsa1024) == ["SERVER_CERTIFICATE_KEY_RSA_LENGTH_NOT_SUPPORTED", "1024"]
    assert install(good, rsa3) == ["SERVER_CERTIFICATE_KEY_RSA_MULTI_NOT_SUPPORTED"]
    assert install(good, ed) == ["SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", "ED25519"]
    assert install(good, p521) == ["SERVER_CERTIFICATE_KEY_ALGORITHM_NOT_SUPPORTED", "P521"]
    code, at, not_after = install(expired, good_key)
    assert code == "SERVER_CERTIFICATE_EXPIRED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", at) and not_after < at
    code, at, not_before = install(future, good_key)
    assert code == "SERVER_CERTIFICATE_NOT_VALID_YET" and not_before > at
    assert install(sha1, good_key) == ["SERVER_CERTIFICATE_SIGNATURE_NOT_SUPPORTED"]
    assert install("garbage", good_key) == ["SERVER_CERTIFICATE_INVALID"]
    assert install(good_key, good_key) == ["SERVER_CERTIFICATE_INVALID"]
    assert install(good, "garbage") == ["SERVER_CERTIFICATE_KEY_INVALID"]
    assert install(good, good) == ["SERVER_CERTIFICATE_KEY_INVALID"]
    assert install(good, good_key, "not a chain") == ["SERVER_CERTIFICATE_CHAIN_INVALID"]
    # A key whose base64 is damaged.
    damaged = good_key.read_text().replace("A", "%", 3)
    assert install(good, damaged) == ["SERVER_CERTIFICATE_KEY_INVALID"]
    details = sdk_failure(x.host.install_server_certificate, "OpaqueRef:NULL", good.read_text(),
                          good_key.read_text(), "")
    assert details[0] == "HANDLE_INVALID"
    # Nothing was swapped; the server's log never shows a key (check_log at
    # teardown holds every key line as a secret).
    assert peer_cert(srv.tls_port) == before
    for k in (good_key, other_key, rsa1024, rsa3, ed, p521):
        assert_no_key([srv.log], k.read_text())


def test_reset_makes_a_new_self_signed_certificate(make_server):
    srv = make_server()
    old = peer_cert(srv.tls_port)
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    x.host.reset_server_certificate(host)
    new = peer_cert(srv.tls_port)
    assert new != old
    assert pem_der((srv.tls_dir / "server.pem").read_text()) == new
    assert pem_der(x.host.get_server_certificate(host)) == new
    # The new one verifies like the first (SAN 127.0.0.1).
    s = https_sdk(srv, transport=xmlrpc.client.SafeTransport(context=ca_context(srv)))
    s.xenapi.session.logout()
    assert fingerprint(new) in srv.log


# -- https_only ---------------------------------------------------------------


def test_https_only(make_server):
    srv = make_server()
    x = https_sdk(srv, ignore_ssl=True).xenapi
    host = x.host.get_all()[0]
    assert x.host.get_https_only(host) is False
    plain = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    raw = Raw(srv.port)
    s = raw.ok("session.login_with_password", "root", srv.password, conn=plain)
    tasks_before = len(x.task.get_all())
    x.host.set_https_only(host, True)
    assert x.host.get_https_only(host) is True

    def refused(reply):
        assert reply.status == 403, reply
        assert reply.body.count(b"\n") == 1 and b"https_only" in reply.body, reply.body

    # A kept-alive plain connection is refused from its next request on,
    # and nothing is processed.
    refused(raw.post(xml_call_body("task.create", s, "plain", ""), conn=plain))
    plain.close()
    refused(raw.post(xml_call_body("task.create", s, "plain", "")))
    refused(http_request(srv.port, "GET", "/"))
    refused(http_request(srv.port, "PUT", "/import_raw_vdi?session_id=x&vdi=y", b"data"))
    assert len(x.task.get_all()) == tasks_before
    # HTTPS is served; the flag outlives a restart.
    srv.restart()
    refused(http_request(srv.port, "GET", "/"))
    x = https_sdk(srv, ignore_ssl=True).xenapi
    assert x.host.get_https_only(host) is True
    x.host.set_https_only(host, False)
    assert http_request(srv.port, "GET", "/").status == 200
    assert srv.sdk().xenapi.host.get_https_only(host) is False
    srv.restart()
    assert http_request(srv.port, "GET", "/").status == 200


# -- hostile clients ----------------------------------------------------------


def test_silent_and_dribbling_clients_are_dropped(make_server):
    srv = make_server(tls_handshake_timeout_secs=1, max_connections=4)
    # Four connections that never finish a handshake hold every permit...
    silent = [socket.create_connection(("127.0.0.1", srv.tls_port)) for _ in range(3)]
    dribble = socket.create_connection(("127.0.0.1", srv.tls_port))
    t0 = time.monotonic()
    hello_start = bytes.fromhex("160301")
    for b in hello_start:
        dribble.sendall(bytes([b]))
        time.sleep(0.2)
    # ...and are dropped after the timeout: each reads end of file.
    for c in silent + [dribble]:
        c.settimeout(10)
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
        c.close()
    took = time.monotonic() - t0
    assert 0.9 < took < 5, took
    # Their permits are free again: a new client is served at once.
    s = https_sdk(srv, ignore_ssl=True)
    s.xenapi.session.logout()


def test_garbage_over_tls_then_a_normal_call(make_server):
    srv = make_server(tls_handshake_timeout_secs=2)
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096), b"\x16\x03\x01\xff\xff" + os.urandom(300)):
        with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as c:
            try:
                c.sendall(junk)
                while c.recv(4096):
                    pass
            except (ConnectionResetError, BrokenPipeError):
                pass
    # A plain-HTTP client on the TLS port gets no answer but a closed
    # connection; a TLS client on the plain port fails its handshake.
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
            unverified().wrap_socket(c, server_hostname="127.0.0.1")
    s = https_sdk(srv, ignore_ssl=True)
    assert s.xenapi.host.get_all()
    s.xenapi.session.logout()
    assert "panicked" not in srv.log


# -- start-up -----------------------------------------------------------------


def run_xapid(tmp_path: Path, *args, timeout=20) -> subprocess.CompletedProcess:
    env = dict(os.environ, XAPID_ROOT_PASSWORD="pw-start", RUST_LOG="info")
    return subprocess.run([xapid_bin(), "serve", "--state-dir", str(tmp_path / "state"), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def start_and_stop(tmp_path: Path, *args) -> str:
    """Starts xapid with `args`, waits until it serves HTTPS, stops it
    (SIGTERM, exit 0); returns its log."""
    env = dict(os.environ, XAPID_ROOT_PASSWORD="pw-start", RUST_LOG="info")
    p = subprocess.Popen([xapid_bin(), "serve", "--state-dir", str(tmp_path / "state"), *args],
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    log = ""
    try:
        for line in p.stderr:
            log += line
            if "listening on https://" in line:
                break
        p.terminate()
        _, rest = p.communicate(timeout=20)
        log += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, log
    assert "panicked" not in log
    return log


def test_plain_http_off_loopback_must_be_asked_for(tmp_path):
    p = run_xapid(tmp_path, "--listen", "0.0.0.0:0", "--listen-tls", "127.0.0.1:0")
    assert p.returncode != 0
    assert "--allow-plain-http" in p.stderr and "0.0.0.0" in p.stderr, p.stderr
    assert "panicked" not in p.stderr
    # Nothing was made: the refusal comes first.
    assert not (tmp_path / "state" / "tls").exists()
    # With the flag it starts.
    log = start_and_stop(tmp_path, "--listen", "0.0.0.0:0", "--listen-tls", "127.0.0.1:0",
                         "--allow-plain-http")
    assert re.search(r"listening on http://0\.0\.0\.0:\d+/", log), log
    # TLS may listen anywhere without it. The certificate made on the first
    # start above names 127.0.0.1 (the TLS address) and the host name.
    log = start_and_stop(tmp_path, "--listen", "127.0.0.1:0", "--listen-tls", "0.0.0.0:0")
    assert re.search(r"listening on https://0\.0\.0\.0:\d+/", log), log


def test_operator_certificate_from_files(make_server, tmp_path):
    key = make_key(tmp_path, "ec:P-256", "op.key")
    cert = make_cert(tmp_path, key, "op.pem")
    srv = make_server(start=False)
    keep_secret(srv, key)
    srv.args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    srv.start()
    assert peer_cert(srv.tls_port) == pem_der(cert.read_text())
    assert not (srv.tls_dir / "server.key").exists()
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    for call in (lambda: x.host.install_server_certificate(host, cert.read_text(), key.read_text(), ""),
                 lambda: x.host.reset_server_certificate(host)):
        details = sdk_failure(call)
        assert details[0] == "OPERATION_NOT_ALLOWED" and "--tls-cert" in details[1], details
    assert srv.stop() == 0
    # A bad one refuses to start, saying why.
    now = dt.datetime.now(dt.timezone.utc)
    expired = make_cert(tmp_path, key, "expired.pem", start=now - dt.timedelta(days=9),
                        end=now - dt.timedelta(days=1))
    p = run_xapid(tmp_path, "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0",
                  "--tls-cert", str(expired), "--tls-key", str(key))
    assert p.returncode != 0 and "--tls-cert" in p.stderr and "expired" in p.stderr, p.stderr
    other = make_key(tmp_path, "ec:P-256", "other.key")
    p = run_xapid(tmp_path, "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0",
                  "--tls-cert", str(cert), "--tls-key", str(other))
    assert p.returncode != 0 and "does not match" in p.stderr, p.stderr
    assert other.read_text().splitlines()[1] not in p.stderr
    p = run_xapid(tmp_path, "--tls-cert", str(cert))
    assert p.returncode != 0 and "--tls-key" in p.stderr


def test_a_broken_pair_is_regenerated(make_server, tmp_path):
    srv = make_server()
    first = peer_cert(srv.tls_port)
    assert srv.stop() == 0
    pem = srv.tls_dir / "server.pem"
    # Half a certificate.
    text = pem.read_text()
    pem.write_text(text[: len(text) // 2])
    srv.start()
    assert "cannot be served" in srv.log
    second = peer_cert(srv.tls_port)
    assert second != first
    assert pem_der(pem.read_text()) == second
    # A key that is not the certificate's.
    assert srv.stop() == 0
    shutil.copy(make_key(tmp_path, "ec:P-256"), srv.tls_dir / "server.key")
    srv.start()
    third = peer_cert(srv.tls_port)
    assert third not in (first, second)
    assert srv.log.count("cannot be served") == 2


@pytest.mark.parametrize("point", ["tls.key", "tls.cert"])
def test_install_killed_between_its_steps(make_server, tmp_path, point):
    srv = make_server(fault_injection=True)
    key = make_key(tmp_path, "ec:P-256")
    key_text = keep_secret(srv, key)
    cert = make_cert(tmp_path, key)
    old = peer_cert(srv.tls_port)
    x = srv.sdk().xenapi
    host = x.host.get_all()[0]
    srv.stop()
    srv.env["XAPID_CRASH_AT"] = point
    srv.start()
    x = srv.sdk().xenapi
    with pytest.raises(Exception):
        x.host.install_server_certificate(host, cert.read_text(), key_text, "")
    assert srv.wait_dead() == -9
    srv.env.pop("XAPID_CRASH_AT")
    srv.start()
    served = peer_cert(srv.tls_port)
    if point == "tls.cert":
        # Both files were in place: the install holds.
        assert served == pem_der(cert.read_text())
    else:
        # A new key beside the old certificate: they do not match, and a
        # new self-signed pair is made.
        assert "cannot be served" in srv.log
        assert served not in (old, pem_der(cert.read_text()))
    s = https_sdk(srv, transport=xmlrpc.client.SafeTransport(
        context=ssl.create_default_context(cafile=str(srv.tls_dir / "server.pem"))))
    s.xenapi.session.logout()
