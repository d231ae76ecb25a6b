"""event: from (token "", coalescing of add/mod/del, blocking until a
change or the timeout, class/ref subscriptions, errors, logout during a
wait), the event_from alias, inject, get_current_id, and the legacy
register/next queue; job progress reaches watchers."""

import re
import threading
import time

import pytest

from storage_util import M, create_vdi, default_sr, place_image, wait_job
from xapid_rpc import sdk_failure

TOKEN_RE = re.compile(r"^\d{20},\d{20}$")


@pytest.fixture
def x(server):
    return server.sdk().xenapi


def events_for(batch, ref):
    return [e for e in batch["events"] if e["ref"] == ref]


def test_empty_token_gives_every_live_object(x):
    t1 = x.task.create("ev-a", "")
    t2 = x.task.create("ev-b", "")
    b = x.event_from(["task"], "", 0.0)
    assert TOKEN_RE.match(b["token"]), b["token"]
    refs = {e["ref"]: e for e in b["events"]}
    for t in (t1, t2):
        e = refs[t]
        assert e["operation"] == "add" and e["class"] == "task"
        assert e["snapshot"]["name_label"] in ("ev-a", "ev-b")
        assert e["snapshot"]["uuid"] == x.task.get_uuid(t)
    assert all(e["class"] == "task" for e in b["events"])
    counts = b["valid_ref_counts"]
    assert counts["task"] == len(x.task.get_all())
    for c in ("host", "pool", "sr", "vdi", "block_job", "session"):
        assert isinstance(counts[c], int), counts
    x.task.destroy(t1)
    x.task.destroy(t2)


def test_add_mod_del_are_coalesced_after_a_token(x):
    before = x.task.create("existing", "")
    tok = x.event_from(["task"], "", 0.0)["token"]
    new = x.task.create("new", "")
    x.task.set_progress(new, 0.5)
    x.task.set_progress(before, 0.25)
    gone = x.task.create("short-lived", "")
    x.task.set_status(gone, "success")  # a pending task is only marked for destroy
    x.task.destroy(gone)
    b = x.event_from(["task"], tok, 1.0)
    ev = {e["ref"]: e for e in b["events"]}
    assert ev[new]["operation"] == "add" and ev[new]["snapshot"]["progress"] == 0.5
    assert len(events_for(b, new)) == 1, "one event per object"
    assert ev[before]["operation"] == "mod" and ev[before]["snapshot"]["progress"] == 0.25
    assert gone not in ev, "created and deleted after the token: nothing"
    tok2 = b["token"]
    assert tok2 > tok
    x.task.set_status(before, "success")
    tok2 = x.event_from(["task"], tok2, 1.0)["token"]
    x.task.destroy(before)
    b = x.event_from(["task"], tok2, 1.0)
    (e,) = events_for(b, before)
    assert e["operation"] == "del" and "snapshot" not in e
    x.task.destroy(new)


def test_timeout_and_blocking(server, x):
    # A subscription of this test's own (the shared server has other tasks).
    mine = x.task.create("watched", "")
    sub = [f"task/{mine}"]
    tok = x.event_from(sub, "", 0.0)["token"]
    t0 = time.time()
    b = x.event_from(sub, tok, 0.0)
    assert b["events"] == [] and time.time() - t0 < 0.5
    t0 = time.time()
    b = x.event_from(sub, tok, 0.6)
    took = time.time() - t0
    assert b["events"] == [] and 0.5 <= took < 2.0, took
    other = server.sdk().xenapi

    def later():
        time.sleep(0.5)
        other.task.set_progress(mine, 0.5)

    th = threading.Thread(target=later)
    th.start()
    t0 = time.time()
    b = x.event_from(sub, tok, 10.0)
    took = time.time() - t0
    th.join()
    assert 0.4 <= took < 2.0, took
    assert [(e["ref"], e["operation"]) for e in b["events"]] == [(mine, "mod")]
    x.task.destroy(mine)


def test_subscriptions(x):
    a = x.task.create("a", "")
    bt = x.task.create("b", "")
    tok = x.event_from(["task"], "", 0.0)["token"]
    x.task.set_progress(a, 0.1)
    x.task.set_progress(bt, 0.1)
    b = x.event_from([f"task/{a}"], tok, 1.0)
    assert [e["ref"] for e in b["events"]] == [a]
    b = x.event_from(["TASK"], tok, 1.0)
    assert {a, bt} <= {e["ref"] for e in b["events"]}
    b = x.event_from(["*"], "", 0.0)
    assert {"task", "host", "pool", "sr"} <= {e["class"] for e in b["events"]}
    assert "session" not in {e["class"] for e in b["events"]}
    for bad in (["nosuchclass"], ["task/not-a-ref"], [""]):
        err = sdk_failure(x.event_from, bad, "", 0.0)
        assert err == ["EVENT_SUBSCRIPTION_PARSE_FAILURE", bad[0]], err
    for bad in ("garbage", "12", "1,x"):
        err = sdk_failure(x.event_from, ["task"], bad, 0.0)
        assert err == ["EVENT_FROM_TOKEN_PARSE_FAILURE", bad], err
    x.task.destroy(a)
    x.task.destroy(bt)


