// Paying in USDC through the page: a gasless EIP-3009 authorization signed in the wallet,
// relayed by genim serve; then the token page follows the token to its image.
import { test, expect } from "@playwright/test";
import { DEV, tokenBalance } from "./lib/genim.js";
import { installWallet, REJECTED } from "./lib/wallet.js";

const url = () => process.env.GENIM_URL;
const PAYER = DEV[5];

async function config() {
  return (await fetch(`${url()}/api/config`)).json();
}

async function total() {
  return (await (await fetch(`${url()}/api/tokens`)).json()).total;
}

test("a gasless USDC mint through the page: the image arrives on the token page, prompts stay text", async ({ page }) => {
  const cfg = await config();
  const calls = await installWallet(page, { rpcUrl: cfg.rpcUrl, account: PAYER.address, chainId: "0x1" });
  const dialogs = [];
  page.on("dialog", (dialog) => { dialogs.push(dialog.message()); dialog.dismiss(); });
  const before = await tokenBalance(cfg.rpcUrl, cfg.token, PAYER.address);
  const prompt = `<script>alert(1)</script><img src=x onerror=alert(2)> a "quoted" cat & 'friends'`;

  await page.goto(url());
  await page.getByTestId("prompt").fill(prompt);
  // A double click pays once: the button is disabled while paying.
  await page.getByTestId("generate").dblclick();
  await page.waitForURL(/\/token\/\d+$/, { timeout: 60_000 });
  // The wallet started on chain 1 and was switched to anvil's.
  expect(calls).toContain("wallet_switchEthereumChain");
  expect(calls.filter((m) => m === "eth_signTypedData_v4")).toHaveLength(1);

  await expect(page.getByTestId("token-state")).toHaveText("delivered", { timeout: 60_000 });
  const image = page.getByTestId("token-image");
  await expect.poll(() => image.evaluate((el) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  await expect(page.locator(".prompt-full")).toHaveText(prompt);
  const after = await tokenBalance(cfg.rpcUrl, cfg.token, PAYER.address);
  expect(before - after).toBe(BigInt(cfg.price));

  // The prompt is shown as text everywhere: no script ran, no element was injected.
  await page.goto(url());
  const item = page.getByTestId("gallery-item").first();
  await expect(item.locator(".prompt")).toHaveText(prompt);
  expect(await page.locator("script").count()).toBe(1);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(dialogs).toEqual([]);
});

test("rejecting the signature in the wallet is a clear sentence and nothing is paid", async ({ page }) => {
  const cfg = await config();
  await installWallet(page, {
    rpcUrl: cfg.rpcUrl, account: PAYER.address, failures: { eth_signTypedData_v4: REJECTED },
  });
  const count = await total();
  await page.goto(url());
  await page.getByTestId("prompt").fill("a rejected payment");
  await page.getByTestId("generate").click();
  await expect(page.getByTestId("error")).toHaveText("You rejected the request in your wallet; nothing was paid.");
  await expect(page.getByTestId("generate")).toBeEnabled();
  expect(await total()).toBe(count);
});

test("a wallet on another chain that refuses to switch gets a wrong-chain sentence", async ({ page }) => {
  const cfg = await config();
  await installWallet(page, {
    rpcUrl: cfg.rpcUrl, account: PAYER.address, chainId: "0x1",
    failures: {
      wallet_switchEthereumChain: { code: 4902, message: "Unrecognized chain ID" },
      wallet_addEthereumChain: REJECTED,
    },
  });
  await page.goto(url());
  await page.getByTestId("prompt").fill("a cat on the wrong chain");
  await page.getByTestId("generate").click();
  await expect(page.getByTestId("error")).toHaveText(
    "Your wallet is on chain 1, but this page pays on anvil (local) (chain 31337). Switch your wallet to that network and try again.",
  );
});

test("no wallet, no funds and an empty prompt are clear sentences", async ({ page }) => {
  await page.goto(url());
  await page.getByTestId("prompt").fill("a cat without a wallet");
  await page.getByTestId("generate").click();
  await expect(page.getByTestId("error")).toContainText("No browser wallet found");

  const cfg = await config();
  const poor = "0x000000000000000000000000000000000000dEaD";
  const page2 = await page.context().newPage();
  await installWallet(page2, { rpcUrl: cfg.rpcUrl, account: poor });
  await page2.goto(url());
  await page2.getByTestId("generate").click();
  await expect(page2.getByTestId("error")).toHaveText("Describe the image first: the prompt is empty.");
  await page2.getByTestId("prompt").fill("a cat nobody pays for");
  await page2.getByTestId("generate").click();
  await expect(page2.getByTestId("error")).toContainText("Not enough funds: your account 0x000000000000000000000000000000000000dEaD holds 0 USDC, and an image costs 0.05 USDC");
});
