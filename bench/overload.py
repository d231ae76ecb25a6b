#!/usr/bin/env python3
"""Overload and hostile clients against a running xapid (docs/reliability.md,
part 4). Each scenario runs while a probe client measures the latency of
`task.get_progress` (keep-alive, one call at a time) and the server's RSS
is sampled from /proc; the server must stay alive throughout.

usage: overload.py URL PID --password PW [--scenarios storm,slow,stall,
       nonreader,logins] [--storm 10000] [--slow 500] [--readers 8]
       [--tasks 100000] [--floods 2000] [--json OUT]

Scenarios:
- storm: N connection attempts at once (asyncio); each sends a
  task.get_all and reads the answer; counts served (200), refused (503) and failed, and the
  time each took to be answered.
- slow: N connections sending their headers one byte a second; how long
  until the server closes each.
- stall: N connections that send headers and part of a body, then nothing.
- nonreader: R clients ask for task.get_all_records over TASKS tasks and
  never read; RSS, and how long until each is disconnected.
- logins: failed logins as fast as possible (one user, then random names)
  from 16 connections, while another user logs in and calls; the other
  user's latency, and RSS per failed attempt.
"""
import argparse
import asyncio
import http.client
import json
import os
import random
import re
import statistics
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("pid", type=int)
ap.add_argument("--password", required=True)
ap.add_argument("--scenarios", default="storm,slow,stall,nonreader,logins")
ap.add_argument("--storm", type=int, default=10000)
ap.add_argument("--slow", type=int, default=500)
ap.add_argument("--stall", type=int, default=500)
ap.add_argument("--readers", type=int, default=8)
ap.add_argument("--tasks", type=int, default=100000)
ap.add_argument("--floods", type=int, default=2000)
ap.add_argument("--hold", type=float, default=90.0, help="longest a slow client is kept trying")
ap.add_argument("--json", default=None)
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)
HOST, PORT = u.hostname, u.port


def body(method, *params):
    return ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>" % (
        method, "".join("<param><value><string>%s</string></value></param>" % p for p in params))).encode()


def call(conn, method, *params):
    conn.request("POST", "/", body=body(method, *params), headers={"Content-Type": "text/xml"})
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def login(conn, user="root", pw=None):
    st, data = call(conn, "session.login_with_password", user, pw or a.password, "1.0", "overload")
    m = re.search(rb"OpaqueRef:[0-9a-f-]{36}", data)
    return m.group(0).decode() if st == 200 and m else None


