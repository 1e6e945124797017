// The gallery page: generate an image and pay for it with the browser wallet.
//   ETH contract:  eth_sendTransaction(mint(prompt), value = price), then the token from the receipt.
//   USDC contract: eth_signTypedData_v4 of a ReceiveWithAuthorization whose nonce commits to
//                  the prompt, then POST /api/mint (this server relays it and pays the gas).
// Then the token page, which follows the token to its image.

import {
  UserError, api, config, connect, ensureChain, explain, request, showError, showStatus, sleep,
  wireConnect,
} from "./wallet.js";

const form = document.getElementById("generate-form");
const button = document.getElementById("generate");
const promptBox = document.getElementById("prompt");
let paying = false;

wireConnect();

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  // One payment at a time: the button is disabled too, but Enter or a fast double click
  // could still submit twice.
  if (paying) return;
  paying = true;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  showError("");
  let cfg = null;
  try {
    const prompt = promptBox.value.trim();
    if (!prompt) throw new UserError("Describe the image first: the prompt is empty.");
    if (new TextEncoder().encode(prompt).length > 1000) {
      throw new UserError("The prompt is too long: at most 1000 bytes.");
    }
    cfg = await config();
    showStatus("Connecting to your wallet…");
    const from = await connect();
    await ensureChain(cfg);
    showStatus("Checking the price and your balance…");
    const prepared = await api("/api/mint/prepare", { prompt, from });
    const tokenId = cfg.kind === "eth"
      ? await payEth(prepared, from)
      : await payGasless(prepared, prompt, from, cfg);
    showStatus(`Token ${tokenId} minted: opening its page…`);
    window.location.assign(`/token/${tokenId}`);
  } catch (error) {
    showStatus("");
    showError(explain(error, cfg));
    paying = false;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
});

async function payEth(prepared, from) {
  showStatus(`Confirm the payment of ${prepared.priceText} in your wallet…`);
  const hash = await request("eth_sendTransaction", [{ from, ...prepared.tx }]);
  showStatus("Payment sent; waiting for it to be mined…");
  for (;;) {
    const answer = await api(`/api/mints/${hash}`);
    if (answer.status === 200) return answer.tokenId;
    await sleep(1000);
  }
}

async function payGasless(prepared, prompt, from, cfg) {
  if (!cfg.relays) {
    throw new UserError("This server does not relay gasless payments right now; try again later.");
  }
  showStatus(`Sign the authorization of ${prepared.priceText} in your wallet (no gas)…`);
  const signature = await request("eth_signTypedData_v4", [from, JSON.stringify(prepared.typedData)]);
  showStatus("Signed; minting your token…");
  const auth = prepared.authorization;
  const minted = await api("/api/mint", {
    prompt,
    from,
    validAfter: auth.validAfter,
    validBefore: auth.validBefore,
    nonce: auth.nonce,
    signature,
    kind: "receive",
  });
  return minted.tokenId;
}
