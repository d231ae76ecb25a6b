"""SR and VDI on real image files: the default SR, SR.scan (and what it must
refuse to open), VDI.create/destroy/resize, VDI.copy/clone (sync and
Async, sparse), VDI.snapshot chains, and metadata across a crash. qemu-img
is the oracle for image contents and formats."""

import os
import uuid

import pytest

from storage_util import (
    M, NULL, QEMU_IMG, allocated, assert_differ, assert_same, check_image, create_vdi, default_sr,
    flatten, info, place_image, qemu_img_create, qemu_io, result_ref, sr_dir, vdi_by_location,
    run, vdi_path, wait_for, wait_task, write,
)
from xapid_rpc import REF_RE, sdk_failure


@pytest.fixture
def fresh(make_server):
    """A server of its own (an SR nobody else writes to): (srv, x, sr)."""
    srv = make_server()
    s = srv.sdk()
    x = s.xenapi
    sr, _ = default_sr(x)
    yield srv, x, sr
    s.xenapi.session.logout()


@pytest.fixture
def sr(x):
    return default_sr(x)[0]


def two_sr_server(make_server, tmp_path, **config):
    """A server with two configured SRs, "alpha" and "beta"."""
    srv = make_server(start=False, **config)
    a, b = tmp_path / "sr-alpha", tmp_path / "sr-beta"
    with open(srv.config_path, "a") as f:
        f.write(f'sr = {{ alpha = "{a}", beta = "{b}" }}\n')
    return srv.start(), a, b


# -- the default SR ----------------------------------------------------------------


def test_default_sr_fields(fresh):
    srv, x, sr = fresh
    recs = x.SR.get_all_records()
    assert list(recs) == [sr], "one SR when none is configured"
    rec = recs[sr]
    assert rec["name_label"] == "Local storage"
    assert rec["type"] == "file"
    path = rec["sm_config"]["path"]
    assert os.path.realpath(path) == os.path.realpath(srv.state_dir / "sr")
    assert os.path.isdir(path)
    assert rec["VDIs"] == []
    assert rec["virtual_allocation"] == "0"
    assert rec["physical_utilisation"] == "0"
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    assert abs(int(rec["physical_size"]) - total) <= total // 100, (rec["physical_size"], total)
    assert x.SR.get_by_uuid(rec["uuid"]) == sr
    assert x.SR.get_by_name_label("Local storage") == [sr]
    uuid.UUID(rec["uuid"])
    for field in ("type", "physical_size", "sm_config", "name_label", "VDIs"):
        assert getattr(x.SR, "get_" + field)(sr) == rec[field], field

    a = create_vdi(x, sr, 8 * M, "raw", "a")
    b = create_vdi(x, sr, 16 * M, "qcow2", "b")
    write(srv, x, a, "write -P 0x61 0 2M")
    x.SR.scan(sr)  # utilisation is read anew from the files
    rec = x.SR.get_record(sr)
    assert sorted(rec["VDIs"]) == sorted([a, b])
    assert int(rec["virtual_allocation"]) == 24 * M
    files = [vdi_path(srv, x, a), vdi_path(srv, x, b)]
    assert int(rec["physical_utilisation"]) == sum(allocated(f) for f in files)
    assert int(x.VDI.get_physical_utilisation(a)) == allocated(files[0]) >= 2 * M

    x.VDI.destroy(a)
    rec = x.SR.get_record(sr)
    assert rec["VDIs"] == [b]
    assert int(rec["virtual_allocation"]) == 16 * M


def test_sr_setters_and_configured_srs(make_server, tmp_path):
    srv, a, b = two_sr_server(make_server, tmp_path)
    x = srv.sdk().xenapi
    recs = x.SR.get_all_records()
    paths = {rec["name_label"]: os.path.realpath(rec["sm_config"]["path"]) for rec in recs.values()}
    assert paths == {"alpha": os.path.realpath(a), "beta": os.path.realpath(b)}
    sr = x.SR.get_by_name_label("alpha")[0]
    x.SR.set_name_description(sr, "fast disks")
    x.SR.add_to_other_config(sr, "k", "v")
    srv.restart()
    x = srv.sdk().xenapi
    assert x.SR.get_name_description(sr) == "fast disks"
    assert x.SR.get_other_config(sr) == {"k": "v"}
    assert x.SR.get_by_name_label("alpha") == [sr], "the SR keeps its ref across a restart"


