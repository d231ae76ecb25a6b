"""The short form of the crash-and-restart torture run (bench/torture,
docs/reliability.md section 2): 20 rounds of a mixed workload against the
debug binary, each ended by kill -9 and checked after a restart on the same
state."""

import json
import os
import subprocess
import sys

from pathlib import Path

from conftest import REPO, xapid_bin


def test_torture_20_rounds(tmp_path):
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "torture" / "torture.py"), "--bin", xapid_bin(),
         "--rounds", "20", "--seed", "13", "--workers", "3", "--max-run", "1.5",
         "--state-dir", str(tmp_path / "torture")],
        capture_output=True, text=True, timeout=600)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["rounds"] == 20 and out["kills"] == 20
    assert out["acked"] > 100, out
    assert out["findings"] == [], "\n".join(out["findings"])
