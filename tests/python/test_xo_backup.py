"""Xen Orchestra's incremental backup path, with XO's own npm clients
(`xen-api` and `@vates/nbd-client`, installed into tests/xo by
tests/run.sh; the package.json overrides two dependency versions the
registry mirror lacks, neither imported by the client code used):
enable CBT, snapshot, write, snapshot, Async.VDI.list_changed_blocks,
VDI.get_nbd_info, read every changed 2 MiB block over NBD (STARTTLS, as XO
does when the record has a certificate) and rebuild the new snapshot from
the previous backup plus those blocks, byte for byte. Then XO's purge of
snapshot data (VDI.data_destroy) and the next run with the cbt_metadata
VDI as the base."""

import json
import os
import shutil
import subprocess
from pathlib import Path

from storage_util import M, create_vdi, default_sr, export_raw, import_raw, sdk_x

XO = Path(__file__).resolve().parents[1] / "xo"
K64 = 64 << 10
BLOCK = 2 * M






def xo_step(srv, x, base, snap, out: Path) -> dict:
    node = shutil.which("node")
    assert node, "node is needed (tests/run.sh installs it)"
    assert (XO / "node_modules" / "@vates" / "nbd-client").is_dir(), "run tests/run.sh"
    p = subprocess.run(
        [node, str(XO / "xo_backup.mjs"), srv.url.rstrip("/"), srv.password,
         x.VDI.get_uuid(base), x.VDI.get_uuid(snap), str(out)],
        capture_output=True, text=True, timeout=120)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, (p.stdout, p.stderr)
    r = json.loads(lines[-1])
    assert p.returncode == 0, r
    return r


def apply(previous: bytes, blocks, out: Path) -> bytes:
    new = bytearray(previous)
    got = out.read_bytes()
    new.extend(bytes(len(got) - len(new)))
    for b in blocks:
        new[b * BLOCK:(b + 1) * BLOCK] = got[b * BLOCK:(b + 1) * BLOCK]
    return bytes(new[:len(got)])


def test_xen_orchestra_incremental_backup_over_nbd(server, tmp_path):
    x = sdk_x(server)
    sr = default_sr(x)[0]
    size = 9 * M + 5 * K64  # not a multiple of 2 MiB: 149 bits, 19 bytes, padded to 20
    v = create_vdi(x, sr, size, "qcow2", "xo-cbt")
    x.VDI.enable_cbt(v)
    import_raw(server, x, v, os.urandom(3 * M), 0)
    s1 = x.VDI.snapshot(v)
    full = export_raw(server, x, s1)  # the first (full) backup

    # Writes: inside block 0, across the 2 MiB boundary 3|4, and in the
    # last partial block.
    import_raw(server, x, v, os.urandom(100), 5)
    import_raw(server, x, v, os.urandom(K64), 4 * BLOCK - 10)
    import_raw(server, x, v, os.urandom(7), size - 7)
    s2 = x.VDI.snapshot(v)
    r = xo_step(server, x, s1, s2, tmp_path / "inc1.raw")
    assert r["baseType"] == "user" and r["cbtEnabled"] is True
    assert r["bitmapBytes"] == 20 and r["tls"] is True and r["nbdInfos"] == 1
    assert r["blocks"] == [0, 3, 4], r
    assert r["exportSize"] == size
    backup2 = apply(full, r["blocks"], tmp_path / "inc1.raw")
    assert backup2 == export_raw(server, x, s2)
    # Only changed blocks moved.
    assert r["bytes"] == 2 * BLOCK + (size - 4 * BLOCK)

    # XO's purge of snapshot data: the snapshots become cbt_metadata and
    # the chain still answers.
    x.VDI.data_destroy(s1)
    x.VDI.data_destroy(s2)
    import_raw(server, x, v, os.urandom(M), 6 * M)
    s3 = x.VDI.snapshot(v)
    r = xo_step(server, x, s2, s3, tmp_path / "inc2.raw")
    assert r["baseType"] == "cbt_metadata"
    assert r["blocks"] == [3], r
    backup3 = apply(backup2, r["blocks"], tmp_path / "inc2.raw")
    assert backup3 == export_raw(server, x, s3)
    assert backup3 == export_raw(server, x, v)
