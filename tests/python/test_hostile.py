"""Hostile and broken requests. Each is refused cheaply, never echoes what
was sent, and leaves the server answering normal calls (checked after
every test)."""

import http.client
import socket
import threading
import time
import uuid

import pytest

from xapid_rpc import REF_RE, HttpReply, http_request

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    raw = server.raw
    s = raw.login(server.password)
    assert isinstance(raw.ok("task.get_all", s), list)
    raw.ok("session.logout", s)


def post(server, body: bytes, path="/", timeout=30) -> HttpReply:
    return http_request(server.port, "POST", path, body, {"Content-Type": "text/xml"}, timeout)


def assert_400(reply: HttpReply, *absent: str):
    assert reply.status == 400, reply
    assert len(reply.body) < 300, reply
    for a in absent:
        assert a.encode() not in reply.body, f"{a!r} echoed in the error"


def call_xml(method: str, *values: str) -> str:
    params = "".join(f"<param><value>{v}</value></param>" for v in values)
    return f'<?xml version="1.0"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>'


# -- malformed XML -------------------------------------------------------------


@pytest.mark.parametrize("cut", [-1, -13, -30, -38])
def test_truncated_xml_is_400_without_echo(server, cut):
    marker = "MARKER" + uuid.uuid4().hex
    server.secrets.add(marker)
    body = call_xml("session.login_with_password", "root", marker).encode()
    assert marker.encode() in body[:cut]
    reply = post(server, body[:cut])
    assert_400(reply, marker, "session.login_with_password")
    assert reply.header("content-type").startswith("text/plain")


@pytest.mark.parametrize("body", [
    b"",
    b"hello",
    b"<methodCall></methodCall>",
    b"<methodCall><params/></methodCall>",
    b"<methodCall><methodName>task.get_all</methodName><bogus/><params/></methodCall>",
    b"<methodResponse><params/></methodResponse>",
    b"<methodCall><methodName>task.get_all</methodName><params><param><value><foo>1</foo></value></param></params></methodCall>",
    b"<methodCall><methodName>task.get_all</methodName><params><param><value><string>a</value></string></param></params></methodCall>",
    b"<methodCall><methodName>task.get_all</methodName><params><param><value>a</value></param></params></methodCall><extra/>",
    b"<methodCall><methodName>task.get_all</methodName><params><param><value><struct><member><value>x</value></member></struct></value></param></params></methodCall>",
], ids=["empty", "not-xml", "no-method-name", "params-only", "unknown-element", "wrong-root",
        "unknown-value-type", "mismatched-tags", "trailing-element", "member-without-name"])
def test_malformed_requests_are_400(server, body):
    assert_400(post(server, body))


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"abc\x80"],
                         ids=["ff-fe", "overlong", "surrogate", "lone-continuation"])
def test_invalid_utf8_is_400(server, bad):
    body = call_xml("session.login_with_password", "root", "@").encode().replace(b"@", bad)
    assert_400(post(server, body))


@pytest.mark.parametrize("where", ["value", "method"])
def test_nul_bytes_are_400(server, where):
    if where == "value":
        body = call_xml("session.login_with_password", "root", "a\x00b").encode()
    else:
        body = call_xml("task.get_all\x00", "x").encode()
    assert_400(post(server, body))


def test_billion_laughs_is_400_quickly(server, session):
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    body = ('<?xml version="1.0"?><!DOCTYPE lolz [' + "".join(ents) + "]>"
            + call_xml("task.create", session, "&lol9;", "d")[len('<?xml version="1.0"?>'):]).encode()
    t0 = time.monotonic()
    reply = post(server, body)
    assert time.monotonic() - t0 < 2
    assert_400(reply, "lollol")


