#!/usr/bin/env python3
"""Issue 10: what TLS costs xapid (docs/performance.md, "Issue 10: TLS").

1. rpc: task.get_progress with keep-alive over plain HTTP and over TLS,
   against one xapid process (pinned to CPU 0), 32 connections, the calls
   spread over 2000 of 10000 tasks, by two loads (pinned to CPU 1):
   - wrk with the Lua request function of ../shared/bench/rpcbench.py (the
     RPC anchors' load); over TLS it cannot keep the server busy (its
     OpenSSL and Lua share the one client core), so the server idles and
     wakes more often per call;
   - bench/tls_load.rs `rpc` (rustls client, one write and one read per
     call), which keeps the server busy with both schemes.
   Each round runs every (load, scheme) pair, alternating which scheme goes
   first. Figure: the server's CPU (utime+stime from /proc/PID/stat) per
   call, and its ratio TLS/plain within each round.
2. handshakes: full TLS 1.3 handshakes per second (connect, handshake, GET /,
   close; no resumption) by bench/tls_load.rs `handshakes` (16 at a time)
   on CPU 1 against xapid and against bench/tls_floor.rs (hyper + rustls and
   a canned reply), each pinned to CPU 0; rounds alternate which server goes
   first. Figures: handshakes/s and the server's CPU per handshake.

usage: bench/tls_bench.py XAPID_BIN EXAMPLES_DIR [--rounds 5] [--secs 8] [--tasks 10000]
needs: wrk, taskset, python3; EXAMPLES_DIR holds the release builds of the
examples tls_floor and tls_load (bench/tls_bench.sh builds them).
"""
import argparse
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

ap = argparse.ArgumentParser()
ap.add_argument("xapid")
ap.add_argument("examples")
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--secs", type=int, default=8)
ap.add_argument("--tasks", type=int, default=10000)
ap.add_argument("--conns", type=int, default=32)
ap.add_argument("--hs-conns", type=int, default=16)
ap.add_argument("--only", choices=["rpc", "handshakes"])
a = ap.parse_args()

PLAIN, TLS, FLOOR = 18184, 18444, 18445


def ticks(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def wait_port(port, tls=False):
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if tls:
                    ssl._create_unverified_context().wrap_socket(s).close()
                return
        except OSError:
            time.sleep(0.05)
    sys.exit("nothing listens on %d" % port)


def start_xapid(state):
    env = dict(os.environ, XAPID_ROOT_PASSWORD="password", RUST_LOG="warn")
    p = subprocess.Popen(["taskset", "-c", "0", a.xapid, "serve", "--listen", "127.0.0.1:%d" % PLAIN,
                          "--listen-tls", "127.0.0.1:%d" % TLS, "--state-dir", state], env=env)
    wait_port(PLAIN)
    wait_port(TLS, tls=True)
    return p


def stop(p):
    p.terminate()
    p.wait(20)


def summary(xs):
    return "median %.2f  min %.2f  max %.2f" % (statistics.median(xs), min(xs), max(xs))


def rpc():
    state = tempfile.mkdtemp(prefix="xapid-tls-bench-")
    p = start_xapid(state)
    load = os.path.join(a.examples, "tls_load")
    try:
        px = xmlrpc.client.ServerProxy("http://127.0.0.1:%d/" % PLAIN)
        s = px.session.login_with_password("root", "password", "1.0", "tls-bench")["Value"]
        refs = [getattr(px, "task.create")(s, "bench-%d" % i, "load")["Value"] for i in range(a.tasks)]
        bodies = [xmlrpc.client.dumps((s, r), "task.get_progress") for r in refs[:2000]]
        lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        lua.write("bodies = {\n" + "".join("[==[%s]==],\n" % b for b in bodies) + "}\nn = 0\n")
        lua.write("""
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %.0f\\n", summary.requests,
    summary.requests / (summary.duration / 1e6)))
end
""")
        lua.close()
        raw = tempfile.NamedTemporaryFile("wb", delete=False)
        raw.write(b"\0".join(b.encode() for b in bodies))
        raw.close()

        def run(tool, url):
            """Calls made and calls/s."""
            if tool == "wrk":
                out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c%d" % a.conns, "-d%ds" % a.secs,
                                      "-s", lua.name, url], capture_output=True, text=True).stdout
                m = re.search(r"RESULT (\d+) (\S+)", out)
                if not m or "Non-2xx" in out or "Socket errors" in out:
                    sys.exit("wrk: " + out)
            else:
                out = subprocess.run(["taskset", "-c", "1", load, "rpc", url, str(a.secs), str(a.conns), raw.name],
                                     capture_output=True, text=True).stdout
                m = re.search(r"calls=(\d+) .* calls/s=(\d+) errors=0", out)
                if not m:
                    sys.exit("tls_load: " + out)
            return int(m.group(1)), float(m.group(2))

        tools = ["wrk", "tls_load"]
        cpu = {(t, sch): [] for t in tools for sch in ("http", "https")}
        rate = {k: [] for k in cpu}
        for rnd in range(a.rounds):
            order = ["http", "https"] if rnd % 2 == 0 else ["https", "http"]
            for tool in tools:
                for scheme in order:
                    url = "%s://127.0.0.1:%d/" % (scheme, PLAIN if scheme == "http" else TLS)
                    t0 = ticks(p.pid)
                    n, per_s = run(tool, url)
                    t1 = ticks(p.pid)
                    us = (t1 - t0) / os.sysconf("SC_CLK_TCK") * 1e6 / n
                    busy = (t1 - t0) / os.sysconf("SC_CLK_TCK") / a.secs
                    cpu[(tool, scheme)].append(us)
                    rate[(tool, scheme)].append(per_s)
                    print("round %d %-8s %-5s calls/s=%.0f server_cpu_us/call=%.2f server_busy=%.2f" % (
                        rnd + 1, tool, scheme, per_s, us, busy), flush=True)
        os.unlink(lua.name)
        os.unlink(raw.name)
        for tool in tools:
            for scheme, name in (("http", "plain"), ("https", "TLS  ")):
                print("rpc %-8s %s: server CPU us/call %s; calls/s %s" % (
                    tool, name, summary(cpu[(tool, scheme)]), summary(rate[(tool, scheme)])))
            ratios = [t / h for t, h in zip(cpu[(tool, "https")], cpu[(tool, "http")])]
            print("rpc %-8s TLS/plain CPU per call, per round: %s" % (tool, summary(ratios)))
    finally:
        stop(p)


