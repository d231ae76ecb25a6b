"""Tasks survive restarts and kill -9; finished tasks are collected after the
retention time."""

from concurrent.futures import ThreadPoolExecutor

from xapid_rpc import REF_RE, wait_until


def test_tasks_survive_kill_9(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    pending = x.task.create("pending", "still running")
    x.task.set_progress(pending, 0.4)
    x.task.set_other_config(pending, {"block_job": "none", "k": "v"})
    done = x.task.create("done", "")
    x.task.set_result(done, "<value>OpaqueRef:NULL</value>")
    x.task.set_status(done, "success")
    failed = x.task.create("failed", "")
    x.task.set_error_info(failed, ["SOME_ERROR", "p"])
    x.task.set_status(failed, "failure")
    marked = x.task.create("destroy-when-done", "")
    x.task.destroy(marked)
    cancelled = x.task.create("cancel-requested", "")
    x.task.cancel(cancelled)
    refs = [pending, done, failed, marked, cancelled]
    before = {r: x.task.get_record(r) for r in refs}

    srv.restart(crash=True)
    x = srv.sdk().xenapi
    for r in refs:
        after = x.task.get_record(r)
        if before[r]["status"] == "pending":
            # The estimate may be recomputed; everything else is as it was.
            before[r].pop("eta"), after.pop("eta")
        assert after == before[r], r
    # A client-driven task stays pending after the restart; the client
    # finishes it.
    assert x.task.get_status(pending) == "pending"
    x.task.set_progress(pending, 0.9)
    x.task.set_status(pending, "success")
    assert x.task.get_progress(pending) == 1.0
    # The destroy request survived too.
    x.task.set_status(marked, "success")
    assert x.task.get_all().count(marked) == 0


def test_tasks_survive_a_graceful_restart(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    t = x.task.create("graceful", "")
    x.task.add_to_other_config(t, "a", "b")
    before = x.task.get_record(t)
    srv.restart()
    assert srv.sdk().xenapi.task.get_record(t) == before


def test_200_parallel_creates_all_survive_kill_9(make_server):
    srv = make_server()
    s = srv.login()
    raw = srv.raw

    def create(i):
        return raw.ok("task.create", s, f"parallel-{i}", str(i))

    with ThreadPoolExecutor(max_workers=20) as pool:
        refs = list(pool.map(create, range(200)))
    srv.kill()  # right after the last reply
    assert len(set(refs)) == 200 and all(REF_RE.match(r) for r in refs)

    srv.start()
    x = srv.sdk().xenapi
    records = x.task.get_all_records()
    missing = [r for r in refs if r not in records]
    assert not missing, f"{len(missing)} of 200 acknowledged tasks were lost"
    for i, r in enumerate(refs):
        assert records[r]["name_label"] == f"parallel-{i}"
        assert records[r]["name_description"] == str(i)
        assert records[r]["status"] == "pending"


def test_finished_tasks_are_collected_after_retention(make_server):
    srv = make_server(task_retention_secs=1, gc_interval_secs=0.3)
    x = srv.sdk().xenapi
    done = x.task.create("done", "")
    pending = x.task.create("pending", "")
    x.task.set_status(done, "success")
    gone = wait_until(lambda: done not in x.task.get_all(), timeout=3.5)
    assert gone, "a finished task outlived its retention time"
    assert x.task.get_status(pending) == "pending"
    assert pending in x.task.get_all()


def test_retention_counts_from_a_restart_too(make_server):
    srv = make_server(task_retention_secs=1, gc_interval_secs=0.3)
    x = srv.sdk().xenapi
    done = x.task.create("done-before-crash", "")
    x.task.set_status(done, "success")
    srv.restart(crash=True)
    x = srv.sdk().xenapi
    assert wait_until(lambda: done not in x.task.get_all(), timeout=3.5)
