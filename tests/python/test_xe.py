"""xe: the command-line client (target/debug/xe), run for real against the
real server: options and their sources, https and --nossl, xe's record
layout, params=, filters, --minimal, errors and exit codes, every command
end to end (effects checked through the SDK and the image files), and the
live progress bar through tmux."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

import pytest

from conftest import REPO
from storage_util import create_vdi, info, sr_dir, vdi_path, wait_for

M = 1 << 20
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def xe_bin() -> str:
    b = os.environ.get("XE_BIN") or str(REPO / "target" / "debug" / "xe")
    assert os.access(b, os.X_OK), f"xe binary not found at {b} (set XE_BIN or cargo build)"
    return b


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def run_xe(srv, *args, home: Path, auth=True, env=None, timeout=60, tls=True):
    """Runs xe with HOME=home (no ~/.xe unless the test writes one) and,
    with `auth`, `-p <port> -pw <password>` first."""
    e = {k: v for k, v in os.environ.items() if k != "XE_EXTRA_ARGS"}
    e["HOME"] = str(home)
    e.update(env or {})
    pre = []
    if auth:
        pre = ["-p", str(srv.tls_port if tls else srv.port), "-pw", srv.password]
        if not tls:
            pre.append("--nossl")
    return subprocess.run([xe_bin(), *args, *pre], env=e, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def xe(server, home):
    """xe(args...) -> CompletedProcess on the shared server."""
    def f(*args, **kw):
        return run_xe(server, *args, home=home, **kw)
    return f


def ok(p) -> str:
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.stdout


def sr_uuid(x, sr):
    return x.SR.get_uuid(sr)


def new_vdi(x, sr, label=None, size=4 * M, fmt="raw", **extra):
    v = create_vdi(x, sr, size, fmt=fmt, label=label or ("xe-" + uuidlib.uuid4().hex[:8]), **extra)
    return v, x.VDI.get_uuid(v)


# -- options, connection --------------------------------------------------------


def test_https_by_default_and_nossl(server, xe, x, sr):
    # https (self-signed certificate, not verified) on the TLS port
    assert ok(xe("sr-list", "--minimal")).strip().split(",").count(sr_uuid(x, sr)) == 1
    # plain HTTP with --nossl
    assert sr_uuid(x, sr) in ok(xe("sr-list", "--minimal", tls=False))
    # TLS against the plain port, and plain against the TLS port: errors
    for args in (["-p", str(server.port)], ["-p", str(server.tls_port), "--nossl"]):
        p = run_xe(server, "sr-list", *args, "-pw", server.password, home=Path("/nonexistent"), auth=False)
        assert p.returncode == 1 and p.stdout == "", p


def test_unreachable_server(server, home):
    p = run_xe(server, "sr-list", "-p", "1", "-pw", "x", home=home, auth=False)
    assert p.returncode == 1
    assert "Unable to contact server. Please check server and port settings." in p.stderr


def test_rc_file_extra_args_and_command_line_precedence(server, home, x, sr, tmp_path):
    want = sr_uuid(x, sr)
    # ~/.xe alone
    (home / ".xe").write_text(f"server=127.0.0.1\nport={server.tls_port}\nusername=root\npassword={server.password}\n")
    assert want in ok(run_xe(server, "sr-list", "--minimal", home=home, auth=False))
    # XE_EXTRA_ARGS overrides ~/.xe (a wrong password there)
    (home / ".xe").write_text(f"port={server.tls_port}\npassword=wrong\n")
    p = run_xe(server, "sr-list", "--minimal", home=home, auth=False)
    assert p.returncode == 1 and "Authentication failed" in p.stderr
    env = {"XE_EXTRA_ARGS": f"-pw,{server.password}"}
    assert want in ok(run_xe(server, "sr-list", "--minimal", home=home, auth=False, env=env))
    # the command line overrides XE_EXTRA_ARGS (a wrong port there)
    env = {"XE_EXTRA_ARGS": f"-p,1,password={server.password}"}
    assert want in ok(run_xe(server, "sr-list", "--minimal", "-p", str(server.tls_port), home=home, auth=False, env=env))
    # nossl from ~/.xe, port from the command line
    (home / ".xe").write_text(f"nossl=true\npassword={server.password}\n")
    assert want in ok(run_xe(server, "sr-list", "--minimal", "-p", str(server.port), home=home, auth=False))


def test_password_file(server, home, tmp_path, x, sr):
    pwf = tmp_path / "pw"
    pwf.write_text(f"root\n{server.password}\n")
    out = ok(run_xe(server, "sr-list", "--minimal", "-p", str(server.tls_port), "-pwf", str(pwf), home=home, auth=False))
    assert sr_uuid(x, sr) in out
    pwf.write_text("root\n")
    p = run_xe(server, "sr-list", "-p", str(server.tls_port), "-pwf", str(pwf), home=home, auth=False)
    assert p.returncode == 1
    assert p.stderr.strip() == ("Error: password file format: expecting username on the first line, "
                                "password on the second line")
    p = run_xe(server, "sr-list", "-pwf", str(tmp_path / "missing"), home=home, auth=False)
    assert p.returncode == 1 and p.stderr.strip() == f"Error opening password file '{tmp_path / 'missing'}'"


def test_authentication_failed(server, home):
    p = run_xe(server, "sr-list", "-p", str(server.tls_port), "-u", "root", "-pw", "wrong", home=home, auth=False)
    assert p.returncode == 1
    assert p.stderr == "Authentication failed\nFor usage run: 'xe help'\n"


def test_usage_and_help(server, home, xe):
    p = run_xe(server, home=home, auth=False)
    assert p.returncode == 0 and "Usage:" in p.stderr
    out = ok(xe("help"))
    for c in ("vdi-list", "vdi-copy", "block-job-list", "task-cancel", "vm-copy"):
        assert c in out


# -- records --------------------------------------------------------------------


def test_record_layout_is_xes(xe, x, sr):
    v, u = new_vdi(x, sr, label="layout disk", size=3 * M)
    out = ok(xe("vdi-list", f"uuid={u}"))
    s = sr_uuid(x, sr)
    assert out == (
        f"uuid ( RO)                : {u}\n"
        f"          name-label ( RW): layout disk\n"
        f"    name-description ( RW): \n"
        f"             sr-uuid ( RO): {s}\n"
        f"        virtual-size ( RO): {3 * M}\n"
        f"            sharable ( RO): false\n"
        f"           read-only ( RO): false\n"
        "\n\n"
    )


def test_params_filters_and_minimal(xe, x, sr):
    tag = uuidlib.uuid4().hex[:8]
    a, ua = new_vdi(x, sr, label=f"f-{tag}", other_config={"grp": tag, "k": "a"})
    b, ub = new_vdi(x, sr, label=f"f-{tag}", other_config={"grp": tag, "k": "b"})
    # two records, blank lines between them, only the fields asked for
    out = ok(xe("vdi-list", f"name-label=f-{tag}", "params=uuid,other-config"))
    recs = [r for r in out.split("\n\n\n") if r]
    assert len(recs) == 2
    for r in recs:
        lines = r.splitlines()
        assert lines[0].startswith("uuid ( RO)" + " " * 12 + ": ")
        assert lines[1].startswith("    other-config (MRW): ")
        assert len(lines) == 2
    # map filters (both syntaxes), --minimal
    assert ok(xe("vdi-list", f"other-config:grp={tag}", "--minimal")).strip() in (f"{ua},{ub}", f"{ub},{ua}")
    assert ok(xe("vdi-list", f"other-config:grp={tag}", "other-config-k=b", "--minimal")).strip() == ub
    assert ok(xe("vdi-list", "name-label=no such disk", "--minimal")) == "\n"
    # params=all: every field, with xe's qualifiers
    out = ok(xe("vdi-list", f"uuid={ua}", "params=all"))
    for line in ("sm-config (MRO): image-format: raw", f"sr-uuid ( RO): {sr_uuid(x, sr)}",
                 f"other-config (MRW): grp: {tag}; k: a", "allowed-operations (SRO): "):
        assert line in out
    # param-list is params=all of one
    assert ok(xe("vdi-param-list", f"uuid={ua}")) == out
    # --minimal escapes commas
    x.VDI.set_name_label(a, "a,b\\c")
    assert ok(xe("vdi-list", f"uuid={ua}", "params=name-label", "--minimal")) == "a\\,b\\\\c\n"
    # unknown filter field
    p = xe("vdi-list", "no-such-field=1")
    assert p.returncode == 1 and "Unknown field 'no-such-field'" in p.stderr


def test_param_get_set_add_remove(xe, x, sr):
    v, u = new_vdi(x, sr)
    assert ok(xe("vdi-param-get", f"uuid={u}", "param-name=virtual-size")) == f"{4 * M}\n"
    ok(xe("vdi-param-set", f"uuid={u}", "name-label=renamed", "name-description=d", "other-config:a=1"))
    assert x.VDI.get_name_label(v) == "renamed" and x.VDI.get_name_description(v) == "d"
    assert x.VDI.get_other_config(v) == {"a": "1"}
    ok(xe("vdi-param-add", f"uuid={u}", "param-name=other-config", "b=2"))
    assert ok(xe("vdi-param-get", f"uuid={u}", "param-name=other-config", "param-key=b")) == "2\n"
    ok(xe("vdi-param-remove", f"uuid={u}", "param-name=other-config", "param-key=a"))
    assert x.VDI.get_other_config(v) == {"b": "2"}
    p = xe("vdi-param-set", f"uuid={u}", "virtual-size=1")
    assert p.returncode == 1 and "Field 'virtual-size' is read-only." in p.stderr


# -- errors ---------------------------------------------------------------------


def test_errors_and_exit_codes(xe, x):
    bad = str(uuidlib.uuid4())
    p = xe("vdi-param-get", f"uuid={bad}", "param-name=name-label")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == f"The uuid you supplied was invalid.\ntype: VDI\nuuid: {bad}\n"
    p = xe("no-such-command")
    assert p.returncode == 1 and p.stderr == "Unknown command: no-such-command\nFor usage run: 'xe help'\n"
    p = xe("vdi-destroy")
    assert p.returncode == 1 and p.stderr == "Required parameter not found: uuid\nFor usage run: 'xe help'\n"
    # an error xe has no description for: code and parameters
    name = "xe-dup-" + uuidlib.uuid4().hex[:6]
    ok(xe("subject-add", f"subject-name={name}"))
    p = xe("subject-add", f"subject-name={name}")
    assert p.returncode == 1
    assert re.match(r"^Error code: [A-Z_]+\nError parameters: .*\n$", p.stderr), p.stderr


# -- commands -------------------------------------------------------------------


def test_task_list_param_get_cancel(xe, x):
    t = x.task.create("xe task", "desc")
    u = x.task.get_uuid(t)
    x.task.set_progress(t, 0.5)
    out = ok(xe("task-list", f"uuid={u}"))
    assert out == (f"uuid ( RO)                : {u}\n"
                   "          name-label ( RO): xe task\n"
                   "    name-description ( RO): desc\n"
                   "              status ( RO): pending\n"
                   "            progress ( RO): 0.5\n\n\n")
    assert ok(xe("task-param-get", f"uuid={u}", "param-name=status")) == "pending\n"
    out = ok(xe("task-list", f"uuid={u}", "params=all"))
    assert "subtask_of ( RO): <not in database>" in out and "eta ( RO): " in out
    x.task.destroy(t)


def test_which_task_touched_what(xe, x, sr):
    """task objects and created-by, VDI/VM/SR jobs (xapid's extensions)."""
    v, vu = new_vdi(x, sr)
    t = x.Async.VDI.resize(v, str(8 * M))
    wait_for(lambda: x.task.get_status(t) != "pending", 30)
    tu = x.task.get_uuid(t)
    out = ok(xe("task-list", f"uuid={tu}", "params=name-label,objects,created-by"))
    assert out == (f"name-label ( RO)    : Async.VDI.resize\n"
                   f"       objects (SRO): VDI {vu}\n"
                   "    created-by ( RO): root\n\n\n")
    assert ok(xe("vdi-param-get", f"uuid={vu}", "param-name=jobs")) == f"{tu}\n"
    x.task.destroy(t)
    assert ok(xe("vdi-param-get", f"uuid={vu}", "param-name=jobs")) == "\n"
    c = x.Async.VDI.copy(v, sr)
    wait_for(lambda: x.task.get_status(c) == "success", 30)
    cu = x.task.get_uuid(c)
    assert cu in ok(xe("sr-param-get", f"uuid={sr_uuid(x, sr)}", "param-name=jobs"))
    objects = ok(xe("task-param-get", f"uuid={cu}", "param-name=objects")).strip().split("; ")
    assert objects[:2] == [f"VDI {vu}", f"SR {sr_uuid(x, sr)}"] and objects[2].startswith("VDI ")
    x.task.destroy(c)
    x.VDI.destroy(x.VDI.get_by_uuid(objects[2].split()[1]))
    x.VDI.destroy(v)


def test_sr_scan(xe, x, sr):
    name = f"scan-{uuidlib.uuid4().hex[:8]}.raw"
    with open(sr_dir(x, sr) / name, "wb") as f:
        f.truncate(2 * M)
    ok(xe("sr-scan", f"uuid={sr_uuid(x, sr)}"))
    out = ok(xe("vdi-list", f"location={name}", "params=virtual-size", "--minimal"))
    assert out == f"{2 * M}\n"
    u = ok(xe("vdi-list", f"location={name}", "--minimal")).strip()
    ok(xe("vdi-destroy", f"uuid={u}"))


def test_vdi_create_resize_clone_snapshot_copy_destroy(server, xe, x, sr):
    s = sr_uuid(x, sr)
    u = ok(xe("vdi-create", f"sr-uuid={s}", "name-label=xe-made", "virtual-size=8MiB",
              "sm-config:image-format=qcow2")).strip()
    assert UUID_RE.match(u)
    v = x.VDI.get_by_uuid(u)
    img = info(vdi_path(server, x, v))
    assert img["format"] == "qcow2" and img["virtual-size"] == 8 * M
    ok(xe("vdi-resize", f"uuid={u}", "disk-size=16MiB"))
    assert x.VDI.get_virtual_size(v) == str(16 * M)
    c = ok(xe("vdi-clone", f"uuid={u}", "new-name-label=the clone")).strip()
    assert x.VDI.get_name_label(x.VDI.get_by_uuid(c)) == "the clone"
    sn = ok(xe("vdi-snapshot", f"uuid={u}")).strip()
    assert x.VDI.get_is_a_snapshot(x.VDI.get_by_uuid(sn)) is True
    assert x.VDI.get_uuid(x.VDI.get_snapshot_of(x.VDI.get_by_uuid(sn))) == u
    p = xe("vdi-copy", f"uuid={u}", f"sr-uuid={s}")
    cp = ok(p).strip()
    assert UUID_RE.match(cp) and p.stderr == "", "no terminal: only the result"
    assert x.VDI.get_virtual_size(x.VDI.get_by_uuid(cp)) == str(16 * M)
    for w in (cp, c, u, sn):
        ok(xe("vdi-destroy", f"uuid={w}"))
    assert ok(xe("vdi-list", f"uuid={u}", "--minimal")) == "\n"


def test_vdi_import_export(server, xe, x, sr, tmp_path):
    v, u = new_vdi(x, sr, size=4 * M)
    data = os.urandom(4 * M)
    src = tmp_path / "in.raw"
    src.write_bytes(data)
    assert ok(xe("vdi-import", f"uuid={u}", f"filename={src}", "progress=true")) == ""
    dst = tmp_path / "out.raw"
    ok(xe("vdi-export", f"uuid={u}", f"filename={dst}", "format=raw"))
    assert dst.read_bytes() == data
    subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", str(src), str(vdi_path(server, x, v))], check=True)
    # too big for the disk: the server's refusal, as xe prints errors
    big = tmp_path / "big.raw"
    big.write_bytes(os.urandom(5 * M))
    p = xe("vdi-import", f"uuid={u}", f"filename={big}")
    assert p.returncode == 1 and p.stderr.startswith("The value given is invalid\nfield: "), p.stderr
    p = xe("vdi-import", f"uuid={u}", f"filename={src}", "format=vhd")
    assert p.returncode == 1 and "not supported" in p.stderr


def test_vm_list_clone_copy_and_vbd_list(xe, x, sr):
    vm = x.VM.create({"name_label": "xe-vm-" + uuidlib.uuid4().hex[:6]})
    vm_u = x.VM.get_uuid(vm)
    v, vu = new_vdi(x, sr, size=2 * M)
    vbd = x.VBD.create({"VM": vm, "VDI": v, "userdevice": "0", "mode": "RW", "type": "Disk", "bootable": True})
    out = ok(xe("vm-list", f"uuid={vm_u}"))
    assert out.startswith(f"uuid ( RO)           : {vm_u}\n") and "power-state ( RO): halted\n" in out
    out = ok(xe("vbd-list", f"vm-uuid={vm_u}", "params=uuid,vm-uuid,vdi-uuid"))
    assert f"vdi-uuid ( RO): {vu}" in out and x.VBD.get_uuid(vbd) in out
    name = x.VM.get_name_label(vm)
    cl = ok(xe("vm-clone", f"vm={name}", "new-name-label=xe-clone")).strip()
    assert x.VM.get_name_label(x.VM.get_by_uuid(cl)) == "xe-clone"
    cp = ok(xe("vm-copy", f"uuid={vm_u}", "new-name-label=xe-copy", f"sr-uuid={sr_uuid(x, sr)}")).strip()
    new = x.VM.get_by_uuid(cp)
    assert len(x.VM.get_VBDs(new)) == 1
    assert x.VBD.get_VDI(x.VM.get_VBDs(new)[0]) != v


def test_event_wait(server, home, x, sr):
    label = "waited-" + uuidlib.uuid4().hex[:6]
    e = {k: v for k, v in os.environ.items() if k != "XE_EXTRA_ARGS"}
    e["HOME"] = str(home)
    p = subprocess.Popen([xe_bin(), "event-wait", "class=vdi", f"name-label={label}", "-p", str(server.tls_port),
                          "-pw", server.password], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert p.poll() is None, "waits while nothing matches"
    new_vdi(x, sr, label=label)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err


def test_subjects_and_roles(xe, x):
    roles = ok(xe("role-list", "params=name", "--minimal")).strip().split(",")
    assert {"pool-admin", "vm-admin", "read-only"} <= set(roles)
    name = "xe-user-" + uuidlib.uuid4().hex[:6]
    su = ok(xe("subject-add", f"subject-name={name}")).strip()
    ok(xe("subject-role-add", f"uuid={su}", "role-name=vm-admin"))
    out = ok(xe("subject-list", f"uuid={su}"))
    assert f"subject-identifier ( RO): local:{name}" in out and "roles (SRO): vm-admin" in out
    ok(xe("subject-role-remove", f"uuid={su}", "role-name=vm-admin"))
    ok(xe("subject-remove", f"subject-uuid={su}"))
    assert ok(xe("subject-list", f"uuid={su}", "--minimal")) == "\n"


def test_cbt(xe, x, sr):
    v, u = new_vdi(x, sr, size=4 * M, fmt="qcow2")
    ok(xe("vdi-enable-cbt", f"uuid={u}"))
    assert ok(xe("vdi-param-get", f"uuid={u}", "param-name=cbt-enabled")) == "true\n"
    s1 = ok(xe("vdi-snapshot", f"uuid={u}")).strip()
    s2 = ok(xe("vdi-snapshot", f"uuid={u}")).strip()
    out = ok(xe("vdi-list-changed-blocks", f"vdi-from-uuid={s1}", f"vdi-to-uuid={s2}")).strip()
    assert re.match(r"^[A-Za-z0-9+/=]*$", out)
    ok(xe("vdi-disable-cbt", f"uuid={u}"))
    assert x.VDI.get_cbt_enabled(v) is False


def test_block_jobs(server, xe, x, sr, tmp_path):
    src, su = new_vdi(x, sr, size=16 * M)
    data = tmp_path / "data.raw"
    data.write_bytes(os.urandom(16 * M))  # (holes would cost nothing)
    ok(xe("vdi-import", f"uuid={su}", f"filename={data}"))
    dst, du = new_vdi(x, sr, size=16 * M)
    ju = ok(xe("block-job-backup", f"device-uuid={su}", f"target-uuid={du}", "speed=64KiB", "sync=full")).strip()
    job = x.block_job.get_by_uuid(ju)
    assert x.block_job.get_speed(job) == str(64 << 10)
    out = ok(xe("block-job-list"))
    block = out.split(ju, 1)[1]
    assert re.search(r"\nBackup: \[ *\d+\.\d\d %\]\n", block), out
    assert "    Bandwidth limit: 65536 bytes/s (64.000 KiB/s)\n" in block
    assert ju in ok(xe("block-job-list", "--minimal"))
    assert f"speed ( RO): 65536" in ok(xe("block-job-list", f"uuid={ju}", "params=all"))
    st = x.block_job.get_status(job)
    if st == "running":
        ok(xe("block-job-pause", f"uuid={ju}"))
        wait_for(lambda: x.block_job.get_status(job) == "paused", 10)
        ok(xe("block-job-resume", f"uuid={ju}"))
        ok(xe("block-job-set-speed", f"uuid={ju}", "speed=1MiB"))
        assert x.block_job.get_speed(job) == str(M)
        ok(xe("block-job-cancel", f"uuid={ju}"))
        wait_for(lambda: ju not in ok(xe("block-job-list", "--minimal")), 20)
    # task-cancel of a job's task cancels the job
    dst3, du3 = new_vdi(x, sr, size=16 * M)
    ju = ok(xe("block-job-backup", f"device-uuid={su}", f"target-uuid={du3}", "speed=64KiB")).strip()
    job = x.block_job.get_by_uuid(ju)
    task = x.block_job.get_task(job)
    assert ok(xe("task-cancel", f"uuid={x.task.get_uuid(task)}")) == ""
    wait_for(lambda: x.task.get_status(task) == "cancelled", 20)
    p = xe("block-job-complete", f"uuid={str(uuidlib.uuid4())}")
    assert p.returncode == 1 and "type: block_job" in p.stderr
    # a backup followed to its end (no terminal: just the uuid)
    dst2, du2 = new_vdi(x, sr, size=16 * M)
    out = ok(xe("block-job-backup", f"device-uuid={su}", f"target-uuid={du2}", "progress=true")).strip()
    assert UUID_RE.match(out)
    # stream and commit start and finish
    sn = x.VDI.snapshot(src, {})
    out = ok(xe("block-job-stream", f"device-uuid={su}", "progress=true")).strip()
    assert UUID_RE.match(out)


# -- progress on a terminal -----------------------------------------------------


def tmux_available():
    return shutil.which("tmux") is not None


def slow_source(server, sr_x, sr, size, delay_ms):
    """A VDI full of data whose reads are slowed down."""
    x = sr_x
    v, u = new_vdi(x, sr, size=size)
    p = vdi_path(server, x, v)
    with open(p, "r+b") as f:
        f.write(os.urandom(size))
    x.VDI.add_to_other_config(v, "xapid-fault", f"read:SLOW={delay_ms}")
    return v, u


class Pane:
    """A command in a detached tmux session, 120x30."""

    def __init__(self, tmp_path: Path, cmd: str, env: dict):
        self.name = "xe-" + uuidlib.uuid4().hex[:8]
        self.sock = str(tmp_path / "tmux.sock")
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        script = tmp_path / f"{self.name}.sh"
        script.write_text(f"export {exports}\n{cmd}\necho EXIT=$?\nsleep 60\n")
        subprocess.run(["tmux", "-S", self.sock, "new-session", "-d", "-x", "120", "-y", "30",
                        "-s", self.name, f"bash {script}"], check=True)

    def capture(self) -> str:
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *k):
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", self.name, *k], check=True)

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)


