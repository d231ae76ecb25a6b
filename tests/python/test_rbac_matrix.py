"""The permission matrix, generated from the datamodel: for every method the
server lists and every role, a user holding exactly that role is allowed
or denied as `datamodel/*.toml` says (read here independently of the
server's own derivation: explicit messages take their `roles`, else their
class's; getters, `get_record`, `get_all*` and `get_by_*` are open to every
role; setters and map updates take the class's roles).

Calls carry well-typed arguments that name no real object, so an allowed
call fails after the check (HANDLE_INVALID and the like) instead of doing
something; a denied one must fail with RBAC_PERMISSION_DENIED and nothing
else. The server's `role` class must agree with the same expectation."""

from __future__ import annotations

import datetime as dt
import tomllib
import uuid
import xmlrpc.client
from pathlib import Path

import pytest

from test_rbac import ROLES, Users

DATAMODEL = Path(__file__).resolve().parents[2] / "datamodel"

# Calls that would end or block the session making them: each is made on a
# fresh session of the same user.
OWN_SESSION = {"session.logout", "session.local_logout", "event.next", "event.register",
               "event.unregister"}


def load_model():
    classes, enums, rbac = {}, {}, None
    for f in sorted(DATAMODEL.glob("*.toml")):
        d = tomllib.loads(f.read_text())
        for e in d.get("enum", []):
            enums[e["name"]] = [v["name"] for v in e["values"]]
        if "role" in d:
            rbac = d
        if "class" in d:
            c = d["class"]
            classes[c["name"]] = {
                "roles": c["roles"],
                "fields": {x["name"]: x for x in d.get("field", []) if not x.get("internal")},
                "messages": {m["name"]: m for m in d.get("message", [])},
            }
    return classes, enums, rbac


def allowed_roles(role: str) -> list[str]:
    if role == "local-root":
        return []
    return ROLES[: ROLES.index(role) + 1]


def expected(classes, wire: str) -> tuple[list[str], list[str]] | None:
    """(allowed roles, parameter types) of a method, or None for one that
    takes no session."""
    cls, name = wire.split(".", 1)
    c = classes[cls]
    if name in c["messages"]:
        m = c["messages"][name]
        if m.get("session", True) is False:
            return None
        return allowed_roles(m.get("roles", c["roles"])), [p["type"] for p in m["params"]]
    ref = f"{cls} ref"
    if name in ("get_all", "get_all_records"):
        return ROLES, []
    if name == "get_record":
        return ROLES, [ref]
    if name == "get_by_uuid" or name == "get_by_name_label":
        return ROLES, ["string"]
    for prefix in ("get_", "set_", "add_to_", "remove_from_"):
        if name.startswith(prefix):
            field = c["fields"][name[len(prefix):]]
            ty = field["type"]
            if prefix == "get_":
                return ROLES, [ref]
            key, _, val = ty.strip("()").partition(" -> ")
            val = val.removesuffix(") map").removesuffix(" map")
            params = {"set_": [ref, ty], "add_to_": [ref, key, val.strip(")")],
                      "remove_from_": [ref, key]}[prefix]
            return allowed_roles(c["roles"]), params
    raise AssertionError(f"{wire}: not in the datamodel")


def value_of(ty: str, enums):
    ty = ty.strip()
    if ty.endswith(" map") or ty.endswith(" record") or ty == "struct":
        return {}
    if ty.endswith(" set"):
        return []
    if ty.endswith(" ref"):
        return f"OpaqueRef:{uuid.uuid4()}"
    return {
        "string": "",
        "int": 0,
        "float": 0.0,
        "bool": False,
        "datetime": xmlrpc.client.DateTime(dt.datetime(2000, 1, 1)),
    }.get(ty) if ty in ("string", "int", "float", "bool", "datetime") else enums[ty][0]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    from conftest import Servers
    servers = Servers(tmp_path_factory.mktemp("matrix"))
    srv = servers(login_failure_delay_secs=0.01, login_failure_max_delay_secs=0.05)
    users = Users(srv)
    sessions = {}
    for r in ROLES:
        name = "u-" + r
        _, pw = users.make(name, r)
        sessions[r] = (name, pw, users.login(name, pw))
    yield srv, users, sessions
    servers.close()


def test_every_method_for_every_role(matrix):
    srv, users, sessions = matrix
    raw = srv.raw
    classes, enums, _ = load_model()
    methods = [m for m in raw.call("system.listMethods") if "." in m and m.split(".")[0] in classes]
    checked = 0
    for wire in methods:
        exp = expected(classes, wire)
        if exp is None:
            continue
        allowed, types = exp
        args = [value_of(t, enums) for t in types]
        for role in ROLES:
            name, pw, s = sessions[role]
            if wire in OWN_SESSION:
                s = users.login(name, pw)
            if wire == "session.change_password":
                args = ["not-the-password", "x"]
            if wire == "event.from":
                args = [[], "", 0.0]
            reply = raw.call(wire, s, *args)
            desc = reply.get("ErrorDescription") if reply["Status"] == "Failure" else None
            if role in allowed:
                assert not desc or desc[0] != "RBAC_PERMISSION_DENIED", (wire, role, desc)
            else:
                perm = wire.lower()
                msg = ("No permission in user session. (Roles with this permission: "
                       f"{', '.join(allowed)})")
                assert desc == ["RBAC_PERMISSION_DENIED", perm, msg], (wire, role, reply)
            checked += 1
    assert checked > 1000, checked


def test_the_role_table_agrees_with_the_model(matrix):
    srv, users, _ = matrix
    raw, root = srv.raw, users.root
    classes, _, rbac = load_model()
    for role in ROLES:
        held = set(raw.ok("role.get_permissions_name_label", root, users.role_refs[role]))
        want = set()
        for wire in raw.call("system.listMethods"):
            if "." not in wire or wire.split(".")[0] not in classes:
                continue
            exp = expected(classes, wire)
            if exp and role in exp[0]:
                want.add(wire.lower())
        for p in rbac["permission"]:
            if role in allowed_roles(p["roles"]):
                want.add(p["name"])
        for h in rbac["http"]:
            if role in allowed_roles(h["roles"]):
                want.add("http/" + h["name"])
        assert held == want, (role, sorted(held ^ want)[:10])
