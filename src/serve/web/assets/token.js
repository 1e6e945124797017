// The token page: follows a pending token until it is delivered or refunded (polling
// /api/tokens/{id}), and refunds it from the owner's wallet once its deadline has passed.

import {
  UserError, api, config, connect, ensureChain, explain, request, showError, showStatus, sleep,
  waitForReceipt, wireConnect,
} from "./wallet.js";

const article = document.getElementById("token");
const refundButton = document.getElementById("refund");
let busy = false;

wireConnect();

if (article) {
  const id = article.dataset.tokenId;
  if (article.dataset.state === "pending") follow(id);
  refundButton?.addEventListener("click", () => refund(id));
}

async function follow(id) {
  let refundable = article.dataset.refundable === "true";
  for (;;) {
    await sleep(1000);
    if (busy) continue;
    let token;
    try {
      token = await api(`/api/tokens/${id}`);
    } catch {
      continue; // the server or the chain is away for a moment: keep following
    }
    if (token.state !== "pending") {
      // Delivered or refunded: the server renders the final page (image, metadata, links).
      window.location.reload();
      return;
    }
    if (token.refundable && !refundable) {
      refundable = true;
      article.dataset.refundable = "true";
      refundButton.hidden = false;
      showStatus("Not delivered before its deadline: its owner may take the money back.");
    }
  }
}

async function refund(id) {
  if (busy) return;
  busy = true;
  refundButton.disabled = true;
  showError("");
  let cfg = null;
  try {
    cfg = await config();
    const token = await api(`/api/tokens/${id}`);
    if (!token.refund) {
      throw new UserError(token.state === "pending"
        ? `The deadline has not passed yet: refunds open after ${token.deadlineText}.`
        : `This token is ${token.state}: there is nothing to refund.`);
    }
    const from = await connect();
    if (token.owner && from.toLowerCase() !== token.owner.toLowerCase()) {
      throw new UserError(`Only the owner ${token.owner} can refund this token: connect that account.`);
    }
    await ensureChain(cfg);
    showStatus(`Confirm the refund of ${token.escrowText} in your wallet…`);
    const hash = await request("eth_sendTransaction", [{ from, ...token.refund }]);
    showStatus("Refund sent; waiting for it to be mined…");
    await waitForReceipt(hash, "refund");
    window.location.reload();
  } catch (error) {
    showStatus("");
    showError(explain(error, cfg));
    refundButton.disabled = false;
    busy = false;
  }
}