def watch(pane: Pane, until, timeout=60):
    frames = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        f = pane.capture()
        frames.append(f)
        if until(f):
            return frames
        time.sleep(0.15)
    raise AssertionError("timed out; last frame:\n" + (frames[-1] if frames else ""))


@pytest.fixture
def slow_server(make_server):
    return make_server(fault_injection=True)


def percents(frame: str) -> list[int]:
    return [int(m) for m in re.findall(r"\(\s*(\d+)% ", frame)]


@pytest.mark.skipif(not tmux_available(), reason="tmux not installed")
def test_progress_bar_in_tmux(slow_server, home, tmp_path):
    from storage_util import sdk_x
    x = sdk_x(slow_server)
    from storage_util import default_sr
    sr = default_sr(x)[0]
    v, u = slow_source(slow_server, x, sr, 24 * M, 350)
    env = {"HOME": str(home)}
    pane = Pane(tmp_path, f"{xe_bin()} vdi-copy uuid={u} sr-uuid={x.SR.get_uuid(sr)} "
                          f"-p {slow_server.tls_port} -pw {slow_server.password}", env)
    try:
        frames = watch(pane, lambda f: "EXIT=" in f)
    finally:
        pane.close()
    last = frames[-1]
    assert "EXIT=0" in last, last
    seen = sorted({p for f in frames for p in percents(f)})
    assert seen[-1] == 100, (seen, last)
    assert any(0 < p < 100 for p in seen), f"the bar moved: {seen}"
    assert "Total time: " in last
    assert re.search(r"\[[|/\\-]\] #+", last) and "ETA" in last
    new = [l for l in last.splitlines() if UUID_RE.match(l.strip())]
    assert len(new) == 1 and x.VDI.get_by_uuid(new[0].strip())
    # a rate was shown at some point
    assert any(re.search(r"\d+(\.\d)? (B|KiB|MiB|GiB)/s", f) for f in frames)


