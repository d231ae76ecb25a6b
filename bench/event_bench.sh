#!/usr/bin/env bash
# 1000 clients blocked in event.from on one task, one change: how long until
# each has its answer (examples/event_waiters.rs), ROUNDS times against one
# fresh server, and the server's memory per waiting client on the first
# round. The server runs on both CPUs as it would in production; the load
# tool is pinned to CPU 1 (CLIENT_CPUS=0,1 to leave it free too).
# usage: bench/event_bench.sh [ROUNDS] [WAITERS]     needs: cargo, taskset
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}; n=${2:-1000}
cargo build -q --release --bin xapid --example event_waiters
bin=$PWD/target/release/xapid
state=$(mktemp -d)
port=${PORT:-18095}
XAPID_ROOT_PASSWORD=password RUST_LOG=warn "$bin" serve --listen 127.0.0.1:$port --state-dir "$state" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.1; done
out=$(mktemp)
for i in $(seq "$rounds"); do
  taskset -c "${CLIENT_CPUS:-1}" target/release/examples/event_waiters 127.0.0.1:$port password $pid "$n" | tee -a "$out"
done
grep -o 'p99 [0-9.]*' "$out" | awk '{print $2}' | sort -n | awk '
  { v[NR] = $1 }
  END { printf "p99 over %d rounds: min %.2f ms, median %.2f ms, max %.2f ms\n", NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
rm -f "$out"
