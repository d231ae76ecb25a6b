#!/usr/bin/env bash
# 1000 clients blocked in event.from on one task, one change: how long until
# each has its answer (bench/event_waiters.rs), ROUNDS times against one
# fresh xapid, then the same against two anchors in the same run:
# bench/fanout_hyper.rs (hyper and tokio as xapid uses them, a canned
# answer of the same size, nothing else) and bench/fanout_floor.rs (no
# HTTP library: the canned answer written to every held socket in a loop,
# the kernel's floor for this fan-out on this machine). Also the
# server's memory per waiting client on the first round. The servers run on
# both CPUs as they would in production; the load tool is pinned to CPU 1
# (CLIENT_CPUS=0,1 to leave it free too).
# usage: bench/event_bench.sh [ROUNDS] [WAITERS]     needs: cargo, taskset, curl
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}; n=${2:-1000}
cargo build -q --release --bin xapid --example event_waiters --example fanout_floor --example fanout_hyper
bin=$PWD/target/release/xapid
state=$(mktemp -d)
port=${PORT:-18095}
pid=
trap 'kill $pid 2>/dev/null; rm -rf "$state"' EXIT

summary() {
  grep -o 'p99 [0-9.]*' "$1" | awk '{print $2}' | sort -n | awk -v who="$2" '
    { v[NR] = $1 }
    END { printf "%s: p99 over %d rounds: min %.2f ms, median %.2f ms, max %.2f ms\n", who, NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
}

rounds_against() {
  : > "$2"
  for _ in $(seq "$rounds"); do
    taskset -c "${CLIENT_CPUS:-1}" target/release/examples/event_waiters 127.0.0.1:$port password "$1" "$n" | tee -a "$2"
  done
}

XAPID_ROOT_PASSWORD=password RUST_LOG=warn "$bin" serve --listen 127.0.0.1:$port --listen-tls 127.0.0.1:0 --state-dir "$state" &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.1; done
xo=$(mktemp); ho=$(mktemp); fo=$(mktemp)
echo "== xapid"
rounds_against $pid "$xo"
kill $pid; wait $pid 2>/dev/null || true
echo "== fanout_hyper"
target/release/examples/fanout_hyper 127.0.0.1:$port 2>/dev/null &
pid=$!
sleep 0.5
rounds_against $pid "$ho"
kill $pid; wait $pid 2>/dev/null || true
echo "== fanout_floor (2 writer threads)"
target/release/examples/fanout_floor 127.0.0.1:$port 2 2>/dev/null &
pid=$!
sleep 0.5
rounds_against $pid "$fo"
summary "$xo" xapid
summary "$ho" fanout_hyper
summary "$fo" fanout_floor
grep -o '([0-9.]* us per' "$xo" | tr -d '(' | sort -n | awk '{ v[NR] = $1 } END { printf "xapid: server CPU per waiter, median %.1f us\n", v[int((NR + 1) / 2)] }'
grep -o '([0-9.]* us per' "$ho" | tr -d '(' | sort -n | awk '{ v[NR] = $1 } END { printf "fanout_hyper: server CPU per waiter, median %.1f us\n", v[int((NR + 1) / 2)] }'
rm -f "$xo" "$ho" "$fo"
