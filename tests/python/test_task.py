"""task: the record, the client-driven life cycle (progress, eta, status,
result, cancel, destroy), lookups, other_config, subtasks and Async.task.cancel."""

import time
import uuid
import xmlrpc.client

import pytest

from xapid_rpc import EPOCH, REF_RE, parse_datetime, sdk_failure, utcnow, wait_until

TASK_FIELDS = {
    "uuid", "name_label", "name_description", "allowed_operations", "current_operations",
    "created", "finished", "status", "resident_on", "progress", "eta", "type", "result",
    "error_info", "other_config", "subtask_of", "subtasks", "backtrace",
    "objects", "created_by",
}


def dt_str(v) -> str:
    assert isinstance(v, xmlrpc.client.DateTime), v
    return v.value


def test_new_task_record(x, host_ref):
    t = x.task.create("my label", "my description")
    assert REF_RE.match(t)
    rec = x.task.get_record(t)
    assert set(rec) == TASK_FIELDS, "the record has exactly the public fields"
    assert rec["name_label"] == "my label"
    assert rec["name_description"] == "my description"
    assert rec["status"] == "pending"
    assert rec["progress"] == 0.0 and isinstance(rec["progress"], float)
    assert abs((parse_datetime(rec["created"]) - utcnow()).total_seconds()) < 10
    assert dt_str(rec["finished"]) == EPOCH
    assert dt_str(rec["eta"]) == EPOCH
    assert rec["type"] == "<none/>"
    assert rec["result"] == ""
    assert rec["error_info"] == []
    assert rec["other_config"] == {}
    assert rec["subtask_of"] == "OpaqueRef:NULL"
    assert rec["subtasks"] == []
    assert rec["backtrace"] == "()"
    assert rec["objects"] == []
    assert rec["created_by"] == "root"
    assert rec["resident_on"] == host_ref
    assert rec["allowed_operations"] == []
    assert rec["current_operations"] == {}
    uuid.UUID(rec["uuid"])


def test_getters_match_the_record(x):
    t = x.task.create("getters", "d")
    rec = x.task.get_record(t)
    for field in sorted(TASK_FIELDS):
        assert getattr(x.task, "get_" + field)(t) == rec[field], field


def test_internal_fields_are_hidden(x):
    t = x.task.create("internal", "")
    for getter in ("get_managed", "get_session", "get_externalpid", "get_forwarded"):
        assert sdk_failure(getattr(x.task, getter), t) == ["MESSAGE_METHOD_UNKNOWN", "task." + getter]


# -- progress and eta --------------------------------------------------------


def test_progress_never_decreases_and_stays_in_range(x):
    t = x.task.create("progress", "")
    x.task.set_progress(t, 0.5)
    assert x.task.get_progress(t) == 0.5
    x.task.set_progress(t, "0.75")
    assert x.task.get_progress(t) == 0.75
    x.task.set_progress(t, 0.3)
    assert x.task.get_progress(t) == 0.75
    assert sdk_failure(x.task.set_progress, t, 1.5) == ["INVALID_VALUE", "value", "1.5"]
    assert sdk_failure(x.task.set_progress, t, -0.1) == ["INVALID_VALUE", "value", "-0.1"]
    assert x.task.get_progress(t) == 0.75
    x.task.set_progress(t, 1)  # an <int>
    assert x.task.get_progress(t) == 1.0
    assert x.task.get_status(t) == "pending"


def test_eta_follows_a_steady_rate(x):
    t = x.task.create("eta", "")
    created = parse_datetime(x.task.get_created(t))
    assert dt_str(x.task.get_eta(t)) == EPOCH
    start = time.monotonic()
    for k in range(1, 5):
        # progress = 0.2/s since creation: done 5 s after it was created
        time.sleep(max(0.0, start + 0.5 * k - time.monotonic()))
        x.task.set_progress(t, 0.1 * k)
    eta = parse_datetime(x.task.get_eta(t))
    now = utcnow()
    assert (eta - now).total_seconds() > 0, f"eta {eta} is not in the future (now {now})"
    # created is whole seconds: allow for that and for timing noise.
    assert abs((eta - created).total_seconds() - 5) <= 3, (eta, created)
    # Once finished, the eta is the finish time.
    x.task.set_status(t, "success")
    assert x.task.get_eta(t) == x.task.get_finished(t)


# -- status, result, error_info ---------------------------------------------


