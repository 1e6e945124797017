// Fills the gallery of a local `genim serve` (USDC contract) to TOTAL delivered images, the way
// the page mints: POST /api/mint/prepare, the payer's eth_signTypedData_v4 (anvil signs for its
// dev accounts), POST /api/mint (the server relays it and pays the gas). Then waits until the
// server's provider loop has delivered every image.
//
// Usage: node bench/seed.mjs URL ANVIL_RPC TOTAL   (progress on stderr, nothing on stdout)
import { DEV, rpc, until } from "../lib/genim.js";

const [url, rpcUrl, totalText] = process.argv.slice(2);
const total = Number(totalText);
if (!url || !rpcUrl || !Number.isInteger(total) || total < 1) {
  console.error("usage: node bench/seed.mjs URL ANVIL_RPC TOTAL");
  process.exit(2);
}
const CONCURRENCY = 4;
const log = (line) => console.error(`seed: ${line}`);

async function post(path, body) {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function mint(payer, prompt) {
  const prepared = await post("/api/mint/prepare", { prompt, from: payer.address });
  const signature = await rpc(rpcUrl, "eth_signTypedData_v4", [payer.address, JSON.stringify(prepared.typedData)]);
  const auth = prepared.authorization;
  return post("/api/mint", {
    prompt,
    from: payer.address,
    validAfter: auth.validAfter,
    validBefore: auth.validBefore,
    nonce: auth.nonce,
    signature,
  });
}

/** Every token id and state, all pages of GET /api/tokens. */
async function states() {
  const all = [];
  for (let page = 1; ; page++) {
    const answer = await (await fetch(`${url}/api/tokens?page=${page}`)).json();
    all.push(...answer.tokens);
    if (page >= answer.pages) return { total: answer.total, tokens: all };
  }
}

const have = (await states()).total;
const missing = Math.max(0, total - have);
log(`${have} images in the gallery; minting ${missing} more`);
const started = Date.now();
// Payers: dev accounts 3..6 (1000 USDC each; an image costs 0.05 USDC).
const payers = DEV.slice(3, 7);
let next = 0;
await Promise.all(payers.slice(0, CONCURRENCY).map(async (payer) => {
  for (;;) {
    const i = next++;
    if (i >= missing) return;
    await mint(payer, `benchmark image ${have + i + 1}: a lighthouse on a cliff at dawn, watercolor, variation ${i}`);
  }
}));
log(`minted ${missing} in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for delivery`);
await until(async () => {
  const { total: now, tokens } = await states();
  const delivered = tokens.filter((t) => t.state === "delivered" && t.image).length;
  return now >= total && delivered === tokens.length;
}, `${total} delivered images`, 300_000);
log(`all ${total} delivered ${((Date.now() - started) / 1000).toFixed(1)} s after the first mint`);
