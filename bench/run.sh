#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md, in one run:
#  1. ../shared/bench/rpc_anchors.sh: CPU per task.get_progress call for
#     hyper-floor (the ceiling), dxr-peer, py-peer and xapid, 100k tasks.
#  2. bench/registry_bench.py: registry memory per task and the time of
#     task.get_all_records over 100k tasks.
#  3. bench/copy_bench.py: VDI.copy against qemu-img convert, the speed
#     limit, task.get_progress latency while 8 copies run (needs the venv
#     of tests/run.sh for XenAPI, and qemu-img).
#  4. bench/event_bench.sh: 1000 clients blocked in event.from, one change,
#     against xapid and against the fan-out floor; registry_bench (step 2)
#     also times event.from with token "" over the 100k tasks.
#  5. bench/tls_bench.sh: CPU per call over TLS against plain, and TLS
#     handshakes per second against the bare hyper + rustls floor.
#  6. bench/nbd_bench.py: nbdcopy from xapid's NBD server against
#     qemu-nbd -r, RPC latency under 16 NBD readers, list_changed_blocks on
#     1 TiB, the bytes an incremental backup moves (needs qemu-nbd, nbdcopy).
# usage: bench/run.sh [TASKS] [SECS]     needs: wrk, python3, taskset, cargo
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-100000}; secs=${2:-8}
anchors=${ANCHORS:-../shared/bench}
cargo build -q --release
bin=$PWD/target/release/xapid
echo "== RPC CPU per call ($tasks tasks, ${secs}s, server on CPU 0, wrk on CPU 1)"
XAPID_BIN=$bin bash "$anchors/rpc_anchors.sh" "$tasks" "$secs"
echo "== registry"
state=$(mktemp -d)
XAPID_ROOT_PASSWORD=password RUST_LOG=warn taskset -c 0 "$bin" serve --listen 127.0.0.1:18090 --listen-tls 127.0.0.1:0 --state-dir "$state" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18090/ && break; sleep 0.1; done
python3 bench/registry_bench.py http://127.0.0.1:18090/ "$pid" --tasks "$tasks"
kill $pid 2>/dev/null || true
echo "== block jobs (copy vs qemu-img, speed limit, latency under 8 copies)"
"${PY:-.venv/bin/python}" bench/copy_bench.py "$bin" --rounds 5
echo "== events (1000 waiters in event.from, one change)"
bash bench/event_bench.sh 10 | awk '/per waiting client/ && !m { print "xapid, first round: " $0; m = 1 } /p99 over|CPU per waiter/'
echo "== TLS (CPU per call TLS vs plain; handshakes/s vs the floor)"
bash bench/tls_bench.sh 7 "$secs"
echo "== NBD and CBT (nbdcopy vs qemu-nbd, RPC under 16 readers, 1 TiB CBT, 1% incremental)"
"${PY:-.venv/bin/python}" bench/nbd_bench.py "$bin" --runs 7
