"""The short form of bench/torture's --full-disk run (issue 13, part 2;
docs/reliability.md): the state directory on a 64 MiB tmpfs is filled,
every kind of call answers a clear error (SR_BACKEND_FAILURE ENOSPC,
SR_FULL, VDI_IO_ERROR; never INTERNAL_ERROR, a hang or a crash), the data
acknowledged before is intact once space returns and every call works
again, a kill while full and a restart while full recover, a read-only
state directory is refused clearly at start, and after a restart
`qemu-img check` is clean on every image."""

import json
import subprocess
import sys

import pytest

from conftest import REPO, xapid_bin


def test_full_then_read_only_state_directory(tmp_path):
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "torture" / "torture.py"), "--full-disk", "--bin", xapid_bin(),
         "--state-dir", str(tmp_path / "fulldisk")],
        capture_output=True, text=True, timeout=600)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if out.get("skipped"):
        pytest.skip(out["skipped"])
    assert out["findings"] == [], "\n".join(out["findings"])
    full = {r["call"]: r["answer"] for r in out["rows"] if r["phase"] == "full"}
    assert full["VDI.copy (8 MiB of data)"].startswith("SR_BACKEND_FAILURE ENOSPC"), full
    assert full["event.from"] == "ok" and full["VDI.get_all_records"] == "ok"
    after = [r for r in out["rows"] if r["phase"] == "read-write again"]
    assert after and all(r["answer"] == "ok" for r in after), after
