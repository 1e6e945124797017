// A test EIP-1193 wallet: `window.ethereum` in the page forwards JSON-RPC to anvil, which
// signs for its dev accounts (eth_sendTransaction, eth_signTypedData_v4). The forwarding runs
// in Node through a Playwright binding, so the page's CSP (connect-src 'self') stays strict.
import { rpcRaw } from "./genim.js";

/**
 * Installs the wallet in `page` before any script runs.
 * - `account`: the address it shares.
 * - `chainId`: the chain it starts on (hex; default: anvil's); switching to anvil's works
 *   unless `failures.wallet_switchEthereumChain` says otherwise.
 * - `failures`: method -> `{code, message}` the wallet answers instead (4001: the user rejected).
 * Returns the list of methods called, for assertions.
 */
export async function installWallet(page, { rpcUrl, account, chainId = null, failures = {} }) {
  const calls = [];
  let chain = chainId;
  await page.exposeFunction("__testWalletRpc", async (method, params) => {
    calls.push(method);
    if (failures[method]) return { error: failures[method] };
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return { result: [account] };
      case "eth_chainId":
        if (chain) return { result: chain };
        break;
      case "wallet_switchEthereumChain":
      case "wallet_addEthereumChain":
        chain = null; // now on anvil's chain
        return { result: null };
      default:
    }
    return rpcRaw(rpcUrl, method, params);
  });
  await page.addInitScript(() => {
    window.ethereum = {
      isTestWallet: true,
      async request({ method, params }) {
        const answer = await window.__testWalletRpc(method, params ?? []);
        if (answer.error) {
          const error = new Error(answer.error.message);
          error.code = answer.error.code;
          throw error;
        }
        return answer.result;
      },
      on() {},
      removeListener() {},
    };
  });
  return calls;
}

export const REJECTED = { code: 4001, message: "User rejected the request." };
