#!/usr/bin/env bash
# End-to-end proof of the x402 harness on anvil with Circle's real USDC and the official packages:
#   v2: anvil (chain 31337), USDC "USD Coin", reference facilitator + @x402/express server,
#       @x402/fetch pays; unpaid 402, no charge on a 400, replay refused, bench.mjs smoke run.
#   v1: anvil (chain 84532), USDC "USDC" at Base Sepolia's address, x402-express server, x402-fetch
#       pays; then a dual server (one 402 for both generations) paid by both clients, and
#       @x402/fetch paying the v1-only server.
# Every payment is checked on chain with cast: receipt status, payTo and payer balances.
#
# Usage: tests/x402/selftest.sh [--bench]   (--bench: also the README benchmark table, ~3 min)
# Env: GENIM_X402_PORT_BASE (default 18500): ports BASE+0..9 are used.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
harness="$root/script/x402-harness.sh"
base="${GENIM_X402_PORT_BASE:-18500}"
bench=false
[[ "${1:-}" == "--bench" ]] && bench=true

export PATH="$root/node_modules/.bin:$PATH"
command -v anvil >/dev/null && command -v cast >/dev/null ||
    { echo "selftest: anvil/cast not found: run 'npm ci' at the repository root" >&2; exit 1; }

# anvil's public dev accounts (0: deployer, 1: facilitator relayer, 2: payer; payTo has no key).
export DEPLOYER_PRIVATE_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
export FACILITATOR_PRIVATE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
export PAYER_PRIVATE_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
payer=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
pay_to=0x000000000000000000000000000000000000bEEF
minted=1000000000 # 1000 USDC
amount=10000      # 0.01 USDC, server-v2's default price
base_sepolia_usdc=0x036CbD53842c5426634e7929541eC2318f3dCF7e

work="$(mktemp -d "${TMPDIR:-/tmp}/genim-x402-selftest.XXXXXX")"
export GENIM_X402_STATE="$work/state"
anvils=()
cleanup() {
    "$harness" stop all 2>/dev/null || true
    for pid in "${anvils[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*" >&2; }
ok() { echo "selftest: ok: $*" >&2; }
die() { echo "selftest: FAIL: $*" >&2; exit 1; }

# json FILE EXPR: evaluates a JS expression on the JSON in FILE (bound to `v`), prints the result.
json() {
    node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
        const r = eval(process.argv[2])
        console.log(typeof r === "object" ? JSON.stringify(r) : r)' "$1" "$2"
}
expect() { # expect WHAT ACTUAL WANTED
    [[ "$2" == "$3" ]] || die "$1: got '$2', want '$3'"
    ok "$1 = $3"
}
balance() { cast call --rpc-url "$1" "$2" 'balanceOf(address)(uint256)' "$3" | cut -d' ' -f1; }

start_anvil() { # start_anvil PORT CHAIN_ID
    anvil --port "$1" --chain-id "$2" --silent >"$work/anvil-$1.log" 2>&1 &
    anvils+=($!)
    for _ in $(seq 1 100); do
        cast chain-id --rpc-url "http://127.0.0.1:$1" >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "anvil on :$1 did not start"
}

# check_paid RESULT_FILE RPC USDC NETWORK PAID_SO_FAR: a 200 whose settlement moved USDC to payTo.
check_paid() {
    local f="$1" rpc="$2" usdc="$3" network="$4" paid="$5" tx
    expect "status" "$(json "$f" v.status)" 200
    expect "body" "$(json "$f" v.body.data[0].revised_prompt)" "a fixed test image"
    expect "settlement success" "$(json "$f" v.paymentResponse.success)" true
    expect "settlement network" "$(json "$f" v.paymentResponse.network)" "$network"
    expect "settlement payer" "$(json "$f" v.paymentResponse.payer)" "$payer"
    tx="$(json "$f" v.paymentResponse.transaction)"
    cast receipt --json --rpc-url "$rpc" "$tx" >"$work/receipt.json"
    expect "receipt status of $tx" "$(json "$work/receipt.json" v.status)" 0x1
    expect "payTo balance" "$(balance "$rpc" "$usdc" "$pay_to")" "$paid"
    expect "payer balance" "$(balance "$rpc" "$usdc" "$payer")" "$((minted - paid))"
}

