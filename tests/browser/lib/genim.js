// Starting `genim serve` and talking to its anvil from the tests.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const GENIM = process.env.GENIM_BIN || path.join(ROOT, "target/debug/genim");
export const ANVIL = process.env.ANVIL || path.join(ROOT, "node_modules/.bin/anvil");

// anvil's public dev accounts (never real money).
export const DEV = [
  ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"],
  ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"],
  ["0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"],
  ["0x90F79bf6EB2c4f870365E785982E1f101E93b906", "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"],
  ["0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65", "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"],
  ["0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc", "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"],
  ["0x976EA74026E726554dB657fA54763abd0C3a0aa9", "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"],
].map(([address, key]) => ({ address, key }));

/**
 * Starts `genim serve ARGS` (local defaults when ARGS name no chain) in a fresh folder and
 * resolves once it prints its URL (the first line on stdout).
 */
export async function startServe(args = [], env = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "genim-web-"));
  const child = spawn(
    GENIM,
    ["serve", "--listen", "127.0.0.1:0", "--anvil", ANVIL, "--store", `dir:${dir}/store`,
      "--state-dir", `${dir}/state`, ...args],
    { cwd: dir, env: { PATH: process.env.PATH, RUST_LOG: "info", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  const url = await new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`genim serve printed no URL in 90 s:\n${stderr}`)), 90_000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const line = stdout.split("\n")[0];
      if (stdout.includes("\n")) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`genim serve exited (${code}):\n${stderr}`));
    });
  });
  const config = await (await fetch(`${url}/api/config`)).json();
  return {
    url,
    config,
    dir,
    logs: () => stderr,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", resolve);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }),
  };
}

/** One JSON-RPC call to `url`; resolves to `{result}` or `{error}`. */
export async function rpcRaw(url, method, params = []) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return response.json();
}

/** One JSON-RPC call that must succeed. */
export async function rpc(url, method, params = []) {
  const answer = await rpcRaw(url, method, params);
  if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

/** An ERC-20 balance (USDC) as a BigInt. */
export async function tokenBalance(rpcUrl, token, owner) {
  const data = `0x70a08231${owner.slice(2).toLowerCase().padStart(64, "0")}`;
  return BigInt(await rpc(rpcUrl, "eth_call", [{ to: token, data }, "latest"]));
}

/** Moves anvil's clock forward and mines a block. */
export async function increaseTime(rpcUrl, seconds) {
  await rpc(rpcUrl, "evm_increaseTime", [seconds]);
  await rpc(rpcUrl, "evm_mine", []);
}

/** `genim deploy` of an ETH-priced GenImNFT on `rpcUrl`, owned by dev account `owner`. */
export async function deployEthNft(rpcUrl, { owner, provider, price = "0.001ether", window = 86400 }) {
  const dir = mkdtempSync(path.join(tmpdir(), "genim-deploy-"));
  const { stdout } = await promisify(execFile)(
    GENIM,
    ["deploy", "--rpc-url", rpcUrl, "--price", price, "--provider", provider, "--delivery-window",
      String(window), "--deployments", dir, "--json"],
    { cwd: dir, env: { PATH: process.env.PATH, GENIM_PRIVATE_KEY: owner.key } },
  );
  return JSON.parse(stdout).nft;
}

/** Polls `f` until it returns a truthy value. */
export async function until(f, what, timeoutMs = 60_000) {
  const started = Date.now();
  for (;;) {
    const value = await f();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
