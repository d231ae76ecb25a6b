"""Xen Orchestra's client, the npm package `xen-api` v4 (installed from the
registry by tests/run.sh into tests/xo/node_modules): it connects, loads
pool, host, SR, VDI and task objects through event.from, runs
callAsync('VDI.copy') to completion through its event-driven task watcher,
and sees the new VDI arrive by event."""

import json
import shutil
import subprocess
from pathlib import Path

from storage_util import M, create_vdi, default_sr

XO = Path(__file__).resolve().parents[1] / "xo"


def run_xo_client(url: str, password: str) -> dict:
    """Runs xo_client.mjs against `url` (http or https; it passes
    allowUnauthorized: true); returns its JSON line, checked for success."""
    node = shutil.which("node")
    assert node, "node is needed (tests/run.sh installs it)"
    assert (XO / "node_modules" / "xen-api").is_dir(), "run tests/run.sh (it installs xen-api)"
    p = subprocess.run([node, str(XO / "xo_client.mjs"), url.rstrip("/"), password],
                       capture_output=True, text=True, timeout=90)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, (p.stdout, p.stderr)
    out = json.loads(lines[-1])
    assert p.returncode == 0, out
    return out


def test_xen_orchestra_client(server):
    x = server.sdk().xenapi
    sr = default_sr(x)[0]
    src = create_vdi(x, sr, 4 * M, "raw", "xo-source")
    before = set(x.VDI.get_all())
    out = run_xo_client(server.url, server.password)
    assert out["status"] == "connected"
    for t in ("pool", "host", "SR", "VDI"):
        assert out["types"].get(t, 0) >= 1, out
    assert out["poolMaster"] == x.pool.get_master(x.pool.get_all()[0])
    new = out["copy"]
    assert new in set(x.VDI.get_all()) - before
    assert out["arrived"] and out["arrivedLabel"] == "xo-source"
    assert int(out["arrivedSize"]) == int(x.VDI.get_virtual_size(src))