def test_inject_and_current_id(x):
    pool = x.pool.get_all()[0]
    g0 = int(x.event.get_current_id())
    tok = x.event.inject("pool", pool)
    assert TOKEN_RE.match(tok)
    assert int(x.event.get_current_id()) > g0
    b = x.event_from(["pool"], tok, 0.0)
    (e,) = b["events"]
    assert e["ref"] == pool and e["operation"] == "mod"
    err = sdk_failure(x.event.inject, "pool", "OpaqueRef:00000000-0000-0000-0000-000000000001")
    assert err[0] == "HANDLE_INVALID", err


def test_logout_during_a_wait(server):
    """Raw XML-RPC: the SDK would log in again on SESSION_INVALID."""
    import xmlrpc.client
    proxy = xmlrpc.client.ServerProxy(server.url)
    sid = proxy.session.login_with_password("root", server.password)["Value"]
    # (A class no other test's leftovers touch meanwhile, unlike task.)
    b = getattr(proxy, "event.from")(sid, ["pool"], "", 0.0)["Value"]
    tok = b["token"]
    out = []

    def wait():
        p = xmlrpc.client.ServerProxy(server.url)
        out.append(getattr(p, "event.from")(sid, ["pool"], tok, 30.0))

    th = threading.Thread(target=wait)
    th.start()
    time.sleep(0.3)
    t0 = time.time()
    assert proxy.session.logout(sid)["Status"] == "Success"
    th.join(5)
    assert not th.is_alive()
    assert time.time() - t0 < 2.0
    r = out[0]
    assert r["Status"] == "Failure" and r["ErrorDescription"][0] == "SESSION_INVALID", r


def test_legacy_register_next(server):
    x = server.sdk().xenapi
    err = sdk_failure(x.event.next)
    assert err[0] == "SESSION_NOT_REGISTERED" and len(err) == 2, err
    x.event.register(["task"])
    t = x.task.create("legacy", "")
    evs = x.event.next()
    assert any(e["ref"] == t and e["operation"] == "add" for e in evs), evs
    x.task.set_status(t, "success")
    x.task.destroy(t)
    evs = []
    while not any(e["ref"] == t and e["operation"] == "del" for e in evs):
        evs = x.event.next()
    x.event.unregister(["task"])
    assert sdk_failure(x.event.next)[0] == "SESSION_NOT_REGISTERED"


def test_job_progress_reaches_watchers(server, x):
    sr = default_sr(x)[0]
    # Data, so the speed limit bites: about 2 s of copying.
    v = place_image(x, sr, f"watched-{time.time_ns()}.raw", "raw", 16 * M, ["write -P 0x5a 0 16M"])
    t = create_vdi(x, sr, 16 * M)
    tok = x.event_from(["task", "block_job"], "", 0.0)["token"]
    job = x.block_job.backup(v, t, {"speed": str(8 * M), "auto_dismiss": "false"})
    task = x.block_job.get_task(job)
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline:
        b = x.event_from(["task", "block_job"], tok, 5.0)
        tok = b["token"]
        for e in b["events"]:
            if e["ref"] == task and "snapshot" in e:
                seen.append((e["snapshot"]["status"], e["snapshot"]["progress"]))
        if seen and seen[-1][0] != "pending":
            break
    assert seen and seen[-1] == ("success", 1.0), seen
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert any(0 < p < 1 for p in progress), f"progress seen while running: {progress}"
    wait_job(x, job, "concluded")
    x.block_job.dismiss(job)


def test_everything_over_json_rpc_too(server, x):
    """Token "" is streamed from the rows; JSON-RPC gets the same batch."""
    a = x.task.create("json-a", "")
    sid = server.login()
    xml = x.event_from(["task", "pool"], "", 0.0)
    reply = server.json.request("event.from", [sid, ["task", "pool"], "", 0.0])
    js = reply["result"]
    assert TOKEN_RE.match(js["token"])
    assert {e["ref"] for e in js["events"]} == {e["ref"] for e in xml["events"]}
    ev = [e for e in js["events"] if e["ref"] == a][0]
    assert ev["operation"] == "add" and ev["class"] == "task"
    assert ev["snapshot"]["name_label"] == "json-a"
    assert js["valid_ref_counts"]["pool"] == 1
    x.task.destroy(a)


def test_a_reader_that_falls_behind(make_server):
    """With a small event log: event.next readers that fall behind get
    EVENTS_LOST (and start over); an old event.from token is answered from
    the objects themselves."""
    srv = make_server(event_log_capacity=50)
    x = srv.sdk().xenapi
    x.event.register(["task"])
    old = x.event_from(["task"], "", 0.0)["token"]
    keep = x.task.create("kept", "")
    for i in range(120):
        x.task.set_progress(keep, i / 200)
    assert sdk_failure(x.event.next) == ["EVENTS_LOST"]
    # Registered again, it reads on.
    assert sdk_failure(x.event.next)[0] == "SESSION_NOT_REGISTERED"
    x.event.register(["task"])
    x.task.set_progress(keep, 0.9)
    assert any(e["ref"] == keep for e in x.event.next())
    b = x.event_from(["task"], old, 0.0)
    (e,) = [e for e in b["events"] if e["ref"] == keep]
    assert e["operation"] == "add" and e["snapshot"]["progress"] == 0.9