# -- SR.scan --------------------------------------------------------------------


def test_scan_introduces_raw_and_qcow2_and_forgets_deleted_files(fresh):
    srv, x, sr = fresh
    d = sr_dir(x, sr)
    qemu_img_create(d / "disk.raw", "raw", 16 * M)
    qemu_io(d / "disk.raw", "raw", "write -P 0x5a 0 3M", "write -P 0xa5 9M 1M")
    qemu_img_create(d / "disk.qcow2", "qcow2", 32 * M)
    qemu_io(d / "disk.qcow2", "qcow2", "write -P 0x11 1M 2M")
    # The format comes from the content, not the name.
    qemu_img_create(d / "qcow-named.img", "qcow2", 8 * M)
    qemu_img_create(d / "raw-named.qcow2", "raw", 4 * M)
    qemu_img_create(d / "empty.raw", "raw", 8 * M)
    x.SR.scan(sr)

    by_loc = {rec["location"]: (r, rec) for r, rec in x.VDI.get_all_records().items()}
    expect = {
        "disk.raw": ("raw", 16 * M), "disk.qcow2": ("qcow2", 32 * M),
        "qcow-named.img": ("qcow2", 8 * M), "raw-named.qcow2": ("raw", 4 * M),
        "empty.raw": ("raw", 8 * M),
    }
    assert set(by_loc) == set(expect)
    for loc, (fmt, size) in expect.items():
        r, rec = by_loc[loc]
        assert rec["sm_config"].get("image-format") == fmt, loc
        assert "backing-file" not in rec["sm_config"], loc
        assert int(rec["virtual_size"]) == size, loc
        assert rec["SR"] == sr
        assert rec["read_only"] is False and rec["is_a_snapshot"] is False
        assert rec["snapshot_of"] == NULL and rec["snapshots"] == []
        assert int(rec["physical_utilisation"]) == allocated(d / loc), loc
        uuid.UUID(rec["uuid"])
    assert int(by_loc["disk.raw"][1]["physical_utilisation"]) >= 4 * M
    assert int(by_loc["disk.qcow2"][1]["physical_utilisation"]) >= 2 * M
    assert int(by_loc["empty.raw"][1]["physical_utilisation"]) < M
    assert sorted(x.SR.get_VDIs(sr)) == sorted(r for r, _ in by_loc.values())
    assert int(x.SR.get_virtual_allocation(sr)) == sum(s for _, s in expect.values())

    # A second scan changes nothing but the sizes it reads anew.
    qemu_io(d / "empty.raw", "raw", "write -P 0x77 0 2M")
    x.VDI.set_name_label(by_loc["disk.raw"][0], "renamed")
    x.SR.scan(sr)
    again = {rec["location"]: (r, rec) for r, rec in x.VDI.get_all_records().items()}
    assert {k: r for k, (r, _) in again.items()} == {k: r for k, (r, _) in by_loc.items()}
    assert again["disk.raw"][1]["name_label"] == "renamed"
    assert int(again["empty.raw"][1]["physical_utilisation"]) == allocated(d / "empty.raw") >= 2 * M

    # Deleted files: their VDIs are forgotten.
    os.unlink(d / "disk.qcow2")
    os.unlink(d / "raw-named.qcow2")
    x.SR.scan(sr)
    for loc in ("disk.qcow2", "raw-named.qcow2"):
        r = by_loc[loc][0]
        assert sdk_failure(x.VDI.get_record, r) == ["HANDLE_INVALID", "VDI", r]
    left = {rec["location"] for rec in x.VDI.get_all_records().values()}
    assert left == {"disk.raw", "qcow-named.img", "empty.raw"}
    assert int(x.SR.get_virtual_allocation(sr)) == 32 * M


