#!/usr/bin/env bash
# Benchmark: paid x402 requests per second and payment overhead of `genim serve` (direct and
# escrow) against the reference stack (@x402/express + the reference facilitator), on ONE anvil
# (automine, chain 31337) with Circle's real USDC, in the same run, with the same load driver
# (tests/x402/bench.mjs: every authorization pre-signed by the reference client before the clock
# starts, each answer checked for a successful settlement).
#
# The anvil runs the Cancun rules by default: under Prague, anvil 1.7.1 (the newest on npm) mines
# each block slower than the last (EIP-2935's block-hash history contract grows in its state
# trie; fixed upstream by foundry PR #15715), so a row's speed would depend on how many blocks
# the rows before it made. Nothing here needs Prague (genim's contracts, built for Prague, have
# no Prague-only opcodes). `--hardfork prague` measures on anvil's default anyway.
#
# Generator excluded: the reference server answers a fixed 1x1 PNG; genim's built-in generator
# draws 64x64 images (~0.1 ms in a release build), so both sides measure the payment path.
# Overhead = paid latency minus the unpaid baseline of the same server at the same percentile
# (reference: its free route with the same handler; genim: the unpaid 402 round trip).
#
# Targets (direct mode; exit 1 when missed): >= 3x the reference's paid requests per second at
# every concurrency, overhead p50 < 20 ms with one request in flight.
#
# Usage: script/bench-serve.sh [--requests N] [--concurrency "1 4 16"] [--hardfork NAME]
#                              [--json FILE]
# Needs: npm ci at the root (anvil), script/x402-harness.sh install; builds genim --release.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
requests=300
levels="1 4 16"
hardfork=cancun
json_out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --requests) requests="$2"; shift 2 ;;
    --concurrency) levels="$2"; shift 2 ;;
    --hardfork) hardfork="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-serve: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

export PATH="$root/node_modules/.bin:$PATH"
command -v anvil >/dev/null || { echo "bench-serve: anvil not found: run 'npm ci' first" >&2; exit 1; }
script/x402-harness.sh install >&2
cargo build --release --locked --quiet
genim="$root/target/release/genim"

