#!/usr/bin/env bash
# Userspace instructions per task.get_progress call, counted by callgrind
# (repeatable on this noisy machine, unlike wall or CPU time): the server
# runs under valgrind with instrumentation off; after a warm-up, it is
# switched on for N calls on one keep-alive connection, then for 3N; the
# difference of the two totals over 2N calls is the cost of one call, with
# start-up and per-window costs cancelled out.
#
# usage: bench/rpc_instructions.sh BIN [N] [PORT]     needs: valgrind, python3
set -euo pipefail
bin=${1:?usage: rpc_instructions.sh BIN [N] [PORT]}
n=${2:-1000}
port=${3:-18095}
state=$(mktemp -d)
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$state" "$out"' EXIT
XAPID_ROOT_PASSWORD=password RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out/cg.%p" "$bin" serve --listen 127.0.0.1:$port --listen-tls 127.0.0.1:0 --state-dir "$state" \
    >/dev/null 2>"$out/valgrind.log" &
pid=$!
python3 - "$port" "$n" "$pid" "$out" <<'EOF'
import glob, http.client, re, subprocess, sys, time
port, n, pid, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def body(method, *params):
    ps = "".join(f"<param><value>{p}</value></param>" for p in params)
    return f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>{ps}</params></methodCall>".encode()

for _ in range(600):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/", body("session.login_with_password", "root", "password"))
        r = c.getresponse().read().decode()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the server did not start")
sid = re.search(r"OpaqueRef:[0-9a-f-]+", r).group(0)
c.request("POST", "/", body("task.create", sid, "t", "d"))
task = re.search(r"OpaqueRef:[0-9a-f-]+", c.getresponse().read().decode()).group(0)
call = body("task.get_progress", sid, task)

def calls(k):
    for _ in range(k):
        c.request("POST", "/", call, {"Content-Type": "text/xml"})
        r = c.getresponse().read()
        assert b"Success" in r, r

def window(k):
    subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    calls(k)
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    before = set(glob.glob(f"{out}/cg.*"))
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    time.sleep(0.5)
    total = 0
    for f in set(glob.glob(f"{out}/cg.*")) - before:
        for line in open(f):
            if line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    return total

calls(200)  # warm-up, not counted
a = window(n)
b = window(3 * n)
print(f"instructions per call: {(b - a) / (2 * n):.0f}  (windows of {n} and {3 * n} calls: {a} and {b})")
EOF