def test_scan_introduces_a_chain_inside_the_sr(fresh):
    srv, x, sr = fresh
    d = sr_dir(x, sr)
    base = place_image(x, sr, "base.raw", "raw", 16 * M, ["write -P 0x01 0 4M"])
    qemu_img_create(d / "top.qcow2", "qcow2", 16 * M, backing="base.raw", backing_fmt="raw")
    qemu_io(d / "top.qcow2", "qcow2", "write -P 0x02 2M 1M")
    x.SR.scan(sr)
    top = vdi_by_location(x, sr, "top.qcow2")
    assert top is not None
    assert x.VDI.get_sm_config(top) == {"image-format": "qcow2", "backing-file": "base.raw"}
    # Destroying the base keeps top's data: the base's file stays hidden
    # until the coalesce folds it into top.
    before = flatten(d / "top.qcow2", d.parent / "top-before.raw")
    x.VDI.destroy(base)
    assert base not in x.VDI.get_all()
    wait_for(lambda: not os.path.exists(d / "base.raw"), 30, what="the coalesce")
    assert_same(d / "top.qcow2", before, "qcow2", "raw")
    assert "backing-file" not in x.VDI.get_sm_config(top)


HOSTILE_BACKINGS = {
    "abs-etc-passwd.qcow2": "/etc/passwd",
    "dotdot.qcow2": "../x",
    "dotdot-deep.qcow2": "../../../../../../etc/passwd",
    "symlink-out.qcow2": "link-out.raw",
    "json.qcow2": 'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/passwd"}}',
    "subdir.qcow2": "sub/inner.raw",
}


def test_scan_skips_hostile_images_and_symlinks(fresh, tmp_path):
    srv, x, sr = fresh
    d = sr_dir(x, sr)
    outside = tmp_path / "outside.raw"
    qemu_img_create(outside, "raw", M)
    os.symlink("/etc/passwd", d / "link-out.raw")
    os.symlink(outside, d / "link-out2.raw")
    qemu_img_create(d / "good.raw", "raw", M)
    os.symlink(d / "good.raw", d / "link-in.raw")
    os.mkdir(d / "sub")
    qemu_img_create(d / "sub" / "inner.raw", "raw", M)
    for name, backing in HOSTILE_BACKINGS.items():
        qemu_img_create(d / name, "qcow2", M, backing=backing, backing_fmt="raw", unsafe=True)
    qemu_img_create(d / "abs-outside.qcow2", "qcow2", M, backing=outside, backing_fmt="raw", unsafe=True)
    # An external data file outside the SR would be read for the guest data.
    run(QEMU_IMG, "create", "-f", "qcow2", "-o", f"data_file={outside},data_file_raw=on",
        d / "datafile.qcow2", str(M))
    before = os.stat(outside).st_atime_ns, os.stat(outside).st_mtime_ns

    x.SR.scan(sr)
    locs = {rec["location"] for rec in x.VDI.get_all_records().values()}
    assert locs == {"good.raw"}, f"only the plain image may be introduced, got {sorted(locs)}"
    assert x.SR.get_VDIs(sr) == [vdi_by_location(x, sr, "good.raw")]
    assert os.stat(outside).st_mtime_ns == before[1], "the outside file was written"
    # A second scan still skips them, and the server is healthy.
    x.SR.scan(sr)
    assert {rec["location"] for rec in x.VDI.get_all_records().values()} == {"good.raw"}
    for name in list(HOSTILE_BACKINGS) + ["abs-outside.qcow2", "datafile.qcow2"]:
        assert os.path.exists(d / name), f"scan must not delete {name}"
    assert "skipped" in srv.log


def test_scan_handles_backing_loops(fresh):
    srv, x, sr = fresh
    d = sr_dir(x, sr)
    qemu_img_create(d / "self.qcow2", "qcow2", M, backing="self.qcow2", backing_fmt="qcow2", unsafe=True)
    qemu_img_create(d / "l1.qcow2", "qcow2", M, backing="l2.qcow2", backing_fmt="qcow2", unsafe=True)
    qemu_img_create(d / "l2.qcow2", "qcow2", M, backing="l1.qcow2", backing_fmt="qcow2", unsafe=True)
    x.SR.scan(sr)  # must not hang or crash
    for r, rec in x.VDI.get_all_records().items():
        # Whatever scan did with them, reading through the chain fails cleanly.
        err = sdk_failure(x.VDI.copy, r, sr)
        assert err[0] == "VDI_IO_ERROR", err
    assert {rec["location"] for rec in x.VDI.get_all_records().values()} <= {"self.qcow2", "l1.qcow2", "l2.qcow2"}
    assert sorted(os.listdir(d)) == ["l1.qcow2", "l2.qcow2", "self.qcow2"], "no half-made copy is left"


