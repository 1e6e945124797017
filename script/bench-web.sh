#!/usr/bin/env bash
# Benchmark: how fast the gallery page (`/` of `genim serve`) loads (issue 10: "gallery of 100
# images: first paint < 1 s on anvil locally, images lazy-loaded").
#
# Starts `genim serve` (release build) on its local defaults (anvil, real USDC, a GenImTokenNFT
# at 0.05 USDC, 3 sample images), mints more images through the page's own gasless relay
# (POST /api/mint) until the gallery holds --images delivered images, then loads `/` cold in
# headless Chromium (Debian's, driven by Playwright) --runs times at 1280x800 and at 375x812
# (tests/browser/bench/gallery.mjs). Prints a markdown table (median and p90 per metric) and
# "first paint < 1 s: met/missed" on stdout; logs go to stderr. Exits 1 when a median first
# contentful paint is 1000 ms or more.
#
# Usage: script/bench-web.sh [--images N] [--runs N] [--json FILE]
# Needs: npm ci at the root (anvil); installs chromium (script/browser-deps.sh) and Playwright
# (npm ci in tests/browser) when missing; builds genim --release.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
images=100
runs=10
json_out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --images) images="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-web: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -z "$json_out" ] || json_out="$(realpath -m "$json_out")"
log() { echo "bench-web: $*" >&2; }
started=$SECONDS

anvil="$root/node_modules/.bin/anvil"
[ -x "$anvil" ] || { echo "bench-web: $anvil not found: run 'npm ci' first" >&2; exit 1; }
script/browser-deps.sh
[ -d tests/browser/node_modules/@playwright/test ] ||
    (cd tests/browser && npm ci --no-audit --no-fund >&2)
# Another build may hold cargo's lock: cargo waits for it.
cargo build --release --locked --quiet --bin genim
genim="$root/target/release/genim"

work="$(mktemp -d "${TMPDIR:-/tmp}/genim-bench-web.XXXXXX")"
serve_pid=""
drain_pid=""
node_pid=""
cleanup() {
    # A signal stops a node step (and its chromium) too.
    [ -z "$node_pid" ] || kill -TERM "$node_pid" 2>/dev/null || true
    # Only the server this script started (it stops its own anvil on SIGTERM).
    if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    [ -z "$drain_pid" ] || kill "$drain_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting genim serve (local defaults) in $work"
mkfifo "$work/stdout"
(cd "$work" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" RUST_LOG=info "$genim" serve \
    --listen 127.0.0.1:0 --anvil "$anvil" --store "dir:$work/store" --state-dir "$work/state" \
    >"$work/stdout" 2>"$work/serve.log") &
serve_pid=$!
exec 3<"$work/stdout"
url=""
if ! IFS= read -r -t 120 url <&3 || [ -z "$url" ]; then
    log "genim serve printed no URL; its log:"
    cat "$work/serve.log" >&2
    exit 1
fi
# Keep reading its stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &
drain_pid=$!
rpc="$(grep -o "anvil at http://[^ ]*" "$work/serve.log" | head -n1 | cut -d' ' -f3)"
[ -n "$rpc" ] || { log "no anvil URL in genim serve's log"; cat "$work/serve.log" >&2; exit 1; }
log "genim serve at $url, anvil at $rpc ($((SECONDS - started)) s)"

# Node steps run in the background and are waited for, so that SIGINT/SIGTERM reach the
# trap at once (bash defers traps while a foreground command runs).
step() {
    node "$@" &
    node_pid=$!
    local code=0
    wait "$node_pid" || code=$?
    node_pid=""
    return "$code"
}
cd tests/browser
step bench/seed.mjs "$url" "$rpc" "$images"
log "gallery ready ($((SECONDS - started)) s); loading it"
status=0
step bench/gallery.mjs "$url" --runs "$runs" ${json_out:+--json "$json_out"} || status=$?
log "done in $((SECONDS - started)) s"
exit "$status"
