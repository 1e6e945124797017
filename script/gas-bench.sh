#!/usr/bin/env bash
# Gas benchmark: real transactions on a fresh local anvil, gas from their receipts (what a user
# pays for execution on an L2). Prints a markdown table; the anchor is the production GenImNFTv4
# (proxy, ERC721Enumerable, URI strings in storage) measured the same way: 360,033 gas for
# mint + update of one image.
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
EOF

status=0
[ "$pair" -le 115000 ] || { echo "gas-bench: mint + deliver $pair > 115000" >&2; status=1; }
[ "$per_image" -le 40000 ] || { echo "gas-bench: deliverBatch per image $per_image > 40000" >&2; status=1; }
exit $status
