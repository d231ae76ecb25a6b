"""The README's examples run as written, in order, on a fresh server: its
Python blocks in one namespace, its shell blocks with bash (`$SID` and
`$VDI` the session and VDI of the Python above them), all in a directory
where `xapid-state` is the server's state directory. Only the addresses
are the test server's instead of the default ports (and `xe` is given its
port), and `xe` is found in target/debug. Not run: the two
commands that start the server and the tests, and log excerpts."""

import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = ("cargo run", "bash tests/run.sh")


def blocks():
    """(language, code) of each fenced block of the README, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", README.read_text(), re.S | re.M)


def test_the_readme_examples_run(make_server, tmp_path):
    srv = make_server(password=None)  # the state directory makes its password
    work = tmp_path / "readme"
    work.mkdir()
    (work / "xapid-state").symlink_to(srv.state_dir)

    def local(code):
        return (code.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{srv.port}")
                .replace("https://127.0.0.1:8443", f"https://127.0.0.1:{srv.tls_port}")
                .replace('XE_EXTRA_ARGS="', f'XE_EXTRA_ARGS="-p,{srv.tls_port},'))

    ran = {"python": 0, "sh": 0}
    ns = {}
    cwd = os.getcwd()
    os.chdir(work)
    try:
        for lang, code in blocks():
            if lang not in ran or code.startswith(SKIP):
                continue
            if lang == "python":
                exec(compile(local(code), f"README block {sum(ran.values()) + 1}", "exec"), ns)
            else:
                env = dict(os.environ)
                # `xe` as `cargo install` would put it on the PATH.
                env["PATH"] = f"{README.parent / 'target' / 'debug'}:{env['PATH']}"
                env.pop("XE_EXTRA_ARGS", None)
                if "s" in ns and ns["s"]._session:
                    env["SID"] = ns["s"]._session
                if "vdi" in ns:
                    env["VDI"] = ns["vdi"]
                p = subprocess.run(["bash", "-euo", "pipefail", "-c", local(code)], env=env,
                                   capture_output=True, text=True, timeout=300)
                assert p.returncode == 0, f"{code}\n{p.stdout}\n{p.stderr}"
                assert "<fault>" not in p.stdout and "Failure" not in p.stdout, p.stdout
            ran[lang] += 1
    finally:
        os.chdir(cwd)
    assert ran == {"python": 7, "sh": 5}, ran
    # What the examples say they do, they did.
    x = ns["x"]
    assert x.block_job.get_type(ns["job"]) == "stream"
    data = (work / "disk.raw").read_bytes()
    assert (work / "out.raw").read_bytes()[:len(data)] == data
    assert (work / "head.raw").read_bytes() == data[:1 << 20]
    assert x.VDI.get_type(ns["base"]) == "cbt_metadata"
