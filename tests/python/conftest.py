"""The harness: starts the real xapid binary on a free port with a temporary
state directory and config file, captures its log, and stops it with
SIGTERM at teardown (asserting a clean exit)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from xapid_rpc import Json, Raw, sdk_session

REPO = Path(__file__).resolve().parents[2]
LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")
LISTENING_TLS_RE = re.compile(r"listening on https://127\.0\.0\.1:(\d+)/")
LISTENING_NBD_RE = re.compile(r"listening on nbd://127\.0\.0\.1:(\d+)/")

# Default config of the shared server: failed logins are answered quickly.
DEFAULT_CONFIG = {
    "login_failure_delay_secs": 0.2,
    "login_failure_max_delay_secs": 1.0,
}


def xapid_bin() -> str:
    b = os.environ.get("XAPID_BIN") or str(REPO / "target" / "debug" / "xapid")
    assert os.access(b, os.X_OK), f"xapid binary not found at {b} (set XAPID_BIN or cargo build)"
    return b


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Xapid:
    """One xapid process (restartable on the same state directory)."""

    def __init__(self, workdir: Path, config: dict, password: str | None):
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "xapid.toml"
        self.config_path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in config.items()))
        self.password = password
        # Strings that must never show up in the log (passwords tried).
        self.secrets: set[str] = {password} if password else set()
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.tls_port: int | None = None
        self.nbd_port: int | None = None
        # Extra command-line arguments for the next starts (e.g. --tls-cert).
        self.args: list[str] = []
        # Extra environment for the next starts (e.g. XAPID_CRASH_AT).
        self.env: dict[str, str] = {}
        self._logs: list[str] = []  # one entry per run
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    def start(self, with_env_password: bool = True, timeout: float = 30) -> "Xapid":
        assert self.proc is None, "already running"
        env = dict(os.environ)
        env.pop("XAPID_ROOT_PASSWORD", None)
        if with_env_password and self.password:
            env["XAPID_ROOT_PASSWORD"] = self.password
        env["RUST_LOG"] = "info,xapid=debug"
        env.pop("RUST_BACKTRACE", None)
        env.pop("XAPID_CRASH_AT", None)
        env.update(self.env)
        cmd = [
            xapid_bin(), "serve",
            "--listen", "127.0.0.1:0",
            "--listen-tls", "127.0.0.1:0",
            *([] if "--nbd-listen" in self.args else ["--nbd-listen", "127.0.0.1:0"]),
            "--state-dir", str(self.state_dir),
            "--config", str(self.config_path),
            *self.args,
        ]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace",
        )
        run = len(self._logs)
        self._logs.append("")
        port_found = threading.Event()
        found: list[int] = []
        found_tls: list[int] = []
        found_nbd: list[int] = []

        def drain(stream):
            for line in stream:
                with self._lock:
                    self._logs[run] += line
                if not found:
                    m = LISTENING_RE.search(line)
                    if m:
                        found.append(int(m.group(1)))
                if not found_nbd:
                    # (logged before the HTTP lines)
                    m = LISTENING_NBD_RE.search(line)
                    if m:
                        found_nbd.append(int(m.group(1)))
                if not found_tls:
                    m = LISTENING_TLS_RE.search(line)
                    if m:
                        found_tls.append(int(m.group(1)))
                if found and found_tls:
                    port_found.set()
            port_found.set()

        self._drainer = threading.Thread(target=drain, args=(self.proc.stderr,), daemon=True)
        self._drainer.start()
        port_found.wait(timeout)
        if not found or not found_tls:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(f"xapid did not report its port within {timeout}s; log:\n{self.log}")
        self.port = found[0]
        self.tls_port = found_tls[0]
        self.nbd_port = found_nbd[0] if found_nbd else None
        return self

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, wait, return the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"xapid did not exit within {timeout}s of SIGTERM")
        self._drainer.join(5)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._drainer.join(5)
        self.proc = None

    def wait_dead(self, timeout: float = 30) -> int:
        """Waits for the process to end by itself (a crash point); returns
        its exit status (negative: the signal that ended it)."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._drainer.join(5)
        self.proc = None
        return code

    def restart(self, crash: bool = False, with_env_password: bool = True) -> "Xapid":
        if crash:
            self.kill()
        else:
            assert self.stop() == 0
        return self.start(with_env_password=with_env_password)

    # -- clients -----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}/"

    @property
    def tls_dir(self) -> Path:
        """Where the generated (or installed) certificate and key live."""
        return self.state_dir / "tls"

    @property
    def raw(self) -> Raw:
        return Raw(self.port)

    @property
    def json(self) -> Json:
        return Json(self.port)

    def login(self, *extra) -> str:
        return self.raw.login(self.password, *extra)

    def sdk(self, originator: str = "xapid-tests"):
        return sdk_session(self.url, self.password, originator)

    # -- log ---------------------------------------------------------------

    @property
    def log(self) -> str:
        with self._lock:
            return "".join(self._logs)

    def check_log(self) -> None:
        log = self.log
        for s in self.secrets:
            assert s not in log, "a password appears in the server log"
        assert "panicked" not in log, f"the server panicked:\n{log[-3000:]}"


class Servers:
    """Starts servers for one test and stops them afterwards."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.all: list[Xapid] = []

    def __call__(self, start: bool = True, password: str | None = "", **config) -> Xapid:
        cfg = dict(DEFAULT_CONFIG)
        cfg.update(config)
        if password == "":
            password = "pw-" + secrets.token_hex(8)
        srv = Xapid(self.tmp / f"xapid{len(self.all)}", cfg, password)
        self.all.append(srv)
        return srv.start() if start else srv

    def close(self) -> None:
        codes = []
        for s in self.all:
            if s.proc is not None:
                codes.append(s.stop())
        for s in self.all:
            s.check_log()
        assert all(c == 0 for c in codes), f"xapid exit codes at SIGTERM: {codes}"


@pytest.fixture(scope="session")
def server():
    """The shared default server."""
    with tempfile.TemporaryDirectory(prefix="xapid-test-") as d:
        servers = Servers(Path(d))
        srv = servers()
        yield srv
        servers.close()


@pytest.fixture
def make_server(tmp_path):
    """A factory of special servers: make_server(key=value...) starts one
    with those config keys; all are stopped (exit code 0) at teardown."""
    servers = Servers(tmp_path)
    yield servers
    servers.close()


@pytest.fixture
def raw(server) -> Raw:
    return server.raw


@pytest.fixture
def session(server) -> str:
    """A raw session ref on the shared server."""
    ref = server.login()
    yield ref
    server.raw.call("session.logout", ref)


@pytest.fixture
def sdk(server):
    """A logged-in XenAPI SDK session on the shared server."""
    s = server.sdk()
    yield s
    try:
        s.xenapi.session.logout()
    except Exception:
        pass


@pytest.fixture
def x(sdk):
    """`sdk.xenapi`, for brevity, with the session ref in `x._session` (for
    the HTTP data paths)."""
    x = sdk.xenapi
    x._session = sdk._session
    return x


@pytest.fixture(scope="session")
def host_ref(server) -> str:
    s = server.login()
    try:
        return server.raw.ok("host.get_all", s)[0]
    finally:
        server.raw.call("session.logout", s)


@pytest.fixture
def sr(x):
    """The shared server's default SR."""
    from storage_util import default_sr
    return default_sr(x)[0]
