"""API errors: codes and exact parameters, as xapi sends them."""

import uuid

import pytest

from xapid_rpc import sdk_failure


def unknown_ref() -> str:
    return f"OpaqueRef:{uuid.uuid4()}"


@pytest.mark.parametrize("bad", ["junk", "", "OpaqueRef:NULL", "OpaqueRef:" + str(uuid.UUID(int=1))])
@pytest.mark.parametrize("method,args", [
    ("task.get_all", []),
    ("task.create", ["l", "d"]),
    ("host.get_all_records", []),
    ("pool.get_all", []),
    ("session.logout", []),
    ("session.get_record", ["OpaqueRef:NULL"]),
])
def test_session_invalid_echoes_the_ref_as_given(raw, bad, method, args):
    assert raw.fail(method, bad, *args) == ["SESSION_INVALID", bad]


def test_session_invalid_for_an_unknown_uuid_ref(raw):
    bad = unknown_ref()
    assert raw.fail("task.get_all", bad) == ["SESSION_INVALID", bad]


def test_handle_invalid(raw, session, host_ref):
    missing = unknown_ref()
    assert raw.fail("task.get_record", session, missing) == ["HANDLE_INVALID", "task", missing]
    assert raw.fail("task.get_status", session, "junk") == ["HANDLE_INVALID", "task", "junk"]
    assert raw.fail("task.get_record", session, "OpaqueRef:NULL") == [
        "HANDLE_INVALID", "task", "OpaqueRef:NULL"]
    # A live ref of another class is not a task.
    assert raw.fail("task.destroy", session, host_ref) == ["HANDLE_INVALID", "task", host_ref]
    assert raw.fail("host.get_record", session, missing) == ["HANDLE_INVALID", "host", missing]


def test_uuid_invalid(raw, session):
    u = str(uuid.uuid4())
    assert raw.fail("task.get_by_uuid", session, u) == ["UUID_INVALID", "task", u]
    assert raw.fail("task.get_by_uuid", session, "not-a-uuid") == ["UUID_INVALID", "task", "not-a-uuid"]
    assert raw.fail("host.get_by_uuid", session, u) == ["UUID_INVALID", "host", u]


def test_parameter_count_mismatch(raw, session):
    assert raw.fail("task.get_record", session) == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", "task.get_record", "1", "0"]
    assert raw.fail("task.get_record", session, "a", "b") == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", "task.get_record", "1", "2"]
    assert raw.fail("task.create", session, "only-label") == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", "task.create", "2", "1"]
    assert raw.fail("task.get_all", session, "extra") == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", "task.get_all", "0", "1"]


@pytest.mark.parametrize("method", ["nope.nope", "task.nope", "session.get_all",
                                    "session.get_all_records", "task.get_managed",
                                    "task.get_session", "system.methodHelp"])
def test_method_unknown(raw, session, method):
    assert raw.fail(method, session) == ["MESSAGE_METHOD_UNKNOWN", method]


def test_async_of_a_message_without_async_mode(raw, session):
    assert raw.fail("Async.task.create", session, "l", "d") == [
        "MESSAGE_METHOD_UNKNOWN", "Async.task.create"]


def test_field_type_error(raw, session):
    assert raw.fail("task.create", session, ["a"], "d") == ["FIELD_TYPE_ERROR", "label"]
    assert raw.fail("task.create", session, "l", {"a": "b"}) == ["FIELD_TYPE_ERROR", "description"]
    assert raw.fail("task.create", session, 5, "d") == ["FIELD_TYPE_ERROR", "label"]
    t = raw.ok("task.create", session, "types", "")
    assert raw.fail("task.set_progress", session, t, True) == ["FIELD_TYPE_ERROR", "value"]
    assert raw.fail("task.set_progress", session, t, [0.5]) == ["FIELD_TYPE_ERROR", "value"]
    assert raw.fail("task.set_error_info", session, t, "not-a-list") == ["FIELD_TYPE_ERROR", "value"]
    assert raw.fail("task.set_error_info", session, t, [["nested"]]) == ["FIELD_TYPE_ERROR", "value"]
    assert raw.fail("task.set_other_config", session, t, ["k", "v"]) == ["FIELD_TYPE_ERROR", "value"]
    assert raw.fail("task.get_record", session, ["x"])[0] == "FIELD_TYPE_ERROR"


def test_invalid_value(raw, session):
    t = raw.ok("task.create", session, "values", "")
    assert raw.fail("task.set_status", session, t, "bogus") == ["INVALID_VALUE", "value", "bogus"]
    assert raw.fail("task.set_progress", session, t, "abc") == ["INVALID_VALUE", "value", "abc"]
    assert raw.fail("task.set_progress", session, t, 1.5) == ["INVALID_VALUE", "value", "1.5"]


def test_sdk_raises_failure_with_details(x):
    details = sdk_failure(x.task.get_record, "junk")
    assert details == ["HANDLE_INVALID", "task", "junk"]


@pytest.mark.parametrize("method,args", [
    ("task.get_record", ["junk"]),
    ("task.destroy", ["OpaqueRef:NULL"]),
    ("task.get_status", [f"OpaqueRef:{uuid.UUID(int=2)}"]),
    ("session.get_record", ["junk"]),
])
def test_session_is_checked_before_the_object(raw, method, args):
    # Without a valid session nothing about objects is revealed.
    assert raw.fail(method, "garbage-session", *args) == ["SESSION_INVALID", "garbage-session"]