def test_scan_of_odd_file_names(fresh):
    srv, x, sr = fresh
    d = sr_dir(x, sr)
    plain = ["a b.raw", "\u00e9t\u00e9.raw", "-rf.raw", "<tag>&amp;'\".raw"]
    odd = ["x\ny.raw", "ctl\x01.raw", "tab\t.raw", "cr\r.raw"]
    for n in plain + odd:
        qemu_img_create(d / n, "raw", M)
    with open(os.fsencode(str(d)) + b"/bad\xff.raw", "wb") as f:
        f.truncate(M)
    x.SR.scan(sr)
    recs = x.VDI.get_all_records()  # the reply is well-formed XML
    locs = {rec["location"] for rec in recs.values()}
    assert set(plain) <= locs, locs
    assert locs <= set(plain + odd), locs
    assert "ctl\x01.raw" not in locs, "XML 1.0 cannot carry U+0001"
    for r, rec in recs.items():
        assert (d / rec["location"]).exists()
        c = x.VDI.copy(r, sr)  # file names reach the image layer intact
        assert_same(d / rec["location"], vdi_path(srv, x, c), "raw", "raw")
        x.VDI.destroy(c)
    # The JSON-RPC view agrees.
    s = srv.json.ok("session.login_with_password", "root", srv.password)
    jlocs = {rec["location"] for rec in srv.json.ok("VDI.get_all_records", s).values()}
    assert jlocs == locs


@pytest.mark.parametrize("header", ["plain-qcow2", "backed-by-another-vdi", "backed-by-etc-passwd"])
def test_scan_never_reprobes_a_known_raw_vdi(fresh, tmp_path, header):
    srv, x, sr = fresh
    other = create_vdi(x, sr, 4 * M, "raw", "someone else's disk")
    write(srv, x, other, "write -P 0x53 0 4M")
    guest = create_vdi(x, sr, 4 * M, "raw", "guest disk")
    x.VDI.add_to_other_config(guest, "owner", "guest")
    path = vdi_path(srv, x, guest)
    # What a guest can write into its own raw disk: a qcow2 header.
    evil = tmp_path / "evil.qcow2"
    backing = {"plain-qcow2": None, "backed-by-another-vdi": x.VDI.get_location(other),
               "backed-by-etc-passwd": "/etc/passwd"}[header]
    qemu_img_create(evil, "qcow2", 64 * M, backing=backing, backing_fmt="raw", unsafe=True)
    with open(path, "r+b") as f:
        f.write(evil.read_bytes())
    x.SR.scan(sr)
    assert guest in x.VDI.get_all(), "the VDI was forgotten although its file is there"
    rec = x.VDI.get_record(guest)
    assert rec["sm_config"] == {"image-format": "raw"}
    assert rec["virtual_size"] == str(4 * M)
    assert rec["other_config"] == {"owner": "guest"}
    # A copy holds the raw bytes, not whatever the header points at.
    c = x.VDI.copy(guest, sr)
    assert x.VDI.get_sm_config(c)["image-format"] == "raw"
    assert_same(path, vdi_path(srv, x, c), "raw", "raw")
    x.VDI.destroy(other)


