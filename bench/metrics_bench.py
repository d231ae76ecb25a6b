#!/usr/bin/env python3
"""What a Prometheus scrape costs xapid (docs/performance.md): the server's
CPU time per GET /metrics, read from /proc, with N tasks in the registry,
and the share of one core that scraping once a second takes.

usage: metrics_bench.py URL PID [--tasks 10000] [--scrapes 200] [--password P]

Creates N tasks with task.create (raw XML-RPC, one keep-alive connection),
then scrapes with HTTP basic auth (the first scrape pays the password hash, the
later ones find it remembered) SCRAPES times back to back, in rounds, and
prints per-round medians of server CPU per scrape and wall time per scrape,
plus the size of the page.
"""
import argparse
import base64
import http.client
import os
import re
import statistics
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("pid", type=int)
ap.add_argument("--tasks", type=int, default=10000)
ap.add_argument("--scrapes", type=int, default=200)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--password", default="password")
a = ap.parse_args()
u = urllib.parse.urlparse(a.url)


def call(conn, method, *params):
    body = "<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>" % (
        method, "".join("<param><value><string>%s</string></value></param>" % p for p in params))
    conn.request("POST", "/", body=body.encode(), headers={"Content-Type": "text/xml"})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, (r.status, data[:200])
    return data


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


c = http.client.HTTPConnection(u.hostname, u.port)
reply = call(c, "session.login_with_password", "root", a.password, "1.0", "metrics-bench")
session = re.search(rb"OpaqueRef:[0-9a-f-]{36}", reply).group(0).decode()
for i in range(a.tasks):
    call(c, "task.create", session, "bench-%d" % i, "")

auth = {"Authorization": "Basic " + base64.b64encode(("root:" + a.password).encode()).decode()}
s = http.client.HTTPConnection(u.hostname, u.port)


def scrape():
    s.request("GET", "/metrics", headers=auth)
    r = s.getresponse()
    body = r.read()
    assert r.status == 200, r.status
    return body


size = len(scrape())
cpu, wall = [], []
for _ in range(a.rounds):
    t0, w0 = cpu_seconds(a.pid), time.perf_counter()
    for _ in range(a.scrapes):
        scrape()
    cpu.append((cpu_seconds(a.pid) - t0) / a.scrapes)
    wall.append((time.perf_counter() - w0) / a.scrapes)
med = statistics.median(cpu)
print("tasks=%d page_bytes=%d" % (a.tasks, size))
print("server CPU per scrape: median %.3f ms (min %.3f, max %.3f) over %d rounds of %d"
      % (med * 1e3, min(cpu) * 1e3, max(cpu) * 1e3, a.rounds, a.scrapes))
print("wall per scrape: median %.3f ms" % (statistics.median(wall) * 1e3))
print("scraping once a second: %.3f%% of one core" % (med * 100))
