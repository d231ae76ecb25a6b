#!/usr/bin/env python3
"""Whole-map answers, one binary against another on the same store, in the
same run: task.get_all_records (XML-RPC and JSON-RPC) and
event.from(["task"], "", 0) over N tasks, each received whole by curl.

usage: records_ab.py --bin-a A --bin-b B [--tasks 100000] [--rounds 7] [--calls 3]
                     [--state DIR] [--taskset CPUS]

Builds a store of N tasks once (task.create from 8 threads, with A), then for
each round starts A on it, times `--calls` calls of each kind after one
untimed call, stops it, and does the same with B (the order alternates
between rounds). A round's figure is the median of its calls; the summary
gives, per kind, the median and range of A, of B, and of the per-round
ratio A/B. Both servers get the same CPUs (all of them unless --taskset).
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--bin-a", required=True)
ap.add_argument("--bin-b", required=True)
ap.add_argument("--tasks", type=int, default=100000)
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--calls", type=int, default=3)
ap.add_argument("--state", help="keep the store here (reused if it has one)")
ap.add_argument("--taskset", help="CPU list for the servers, e.g. 0")
ap.add_argument("--port", type=int, default=18191)
a = ap.parse_args()
URL = f"http://127.0.0.1:{a.port}/"
PASSWORD = "password"


def start(binary, state):
    cmd = [binary, "serve", "--listen", f"127.0.0.1:{a.port}", "--listen-tls", "127.0.0.1:0",
           "--state-dir", state]
    if a.taskset:
        cmd = ["taskset", "-c", a.taskset] + cmd
    env = dict(os.environ, XAPID_ROOT_PASSWORD=PASSWORD, RUST_LOG="warn")
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(URL, timeout=1).read()
            return p
        except Exception:
            time.sleep(0.1)
    p.kill()
    sys.exit(f"{binary} did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(60)


def xml(method, *params):
    ps = "".join(f"<param><value><string>{x}</string></value></param>" for x in params)
    return f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>{ps}</params></methodCall>"


def post(body, ctype="text/xml", path=""):
    req = urllib.request.Request(URL + path, data=body.encode(), headers={"Content-Type": ctype})
    return urllib.request.urlopen(req, timeout=60).read()


def login():
    out = post(xml("session.login_with_password", "root", PASSWORD, "1.0", "bench")).decode()
    return out.split("<value>")[-1].split("</value>")[0].replace("<string>", "").replace("</string>", "")


def fill(state):
    p = start(a.bin_a, state)
    s = login()
    have = post(xml("task.get_all", s)).count(b"OpaqueRef:")
    need = a.tasks - have
    if need > 0:
        import http.client

        def worker(n):
            c = http.client.HTTPConnection("127.0.0.1", a.port)
            for i in range(n):
                c.request("POST", "/", body=xml("task.create", s, f"bench-{i}", "records_ab").encode(),
                          headers={"Content-Type": "text/xml"})
                r = c.getresponse()
                r.read()
                assert r.status == 200

        ts = [threading.Thread(target=worker, args=(need // 8 + (1 if k < need % 8 else 0),)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    stop(p)


def curl(body_file, ctype, path=""):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
                          "-H", f"Content-Type: {ctype}", "--data-binary", f"@{body_file}", URL + path],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def measure(binary, state, tmp):
    p = start(binary, state)
    s = login()
    kinds = {
        "get_all_records xml": (xml("task.get_all_records", s), "text/xml", ""),
        "get_all_records json": (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "task.get_all_records",
                                             "params": [s]}), "application/json", "jsonrpc"),
        "event.from '' xml": ("<?xml version='1.0'?><methodCall><methodName>event.from</methodName><params>"
                              f"<param><value><string>{s}</string></value></param>"
                              "<param><value><array><data><value><string>task</string></value></data></array></value></param>"
                              "<param><value><string></string></value></param>"
                              "<param><value><double>0</double></value></param></params></methodCall>",
                              "text/xml", ""),
    }
    res = {}
    for k, (body, ctype, path) in kinds.items():
        f = os.path.join(tmp, "body")
        with open(f, "w") as fh:
            fh.write(body)
        curl(f, ctype, path)  # untimed
        runs = [curl(f, ctype, path) for _ in range(a.calls)]
        res[k] = (statistics.median(t for t, _ in runs), runs[0][1])
    stop(p)
    return res


def main():
    tmp = tempfile.mkdtemp(prefix="records-ab-")
    state = a.state or os.path.join(tmp, "state")
    os.makedirs(state, exist_ok=True)
    fill(state)
    rows = []
    for r in range(a.rounds):
        order = [("A", a.bin_a), ("B", a.bin_b)]
        if r % 2:
            order.reverse()
        got = {name: measure(b, state, tmp) for name, b in order}
        rows.append(got)
        print(f"round {r + 1}: " + "; ".join(
            f"{k}: A {got['A'][k][0] * 1000:.0f} ms, B {got['B'][k][0] * 1000:.0f} ms"
            for k in got["A"]), flush=True)
    print(f"\n{a.tasks} tasks, {a.rounds} rounds, median of {a.calls} calls per round; A={a.bin_a} B={a.bin_b}")
    for k in rows[0]["A"]:
        A = [x["A"][k][0] * 1000 for x in rows]
        B = [x["B"][k][0] * 1000 for x in rows]
        ratio = [x / y for x, y in zip(A, B)]
        size = rows[0]["A"][k][1] / 1e6
        print(f"{k:22} ({size:.1f} MB): A median {statistics.median(A):.0f} ms ({min(A):.0f}-{max(A):.0f}), "
              f"B median {statistics.median(B):.0f} ms ({min(B):.0f}-{max(B):.0f}), "
              f"A/B median {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})")
    if not a.state:
        shutil.rmtree(tmp, ignore_errors=True)


main()
