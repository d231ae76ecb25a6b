#!/usr/bin/env bash
# Runs every test: the Rust unit and integration tests, then the Python
# suite (tests/python) against the real server binary. Both suites always
# run (a Rust failure does not hide the Python results); the exit code is
# non-zero if either failed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${XAPID_VENV:-.venv}"

# qemu-img is the oracle of the image tests (qemu-utils is on this machine
# kind; install it where it is missing).
if ! command -v qemu-img >/dev/null 2>&1; then
    echo "== installing qemu-utils"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq qemu-utils >/dev/null
fi
# qemu-storage-daemon is the oracle of the bitmap tests
# (tests/python/test_bitmaps_oracle.py): in qemu-utils from Debian 13's
# QEMU on, in qemu-system-common before.
if ! command -v qemu-storage-daemon >/dev/null 2>&1; then
    echo "== installing qemu-storage-daemon (qemu-system-common)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq qemu-system-common >/dev/null
fi
# openssl and curl are peers of the TLS tests (tests/python/test_tls.py);
# nbdinfo and nbdcopy (libnbd-bin) of the NBD tests (src/wire/nbd/tests).
if ! command -v nbdinfo >/dev/null 2>&1 || ! command -v nbdcopy >/dev/null 2>&1; then
    echo "== installing libnbd-bin"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libnbd-bin >/dev/null
fi
for tool in openssl curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "== installing $tool"
        if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$tool" >/dev/null
    fi
done
# promtool (Debian's prometheus) checks the page of GET /metrics
# (tests/python/test_metrics.py).
if ! command -v promtool >/dev/null 2>&1; then
    echo "== installing promtool (prometheus)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq prometheus >/dev/null
fi
# chromium and chromedriver run the web view's tests in a real browser
# (tests/python/test_web.py, driven by selenium).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "== installing chromium and chromium-driver"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# node and npm run Xen Orchestra's client (tests/xo); install them where
# they are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "== installing nodejs and npm"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the Python venv in $VENV"
    python3 -m venv "$VENV"
fi
echo "== installing Python test requirements"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt

echo "== installing Xen Orchestra's client (npm xen-api, tests/xo)"
(cd tests/xo && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo build"
cargo build

echo "== cargo test --all-targets"
rust=0
cargo test --all-targets || rust=$?

echo "== python tests (tests/python)"
py=0
XAPID_BIN="$PWD/target/debug/xapid" "$VENV/bin/python" -m pytest -q tests/python || py=$?

echo
echo "== summary ($(( $(date +%s) - start ))s)"
[ "$rust" -eq 0 ] && echo "rust tests:   ok" || echo "rust tests:   FAILED (cargo test exit $rust)"
[ "$py" -eq 0 ] && echo "python tests: ok" || echo "python tests: FAILED (pytest exit $py)"
[ "$rust" -eq 0 ] && [ "$py" -eq 0 ]
