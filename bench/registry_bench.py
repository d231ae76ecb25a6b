#!/usr/bin/env python3
"""Registry figures for docs/performance.md: memory per task and the time of
task.get_all_records over N tasks, on a running xapid.

usage: registry_bench.py URL PID [--tasks 100000] [--threads 8] [--password P]

Creates N tasks with task.create from several threads (keep-alive
connections, raw XML-RPC), reads the server's RSS before and after, then
times task.get_all_records (whole reply received and parsed by nothing but
the byte count) several times and prints the median; then the same for
event.from(["task"], "", 0), received whole by curl.
"""
import argparse
import http.client
import re
import statistics
import subprocess
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("pid", type=int)
ap.add_argument("--tasks", type=int, default=100000)
ap.add_argument("--threads", type=int, default=8)
ap.add_argument("--password", default="password")
ap.add_argument("--repeat", type=int, default=7)
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


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


c = http.client.HTTPConnection(u.hostname, u.port)
reply = call(c, "session.login_with_password", "root", a.password, "1.0", "registry-bench")
session = re.search(rb"OpaqueRef:[0-9a-f-]{36}", reply).group(0).decode()

# Warm the allocator and the code paths with a few tasks, then measure.
for i in range(100):
    call(c, "task.create", session, "warm-%d" % i, "")
time.sleep(0.5)
before = rss_kib(a.pid)


def worker(k):
    conn = http.client.HTTPConnection(u.hostname, u.port)
    for i in range(k, a.tasks, a.threads):
        call(conn, "task.create", session, "bench-%d" % i, "registry benchmark")


t0 = time.time()
ts = [threading.Thread(target=worker, args=(k,)) for k in range(a.threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
create_secs = time.time() - t0
time.sleep(0.5)
after = rss_kib(a.pid)
per_task = (after - before) * 1024 / a.tasks

times = []
size = 0
for _ in range(a.repeat):
    t0 = time.time()
    data = call(c, "task.get_all_records", session)
    times.append(time.time() - t0)
    size = len(data)
    assert b"Success" in data[:200]

def curl_secs(body):
    """Seconds for curl to send body and receive the whole reply."""
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}",
         "-H", "Content-Type: text/xml", "--data-binary", body, a.url],
        check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


ev_body = ("<?xml version='1.0'?><methodCall><methodName>event.from</methodName><params>"
           "<param><value><string>%s</string></value></param>"
           "<param><value><array><data><value>task</value></data></array></value></param>"
           "<param><value><string></string></value></param>"
           "<param><value><double>0</double></value></param></params></methodCall>") % session
ev = [curl_secs(ev_body) for _ in range(a.repeat)]

print("tasks=%d create_rate=%.0f/s rss_before_kib=%d rss_after_kib=%d bytes_per_task=%.0f" % (
    a.tasks, a.tasks / create_secs, before, after, per_task))
print("get_all_records: median_ms=%.1f min_ms=%.1f reply_bytes=%d" % (
    statistics.median(times) * 1000, min(times) * 1000, size))
print("event.from(['task'], '', 0): median_ms=%.1f min_ms=%.1f reply_bytes=%d (curl)" % (
    statistics.median(t for t, _ in ev) * 1000, min(t for t, _ in ev) * 1000, ev[0][1]))
