"""The short form of bench/torture's --full-disk run (issue 13, part 2;
bench/torture/fulldisk.py says what it does): the state directory on a
64 MiB tmpfs filled by a filler file and by the SR's own data, the server
killed and restarted while full, started on a read-only state directory,
and (with losetup and mkfs.ext4) an ext4 state directory turned read-only
under the running server. The whole run takes about 16 s with the debug
binary; each test below checks one kind of its findings. Skipped where a
tmpfs cannot be mounted.

A known limit is marked xfail (strict=False): exports need a durable task."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, xapid_bin

FULL_PHASES = ("full (SR data)", "restarted while full")
BACK_PHASES = ("space back", "space back (destroyed)", "restarted, space back", "read-write again",
               "ext4 mounted again")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("fulldisk")
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "torture" / "torture.py"), "--full-disk", "--bin", xapid_bin(),
         "--state-dir", str(work)],
        capture_output=True, text=True, timeout=300)
    lines = p.stdout.strip().splitlines()
    assert lines, f"no output (exit {p.returncode}): {p.stderr[-2000:]}"
    out = json.loads(lines[-1])
    if out.get("skipped"):
        pytest.skip(out["skipped"])
    return out


def tagged(out, *tags):
    return [f for f in out["findings"] if f[1:f.index("]")] in tags]


def rows(out, phases):
    return [r for r in out["rows"] if r["phase"] in phases]


def test_no_internal_error_hang_crash_or_panic(run):
    bad = tagged(run, "internal_error", "hang", "crash", "panic", "exception", "start", "other")
    assert bad == [], "\n".join(bad)


def test_clear_errors_while_full(run):
    full = [r for r in rows(run, FULL_PHASES) if not r["call"].startswith("server ")]
    assert full, "no call was made while the disk was full"
    for r in full:
        a = r["answer"]
        assert (a == "ok" or a.startswith(("SR_BACKEND_FAILURE ENOSPC", "SR_FULL"))
                or (a.startswith("VDI_IO_ERROR") and "No space left" in a)), r
    answered = {r["call"]: r["answer"] for r in full}
    for call in ("session.login_with_password", "event.from", "VDI.get_all_records", "VDI.destroy"):
        assert answered.get(call) == "ok", (call, answered.get(call))


def test_normal_service_once_space_returns(run):
    assert tagged(run, "must_succeed") == [], "\n".join(tagged(run, "must_succeed"))
    back = rows(run, BACK_PHASES)
    assert back and all(r["answer"] == "ok" for r in back), [r for r in back if r["answer"] != "ok"]


def test_acknowledged_changes_survive(run):
    bad = tagged(run, "lost", "data")
    assert bad == [], "\n".join(bad)


def test_images_clean_and_no_stray_files(run):
    bad = tagged(run, "image", "stray")
    assert bad == [], "\n".join(bad)


def test_read_only_state_directory_start_is_clear(run):
    start = [r for r in run["rows"] if r["phase"] == "read-only" and r["call"] == "server start"]
    assert start, "the read-only start was not tried"
    a = start[0]["answer"]
    assert a == "started" or (a.startswith("refused: Error:") and "Read-only file system" in a), a


@pytest.mark.xfail(strict=False, reason="an export creates a durable task: with the store unable to write "
                   "(disk full, read-only) exports are refused, HTTP 503 SR_BACKEND_FAILURE (http::data::begin)")
def test_reads_work_while_the_store_cannot_write(run):
    bad = tagged(run, "read")
    assert bad == [], "\n".join(bad)


def test_refused_changes_leave_nothing(run):
    bad = tagged(run, "phantom", "phantom_durable")
    assert bad == [], "\n".join(bad)


def test_errors_name_the_disk_errno(run):
    bad = tagged(run, "errno")
    assert bad == [], "\n".join(bad)