@pytest.mark.skipif(not tmux_available(), reason="tmux not installed")
def test_vm_copy_nested_bars_in_tmux(slow_server, home, tmp_path):
    from storage_util import default_sr, sdk_x
    x = sdk_x(slow_server)
    sr = default_sr(x)[0]
    vm = x.VM.create({"name_label": "nested"})
    for i in range(2):
        v, _ = slow_source(slow_server, x, sr, 12 * M, 300)
        x.VBD.create({"VM": vm, "VDI": v, "userdevice": str(i), "mode": "RW", "type": "Disk", "bootable": False})
    pane = Pane(tmp_path, f"{xe_bin()} vm-copy uuid={x.VM.get_uuid(vm)} new-name-label=copied "
                          f"sr-uuid={x.SR.get_uuid(sr)} -p {slow_server.tls_port} -pw {slow_server.password}",
                {"HOME": str(home)})
    try:
        frames = watch(pane, lambda f: "EXIT=" in f)
    finally:
        pane.close()
    assert "EXIT=0" in frames[-1], frames[-1]
    # one frame with the parent bar and two nested ones
    assert any(len(re.findall(r"^\[[|/\\-]\] ", f, re.M)) == 1 and len(re.findall(r"^    \S.*\(\s*\d+% ", f, re.M)) >= 2
               for f in frames), frames[-1]


@pytest.mark.skipif(not tmux_available(), reason="tmux not installed")
def test_ctrl_c_asks_to_cancel(slow_server, home, tmp_path):
    from storage_util import default_sr, sdk_x
    x = sdk_x(slow_server)
    sr = default_sr(x)[0]
    v, u = slow_source(slow_server, x, sr, 24 * M, 1000)
    pane = Pane(tmp_path, f"{xe_bin()} vdi-copy uuid={u} sr-uuid={x.SR.get_uuid(sr)} "
                          f"-p {slow_server.tls_port} -pw {slow_server.password}", {"HOME": str(home)})
    try:
        watch(pane, lambda f: "ETA" in f)
        pane.keys("C-c")
        watch(pane, lambda f: "Cancel the task? [y/N]" in f, timeout=20)
        pane.keys("y", "Enter")
        frames = watch(pane, lambda f: "EXIT=" in f)
    finally:
        pane.close()
    last = frames[-1]
    assert "EXIT=1" in last and "The request was asynchronously canceled." in last, last