def rss_mib():
    for line in open("/proc/%d/status" % a.pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def alive():
    return os.path.exists("/proc/%d" % a.pid)


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


class Probe:
    """Measures task.get_progress latency (ms) and samples RSS until stopped."""

    def __init__(self):
        self.lat, self.rss, self.errors = [], [], 0
        self.stop = threading.Event()
        c = http.client.HTTPConnection(HOST, PORT, timeout=30)
        self.session = login(c)
        st, data = call(c, "task.create", self.session, "probe", "")
        self.task = re.search(rb"OpaqueRef:[0-9a-f-]{36}", data).group(0).decode()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = http.client.HTTPConnection(HOST, PORT, timeout=30)
        n = 0
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                st, _ = call(c, "task.get_progress", self.session, self.task)
                if st != 200:
                    self.errors += 1
                self.lat.append((time.perf_counter() - t0) * 1e3)
            except Exception:
                self.errors += 1
                c = http.client.HTTPConnection(HOST, PORT, timeout=30)
            n += 1
            if n % 20 == 0:
                self.rss.append(rss_mib())
            time.sleep(0.005)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()

    def summary(self):
        return {
            "probe_calls": len(self.lat), "probe_errors": self.errors,
            "probe_p50_ms": round(pct(self.lat, 50) or 0, 3), "probe_p99_ms": round(pct(self.lat, 99) or 0, 3),
            "rss_max_mib": round(max(self.rss or [0]), 1),
        }


def baseline():
    with Probe() as p:
        time.sleep(3)
    return p.summary()


async def storm(n, session):
    # A cheap call with a session made before: the storm measures
    # connections, not password hashing (the logins scenario does that).
    req = body("task.get_all", session)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(req)
    out = {"served": 0, "refused": 0, "failed": 0, "fds_max": 0}
    async def watch_fds():
        while True:
            try:
                out["fds_max"] = max(out["fds_max"], len(os.listdir("/proc/%d/fd" % a.pid)))
            except OSError:
                pass
            await asyncio.sleep(0.2)
    watcher = asyncio.ensure_future(watch_fds())
    times = {"served": [], "refused": []}

    async def one():
        t0 = time.perf_counter()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 60)
            # Timed from the connection's accept by the kernel: the time
            # the client itself takes to open 10,000 sockets is its own.
            t0 = time.perf_counter()
            w.write(head + req)
            await w.drain()
            line = await asyncio.wait_for(r.readline(), 60)
            await asyncio.wait_for(r.read(), 60)
            w.close()
            kind = "served" if b" 200 " in line else "refused" if b" 503 " in line else "failed"
        except Exception:
            kind = "failed"
        out[kind] += 1
        if kind in times:
            times[kind].append((time.perf_counter() - t0) * 1e3)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    watcher.cancel()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    for k, v in times.items():
        out[k + "_p50_ms"] = round(pct(v, 50) or 0, 1)
        out[k + "_p99_ms"] = round(pct(v, 99) or 0, 1)
    return out


async def dribblers(n, kind):
    """kind 'slow': headers a byte a second; 'stall': headers and part of a
    body, then nothing. Returns how long the server kept each."""
    kept = []

    async def one():
        t0 = time.monotonic()
        try:
            r, w = await asyncio.open_connection(HOST, PORT)
            if kind == "slow":
                for b in b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n":
                    w.write(bytes([b]))
                    await w.drain()
                    try:
                        if await asyncio.wait_for(r.read(1), 1.0) == b"":
                            break
                    except asyncio.TimeoutError:
                        pass
                    if time.monotonic() - t0 > a.hold:
                        break
            else:
                w.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<methodCall>")
                await w.drain()
                try:
                    await asyncio.wait_for(r.read(), a.hold)
                except asyncio.TimeoutError:
                    pass
            w.close()
        except Exception:
            pass
        kept.append(time.monotonic() - t0)

    await asyncio.gather(*(one() for _ in range(n)))
    return {"connections": n, "kept_p50_s": round(pct(kept, 50), 1), "kept_max_s": round(max(kept), 1)}


def nonreaders(r):
    c = http.client.HTTPConnection(HOST, PORT, timeout=60)
    s = login(c)
    st, data = call(c, "task.get_all", s)
    have = data.count(b"OpaqueRef:")
    for i in range(max(0, a.tasks - have)):
        call(c, "task.create", s, "bulk-%d" % i, "x" * 200)
    import socket
    socks = []
    req = body("task.get_all_records", s)
    t0 = time.monotonic()
    for _ in range(r):
        k = socket.socket()
        k.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        k.connect((HOST, PORT))
        k.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(req) + req)
        socks.append(k)
    peak = 0.0
    closed = [None] * r
    while time.monotonic() - t0 < a.hold and any(x is None for x in closed):
        peak = max(peak, rss_mib())
        time.sleep(1)
        for i, k in enumerate(socks):
            if closed[i] is None:
                # Peek without reading the reply: has the server hung up?
                k.setblocking(False)
                try:
                    k.recv(1, socket.MSG_PEEK)
                except BlockingIOError:
                    pass
                except OSError:
                    closed[i] = time.monotonic() - t0
                k.setblocking(True)
    # Drain to learn whether each was cut off: read what is there.
    got = []
    for k in socks:
        k.settimeout(5)
        n = 0
        try:
            while True:
                d = k.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        except OSError:
            pass
        got.append(n)
        k.close()
    # (A keep-alive connection idle this long was closed: a new one.)
    c = http.client.HTTPConnection(HOST, PORT, timeout=120)
    st, data = call(c, "task.get_all_records", s)
    return {"readers": r, "tasks": a.tasks, "reply_bytes": len(data), "received_p50_bytes": pct(got, 50),
            "rss_peak_mib": round(peak, 1)}


