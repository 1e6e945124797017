// The browser wallet (EIP-1193) and this server's API, shared by both pages. Every failure
// becomes a UserError whose message is one sentence a person can act on.

export class UserError extends Error {}

let configPromise;

/** The server's /api/config (chain, contract, price), fetched once per page. */
export function config() {
  configPromise ??= api("/api/config").catch((error) => {
    configPromise = undefined; // ask again next time
    throw error;
  });
  return configPromise;
}

/** JSON from this server; its `{error}` answers become UserErrors. */
export async function api(path, body) {
  let response;
  try {
    response = await fetch(path, body === undefined ? {} : {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    throw new UserError("This page cannot reach its server; check your connection and try again.");
  }
  const json = await response.json().catch(() => ({}));
  if (!response.ok && response.status !== 202) {
    throw new UserError(json.error || `The server answered ${response.status}; try again in a moment.`);
  }
  return { status: response.status, ...json };
}

function provider() {
  const ethereum = window.ethereum;
  if (!ethereum || typeof ethereum.request !== "function") {
    throw new UserError(
      "No browser wallet found: install one such as MetaMask, Rabby or Coinbase Wallet, then reload this page.",
    );
  }
  return ethereum;
}

/** A wallet request; its errors are turned into sentences by `explain`. */
export async function request(method, params) {
  return provider().request(params === undefined ? { method } : { method, params });
}

/** One sentence for any failure of a wallet or server call. */
export function explain(error, cfg) {
  if (error instanceof UserError) return error.message;
  const code = error?.code ?? error?.data?.code;
  const message = String(error?.message ?? error ?? "");
  if (code === 4001 || /user (rejected|denied)/i.test(message)) {
    return "You rejected the request in your wallet; nothing was paid.";
  }
  if (code === 4100) {
    return "Your wallet did not let this page use your account: connect again and approve it.";
  }
  if (code === -32002) {
    return "Your wallet already has a request waiting: open your wallet and answer it.";
  }
  if (/insufficient funds/i.test(message)) {
    const symbol = cfg?.symbol ?? "ETH";
    return `Not enough funds: your account cannot pay ${cfg?.priceText ?? "the price"} plus gas. Add ${symbol} to it, or connect another account.`;
  }
  return `Your wallet reported an error: ${message || "unknown"}. Nothing was paid.`;
}

let account = null;

/** The connected account, asking the wallet for one when none is connected yet. */
export async function connect() {
  if (account) return account;
  const accounts = await request("eth_requestAccounts");
  if (!Array.isArray(accounts) || accounts.length === 0) {
    throw new UserError("Your wallet did not share an account: unlock it and connect again.");
  }
  account = accounts[0];
  showAccount(account);
  return account;
}

/** The account already connected, without a prompt (null if none). */
export async function connected() {
  if (!window.ethereum) return null;
  try {
    const accounts = await request("eth_accounts");
    if (Array.isArray(accounts) && accounts.length) {
      account = accounts[0];
      showAccount(account);
    }
  } catch {
    // Not connected yet: the connect button asks.
  }
  return account;
}

function showAccount(address) {
  const label = document.getElementById("account");
  const button = document.getElementById("connect");
  if (label) {
    label.textContent = `${address.slice(0, 6)}…${address.slice(-4)}`;
    label.title = address;
    label.hidden = false;
  }
  if (button) button.hidden = true;
}

/** Makes sure the wallet is on the server's chain: switches, or adds it first. */
export async function ensureChain(cfg) {
  const current = Number.parseInt(await request("eth_chainId"), 16);
  if (current === cfg.chainId) return;
  const wrong = `Your wallet is on chain ${current}, but this page pays on ${cfg.chainName} (chain ${cfg.chainId}). Switch your wallet to that network and try again.`;
  try {
    await request("wallet_switchEthereumChain", [{ chainId: cfg.chainIdHex }]);
  } catch (error) {
    const code = error?.code ?? error?.data?.originalError?.code;
    if (code !== 4902 || !cfg.rpcUrl) throw new UserError(wrong);
    try {
      await request("wallet_addEthereumChain", [{
        chainId: cfg.chainIdHex,
        chainName: cfg.chainName,
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        rpcUrls: [cfg.rpcUrl],
        ...(cfg.explorer ? { blockExplorerUrls: [cfg.explorer] } : {}),
      }]);
    } catch {
      throw new UserError(wrong);
    }
  }
  const now = Number.parseInt(await request("eth_chainId"), 16);
  if (now !== cfg.chainId) throw new UserError(wrong);
}

/** Waits for a transaction's receipt through the wallet; throws if it reverted. */
export async function waitForReceipt(hash, what) {
  for (;;) {
    const receipt = await request("eth_getTransactionReceipt", [hash]);
    if (receipt) {
      if (receipt.status !== "0x1") {
        throw new UserError(`The ${what} transaction failed on chain; nothing was paid except gas.`);
      }
      return receipt;
    }
    await sleep(1000);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Shows `text` in the page's error box (empty hides it). */
export function showError(text) {
  const box = document.getElementById("error");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
}

/** Shows progress in the page's status line. */
export function showStatus(text) {
  const status = document.getElementById("status");
  if (status) status.textContent = text || "";
}

/** Wires the header's connect button. */
export function wireConnect() {
  const button = document.getElementById("connect");
  if (!button) return;
  button.addEventListener("click", async () => {
    showError("");
    button.disabled = true;
    try {
      const cfg = await config();
      await connect();
      await ensureChain(cfg);
    } catch (error) {
      showError(explain(error, await config().catch(() => null)));
    } finally {
      button.disabled = false;
    }
  });
  connected();
}