# anvil's public dev accounts: 0 deployer, 1 reference relayer, 2 genim's escrow relayer (the
# contract's provider), 3-6 payers, 7 genim's direct relayer.
keys=(
    0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
    0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
    0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
    0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
    0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a
    0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba
    0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e
    0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356
)
payers=()
for key in "${keys[@]:3:4}"; do payers+=("$(cast wallet address "$key")"); done
export PAYER_PRIVATE_KEYS="${keys[3]},${keys[4]},${keys[5]},${keys[6]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/genim-bench-serve.XXXXXX")"
export GENIM_X402_STATE="$work/x402"
pids=()
cleanup() {
    script/x402-harness.sh stop all >/dev/null 2>&1 || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
log() { echo "bench-serve: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(eval(process.argv[1]))' "$1"; }

port="$(free_port)"
rpc="http://127.0.0.1:$port"
anvil --port "$port" --hardfork "$hardfork" --silent >"$work/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do cast chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break; sleep 0.1; done

log "chain: real USDC, a Splitter (5/10/85), a GenImTokenNFT at 0.01 USDC"
usdc="$(DEPLOYER_PRIVATE_KEY="${keys[0]}" node tests/x402/deploy-usdc.mjs --rpc "$rpc" --multicall3 \
    $(printf -- '--mint %s ' "${payers[@]}") 2>/dev/null | json v.usdc)"
export ETH_RPC_URL="$rpc" GENIM_PRIVATE_KEY="${keys[0]}"
splitter="$("$genim" split create --json \
    0x0000000000000000000000000000000000000005:5,0x0000000000000000000000000000000000000010:10,0x0000000000000000000000000000000000000085:85 |
    json v.splitter)"
nft="$("$genim" deploy --token "$usdc" --price 0.01 --provider "$(cast wallet address "${keys[2]}")" \
    --fee-recipient "$splitter" --deployments "$work/deployments" --json | json v.nft)"
unset GENIM_PRIVATE_KEY

body='{"prompt":"a red fox","size":"64x64"}'
results="$work/results.jsonl"
: >"$results"
bench() { # bench STACK MODE CONCURRENCY URL [BASELINE]
    local stack="$1" mode="$2" c="$3" url="$4" baseline="${5:-}"
    log "$stack $mode: $requests paid requests, $c in flight"
    node tests/x402/bench.mjs "$url" --requests "$requests" --concurrency "$c" --warmup 5 \
        --body "$body" --rpc "$rpc" ${baseline:+--baseline "$baseline"} 2>/dev/null |
        node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8"))
            console.log(JSON.stringify({stack: process.argv[1], mode: process.argv[2], ...v}))' \
            "$stack" "$mode" >>"$results"
}

serve() { # serve VAR KEY ARGS... : starts genim serve relaying with KEY; its URL goes in VAR
    local var="$1" key="$2" out="$work/serve-$1"
    shift 2
    # Started from this shell (not a $(...) subshell), so that cleanup knows its pid.
    GENIM_PRIVATE_KEY="$key" "$genim" serve --listen 127.0.0.1:0 --rpc-url "$rpc" \
        --token "$usdc" --store "dir:$out/store" --state-dir "$out/state" "$@" \
        >"$out.stdout" 2>"$out.log" &
    pids+=($!)
    for _ in $(seq 300); do
        if [ -s "$out.stdout" ]; then
            printf -v "$var" '%s' "$(head -1 "$out.stdout")"
            return
        fi
        sleep 0.1
    done
    echo "bench-serve: genim serve did not start: $(tail -3 "$out.log")" >&2
    exit 1
}

# All three servers run at once, each relaying with its own key; every concurrency level runs
# them in turn, so the chain's growth (a block per payment) weighs on each alike.
fac="$(FACILITATOR_PRIVATE_KEY="${keys[1]}" script/x402-harness.sh start facilitator \
    --port "$(free_port)" --rpc "$rpc" --quiet)"
srv="$(script/x402-harness.sh start server --port "$(free_port)" --facilitator "$fac" \
    --pay-to "$splitter" --asset "$usdc" --network eip155:31337 --amount 10000)"
serve direct "${keys[7]}" --pay-to "$splitter" --price 0.01
serve escrow "${keys[2]}" --nft "$nft" --no-provide
for c in $levels; do
    bench reference direct "$c" "$srv/v1/images/generations" "$srv/free/images/generations"
    bench genim direct "$c" "$direct/v1/images/generations"
    bench genim escrow "$c" "$escrow/v1/images/generations"
done

[ -n "$json_out" ] && cp "$results" "$json_out"
node - "$results" "$hardfork" <<'EOF'
const order = { reference: 0, genim: 1 }
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map(JSON.parse)
  .sort((a, b) => order[a.stack] - order[b.stack] || a.mode.localeCompare(b.mode) || a.concurrency - b.concurrency)
const ref = Object.fromEntries(rows.filter((r) => r.stack === 'reference').map((r) => [r.concurrency, r.rps]))
const f = (x) => (x === undefined ? '-' : x.toFixed(1))
console.log(`anvil automine (${process.argv[3]} rules), chain 31337, real USDC; ${rows[0].requests} paid requests per row, 64x64 images; ${require('os').cpus().length} cores`)
console.log('| server | mode | in flight | ok | paid req/s | x reference | p50 ms | p99 ms | overhead p50 ms | overhead p99 ms |')
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of rows)
  console.log(`| ${r.stack === 'genim' ? 'genim serve' : '@x402/express + reference facilitator'} | ${r.mode} | ${r.concurrency} | ${r.ok}/${r.requests} | ${f(r.rps)} | ${f(r.rps / ref[r.concurrency])} | ${f(r.p50_ms)} | ${f(r.p99_ms)} | ${f(r.overhead_p50_ms)} | ${f(r.overhead_p99_ms)} |`)
// The targets (issue 9): >= 3x the reference's throughput, overhead p50 < 20 ms, direct mode.
const direct = rows.filter((r) => r.stack === 'genim' && r.mode === 'direct')
const missed = []
for (const r of direct) if (r.rps < 3 * ref[r.concurrency]) missed.push(`${r.concurrency} in flight: ${f(r.rps / ref[r.concurrency])}x the reference (target >= 3x)`)
const single = direct.find((r) => r.concurrency === 1)
if (single && single.overhead_p50_ms >= 20) missed.push(`overhead p50 ${f(single.overhead_p50_ms)} ms with 1 in flight (target < 20 ms)`)
console.log(`\ntargets (direct mode): >= 3x the reference's paid req/s; overhead p50 < 20 ms with 1 in flight: ${missed.length ? 'MISSED: ' + missed.join('; ') : 'met'}`)
const bad = rows.filter((r) => r.ok !== r.requests)
if (bad.length) { console.error(`bench-serve: ${bad.length} row(s) had failed requests: ${JSON.stringify(bad.map((r) => r.errors))}`); process.exit(1) }
if (missed.length) process.exit(1)
EOF
