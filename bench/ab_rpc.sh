#!/usr/bin/env bash
# A/B of two xapid builds on the RPC anchors' load (task.get_progress over
# one keep-alive connection per wrk thread, server on CPU 0, wrk on CPU 1),
# interleaved ROUNDS times so that the machine's noise hits both alike, with
# hyper-floor (the ceiling) measured in each round too. Prints the server's
# CPU microseconds per call, per round.
#
# usage: bench/ab_rpc.sh OLD_BIN NEW_BIN [ROUNDS] [TASKS] [SECS]
# needs: wrk, python3, taskset, cargo (for hyper-floor)
set -u
old=${1:?usage: ab_rpc.sh OLD_BIN NEW_BIN [ROUNDS] [TASKS] [SECS]}; new=${2:?}
rounds=${3:-3}; tasks=${4:-10000}; secs=${5:-8}
anchors=${ANCHORS:-$(cd "$(dirname "$0")/../.." && pwd)/shared/bench}
tdir=${ANCHOR_TARGET_DIR:-/tmp/xapid-anchors-target}
[ -x "$tdir/release/hyper-floor" ] || cargo build -q --release \
    --manifest-path "$anchors/hyper-floor/Cargo.toml" --target-dir "$tdir" || exit 1
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null' EXIT
one() { # name port cmd...
  local name=$1 port=$2; shift 2
  taskset -c 0 "$@" >/dev/null 2>&1 & pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  printf '%-12s ' "$name"
  python3 "$anchors/rpcbench.py" "http://127.0.0.1:$port/" --tasks "$tasks" --secs "$secs" \
    --method task.get_progress --pid "$pid" || echo FAILED
  kill $pid 2>/dev/null; wait $pid 2>/dev/null; pid=
}
for r in $(seq "$rounds"); do
  echo "== round $r"
  one hyper-floor 18082 "$tdir/release/hyper-floor" 18082
  for b in old new; do
    bin=$old; [ $b = new ] && bin=$new
    state=$(mktemp -d)
    XAPID_ROOT_PASSWORD=password RUST_LOG=warn one "xapid-$b" 18084 "$bin" serve \
        --listen 127.0.0.1:18084 --state-dir "$state"
    rm -rf "$state"
  done
done
