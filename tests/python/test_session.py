"""session: login forms, failed-login throttling, logout, change_password,
getters and other_config, idle expiry, the per-originator cap, and the SDK's
automatic re-login."""

import threading
import time
import uuid
import xmlrpc.client

import pytest

from xapid_rpc import REF_RE, parse_datetime, sdk_session, utcnow

LOGIN = "session.login_with_password"


def timed(fn, *args):
    t0 = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - t0


# -- login -------------------------------------------------------------------


@pytest.mark.parametrize("extra", [(), ("1.0",), ("2.0", "xapid-tests-login")])
def test_login_with_2_3_or_4_args(server, raw, extra):
    s = raw.ok(LOGIN, "root", server.password, *extra)
    assert REF_RE.match(s)
    assert raw.ok("session.get_auth_user_name", s, s) == "root"
    raw.ok("session.logout", s)


def test_login_parameter_count(server, raw):
    assert raw.fail(LOGIN) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", LOGIN, "2", "0"]
    assert raw.fail(LOGIN, "root") == ["MESSAGE_PARAMETER_COUNT_MISMATCH", LOGIN, "2", "1"]
    assert raw.fail(LOGIN, "root", server.password, "1.0", "o", "x") == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH", LOGIN, "4", "5"]


def test_wrong_password_is_refused_after_a_delay(server, raw):
    wrong = "wrong-" + uuid.uuid4().hex
    server.secrets.add(wrong)
    details, took = timed(raw.fail, LOGIN, "root", wrong)
    assert details == ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    assert took >= 0.2 * 0.95
    # A success resets root's penalty.
    raw.ok("session.logout", server.login())


def test_unknown_user_is_refused(server, raw):
    details, took = timed(raw.fail, LOGIN, "nobody", server.password)
    assert details == ["SESSION_AUTHENTICATION_FAILED", "nobody", "Authentication failure"]
    assert took >= 0.2 * 0.95


def test_empty_password_is_refused(server, raw):
    assert raw.fail(LOGIN, "root", "")[:2] == ["SESSION_AUTHENTICATION_FAILED", "root"]
    raw.ok("session.logout", server.login())


def test_failure_delay_doubles_and_resets_on_success(make_server):
    srv = make_server(login_failure_delay_secs=0.3, login_failure_max_delay_secs=10)
    raw = srv.raw
    srv.secrets.add("bad-password-1")
    delays = []
    for _ in range(3):
        details, took = timed(raw.fail, LOGIN, "root", "bad-password-1")
        assert details[0] == "SESSION_AUTHENTICATION_FAILED"
        delays.append(took)
    assert delays[0] >= 0.3 * 0.95 and delays[0] < 0.3 + 1.0, delays
    assert delays[1] >= 0.6 * 0.95 and delays[1] < 0.6 + 1.0, delays
    assert delays[2] >= 1.2 * 0.95 and delays[2] < 1.2 + 1.5, delays
    raw.ok("session.logout", srv.login())
    _, took = timed(raw.fail, LOGIN, "root", "bad-password-1")
    assert 0.3 * 0.95 <= took < 0.6, f"the delay was not reset by a success: {took}"


def test_delayed_failed_login_does_not_slow_other_calls(make_server):
    srv = make_server(login_failure_delay_secs=2.0, login_failure_max_delay_secs=10)
    raw = srv.raw
    s = srv.login()
    t = raw.ok("task.create", s, "busy", "")
    srv.secrets.add("bad-password-2")
    result = {}

    def failing_login():
        result["details"], result["took"] = timed(raw.fail, LOGIN, "root", "bad-password-2")

    th = threading.Thread(target=failing_login)
    th.start()
    time.sleep(0.3)
    for _ in range(5):
        _, took = timed(raw.ok, "task.get_record", s, t)
        assert took < 1.0, f"a call waited {took:.2f}s behind a failed login"
        _, took = timed(raw.ok, "host.get_all", s)
        assert took < 1.0
    th.join(10)
    assert result["details"][0] == "SESSION_AUTHENTICATION_FAILED"
    assert result["took"] >= 2.0 * 0.95