# -- VDI.create, destroy, resize ---------------------------------------------------


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_create(server, x, sr, fmt):
    v = x.VDI.create({
        "SR": sr, "virtual_size": str(24 * M), "name_label": f"new {fmt}",
        "name_description": "desc", "other_config": {"a": "b"},
        "sm_config": {"image-format": fmt},
    })
    assert REF_RE.match(v)
    rec = x.VDI.get_record(v)
    assert rec["name_label"] == f"new {fmt}"
    assert rec["name_description"] == "desc"
    assert rec["other_config"] == {"a": "b"}
    assert rec["SR"] == sr
    assert rec["virtual_size"] == str(24 * M)
    assert rec["sm_config"] == {"image-format": fmt}
    assert rec["location"] == f"{rec['uuid']}.{fmt}"
    assert rec["read_only"] is False and rec["is_a_snapshot"] is False
    assert v in x.SR.get_VDIs(sr)
    assert x.VDI.get_by_uuid(rec["uuid"]) == v
    path = vdi_path(server, x, v)
    i = info(path)
    assert i["format"] == fmt
    assert i["virtual-size"] == 24 * M
    assert "backing-filename" not in i
    assert allocated(path) < M, "a new image is sparse"
    assert int(rec["physical_utilisation"]) == allocated(path)
    check_image(path)
    x.VDI.destroy(v)
    assert not path.exists()


def test_create_defaults_to_raw(server, x, sr):
    v = x.VDI.create({"SR": sr, "virtual_size": str(M)})
    assert x.VDI.get_sm_config(v)["image-format"] == "raw"
    assert info(vdi_path(server, x, v))["format"] == "raw"
    x.VDI.destroy(v)


@pytest.mark.parametrize("record_patch, error", [
    ({"virtual_size": "-1"}, ["INVALID_VALUE", "virtual_size", "-1"]),
    ({"virtual_size": str(2**50 + 1)}, ["INVALID_VALUE", "virtual_size", str(2**50 + 1)]),
    ({"virtual_size": "18446744073709551615"}, ["INVALID_VALUE", "virtual_size", "18446744073709551615"]),
    ({"virtual_size": "1M"}, ["INVALID_VALUE", "virtual_size", "1M"]),
    ({"sm_config": {"image-format": "vhd"}}, ["INVALID_VALUE", "sm_config:image-format", "vhd"]),
    ({"virtual_size": None}, ["FIELD_TYPE_ERROR", "virtual_size"]),
    ({"SR": None}, ["FIELD_TYPE_ERROR", "SR"]),
])
def test_create_errors(server, x, sr, record_patch, error):
    before = set(os.listdir(sr_dir(x, sr)))
    n = len(x.VDI.get_all())
    rec = {"SR": sr, "virtual_size": str(M), "name_label": "bad"}
    for k, v in record_patch.items():
        if v is None:
            del rec[k]
        else:
            rec[k] = v
    assert sdk_failure(x.VDI.create, rec) == error
    assert set(os.listdir(sr_dir(x, sr))) == before, "no file is left behind"
    assert len(x.VDI.get_all()) == n


def test_create_in_a_bad_sr(x):
    bad = "OpaqueRef:" + str(uuid.uuid4())
    assert sdk_failure(x.VDI.create, {"SR": bad, "virtual_size": str(M)}) == ["HANDLE_INVALID", "SR", bad]


