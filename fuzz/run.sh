#!/usr/bin/env bash
# Coverage-guided fuzzing of xapid's parsers with libFuzzer on the stable
# toolchain (docs/reliability.md, "Fuzzing"). No cargo-fuzz and no nightly:
# libfuzzer-sys builds libFuzzer with the C++ compiler, and rustc's stable
# LLVM pass `sancov-module` adds the coverage instrumentation.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 300 s, every target)
#   bash fuzz/run.sh 10M [TARGET...]    (10 million executions each, at most two hours)
#
# Builds the targets, makes the seeds, runs each target for the given time
# (one process at a time, nice 10), minimises its corpus into
# fuzz/corpus/<target>/ (libFuzzer's -merge=1), and appends the run's
# figures to fuzz/runs.tsv. A crash or a hang leaves its input in
# fuzz/artifacts/<target>/: fix the bug, then copy the input into
# fuzz/regressions/<target>/ (replayed by `cargo test --test fuzz_replay`).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-300}
shift || true
limit=(-max_total_time="$secs")
if [[ $secs =~ ^([0-9]+)M$ ]]; then
    limit=(-runs="${BASH_REMATCH[1]}000000" -max_total_time=7200)
fi
all=(xmlrpc jsonrpc http_data qcow2_header qcow2_bitmaps nbd xe_args config)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

# What the build needs: a C++ compiler for libFuzzer, qemu-img for the
# qcow2 seeds (both Debian packages).
if ! command -v c++ >/dev/null || ! command -v qemu-img >/dev/null; then
    apt-get update -qq && apt-get install -y -qq g++ qemu-utils
fi

# The qcow2 targets write (and fsync) a scratch image per execution: on a
# tmpfs that costs nothing, on a disk it bounds them to a few thousand a second.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps these flags off build scripts and proc macros.
cargo build --release --target "$triple" --bins
bin=target/$triple/release

python3 seeds.py >/dev/null

max_len() {
    case $1 in
        http_data | xe_args) echo 1024 ;;
        qcow2_header | nbd | config) echo 8192 ;;
        qcow2_bitmaps) echo 81920 ;;
        *) echo 16384 ;;
    esac
}

mkdir -p logs
[ -f runs.tsv ] || printf 'date\ttarget\tseconds\texecutions\texec_per_s\tcrashes\tcorpus_files\tcorpus_bytes\n' > runs.tsv
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log=logs/$t.log
    # -fork would go on after a crash; one process keeps to one core.
    nice -n "${FUZZ_NICE:-10}" "$bin/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "corpus/$t" "seeds/$t" >"$log" 2>&1 || true
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    # Minimise: the smallest set of inputs with the same coverage.
    rm -rf "corpus-new/$t" && mkdir -p "corpus-new/$t"
    nice -n "${FUZZ_NICE:-10}" "$bin/$t" -merge=1 -max_len="$(max_len "$t")" "corpus-new/$t" "corpus/$t" "seeds/$t" \
        >"logs/$t.merge.log" 2>&1
    rm -rf "corpus/$t" && mv "corpus-new/$t" "corpus/$t"
    crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
    files=$(find "corpus/$t" -type f | wc -l)
    bytes=$(du -sb "corpus/$t" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "${took:-$secs}" "${execs:-?}" \
        "${rate:-?}" "$crashes" "$files" "$bytes" | tee -a runs.tsv
done