# -- logout ------------------------------------------------------------------


def test_logout_invalidates_the_ref(server, raw):
    s = server.login()
    assert raw.ok("session.logout", s) == ""
    assert raw.fail("task.get_all", s) == ["SESSION_INVALID", s]
    assert raw.fail("session.logout", s) == ["SESSION_INVALID", s]


def test_sdk_logout(server):
    sdk = server.sdk()
    ref = sdk.handle
    sdk.xenapi.session.logout()
    assert server.raw.fail("task.get_all", ref) == ["SESSION_INVALID", ref]


# -- change_password ---------------------------------------------------------


def test_change_password(make_server):
    srv = make_server()
    raw = srv.raw
    old = srv.password
    new = "new-" + uuid.uuid4().hex
    srv.secrets.add(new)
    s = srv.login()
    details = raw.fail("session.change_password", s, "not-the-old-one", new)
    assert details[:2] == ["SESSION_AUTHENTICATION_FAILED", "root"]
    assert raw.fail("session.change_password", s, old, "")[0] == "INVALID_VALUE"
    assert raw.ok("session.change_password", s, old, new) == ""
    assert REF_RE.match(raw.login(new))
    assert raw.fail(LOGIN, "root", old)[0] == "SESSION_AUTHENTICATION_FAILED"

    # Durable: a restart without XAPID_ROOT_PASSWORD keeps the new password.
    srv.restart(with_env_password=False)
    raw = srv.raw
    assert REF_RE.match(raw.login(new))
    assert raw.fail(LOGIN, "root", old)[0] == "SESSION_AUTHENTICATION_FAILED"

    # ... and after a crash too.
    srv.restart(crash=True, with_env_password=False)
    assert REF_RE.match(srv.raw.login(new))

    # A password given in the environment is authoritative at start.
    srv.restart(with_env_password=True)
    assert REF_RE.match(srv.raw.login(old))
    assert srv.raw.fail(LOGIN, "root", new)[0] == "SESSION_AUTHENTICATION_FAILED"


# -- getters and other_config -----------------------------------------------


def test_session_getters(server, raw, host_ref):
    s = raw.ok(LOGIN, "root", server.password, "1.0", "getter-test")
    assert raw.ok("session.get_this_host", s, s) == host_ref
    assert raw.ok("session.get_originator", s, s) == "getter-test"
    assert raw.ok("session.get_auth_user_name", s, s) == "root"
    assert raw.ok("session.get_is_local_superuser", s, s) is True
    assert raw.ok("session.get_this_user", s, s) == "OpaqueRef:NULL"
    last = raw.ok("session.get_last_active", s, s)
    assert isinstance(last, xmlrpc.client.DateTime)
    assert abs((parse_datetime(last) - utcnow()).total_seconds()) < 10

    rec = raw.ok("session.get_record", s, s)
    for field in ["uuid", "this_host", "this_user", "last_active", "originator", "other_config",
                  "is_local_superuser", "auth_user_name"]:
        assert field in rec, field
    assert rec["this_host"] == host_ref
    assert rec["originator"] == "getter-test"
    assert rec["is_local_superuser"] is True
    assert rec["other_config"] == {}

    u = raw.ok("session.get_uuid", s, s)
    assert u == rec["uuid"]
    uuid.UUID(u)
    assert raw.ok("session.get_by_uuid", s, u) == s
    missing = str(uuid.uuid4())
    assert raw.fail("session.get_by_uuid", s, missing) == ["UUID_INVALID", "session", missing]
    raw.ok("session.logout", s)


def test_session_without_originator(server, raw):
    s = server.login()
    assert raw.ok("session.get_originator", s, s) == ""
    raw.ok("session.logout", s)


def test_this_host_as_other_clients_call_it(x, sdk, host_ref):
    # Ansible and friends: session.xenapi.session.get_this_host(session.handle)
    assert x.session.get_this_host(sdk.handle) == host_ref


