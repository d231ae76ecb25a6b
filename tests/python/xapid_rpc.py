"""Small clients for the tests: raw XML-RPC over http.client, JSON-RPC, and
the XenAPI SDK. Every helper that sees a reply checks that it is never an
INTERNAL_ERROR (nothing a client sends may cause one)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import time
import xmlrpc.client

import XenAPI

REF_RE = re.compile(r"^OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATETIME_RE = re.compile(r"^\d{8}T\d\d:\d\d:\d\dZ$")
EPOCH = "19700101T00:00:00Z"

_HEAD = b'<?xml version="1.0"?><methodResponse><params><param><value><struct>'
_TAIL = b"</struct></value></param></params></methodResponse>"


def success_bytes(value_xml: bytes) -> bytes:
    """The exact bytes of a compact xapi-style Success reply whose Value is
    `value_xml` (a whole `<value>...</value>` element)."""
    return (
        _HEAD
        + b"<member><name>Status</name><value>Success</value></member>"
        + b"<member><name>Value</name>"
        + value_xml
        + b"</member>"
        + _TAIL
    )


def failure_bytes(*description: str) -> bytes:
    """The exact bytes of a compact xapi-style Failure reply."""
    items = b"".join(b"<value>" + d.encode() + b"</value>" for d in description)
    return (
        _HEAD
        + b"<member><name>Status</name><value>Failure</value></member>"
        + b"<member><name>ErrorDescription</name><value><array><data>"
        + items
        + b"</data></array></value></member>"
        + _TAIL
    )


def parse_datetime(v) -> dt.datetime:
    """An XML-RPC DateTime (or its string) as an aware UTC datetime."""
    s = v.value if isinstance(v, xmlrpc.client.DateTime) else v
    assert DATETIME_RE.match(s), f"not a xapi datetime: {s!r}"
    return dt.datetime.strptime(s, "%Y%m%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def check_not_internal(description) -> None:
    assert not (description and description[0] == "INTERNAL_ERROR"), (
        f"a client-caused call was answered INTERNAL_ERROR: {description}"
    )


class HttpReply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"HttpReply({self.status}, {self.headers}, {self.body[:300]!r})"


def http_request(
    port: int,
    method: str,
    path: str = "/",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> HttpReply:
    """One HTTP request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return HttpReply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


class ApiFailure(Exception):
    """A Status=Failure reply; `details` is its ErrorDescription."""

    def __init__(self, details):
        super().__init__(details)
        self.details = list(details)


def xml_call_body(method: str, *params) -> bytes:
    """The request Python's xmlrpc.client sends (newlines and all)."""
    return xmlrpc.client.dumps(tuple(params), methodname=method, allow_none=True).encode()


class Raw:
    """XML-RPC by hand: build the body, POST it with http.client, parse the
    reply with xmlrpc.client. `conn` may be a kept-alive HTTPConnection."""

    def __init__(self, port: int, path: str = "/"):
        self.port = port
        self.path = path

    def post(self, body: bytes, path: str | None = None, headers=None, conn=None) -> HttpReply:
        h = {"Content-Type": "text/xml"}
        h.update(headers or {})
        if conn is None:
            return http_request(self.port, "POST", path or self.path, body, h)
        conn.request("POST", path or self.path, body=body, headers=h)
        r = conn.getresponse()
        return HttpReply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())

    def post_call(self, body: bytes, **kw):
        """POSTs an XML-RPC body that must be answered with HTTP 200 and a
        parsable reply; returns (HttpReply, parsed value)."""
        reply = self.post(body, **kw)
        assert reply.status == 200, reply
        assert reply.header("content-type") == "text/xml", reply
        (value,), _ = xmlrpc.client.loads(reply.body)
        if isinstance(value, dict) and value.get("Status") == "Failure":
            check_not_internal(value.get("ErrorDescription"))
        return reply, value

    def reply(self, method: str, *params, **kw):
        """(HttpReply, parsed value) of a call."""
        return self.post_call(xml_call_body(method, *params), **kw)

    def call(self, method: str, *params, **kw):
        """The parsed reply (a Status struct, or bare for listMethods)."""
        return self.reply(method, *params, **kw)[1]

    def ok(self, method: str, *params, **kw):
        v = self.call(method, *params, **kw)
        assert isinstance(v, dict) and "Status" in v, v
        if v["Status"] != "Success":
            raise ApiFailure(v["ErrorDescription"])
        return v["Value"]

    def fail(self, method: str, *params, **kw) -> list:
        v = self.call(method, *params, **kw)
        assert isinstance(v, dict) and v.get("Status") == "Failure", (
            f"{method} was expected to fail, got {v!r}"
        )
        return list(v["ErrorDescription"])

    def login(self, password: str, *extra, user: str = "root") -> str:
        return self.ok("session.login_with_password", user, password, *extra)


class Json:
    """JSON-RPC on POST /jsonrpc."""

    def __init__(self, port: int):
        self.port = port
        self._id = 0

    def post(self, body, headers=None) -> HttpReply:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return http_request(self.port, "POST", "/jsonrpc", body, h)

    def request(self, method: str, params: list, id=None, version: int = 2) -> dict:
        if id is None:
            self._id += 1
            id = self._id
        req = {"method": method, "params": params, "id": id}
        if version == 2:
            req = {"jsonrpc": "2.0", **req}
        reply = self.post(req)
        assert reply.status == 200, reply
        assert reply.header("content-type") == "application/json", reply
        out = json.loads(reply.body)
        err = out.get("error")
        if isinstance(err, dict):
            check_not_internal([err.get("message")])
        elif isinstance(err, list):
            check_not_internal(err)
        return out

    def ok(self, method: str, *params):
        out = self.request(method, list(params))
        if "error" in out:
            raise ApiFailure([out["error"]["message"], *out["error"].get("data", [])])
        return out["result"]

    def fail(self, method: str, *params) -> list:
        out = self.request(method, list(params))
        assert "error" in out and "result" not in out, out
        return [out["error"]["message"], *out["error"]["data"]]


def sdk_session(url: str, password: str, originator: str = "xapid-tests") -> XenAPI.Session:
    s = XenAPI.Session(url)
    s.xenapi.login_with_password("root", password, "1.0", originator)
    return s


def sdk_failure(fn, *args) -> list:
    """Calls an SDK method that must raise XenAPI.Failure; returns details."""
    try:
        result = fn(*args)
    except XenAPI.Failure as e:
        check_not_internal(e.details)
        return list(e.details)
    raise AssertionError(f"expected a XenAPI.Failure, got the result {result!r}")


def wait_until(pred, timeout: float, interval: float = 0.1):
    """Polls `pred` until it returns a truthy value; returns it (or the last
    falsy one after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