"$harness" install
body='{"prompt":"a red fox","size":"256x256"}'

# ---------------------------------------------------------------- v2 (chain 31337)
step "v2: anvil :$base (chain 31337), real USDC + Multicall3, reference facilitator, @x402/express server"
rpc="http://127.0.0.1:$base"
start_anvil "$base" 31337
node "$here/deploy-usdc.mjs" --rpc "$rpc" --mint "$payer" --multicall3 >"$work/usdc2.json"
usdc="$(json "$work/usdc2.json" v.usdc)"
expect "EIP-712 name" "$(json "$work/usdc2.json" v.name)" "USD Coin"
fac="$("$harness" start facilitator --port $((base + 2)) --rpc "$rpc")"
srv="$("$harness" start server --port $((base + 3)) --facilitator "$fac" --pay-to "$pay_to" \
    --asset "$usdc" --network eip155:31337)"

step "v2: unpaid request -> 402 with PAYMENT-REQUIRED"
curl -s -o /dev/null -D "$work/h402" -X POST -H 'Content-Type: application/json' -d "$body" \
    "$srv/v1/images/generations"
expect "unpaid status" "$(head -1 "$work/h402" | cut -d' ' -f2)" 402
grep -i '^payment-required:' "$work/h402" | cut -d' ' -f2 | tr -d '\r' | base64 -d >"$work/req.json"
expect "accepts[0].amount" "$(json "$work/req.json" v.accepts[0].amount)" "$amount"
expect "accepts[0].network" "$(json "$work/req.json" v.accepts[0].network)" eip155:31337
expect "accepts[0].extra" "$(json "$work/req.json" v.accepts[0].extra)" '{"name":"USD Coin","version":"2"}'

step "v2: @x402/fetch pays"
node "$here/client-v2.mjs" "$srv/v1/images/generations" --body "$body" --asset "$usdc" \
    --show-payment >"$work/paid2.json"
check_paid "$work/paid2.json" "$rpc" "$usdc" eip155:31337 "$amount"

step "v2: a 400 from the handler is not charged"
node "$here/client-v2.mjs" "$srv/v1/images/generations" --body '{"size":"256x256"}' >"$work/bad.json"
expect "status without prompt" "$(json "$work/bad.json" v.status)" 400
expect "payTo balance after the 400" "$(balance "$rpc" "$usdc" "$pay_to")" "$amount"

step "v2: replaying the settled PAYMENT-SIGNATURE is refused"
sig="$(json "$work/paid2.json" 'Buffer.from(JSON.stringify(v.sent)).toString("base64")')"
curl -s -o /dev/null -D "$work/hreplay" -X POST -H 'Content-Type: application/json' \
    -H "PAYMENT-SIGNATURE: $sig" -d "$body" "$srv/v1/images/generations"
expect "replay status" "$(head -1 "$work/hreplay" | cut -d' ' -f2)" 402
grep -i '^payment-required:' "$work/hreplay" | cut -d' ' -f2 | tr -d '\r' | base64 -d >"$work/replay.json"
expect "replay reason (Multicall3 present)" "$(json "$work/replay.json" v.error)" invalid_exact_evm_nonce_already_used
expect "payTo balance after the replay" "$(balance "$rpc" "$usdc" "$pay_to")" "$amount"

step "v2: bench.mjs smoke run (10 paid requests, 2 in flight)"
node "$here/bench.mjs" "$srv/v1/images/generations" --requests 10 --concurrency 2 --warmup 0 \
    --rpc "$rpc" --baseline "$srv/free/images/generations" >"$work/bench.json"
expect "bench ok" "$(json "$work/bench.json" v.ok)" 10
expect "bench paid on chain" "$(json "$work/bench.json" v.paid_on_chain)" "$((10 * amount))"
"$harness" stop all