def test_set_status_finishes_the_task(x):
    t = x.task.create("status", "")
    x.task.set_progress(t, 0.4)
    x.task.set_status(t, "success")
    rec = x.task.get_record(t)
    assert rec["status"] == "success"
    assert rec["progress"] == 1.0
    assert dt_str(rec["finished"]) != EPOCH
    assert abs((parse_datetime(rec["finished"]) - utcnow()).total_seconds()) < 10
    assert rec["eta"] == rec["finished"]
    assert sdk_failure(x.task.set_status, t, "failure")[0] == "OPERATION_NOT_ALLOWED"
    assert sdk_failure(x.task.set_status, t, "success")[0] == "OPERATION_NOT_ALLOWED"
    assert x.task.get_status(t) == "success"


@pytest.mark.parametrize("final", ["failure", "cancelled"])
def test_other_final_statuses(x, final):
    t = x.task.create("final", "")
    x.task.set_error_info(t, ["SOME_ERROR", "p1"])
    x.task.set_status(t, final)
    rec = x.task.get_record(t)
    assert rec["status"] == final
    assert rec["progress"] == 1.0
    assert rec["error_info"] == ["SOME_ERROR", "p1"]
    assert dt_str(rec["finished"]) != EPOCH


def test_bad_status(x):
    t = x.task.create("bogus", "")
    assert sdk_failure(x.task.set_status, t, "bogus") == ["INVALID_VALUE", "value", "bogus"]
    assert x.task.get_status(t) == "pending"


def test_result_and_error_info(x):
    t = x.task.create("result", "")
    x.task.set_result(t, "<value>x</value>")
    assert x.task.get_result(t) == "<value>x</value>"
    x.task.set_error_info(t, ["X", "y"])
    assert x.task.get_error_info(t) == ["X", "y"]
    x.task.set_error_info(t, [])
    assert x.task.get_error_info(t) == []


# -- cancel and destroy ------------------------------------------------------


def test_cancel_of_a_client_task_is_left_to_the_client(x):
    t = x.task.create("cancel-me", "")
    assert x.task.cancel(t) == ""
    rec = x.task.get_record(t)
    assert rec["status"] == "pending"
    assert list(rec["current_operations"].values()) == ["cancel"]
    # The client notices and finishes it.
    x.task.set_status(t, "cancelled")
    assert x.task.get_status(t) == "cancelled"


def test_cancel_of_a_finished_task_does_nothing(x):
    t = x.task.create("done", "")
    x.task.set_status(t, "success")
    before = x.task.get_record(t)
    assert x.task.cancel(t) == ""
    assert x.task.get_record(t) == before


def test_destroy_finished_task(x):
    t = x.task.create("destroy-finished", "")
    x.task.set_status(t, "success")
    assert x.task.destroy(t) == ""
    assert sdk_failure(x.task.get_record, t) == ["HANDLE_INVALID", "task", t]
    assert t not in x.task.get_all()
    assert sdk_failure(x.task.destroy, t) == ["HANDLE_INVALID", "task", t]


def test_destroy_pending_task_waits_for_it_to_finish(x):
    t = x.task.create("destroy-pending", "")
    x.task.destroy(t)
    rec = x.task.get_record(t)
    assert rec["status"] == "pending"
    assert rec["current_operations"] == {"task": "destroy"}
    x.task.set_progress(t, 0.5)
    assert x.task.get_progress(t) == 0.5
    x.task.set_status(t, "success")
    assert sdk_failure(x.task.get_record, t) == ["HANDLE_INVALID", "task", t]


# -- lookups -----------------------------------------------------------------


def test_get_all_and_get_all_records(x):
    t1 = x.task.create("all-1", "")
    t2 = x.task.create("all-2", "")
    refs = x.task.get_all()
    assert t1 in refs and t2 in refs
    records = x.task.get_all_records()
    assert set(records) == set(x.task.get_all())
    assert records[t1] == x.task.get_record(t1)
    assert records[t2]["name_label"] == "all-2"


def test_large_maps_come_whole_in_both_formats(server, x):
    """More tasks than one piece of the parallel encoder (2048 rows): the
    pieces, encoded on both cores, come in order and joined, in XML-RPC and
    JSON-RPC, for get_all_records and event.from with an empty token."""
    tag = uuid.uuid4().hex
    made = [x.task.create(f"big-{tag}-{i}", str(i)) for i in range(4500)]
    mine = set(made)
    records = x.task.get_all_records()
    assert set(records) == set(x.task.get_all()) and mine <= set(records)
    assert all(records[t]["name_description"] == str(i) for i, t in enumerate(made))
    assert records[made[-1]] == x.task.get_record(made[-1])
    j = server.json
    session = j.ok("session.login_with_password", "root", server.password, "1.0", "t")
    jrec = j.ok("task.get_all_records", session)
    assert set(jrec) == set(records)
    assert all(jrec[t]["name_label"] == f"big-{tag}-{i}" for i, t in enumerate(made))
    for batch in (x.event_from(["task"], "", 0.0), j.ok("event.from", session, ["task"], "", 0.0)):
        adds = [e for e in batch["events"] if e["operation"] == "add"]
        refs = [e["ref"] for e in adds]
        assert len(refs) == len(set(refs)) and mine <= set(refs)
        by_ref = {e["ref"]: e for e in adds}
        assert by_ref[made[1234]]["snapshot"]["name_description"] == "1234"
        assert batch["token"]
    for t in made:
        x.task.destroy(t)