def handshakes():
    load = os.path.join(a.examples, "tls_load")
    floor = os.path.join(a.examples, "tls_floor")
    hs = {"xapid": [], "floor": []}
    cpu = {"xapid": [], "floor": []}
    for rnd in range(a.rounds):
        order = ["xapid", "floor"] if rnd % 2 == 0 else ["floor", "xapid"]
        for who in order:
            state = tempfile.mkdtemp(prefix="xapid-tls-bench-")
            if who == "xapid":
                p, port = start_xapid(state), TLS
            else:
                p = subprocess.Popen(["taskset", "-c", "0", floor, "127.0.0.1:%d" % FLOOR],
                                     stderr=subprocess.DEVNULL)
                port = FLOOR
                wait_port(port, tls=True)
            try:
                t0 = ticks(p.pid)
                out = subprocess.run(["taskset", "-c", "1", load, "handshakes", "127.0.0.1:%d" % port,
                                      str(a.secs), str(a.hs_conns)], capture_output=True, text=True).stdout
                t1 = ticks(p.pid)
            finally:
                stop(p)
            m = re.search(r"handshakes=(\d+) .* handshakes/s=(\d+) errors=(\d+)", out)
            if not m or m.group(3) != "0":
                sys.exit("tls_load: " + out)
            n = int(m.group(1))
            us = (t1 - t0) / os.sysconf("SC_CLK_TCK") * 1e6 / n
            hs[who].append(float(m.group(2)))
            cpu[who].append(us)
            busy = (t1 - t0) / os.sysconf("SC_CLK_TCK") / a.secs
            print("round %d %-5s handshakes/s=%s server_cpu_us/handshake=%.1f server_busy=%.2f" % (
                rnd + 1, who, m.group(2), us, busy), flush=True)
    print("handshakes/s  xapid: %s" % summary(hs["xapid"]))
    print("handshakes/s  floor: %s" % summary(hs["floor"]))
    print("server CPU us/handshake  xapid: %s" % summary(cpu["xapid"]))
    print("server CPU us/handshake  floor: %s" % summary(cpu["floor"]))
    print("xapid/floor handshakes/s: %.2f" % (statistics.median(hs["xapid"]) / statistics.median(hs["floor"])))


if a.only in (None, "rpc"):
    rpc()
if a.only in (None, "handshakes"):
    handshakes()
