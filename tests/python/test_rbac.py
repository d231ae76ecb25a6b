"""Users and roles (xapi's RBAC) end to end: local users, the permission
check, revocation at once (open sessions, and one blocked in event.from),
task ownership, the HTTP handlers' permissions, and the audit log."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from xapid_rpc import ApiFailure

ROLES = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only"]
DENIED = "No permission in user session. (Roles with this permission: {})"


class Users:
    """Local users on one server, made through the API as root."""

    def __init__(self, srv):
        self.srv = srv
        self.raw = srv.raw
        self.root = srv.login()
        self.role_refs = {r: self.raw.ok("role.get_by_name_label", self.root, r)[0] for r in ROLES}

    def make(self, name: str, *roles: str, password: str | None = None) -> tuple[str, str]:
        """A subject `local:<name>` with a password and roles; returns
        (subject ref, password)."""
        pw = password or f"pw-{name}-S3cret!"
        self.srv.secrets.add(pw)
        subj = self.raw.ok("subject.create", self.root, {"subject_identifier": f"local:{name}"})
        self.raw.ok("subject.set_password", self.root, subj, pw)
        for r in roles:
            self.raw.ok("subject.add_to_roles", self.root, subj, self.role_refs[r])
        return subj, pw

    def login(self, name: str, pw: str) -> str:
        return self.raw.login(pw, "1.1", f"rbac-{name}", user=name)


@pytest.fixture
def users(make_server):
    srv = make_server(login_failure_delay_secs=0.01, login_failure_max_delay_secs=0.05)
    return Users(srv)


def denial(details, permission, roles):
    assert details == ["RBAC_PERMISSION_DENIED", permission, DENIED.format(", ".join(roles))], details


def test_roles_are_xapis(users):
    raw, root = users.raw, users.root
    recs = raw.ok("role.get_all_records", root)
    roles = {v["name_label"]: (k, v) for k, v in recs.items() if v["subroles"]}
    assert sorted(roles) == sorted(ROLES)
    assert roles["pool-admin"][0] == "OpaqueRef:0165f154-ba3e-034e-6b27-5d271af109ba"
    # Citrix's `xe role-list` shows this uuid for pool-operator (md5 of the name).
    assert roles["pool-operator"][1]["uuid"] == "b9ce9791-0604-50cd-0649-09b3284c7dfd"
    assert not roles["read-only"][1]["is_internal"]
    perms = {v["name_label"]: k for k, v in recs.items() if not v["subroles"]}
    assert "vdi.copy" in perms and "task.destroy/any" in perms and "http/put_import_raw_vdi" in perms
    # Each role holds what the roles below it hold, and more.
    counts = [len(raw.ok("role.get_permissions", root, users.role_refs[r])) for r in ROLES]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    names = raw.ok("role.get_permissions_name_label", root, users.role_refs["read-only"])
    assert "vdi.get_record" in names and "vdi.copy" not in names
    by = raw.ok("role.get_by_permission_name_label", root, "vdi.copy")
    assert by == [users.role_refs[r] for r in ROLES[:4]]
    assert raw.ok("role.get_by_permission", root, perms["task.destroy/any"]) == [
        users.role_refs["pool-admin"], users.role_refs["pool-operator"]]
    assert raw.ok("role.get_by_permission_name_label", root, "no.such") == []


def test_local_user_login_and_denial(users):
    raw, root = users.raw, users.root
    subj, pw = users.make("alice")
    # No roles: refused as xapi refuses it.
    assert raw.fail("session.login_with_password", "alice", pw) == [
        "RBAC_PERMISSION_DENIED", "session.login_with_password",
        "Subject alice (identifier local:alice) has no roles in this pool"]
    assert raw.fail("session.login_with_password", "alice", "wrong")[:2] == [
        "SESSION_AUTHENTICATION_FAILED", "alice"]
    assert raw.fail("session.login_with_password", "nobody", pw)[:2] == [
        "SESSION_AUTHENTICATION_FAILED", "nobody"]
    raw.ok("subject.add_to_roles", root, subj, users.role_refs["vm-admin"])
    assert raw.fail("subject.add_to_roles", root, subj, users.role_refs["vm-admin"]) == ["ROLE_ALREADY_EXISTS"]
    assert raw.fail("subject.create", root, {"subject_identifier": "local:alice"}) == ["SUBJECT_ALREADY_EXISTS"]
    assert raw.fail("subject.create", root, {"subject_identifier": "local:root"})[0] == "INVALID_VALUE"
    a = users.login("alice", pw)
    rec = raw.ok("session.get_record", a, a)
    assert rec["subject"] == subj and rec["auth_user_sid"] == "local:alice"
    assert rec["auth_user_name"] == "alice" and rec["is_local_superuser"] is False
    assert "vdi.copy" in rec["rbac_permissions"] and "subject.create" not in rec["rbac_permissions"]
    assert raw.ok("session.get_rbac_permissions", a, a) == rec["rbac_permissions"]
    assert sorted(raw.ok("subject.get_permissions_name_label", a, subj)) == sorted(rec["rbac_permissions"])
    # Root's session has every right and an empty list, as xapi.
    assert raw.ok("session.get_rbac_permissions", root, root) == []
    # Readers are open; a pool-admin message is not, before it does anything.
    assert isinstance(raw.ok("VDI.get_all_records", a), dict)
    denial(raw.fail("subject.create", a, {"subject_identifier": "local:mallory"}), "subject.create", ["pool-admin"])
    assert not any(v["subject_identifier"] == "local:mallory"
                   for v in raw.ok("subject.get_all_records", root).values())
    denial(raw.fail("SR.set_name_label", a, "OpaqueRef:NULL", "x"), "sr.set_name_label", ROLES[:2])
    users.srv.check_log()


def test_role_changes_reach_open_sessions_at_once(users):
    raw, root = users.raw, users.root
    subj, pw = users.make("bob", "vm-admin", "read-only")
    b = users.login("bob", pw)
    assert raw.fail("VDI.copy", b, "OpaqueRef:NULL", "OpaqueRef:NULL")[0] == "HANDLE_INVALID"
    raw.ok("subject.remove_from_roles", root, subj, users.role_refs["vm-admin"])
    assert raw.fail("subject.remove_from_roles", root, subj, users.role_refs["vm-admin"]) == ["ROLE_NOT_FOUND"]
    # At once, in the same session: xapi would wait for the next login.
    denial(raw.fail("VDI.copy", b, "OpaqueRef:NULL", "OpaqueRef:NULL"), "vdi.copy", ROLES[:4])
    # Async forms are checked the same way, before a task exists.
    tasks_before = len(raw.ok("task.get_all", root))
    denial(raw.fail("Async.VDI.copy", b, "OpaqueRef:NULL", "OpaqueRef:NULL"), "vdi.copy", ROLES[:4])
    assert len(raw.ok("task.get_all", root)) == tasks_before
    assert "vdi.copy" not in raw.ok("session.get_rbac_permissions", b, b)
    raw.ok("subject.add_to_roles", root, subj, users.role_refs["vm-admin"])
    assert raw.fail("VDI.copy", b, "OpaqueRef:NULL", "OpaqueRef:NULL")[0] == "HANDLE_INVALID"

    # A session blocked in event.from ends when the last role goes.
    token = raw.ok("event.from", b, ["task"], "", 0.0)["token"]
    out = {}

    def wait():
        t0 = time.monotonic()
        out["reply"] = raw.call("event.from", b, ["task"], token, 30.0)
        out["took"] = time.monotonic() - t0

    th = threading.Thread(target=wait)
    th.start()
    time.sleep(0.5)
    raw.ok("subject.remove_from_roles", root, subj, users.role_refs["vm-admin"])
    assert th.is_alive(), "event.from returned although a role remained"
    raw.ok("subject.remove_from_roles", root, subj, users.role_refs["read-only"])
    th.join(10)
    assert not th.is_alive()
    assert out["reply"]["ErrorDescription"] == ["SESSION_INVALID", b]
    assert out["took"] < 5
    # No roles: no new session either.
    assert raw.fail("session.login_with_password", "bob", pw)[0] == "RBAC_PERMISSION_DENIED"


def test_destroy_and_password_changes_end_sessions(users):
    raw, root = users.raw, users.root
    subj, pw = users.make("carol", "read-only")
    c1, c2 = users.login("carol", pw), users.login("carol", pw)
    # A blocked event.from is woken by the destroy too.
    token = raw.ok("event.from", c1, ["task"], "", 0.0)["token"]
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", raw.call("event.from", c2, ["task"], token, 30.0)))
    th.start()
    time.sleep(0.3)
    # The user changes its own password: its other sessions end, this one stays.
    new = "carol-N3w-pw!"
    users.srv.secrets.add(new)
    raw.ok("session.change_password", c1, pw, new)
    th.join(10)
    assert out["r"]["ErrorDescription"] == ["SESSION_INVALID", c2]
    assert raw.ok("session.get_auth_user_name", c1, c1) == "carol"
    assert raw.fail("session.login_with_password", "carol", pw)[0] == "SESSION_AUTHENTICATION_FAILED"
    c3 = users.login("carol", new)
    # A pool-admin sets it: every session ends.
    newer = "carol-Adm1n-set"
    users.srv.secrets.add(newer)
    raw.ok("subject.set_password", root, subj, newer)
    for s in (c1, c3):
        assert raw.fail("task.get_all", s) == ["SESSION_INVALID", s]
    c4 = users.login("carol", newer)
    raw.ok("subject.destroy", root, subj)
    assert raw.fail("task.get_all", c4) == ["SESSION_INVALID", c4]
    assert raw.fail("session.login_with_password", "carol", newer)[0] == "SESSION_AUTHENTICATION_FAILED"
    # Only local users have passwords here.
    other = raw.ok("subject.create", root, {"subject_identifier": "S-1-5-21-42"})
    assert raw.fail("subject.set_password", root, other, "x")[0] == "INVALID_VALUE"
    users.srv.check_log()


def test_task_ownership(users):
    raw, root = users.raw, users.root
    _, apw = users.make("dave", "vm-admin")
    _, bpw = users.make("erin", "vm-admin")
    _, opw = users.make("oper", "pool-operator")
    d, e, o = users.login("dave", apw), users.login("erin", bpw), users.login("oper", opw)
    mine = raw.ok("task.create", d, "dave's", "")
    roots = raw.ok("task.create", root, "root's", "")
    # Everyone reads every task, as in xapi.
    everything = raw.ok("task.get_all_records", e)
    assert mine in everything and roots in everything
    assert raw.ok("task.get_name_label", e, mine) == "dave's"
    # Others' tasks need task.destroy/any (pool-operator and up).
    for m, args in [("task.cancel", ()), ("task.destroy", ()), ("task.set_progress", (0.5,)),
                    ("task.set_status", ("success",))]:
        denial(raw.fail(m, e, mine, *args), "task.destroy/any", ROLES[:2])
        denial(raw.fail(m, d, roots, *args), "task.destroy/any", ROLES[:2])
    raw.ok("task.set_progress", d, mine, 0.5)
    raw.ok("task.cancel", d, mine)
    raw.ok("task.set_progress", o, roots, 0.25)
    raw.ok("task.destroy", o, mine)
    raw.ok("task.destroy", root, roots)
    # An Async call's task is the caller's.
    t = raw.ok("Async.VDI.copy", d, "OpaqueRef:NULL", "OpaqueRef:NULL")
    raw.ok("task.get_status", e, t)
    denial(raw.fail("task.destroy", e, t), "task.destroy/any", ROLES[:2])
    deadline = time.monotonic() + 10
    while raw.ok("task.get_status", d, t) == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    raw.ok("task.destroy", d, t)


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def http_put(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("PUT", path, body=body, headers={"Content-Length": str(len(body))})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def audit_lines(srv) -> list[dict]:
    text = (srv.state_dir / "audit.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line]


def test_audit_log(make_server):
    srv = make_server(login_failure_delay_secs=0.01, login_failure_max_delay_secs=0.05)
    users = Users(srv)
    raw, root = users.raw, users.root
    subj, pw = users.make("gina", "read-only")
    g = users.login("gina", pw)
    raw.fail("session.login_with_password", "gina", "Wr0ng-guess-pw")
    srv.secrets.add("Wr0ng-guess-pw")
    sr = raw.ok("SR.get_all", root)[0]
    denial(raw.fail("SR.scan", g, sr), "sr.scan", ROLES[:3])
    vdi = raw.ok("VDI.create", root, {"SR": sr, "virtual_size": 1 << 20, "name_label": "a"})
    # HTTP handlers: read-only may neither import nor export; root may.
    st, body = http_put(srv.port, f"/import_raw_vdi?session_id={g}&vdi={vdi}", b"\0" * 512)
    assert st == 403 and b"RBAC_PERMISSION_DENIED http/put_import_raw_vdi" in body
    st, _ = http_get(srv.port, f"/export_raw_vdi?session_id={g}&vdi={vdi}")
    assert st == 403
    st, _ = http_put(srv.port, f"/import_raw_vdi?session_id={root}&vdi={vdi}", b"\1" * 512)
    assert st == 200
    raw.ok("VDI.set_name_label", root, vdi, "b")

    lines = audit_lines(srv)
    calls = [(l["call"], l["user"], l["allowed"], l.get("error")) for l in lines]
    assert ("subject.create", "root", True, None) in calls
    assert ("subject.set_password", "root", True, None) in calls
    assert ("subject.add_to_roles", "root", True, None) in calls
    assert ("session.login_with_password", "gina", True, None) in calls
    assert ("session.login_with_password", "gina", True, "SESSION_AUTHENTICATION_FAILED") in calls
    assert ("SR.scan", "gina", False, "RBAC_PERMISSION_DENIED") in calls
    assert ("http/put_import_raw_vdi", "gina", False, "RBAC_PERMISSION_DENIED") in calls
    assert ("http/get_export_raw_vdi", "gina", False, "RBAC_PERMISSION_DENIED") in calls
    assert ("http/put_import_raw_vdi", "root", True, None) in calls
    assert ("VDI.set_name_label", "root", True, None) in calls
    # Readers are not audited.
    assert not any(c[0].startswith("VDI.get_") or c[0] == "SR.get_all" for c in calls)
    scan = next(l for l in lines if l["call"] == "SR.scan")
    assert scan["sid"] == "local:gina" and scan["subject"] == subj and scan["refs"] == [sr]
    assert scan["originator"] == "rbac-gina" and scan["client"].startswith("127.0.0.1:")
    created = next(l for l in lines if l["call"] == "VDI.create")
    assert created["returned"] == vdi
    # No secret, and no session ref (a bearer token), anywhere in the log.
    text = (srv.state_dir / "audit.log").read_text()
    for s in srv.secrets:
        assert s not in text
    assert g not in text and root not in text

    # GET /audit_log: pool-admin only, oldest first, with `since`.
    st, body = http_get(srv.port, f"/audit_log?session_id={g}")
    assert st == 403
    denied = audit_lines(srv)[-1]
    assert (denied["call"], denied["user"], denied["allowed"], denied["error"]) == (
        "http/get_audit_log", "gina", False, "RBAC_PERMISSION_DENIED")
    assert denied["subject"] == subj and denied["client"].startswith("127.0.0.1:")
    st, body = http_get(srv.port, f"/audit_log?session_id={root}")
    assert st == 200
    got = [json.loads(x) for x in body.decode().splitlines()]
    assert [l["call"] for l in got[: len(lines)]] == [l["call"] for l in lines]
    last = got[-1]["time"]
    st, body = http_get(srv.port, f"/audit_log?session_id={root}&since={last}")
    assert st == 200 and all(json.loads(x)["time"] >= last for x in body.decode().splitlines())
    st, body = http_get(srv.port, f"/audit_log?session_id={root}&since=2999-01-01")
    assert st == 200 and body == b""

    # kill -9: every line written before survives, and the log goes on.
    before = (srv.state_dir / "audit.log").read_bytes()
    srv.restart(crash=True)
    after = (srv.state_dir / "audit.log").read_bytes()
    assert after.startswith(before)
    root2 = srv.login()
    srv.raw.ok("VDI.set_name_label", root2, vdi, "c")
    assert audit_lines(srv)[-1]["call"] == "VDI.set_name_label"
    srv.check_log()


def test_audit_log_rotates(make_server):
    srv = make_server(audit_log_max_bytes=4096, audit_log_keep=2)
    root = srv.login()
    t = srv.raw.ok("task.create", root, "t", "")
    for i in range(80):
        srv.raw.ok("task.set_other_config", root, t, {"i": str(i)})
    files = sorted(p.name for p in srv.state_dir.glob("audit.log*"))
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    for p in srv.state_dir.glob("audit.log*"):
        assert p.stat().st_size <= 4096
    st, body = http_get(srv.port, f"/audit_log?session_id={root}")
    lines = [json.loads(x) for x in body.decode().splitlines()]
    assert lines[-1]["call"] == "task.set_other_config"
    times = [l["time"] for l in lines]
    assert times == sorted(times)


def test_subjects_survive_a_restart_and_sessions_by_identifier(users):
    srv, root = users.srv, users.root
    subj, pw = users.make("hank", "vm-operator")
    h1, h2 = users.login("hank", pw), users.login("hank", pw)
    t = srv.raw.ok("task.create", h1, "hank's", "")
    assert "local:hank" in srv.raw.ok("session.get_all_subject_identifiers", h1)
    # pool-operator and up end a user's sessions (but their own).
    denial(srv.raw.fail("session.logout_subject_identifier", h1, "local:hank"),
           "session.logout_subject_identifier", ROLES[:2])
    srv.raw.ok("session.logout_subject_identifier", root, "local:hank")
    for s in (h1, h2):
        assert srv.raw.fail("task.get_all", s) == ["SESSION_INVALID", s]
    assert "local:hank" not in srv.raw.ok("session.get_all_subject_identifiers", root)
    srv.restart(crash=True)
    raw = srv.raw
    root = srv.login()
    rec = raw.ok("subject.get_record", root, subj)
    assert rec["subject_identifier"] == "local:hank" and "password_hash" not in rec
    h = raw.login(pw, user="hank")
    assert raw.ok("session.get_subject", h, h) == subj
    # The task is still hank's: another vm-operator may not destroy it,
    # hank may.
    ivy = raw.ok("subject.create", root, {"subject_identifier": "local:ivy"})
    raw.ok("subject.set_password", root, ivy, "ivy-Pw-123")
    srv.secrets.add("ivy-Pw-123")
    raw.ok("subject.add_to_roles", root, ivy, users.role_refs["vm-operator"])
    i = raw.login("ivy-Pw-123", user="ivy")
    denial(raw.fail("task.destroy", i, t), "task.destroy/any", ROLES[:2])
    raw.ok("task.destroy", h, t)
    srv.check_log()
