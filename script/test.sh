#!/usr/bin/env bash
# genim's whole test suite, from a fresh clone: installs the pinned toolchain (npm ci; a Python
# venv for Slither), then checks the contracts (format, lint, unit + fuzz + invariant tests,
# coverage gate, Slither, gas targets) and the Rust crate (format, clippy, bindings up to date,
# tests against a spawned anvil, a local IPFS node, a throwaway PostgreSQL server and the official
# x402 packages), then the web page in headless Chromium.
#
# Usage: script/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { printf '\n==> %s\n' "$*" >&2; }

step "toolchain: npm ci (forge, anvil, cast, solc, solady; pinned in package-lock.json)"
npm ci --no-audit --no-fund --loglevel=error
export PATH="$root/node_modules/.bin:$PATH"

step "contracts: format and lint (high and medium findings fail)"
forge fmt --check
forge lint -D warnings --severity high --severity med

step "contracts: unit, fuzz (256 runs) and invariant (256 runs x depth 100) tests"
forge test

step "contracts: coverage gate (>= 95% lines, >= 90% branches)"
mkdir -p target
forge coverage --report lcov --report-file target/lcov.info \
  --no-match-path 'contracts/test/*.invariant.t.sol' >/dev/null
script/check-coverage.sh target/lcov.info

step "contracts: Slither (no high or medium finding; see slither.config.json)"
if [ ! -x .venv/bin/slither ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r script/requirements-slither.txt
fi
FOUNDRY_OUT=target/slither/out FOUNDRY_CACHE_PATH=target/slither/cache .venv/bin/slither .

step "contracts: gas targets (script/gas-bench.sh)"
script/gas-bench.sh

step "rust: format, clippy (-D warnings) and committed bindings up to date"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo run --quiet --locked -- bind --check
script/usdc-artifacts.sh --check

step "rust: tests (anvil spawned per test; a local IPFS node for the store tests; a throwaway PostgreSQL for the ledger tests)"
ipfs_port=${GENIM_IPFS_PORT:-5091}
postgres_port=${GENIM_POSTGRES_PORT:-5491}
trap 'script/ipfs-node.sh stop "$ipfs_port" >/dev/null 2>&1 || true
      script/postgres.sh stop "$postgres_port" >/dev/null 2>&1 || true' EXIT
GENIM_TEST_IPFS_API="$(script/ipfs-node.sh start "$ipfs_port")"
export GENIM_TEST_IPFS_API
# Installs Debian's postgresql first if missing (root; ~30 s), then ~4 s for a fresh cluster.
GENIM_TEST_POSTGRES_URL="$(script/postgres.sh start "$postgres_port")"
export GENIM_TEST_POSTGRES_URL
# The official x402 clients, servers and facilitator (npm, pinned in tests/x402) the x402 tests run.
script/x402-harness.sh install
cargo test --locked

step "web: the page in a real browser (Debian's chromium, Playwright) against genim serve on anvil"
script/browser-test.sh
