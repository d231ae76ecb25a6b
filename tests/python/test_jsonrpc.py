"""JSON-RPC v1 and v2 on POST /jsonrpc, sharing sessions with XML-RPC."""

import json
import uuid

import pytest

from xapid_rpc import DATETIME_RE, EPOCH, REF_RE, wait_until

LOGIN = "session.login_with_password"


def test_v2_login(server):
    reply = server.json.post({"jsonrpc": "2.0", "method": LOGIN,
                              "params": ["root", server.password], "id": 0})
    assert reply.status == 200
    assert reply.header("content-type") == "application/json"
    assert reply.header("access-control-allow-origin") == "*"
    out = json.loads(reply.body)
    assert set(out) == {"jsonrpc", "result", "id"}
    assert out["jsonrpc"] == "2.0" and out["id"] == 0
    assert REF_RE.match(out["result"])


def test_v2_failure(server):
    bad = f"OpaqueRef:{uuid.uuid4()}"
    out = server.json.request("task.get_all", [bad], id=3)
    assert out == {"jsonrpc": "2.0",
                   "error": {"code": 1, "message": "SESSION_INVALID", "data": [bad]},
                   "id": 3}


def test_v1_success_and_failure(server):
    j = server.json
    out = j.request(LOGIN, ["root", server.password], id=5, version=1)
    assert set(out) == {"result", "error", "id"}
    assert out["error"] is None and out["id"] == 5
    s = out["result"]
    assert REF_RE.match(s)
    out = j.request("task.get_record", [s, "junk"], id="abc", version=1)
    assert out == {"result": None, "error": ["HANDLE_INVALID", "task", "junk"], "id": "abc"}


@pytest.mark.parametrize("req_id", [0, 17, "a-string-id"])
@pytest.mark.parametrize("version", [1, 2])
def test_id_is_echoed(server, req_id, version):
    out = server.json.request(LOGIN, ["root", server.password], id=req_id, version=version)
    assert out["id"] == req_id
    server.raw.ok("session.logout", out["result"])


def test_types(server, host_ref):
    j = server.json
    s = j.ok(LOGIN, "root", server.password)
    assert j.ok("host.get_API_version_major", s, host_ref) == 2
    assert j.ok("host.get_API_version_minor", s, host_ref) == 21
    assert j.ok("session.get_is_local_superuser", s, s) is True
    t = j.ok("task.create", s, "json-task", "desc")
    rec = j.ok("task.get_record", s, t)
    assert rec["name_label"] == "json-task"
    assert rec["status"] == "pending"
    assert rec["progress"] == 0 and isinstance(rec["progress"], (int, float)) \
        and not isinstance(rec["progress"], bool)
    assert isinstance(rec["created"], str) and DATETIME_RE.match(rec["created"])
    assert rec["finished"] == EPOCH
    assert rec["subtasks"] == [] and rec["error_info"] == [] and rec["other_config"] == {}
    j.ok("task.set_progress", s, t, 0.5)
    assert j.ok("task.get_progress", s, t) == 0.5
    j.ok("task.set_progress", s, t, 1)
    assert j.ok("task.get_progress", s, t) == 1.0
    j.ok("task.set_other_config", s, t, {"a": "b"})
    assert j.ok("task.get_other_config", s, t) == {"a": "b"}
    j.ok("task.set_status", s, t, "SUCCESS")
    assert j.ok("task.get_status", s, t) == "success"
    assert j.ok("task.destroy", s, t) == ""
    j.ok("session.logout", s)


def test_errors_over_json(server):
    j = server.json
    s = j.ok(LOGIN, "root", server.password)
    assert j.fail("task.get_record", s) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "task.get_record", "1", "0"]
    assert j.fail("nope.nope", s) == ["MESSAGE_METHOD_UNKNOWN", "nope.nope"]
    assert j.fail("task.create", s, ["a"], "d") == ["FIELD_TYPE_ERROR", "label"]
    assert j.fail("task.create", s, 5, "d") == ["FIELD_TYPE_ERROR", "label"]
    server.secrets.add("json-wrong-password")
    assert j.fail(LOGIN, "root", "json-wrong-password") == [
        "SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    j.ok("session.logout", server.login())  # resets root's penalty


def test_sessions_are_shared_between_protocols(server):
    j, raw = server.json, server.raw
    from_json = j.ok(LOGIN, "root", server.password)
    t = raw.ok("task.create", from_json, "made-over-xml", "")
    assert j.ok("task.get_name_label", from_json, t) == "made-over-xml"
    from_xml = server.login()
    t2 = j.ok("task.create", from_xml, "made-over-json", "")
    assert raw.ok("task.get_name_label", from_xml, t2) == "made-over-json"
    j.ok("session.logout", from_xml)
    assert raw.fail("task.get_all", from_xml) == ["SESSION_INVALID", from_xml]
    raw.ok("session.logout", from_json)
    assert j.fail("task.get_all", from_json) == ["SESSION_INVALID", from_json]


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", b"\xff\xfe{}", b'{"method": "task.get_all"'])
def test_malformed_json_is_400(server, body):
    reply = server.json.post(body)
    assert reply.status == 400
    server.raw.ok("session.logout", server.login())


def test_malformed_json_does_not_echo_the_body(server):
    marker = "MARKER-" + uuid.uuid4().hex
    server.secrets.add(marker)
    reply = server.json.post(('{"jsonrpc":"2.0","method":"session.login_with_password",'
                              f'"params":["root","{marker}"').encode())
    assert reply.status == 400
    assert marker.encode() not in reply.body


def test_async_over_json(server):
    j = server.json
    s = j.ok(LOGIN, "root", server.password)
    t = j.ok("task.create", s, "json-async-target", "")
    at = j.ok("Async.task.cancel", s, t)
    assert REF_RE.match(at) and at != t
    assert wait_until(lambda: j.ok("task.get_status", s, at) != "pending", 5)
    assert j.ok("task.get_result", s, at) == "<value></value>"
    assert j.ok("task.get_name_label", s, at) == "Async.task.cancel"