def logins():
    # Another user whose latency must hold.
    c = http.client.HTTPConnection(HOST, PORT, timeout=60)
    root = login(c)
    other_pw = "pw-overload-%d" % random.getrandbits(32)
    c.request("POST", "/", headers={"Content-Type": "text/xml"}, body=(
        "<methodCall><methodName>subject.create</methodName><params><param><value>%s</value></param>"
        "<param><value><struct><member><name>subject_identifier</name><value>local:overload-probe</value>"
        "</member></struct></value></param></params></methodCall>" % root).encode())
    subj = re.search(rb"OpaqueRef:[0-9a-f-]{36}", c.getresponse().read())
    if subj is None:  # made by an earlier run
        st, data = call(c, "subject.get_all", root)
        subj = re.findall(rb"OpaqueRef:[0-9a-f-]{36}", data)[-1]
    else:
        subj = subj.group(0)
    subj = subj.decode()
    call(c, "subject.set_password", root, subj, other_pw)
    st, data = call(c, "role.get_by_name_label", root, "read-only")
    call(c, "subject.add_to_roles", root, subj, re.search(rb"OpaqueRef:[0-9a-f-]{36}", data).group(0).decode())
    out = {}
    before = rss_mib()
    for mode in ("one-user", "many-names"):
        stop = threading.Event()
        count = [0]

        def flood():
            k = http.client.HTTPConnection(HOST, PORT, timeout=120)
            while not stop.is_set():
                name = "root" if mode == "one-user" else "nobody-%d" % random.getrandbits(40)
                try:
                    call(k, "session.login_with_password", name, "wrong-%d" % random.getrandbits(30), "1.0", "flood")
                except Exception:
                    k = http.client.HTTPConnection(HOST, PORT, timeout=120)
                count[0] += 1
        threads = [threading.Thread(target=flood, daemon=True) for _ in range(16)]
        for t in threads:
            t.start()
        time.sleep(1)
        lat = []
        with Probe() as p:
            t_end = time.monotonic() + 10
            k = http.client.HTTPConnection(HOST, PORT, timeout=60)
            while time.monotonic() < t_end:
                t0 = time.perf_counter()
                s2 = login(k, "overload-probe", other_pw)
                lat.append((time.perf_counter() - t0) * 1e3)
                call(k, "session.logout", s2)
        stop.set()
        for t in threads:
            t.join(timeout=130)
        out[mode] = dict(p.summary(), failed_logins=count[0],
                         other_login_p50_ms=round(pct(lat, 50), 1), other_login_p99_ms=round(pct(lat, 99), 1))
    out["rss_growth_mib"] = round(rss_mib() - before, 1)
    return out


def main():
    results = {"baseline": baseline()}
    for sc in a.scenarios.split(","):
        print("==", sc, flush=True)
        with Probe() as p:
            if sc == "storm":
                r = asyncio.run(storm(a.storm, p.session))
            elif sc == "slow":
                r = asyncio.run(dribblers(a.slow, "slow"))
            elif sc == "stall":
                r = asyncio.run(dribblers(a.stall, "stall"))
            elif sc == "nonreader":
                r = nonreaders(a.readers)
            elif sc == "logins":
                r = logins()
            else:
                raise SystemExit("unknown scenario " + sc)
        r["during"] = p.summary()
        r["server_alive"] = alive()
        results[sc] = r
        print(json.dumps(r), flush=True)
        assert alive(), "the server died"
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print(json.dumps(results["baseline"]))


if __name__ == "__main__":
    main()