def test_external_entity_is_400(server, session):
    body = ('<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            + call_xml("task.create", session, "&xxe;", "d")[len('<?xml version="1.0"?>'):]).encode()
    reply = post(server, body)
    assert_400(reply, "root:")


def test_deep_nesting_is_400_quickly(server, session):
    depth = 10_000
    deep = "<array><data><value>" * depth + "x" + "</value></data></array>" * depth
    body = call_xml("task.set_error_info", session, "OpaqueRef:NULL", deep).encode()
    assert len(body) < 1 * MB
    t0 = time.monotonic()
    reply = post(server, body)
    assert time.monotonic() - t0 < 2
    assert_400(reply)


def test_deep_unclosed_nesting_is_400(server, session):
    body = call_xml("task.get_all", session).encode()[:-len("</params></methodCall>")]
    body += b"<param><value>" + b"<struct><member><name>a</name><value>" * 10_000
    assert_400(post(server, body))


# -- huge bodies ---------------------------------------------------------------


class Streamer(threading.Thread):
    """Sends `total` bytes of filler on a socket, noting how far it got."""

    def __init__(self, sock, total, chunked=False):
        super().__init__(daemon=True)
        self.sock, self.total, self.chunked = sock, total, chunked
        self.sent = 0
        self.error = None

    def run(self):
        piece = b"A" * MB
        try:
            while self.sent < self.total:
                data = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if self.chunked else piece
                self.sock.sendall(data)
                self.sent += len(piece)
            if self.chunked:
                self.sock.sendall(b"0\r\n\r\n")
        except OSError as e:
            self.error = e


def stream_huge_body(server, headers: dict, total: int, chunked=False, prefix=b""):
    """POSTs a huge body with http.client while reading the reply; returns
    (status, body, the streamer)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/", skip_accept_encoding=True)
    conn.putheader("Content-Type", "text/xml")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    sock = conn.sock
    if prefix:
        sock.sendall(prefix)
    streamer = Streamer(sock, total, chunked)
    t0 = time.monotonic()
    streamer.start()
    resp = http.client.HTTPResponse(sock, method="POST")
    resp.begin()
    body = resp.read()
    streamer.join(30)
    if streamer.is_alive():
        sock.shutdown(socket.SHUT_RDWR)
        streamer.join(10)
        raise AssertionError("the server neither read the body nor closed the connection")
    took = time.monotonic() - t0
    conn.close()
    sock.close()
    return resp.status, body, streamer, took


def test_huge_body_with_content_length_is_413(server):
    total = 100 * MB
    status, body, streamer, _ = stream_huge_body(server, {"Content-Length": str(total)}, total)
    assert status == 413
    assert streamer.error is not None and streamer.sent < total, (
        "the connection should be closed without reading the whole body")


def test_huge_chunked_body_is_413(server):
    total = 100 * MB
    status, body, streamer, _ = stream_huge_body(
        server, {"Transfer-Encoding": "chunked"}, total, chunked=True)
    assert status == 413
    assert streamer.error is not None and streamer.sent < total


def test_huge_body_behind_a_lying_content_length(server):
    total = 100 * MB
    prefix = b'<?xml version="1.0"?><methodCall><methodName>task.get_all</methodName>'
    status, body, streamer, _ = stream_huge_body(
        server, {"Content-Length": "200"}, total, prefix=prefix)
    assert status in (400, 413)
    assert streamer.error is not None and streamer.sent < total


def test_body_just_over_the_limit_is_413(server):
    total = MB + 1
    status, _, _, _ = stream_huge_body(server, {"Content-Length": str(total)}, total)
    assert status == 413


def test_body_under_the_limit_is_served(server, session):
    label = "y" * (512 * 1024)
    _, value = server.raw.post_call(call_xml("task.create", session, label, "d").encode())
    t = value["Value"]
    assert server.raw.ok("task.get_name_label", session, t) == label


# -- other HTTP ---------------------------------------------------------------


def test_get_root_is_200(server):
    assert http_request(server.port, "GET", "/").status == 200


@pytest.mark.parametrize("method,path", [("PUT", "/"), ("DELETE", "/"), ("PATCH", "/jsonrpc")])
def test_other_http_methods_are_405(server, method, path):
    assert http_request(server.port, method, path, b"x").status == 405


def test_many_concurrent_keepalive_connections(server, session):
    n, calls = 300, 3
    barrier = threading.Barrier(n, timeout=60)
    results, errors = [], []
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            conn.connect()
            barrier.wait()
            raw = server.raw
            for _ in range(calls):
                body = (f'<?xml version="1.0"?><methodCall><methodName>task.get_all</methodName>'
                        f"<params><param><value>{session}</value></param></params></methodCall>").encode()
                reply = raw.post(body, conn=conn)
                ok = reply.status == 200 and b"<value>Success</value>" in reply.body
                with lock:
                    results.append(ok)
        except Exception as e:  # noqa: BLE001 - collected and reported
            with lock:
                errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(results) == n * calls and all(results)


def test_login_after_everything(server):
    assert REF_RE.match(server.login())


def test_connection_is_reusable_after_a_400(server, session):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        raw = server.raw
        assert raw.post(b"<methodCall><broken", conn=conn).status == 400
        reply = raw.post(call_xml("task.get_all", session).encode(), conn=conn)
        assert reply.status == 200 and b"<value>Success</value>" in reply.body
    finally:
        conn.close()