def test_destroy_deletes_the_file(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    path = vdi_path(server, x, v)
    assert path.exists()
    x.VDI.destroy(v)
    assert not path.exists()
    assert sdk_failure(x.VDI.get_record, v) == ["HANDLE_INVALID", "VDI", v]
    assert v not in x.SR.get_VDIs(sr)
    assert sdk_failure(x.VDI.destroy, v) == ["HANDLE_INVALID", "VDI", v]


def test_destroy_of_a_backing_snapshot_keeps_the_data(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    write(server, x, v, "write -P 0x42 0 1M")
    snap = x.VDI.snapshot(v)
    snap_path = vdi_path(server, x, snap)
    before = flatten(vdi_path(server, x, v), tmp_path / "before.raw")
    # The record goes at once; the file is folded into v's in the
    # background, then deleted.
    x.VDI.destroy(snap)
    assert sdk_failure(x.VDI.get_record, snap) == ["HANDLE_INVALID", "VDI", snap]
    assert_same(vdi_path(server, x, v), before, "qcow2", "raw")
    wait_for(lambda: not snap_path.exists(), 30, what="the coalesce")
    assert_same(vdi_path(server, x, v), before, "qcow2", "raw")
    check_image(vdi_path(server, x, v))


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_resize(server, x, sr, fmt, tmp_path):
    v = create_vdi(x, sr, 8 * M, fmt)
    write(server, x, v, "write -P 0x3c 1M 2M", "write -P 0xc3 7M 1M")
    path = vdi_path(server, x, v)
    before = flatten(path, tmp_path / "before.raw")
    x.VDI.resize(v, str(20 * M))
    assert x.VDI.get_virtual_size(v) == str(20 * M)
    assert info(path)["virtual-size"] == 20 * M
    check_image(path)
    # The old data is intact and the new part reads as zeroes.
    qemu_img_create(tmp_path / "expect.raw", "raw", 20 * M)
    qemu_io(tmp_path / "expect.raw", "raw", "write -P 0x3c 1M 2M", "write -P 0xc3 7M 1M")
    assert_same(path, tmp_path / "expect.raw", fmt, "raw")
    assert before.stat().st_size == 8 * M
    # Same size: fine; smaller: VDI_TOO_SMALL.
    x.VDI.resize(v, str(20 * M))
    assert sdk_failure(x.VDI.resize, v, str(4 * M)) == ["VDI_TOO_SMALL", v, str(20 * M)]
    assert sdk_failure(x.VDI.resize, v, "-5")[0] == "INVALID_VALUE"
    assert info(path)["virtual-size"] == 20 * M
    # The Async form.
    t = x.Async.VDI.resize(v, str(24 * M))
    assert wait_task(x, t)["status"] == "success"
    assert x.VDI.get_virtual_size(v) == str(24 * M)
    assert info(path)["virtual-size"] == 24 * M
    x.VDI.destroy(v)


def test_resize_of_a_snapshot_is_refused(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    snap = x.VDI.snapshot(v)
    assert sdk_failure(x.VDI.resize, snap, str(8 * M)) == ["VDI_READ_ONLY", snap]
    assert x.VDI.get_virtual_size(snap) == str(4 * M)
    x.VDI.destroy(v)
    x.VDI.destroy(snap)


# -- copy and clone ------------------------------------------------------------------


def half_sparse(x, sr, name, fmt="raw", size=32 * M):
    """An image with data in two 8 MiB ranges and holes elsewhere."""
    return place_image(x, sr, name, fmt, size, [
        "write -P 0x5a 0 8M", "write -P 0xa5 16M 4M", "write -P 0x33 20M 4M",
    ])


@pytest.mark.parametrize("op", ["copy", "clone"])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_copy_and_clone_are_full_sparse_copies(server, x, sr, op, fmt):
    src = half_sparse(x, sr, f"{op}-src-{uuid.uuid4().hex[:8]}.{fmt}", fmt)
    x.VDI.set_name_label(src, "the source")
    tasks_before = set(x.task.get_all())
    new = x.VDI.copy(src, sr) if op == "copy" else x.VDI.clone(src)
    assert REF_RE.match(new) and new != src
    # A synchronous call leaves no task behind (the copy's job ran in a
    # task of its own, which stayed, one per call, until the soak found it).
    wait_for(lambda: not (set(x.task.get_all()) - tasks_before), 10, what="the copy's task to go")
    rec = x.VDI.get_record(new)
    assert rec["SR"] == sr
    assert rec["virtual_size"] == str(32 * M)
    assert rec["sm_config"] == {"image-format": fmt}
    assert rec["location"] != x.VDI.get_location(src)
    assert rec["read_only"] is False and rec["is_a_snapshot"] is False
    src_path, new_path = vdi_path(server, x, src), vdi_path(server, x, new)
    assert info(new_path)["format"] == fmt
    assert_same(src_path, new_path, fmt, fmt)
    check_image(new_path)
    # Sparse: about as much allocated as the source, far from the full size.
    a_src, a_new = allocated(src_path), allocated(new_path)
    assert 16 * M <= a_new <= a_src + 2 * M, (a_src, a_new)
    assert int(rec["physical_utilisation"]) == a_new
    # The copy is independent of the source.
    write(server, x, new, "write -P 0x99 0 1M")
    assert_differ(src_path, new_path, fmt, fmt)
    x.VDI.destroy(new)
    x.VDI.destroy(src)
    assert not new_path.exists()


@pytest.mark.parametrize("op", ["copy", "clone"])
def test_async_copy_task(server, x, sr, op):
    src = half_sparse(x, sr, f"async-{op}-{uuid.uuid4().hex[:8]}.raw")
    t = x.Async.VDI.copy(src, sr) if op == "copy" else x.Async.VDI.clone(src)
    assert REF_RE.match(t)
    progress = []
    job = None
    while True:
        rec = x.task.get_record(t)
        progress.append(rec["progress"])
        job = job or rec["other_config"].get("block_job")
        if rec["status"] != "pending":
            break
    assert progress == sorted(progress), f"task progress went down: {progress}"
    assert rec["status"] == "success", rec
    assert rec["progress"] == 1.0
    assert rec["error_info"] == []
    assert rec["name_label"] == f"Async.VDI.{op}"
    assert REF_RE.match(rec["other_config"]["block_job"])
    assert job == rec["other_config"]["block_job"]
    new = result_ref(rec["result"])
    assert new in x.VDI.get_all() and new != src
    assert_same(vdi_path(server, x, src), vdi_path(server, x, new), "raw", "raw")
    # The job (auto-dismissed) is gone once the copy is done.
    wait_for(lambda: job not in x.block_job.get_all(), 10, what="the copy's job to be dismissed")
    x.VDI.destroy(new)
    x.VDI.destroy(src)


def test_copy_of_an_overlay_is_standalone(server, x, sr, tmp_path):
    v = create_vdi(x, sr, 16 * M, "qcow2")
    write(server, x, v, "write -P 0x10 0 4M")
    snap = x.VDI.snapshot(v)
    write(server, x, v, "write -P 0x20 2M 4M")
    assert "backing-file" in x.VDI.get_sm_config(v)
    c = x.VDI.copy(v, sr)
    path = vdi_path(server, x, c)
    i = info(path)
    assert i["format"] == "qcow2"
    assert "backing-filename" not in i, "the copy has no backing file"
    assert "backing-file" not in x.VDI.get_sm_config(c)
    assert_same(vdi_path(server, x, v), path, "qcow2", "qcow2")
    check_image(path)
    for r in (c, v, snap):
        x.VDI.destroy(r)


def test_copy_to_another_sr(make_server, tmp_path):
    srv, a, b = two_sr_server(make_server, tmp_path)
    x = srv.sdk().xenapi
    alpha = x.SR.get_by_name_label("alpha")[0]
    beta = x.SR.get_by_name_label("beta")[0]
    src = half_sparse(x, alpha, "src.qcow2", "qcow2")
    new = x.VDI.copy(src, beta)
    rec = x.VDI.get_record(new)
    assert rec["SR"] == beta
    assert (b / rec["location"]).exists()
    assert not (a / rec["location"]).exists()
    assert_same(a / "src.qcow2", b / rec["location"], "qcow2", "qcow2")
    check_image(b / rec["location"])
    assert x.SR.get_VDIs(beta) == [new]
    assert x.SR.get_VDIs(alpha) == [src]
    # Clone stays in the source's SR.
    c = x.VDI.clone(src)
    assert x.VDI.get_SR(c) == alpha
    assert (a / x.VDI.get_location(c)).exists()


# -- snapshots ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_snapshot_chain_keeps_every_point_in_time(server, x, sr, fmt, tmp_path):
    v = create_vdi(x, sr, 16 * M, fmt, "chain disk")
    loc = x.VDI.get_location(v)
    path = vdi_path(server, x, v)
    writes = [
        ["write -P 0x01 0 4M"],
        ["write -P 0x02 2M 4M", "write -P 0x03 12M 1M"],
        ["write -P 0x04 1M 1M", "write -z 12M 512k"],
        ["write -P 0x05 15M 1M"],
    ]
    snaps, expected = [], []
    for i, w in enumerate(writes[:3]):
        write(server, x, v, *w)
        expected.append(flatten(path, tmp_path / f"at-{i}.raw"))
        s = x.VDI.snapshot(v)
        snaps.append(s)
        assert x.VDI.get_location(v) == loc, "the VDI keeps its location"
        assert x.VDI.get_sm_config(v)["image-format"] == "qcow2"
        assert x.VDI.get_sm_config(v)["backing-file"] == x.VDI.get_location(s)
        # The overlay names its backing file's format: nothing is probed.
        i = info(path)
        assert i["backing-filename"] == x.VDI.get_location(s)
        assert i["backing-filename-format"] == x.VDI.get_sm_config(s)["image-format"]
    write(server, x, v, *writes[3])
    final = flatten(path, tmp_path / "final.raw")

    locations = {x.VDI.get_location(s) for s in snaps}
    assert len(locations) == 3 and loc not in locations
    for i, s in enumerate(snaps):
        rec = x.VDI.get_record(s)
        assert rec["is_a_snapshot"] is True
        assert rec["read_only"] is True
        assert rec["snapshot_of"] == v
        assert rec["virtual_size"] == str(16 * M)
        assert rec["SR"] == sr
        sp = vdi_path(server, x, s)
        check_image(sp)
        assert_same(sp, expected[i], rec["sm_config"]["image-format"], "raw")
        if i == 0:
            assert rec["sm_config"]["image-format"] == fmt, "the first snapshot is the original image"
            assert "backing-file" not in rec["sm_config"]
        else:
            assert rec["sm_config"]["backing-file"] == x.VDI.get_location(snaps[i - 1])
    assert sorted(x.VDI.get_snapshots(v)) == sorted(snaps)
    check_image(path)
    assert_same(path, final, "qcow2", "raw")
    # The chain, as qemu-img sees it.
    chain = [os.path.basename(c["filename"]) for c in info(path, chain=True)]
    assert chain == [loc] + [x.VDI.get_location(s) for s in reversed(snaps)]
    # Snapshots are read-only: no job may write them.
    tgt = snaps[0]
    assert sdk_failure(x.block_job.backup, v, tgt, {}) == ["VDI_READ_ONLY", tgt]
    x.VDI.destroy(v)
    for s in reversed(snaps):
        x.VDI.destroy(s)


def test_async_snapshot(server, x, sr):
    v = create_vdi(x, sr, 4 * M, "qcow2")
    t = x.Async.VDI.snapshot(v)
    rec = wait_task(x, t)
    assert rec["status"] == "success", rec
    s = result_ref(rec["result"])
    assert x.VDI.get_snapshot_of(s) == v
    x.VDI.destroy(v)
    x.VDI.destroy(s)


# -- persistence --------------------------------------------------------------------


def test_metadata_survives_a_crash(make_server):
    srv = make_server()
    x = srv.sdk().xenapi
    sr, _ = default_sr(x)
    a = create_vdi(x, sr, 8 * M, "raw", "alpha")
    b = create_vdi(x, sr, 8 * M, "qcow2", "beta")
    x.VDI.set_name_description(a, "the first disk")
    x.VDI.set_other_config(a, {"owner": "tests", "n": "1"})
    x.VDI.add_to_other_config(b, "k", "v")
    x.VDI.set_name_label(b, "beta renamed")
    write(srv, x, a, "write -P 0x44 0 1M")
    snap = x.VDI.snapshot(a)
    x.VDI.set_name_label(snap, "snap of alpha")
    x.SR.set_name_description(sr, "described")
    before = {r: x.VDI.get_record(r) for r in (a, b, snap)}

    srv.restart(crash=True)
    x = srv.sdk().xenapi
    for r, rec in before.items():
        now = x.VDI.get_record(r)
        for field in ("uuid", "name_label", "name_description", "other_config", "location",
                      "sm_config", "virtual_size", "read_only", "is_a_snapshot", "snapshot_of",
                      "snapshots", "SR"):
            assert now[field] == rec[field], (r, field, now[field], rec[field])
    assert x.VDI.get_other_config(a) == {"owner": "tests", "n": "1"}
    assert x.SR.get_name_description(sr) == "described"
    assert sorted(x.SR.get_VDIs(sr)) == sorted(before)
    # And the files still hold their data.
    assert x.VDI.get_snapshots(a) == [snap]
    x.SR.scan(sr)
    assert sorted(x.VDI.get_all()) == sorted(before)
