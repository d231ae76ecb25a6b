"""One xapid process on a state directory: start (parsing the "listening on"
lines), kill -9, restart on the same state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")


class Server:
    def __init__(self, binary: str, state_dir: Path, log_path: Path, password: str, config: dict | None = None):
        self.binary = binary
        self.state_dir = Path(state_dir)
        self.log_path = Path(log_path)
        self.password = password
        self.config_path = self.log_path.with_suffix(".toml")
        cfg = {"login_failure_delay_secs": 0.1, "login_failure_max_delay_secs": 0.5}
        cfg.update(config or {})
        self.config_path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in cfg.items()))
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.started_at = 0.0
        self.listening_after = 0.0  # seconds from the spawn to the "listening on http" line
        self.runs = 0
        self._log_lock = threading.Lock()

    def start(self, timeout: float = 60) -> "Server":
        assert self.proc is None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["XAPID_ROOT_PASSWORD"] = self.password
        env.setdefault("RUST_LOG", "info")
        env.pop("XAPID_CRASH_AT", None)
        cmd = [self.binary, "serve", "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0",
               "--nbd-listen", "127.0.0.1:0", "--state-dir", str(self.state_dir),
               "--config", str(self.config_path)]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        self.runs += 1
        found: list[int] = []
        ev = threading.Event()
        run = self.runs

        def drain(stream):
            with open(self.log_path, "a") as log:
                log.write(f"==== run {run} ====\n")
                for line in stream:
                    log.write(line)
                    log.flush()
                    if not found:
                        m = LISTENING_RE.search(line)
                        if m:
                            self.listening_after = time.monotonic() - self.started_at
                            found.append(int(m.group(1)))
                            ev.set()
            ev.set()

        self._drainer = threading.Thread(target=drain, args=(self.proc.stderr,), daemon=True)
        self._drainer.start()
        ev.wait(timeout)
        if not found:
            self.kill()
            raise RuntimeError(f"xapid did not report its port within {timeout}s (see {self.log_path})")
        self.port = found[0]
        return self

    def kill(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._drainer.join(5)
        self.proc = None

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self._drainer.join(5)
        self.proc = None
        return code

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