def test_get_by_uuid(x):
    t = x.task.create("by-uuid", "")
    u = x.task.get_uuid(t)
    assert x.task.get_by_uuid(u) == t
    missing = str(uuid.uuid4())
    assert sdk_failure(x.task.get_by_uuid, missing) == ["UUID_INVALID", "task", missing]


def test_get_by_name_label(x):
    label = "label-" + uuid.uuid4().hex
    t1 = x.task.create(label, "")
    t2 = x.task.create(label, "other")
    x.task.create(label + "-not", "")
    assert sorted(x.task.get_by_name_label(label)) == sorted([t1, t2])
    assert x.task.get_by_name_label("no-such-label-" + uuid.uuid4().hex) == []


# -- other_config ------------------------------------------------------------


def test_other_config(x):
    t = x.task.create("oc", "")
    x.task.add_to_other_config(t, "k", "v")
    assert x.task.get_other_config(t) == {"k": "v"}
    assert sdk_failure(x.task.add_to_other_config, t, "k", "w") == [
        "MAP_DUPLICATE_KEY", "task", "other_config", t, "k"]
    assert x.task.get_other_config(t) == {"k": "v"}
    x.task.add_to_other_config(t, "k2", "v2")
    x.task.remove_from_other_config(t, "k")
    x.task.remove_from_other_config(t, "never-there")
    assert x.task.get_other_config(t) == {"k2": "v2"}
    x.task.set_other_config(t, {"a": "1", "b": "2"})
    assert x.task.get_other_config(t) == {"a": "1", "b": "2"}
    assert x.task.get_record(t)["other_config"] == {"a": "1", "b": "2"}
    x.task.set_other_config(t, {})
    assert x.task.get_other_config(t) == {}


# -- subtasks ----------------------------------------------------------------


def test_subtask_of_header(raw, session):
    parent = raw.ok("task.create", session, "parent", "")
    child = raw.ok("task.create", session, "child", "", headers={"subtask-of": parent})
    other = raw.ok("task.create", session, "child2", "", headers={"subtask-of": parent})
    assert raw.ok("task.get_subtask_of", session, child) == parent
    assert sorted(raw.ok("task.get_subtasks", session, parent)) == sorted([child, other])
    assert raw.ok("task.get_subtask_of", session, parent) == "OpaqueRef:NULL"
    raw.ok("task.set_status", session, child, "success")
    raw.ok("task.destroy", session, child)
    assert raw.ok("task.get_subtasks", session, parent) == [other]
    # A pending child destroyed: gone from the parent once it finishes.
    raw.ok("task.destroy", session, other)
    raw.ok("task.set_status", session, other, "failure")
    assert raw.ok("task.get_subtasks", session, parent) == []


# -- Async -------------------------------------------------------------------


def test_async_task_cancel(x):
    t = x.task.create("async-target", "")
    at = x.Async.task.cancel(t)
    assert REF_RE.match(at) and at != t
    assert x.task.get_name_label(at) == "Async.task.cancel"
    assert wait_until(lambda: x.task.get_status(at) != "pending", 5), "Async.task.cancel never finished"
    rec = x.task.get_record(at)
    assert rec["status"] == "success"
    assert rec["result"] == "<value></value>"
    assert rec["progress"] == 1.0
    assert rec["name_description"] == ""
    assert dt_str(rec["finished"]) != EPOCH
    # The target got the cancel request.
    assert "cancel" in x.task.get_current_operations(t).values()
    assert x.task.get_status(t) == "pending"


def test_async_task_cancel_of_a_missing_task_fails_the_task(x):
    missing = f"OpaqueRef:{uuid.uuid4()}"
    at = x.Async.task.cancel(missing)
    assert wait_until(lambda: x.task.get_status(at) != "pending", 5)
    assert x.task.get_status(at) == "failure"
    assert x.task.get_error_info(at) == ["HANDLE_INVALID", "task", missing]
