#!/usr/bin/env bash
# Issue 10: the cost of TLS (docs/performance.md, "Issue 10: TLS"): CPU per
# task.get_progress call over TLS vs plain (keep-alive, same server, same
# load), and full handshakes per second on one core, xapid vs a bare
# hyper + rustls server (bench/tls_floor.rs). See bench/tls_bench.py.
# usage: bench/tls_bench.sh [ROUNDS] [SECS]     needs: wrk, taskset, python3, cargo
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; secs=${2:-8}
cargo build -q --release --bin xapid --example tls_floor --example tls_load
python3 bench/tls_bench.py target/release/xapid target/release/examples --rounds "$rounds" --secs "$secs"