# ---------------------------------------------------------------- v1 (chain 84532)
step "v1: anvil :$((base + 1)) (chain 84532), USDC \"USDC\" at $base_sepolia_usdc, x402-express server"
rpc1="http://127.0.0.1:$((base + 1))"
start_anvil $((base + 1)) 84532
node "$here/deploy-usdc.mjs" --rpc "$rpc1" --name USDC --at "$base_sepolia_usdc" --mint "$payer" >"$work/usdc1.json"
expect "token address" "$(json "$work/usdc1.json" v.usdc)" "$base_sepolia_usdc"
fac1="$("$harness" start facilitator --port $((base + 4)) --rpc "$rpc1")"
expect "facilitator networks" "$(json "$GENIM_X402_STATE/facilitator-$((base + 4)).json" v.networks)" \
    '["eip155:84532","base-sepolia"]'
common=(--facilitator "$fac1" --pay-to "$pay_to" --asset "$base_sepolia_usdc" --network eip155:84532 --eip712-name USDC)
srv1="$("$harness" start server --port $((base + 5)) --v1 "${common[@]}")"
dual="$("$harness" start server --port $((base + 6)) --dual "${common[@]}")"

step "v1: x402-fetch pays the x402-express server"
node "$here/client-v1.mjs" "$srv1/v1/images/generations" --body "$body" >"$work/paid1.json"
check_paid "$work/paid1.json" "$rpc1" "$base_sepolia_usdc" base-sepolia "$amount"
expect "X-PAYMENT-RESPONSE present" "$(json "$work/paid1.json" '"x-payment-response" in v.headers')" true

step "v1: @x402/fetch pays the v1-only server too"
node "$here/client-v2.mjs" "$srv1/v1/images/generations" --body "$body" --asset "$base_sepolia_usdc" \
    >"$work/paid1b.json"
check_paid "$work/paid1b.json" "$rpc1" "$base_sepolia_usdc" base-sepolia "$((2 * amount))"

step "dual: one 402 (PAYMENT-REQUIRED header + v1 JSON body); x402-fetch answers v1, @x402/fetch v2"
node "$here/client-v1.mjs" "$dual/v1/images/generations" --body "$body" >"$work/dual1.json"
check_paid "$work/dual1.json" "$rpc1" "$base_sepolia_usdc" base-sepolia "$((3 * amount))"
node "$here/client-v2.mjs" "$dual/v1/images/generations" --body "$body" >"$work/dual2.json"
check_paid "$work/dual2.json" "$rpc1" "$base_sepolia_usdc" eip155:84532 "$((4 * amount))"
expect "v2 answer carries PAYMENT-RESPONSE" "$(json "$work/dual2.json" '"payment-response" in v.headers')" true
"$harness" stop all

if $bench; then
    # ------------------------------------------------------------ benchmark (README table)
    step "bench: reference stack on anvil automine (chain 31337), load $(cut -d' ' -f1-3 /proc/loadavg)"
    fac="$("$harness" start facilitator --port $((base + 2)) --rpc "$rpc" --quiet)"
    srv="$("$harness" start server --port $((base + 3)) --facilitator "$fac" --pay-to "$pay_to" \
        --asset "$usdc" --network eip155:31337)"
    for c in 1 4 16; do
        node "$here/bench.mjs" "$srv/v1/images/generations" --requests 100 --concurrency "$c" \
            --rpc "$rpc" --baseline "$srv/free/images/generations"
    done
    "$harness" stop all
    step "bench: v1 stack (x402-express, same facilitator) on chain 84532"
    fac1="$("$harness" start facilitator --port $((base + 4)) --rpc "$rpc1" --quiet)"  # same port, so "${common[@]}" still points at it
    srv1="$("$harness" start server --port $((base + 5)) --v1 "${common[@]}")"
    for c in 1 4; do
        node "$here/bench.mjs" "$srv1/v1/images/generations" --requests 100 --concurrency "$c" \
            --rpc "$rpc1" --baseline "$srv1/free/images/generations"
    done
    "$harness" stop all
fi

step "selftest passed"