def test_session_other_config(raw, session):
    s = session
    raw.ok("session.add_to_other_config", s, s, "k", "v")
    assert raw.ok("session.get_other_config", s, s) == {"k": "v"}
    assert raw.fail("session.add_to_other_config", s, s, "k", "w") == [
        "MAP_DUPLICATE_KEY", "session", "other_config", s, "k"]
    raw.ok("session.remove_from_other_config", s, s, "k")
    raw.ok("session.remove_from_other_config", s, s, "absent")
    assert raw.ok("session.get_other_config", s, s) == {}
    raw.ok("session.set_other_config", s, s, {"a": "1", "b": "2"})
    assert raw.ok("session.get_other_config", s, s) == {"a": "1", "b": "2"}
    assert raw.ok("session.get_record", s, s)["other_config"] == {"a": "1", "b": "2"}


def test_no_session_get_all(raw, session):
    assert raw.fail("session.get_all", session) == ["MESSAGE_METHOD_UNKNOWN", "session.get_all"]


# -- expiry, cap, SDK re-login ----------------------------------------------


def test_idle_sessions_expire(make_server):
    srv = make_server(session_idle_timeout_secs=2, gc_interval_secs=0.5)
    raw = srv.raw
    idle = srv.login()
    busy = srv.login()
    sdk = srv.sdk()
    sdk_ref = sdk.handle
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        raw.ok("task.get_all", busy)
        time.sleep(0.4)
    # The collector removed it without it being touched...
    assert raw.fail("session.get_record", busy, idle) == ["HANDLE_INVALID", "session", idle]
    # ... and it is invalid; the active one is not.
    assert raw.fail("task.get_all", idle) == ["SESSION_INVALID", idle]
    raw.ok("task.get_all", busy)

    # The SDK logs in again by itself when its session has expired.
    assert raw.fail("task.get_all", sdk_ref) == ["SESSION_INVALID", sdk_ref]
    t = sdk.xenapi.task.create("after-expiry", "")
    assert sdk.xenapi.task.get_name_label(t) == "after-expiry"
    assert sdk.handle != sdk_ref


def test_sdk_logs_in_again_after_its_session_is_logged_out(server, raw):
    sdk = server.sdk()
    old = sdk.handle
    raw.ok("session.logout", old)
    assert sdk.xenapi.host.get_all()
    assert sdk.handle != old and REF_RE.match(sdk.handle)
    sdk.xenapi.session.logout()


def test_sessions_are_capped_per_originator(make_server):
    srv = make_server(max_sessions_per_originator=3)
    raw = srv.raw
    pw = srv.password
    other = raw.ok(LOGIN, "root", pw, "1.0", "other")
    a1 = raw.ok(LOGIN, "root", pw, "1.0", "capped")
    time.sleep(1.1)
    a2 = raw.ok(LOGIN, "root", pw, "1.0", "capped")
    time.sleep(1.1)
    a3 = raw.ok(LOGIN, "root", pw, "1.0", "capped")
    time.sleep(1.1)
    raw.ok("task.get_all", a1)  # a1 is now more recent than a2
    a4 = raw.ok(LOGIN, "root", pw, "1.0", "capped")
    names = {a1: "a1", a2: "a2", a3: "a3", a4: "a4", other: "other"}
    dead = [names[s] for s in names if raw.call("task.get_all", s)["Status"] != "Success"]
    assert dead == ["a2"], f"expected only a2 (the least recently active) evicted, got {dead}"


def test_cap_leaves_other_originators_alone(make_server):
    srv = make_server(max_sessions_per_originator=2)
    raw = srv.raw
    others = [raw.ok(LOGIN, "root", srv.password, "1.0", f"o{i}") for i in range(3)]
    mine = [raw.ok(LOGIN, "root", srv.password, "1.0", "mine") for _ in range(4)]
    alive = [s for s in mine if raw.call("task.get_all", s)["Status"] == "Success"]
    assert len(alive) == 2 and mine[-1] in alive
    for s in others:
        raw.ok("task.get_all", s)


def test_sdk_session_with_its_own_url_forms(server):
    # No trailing slash: the SDK posts to /RPC2.
    s = sdk_session(f"http://127.0.0.1:{server.port}", server.password)
    assert s.xenapi.host.get_all()
    s.xenapi.session.logout()
