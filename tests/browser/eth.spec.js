// The ETH-priced GenImNFT: `genim serve --nft` of a contract deployed with `genim deploy` on
// the same anvil. A mint transaction from the wallet, then its image; and a refund from the
// wallet once the deadline passed with no provider delivering.
import { test, expect } from "@playwright/test";
import { DEV, deployEthNft, increaseTime, rpc, startServe } from "./lib/genim.js";
import { installWallet, REJECTED } from "./lib/wallet.js";

const BUYER = DEV[6];
const OWNER = DEV[1]; // owner and provider of the ETH contracts (account 0 is the local server)
let rpcUrl;
let delivering; // serves a contract and delivers its mints
let idle; // serves a contract with a 60 s window and no provider loop: mints stay pending

test.beforeAll(async () => {
  rpcUrl = (await (await fetch(`${process.env.GENIM_URL}/api/config`)).json()).rpcUrl;
  const env = { GENIM_PRIVATE_KEY: OWNER.key };
  const a = await deployEthNft(rpcUrl, { owner: OWNER, provider: OWNER.address });
  delivering = await startServe(["--nft", a, "--rpc-url", rpcUrl], env);
  const b = await deployEthNft(rpcUrl, { owner: OWNER, provider: OWNER.address, window: 60 });
  idle = await startServe(["--nft", b, "--rpc-url", rpcUrl, "--no-provide"], env);
});

test.afterAll(async () => {
  await delivering?.stop();
  await idle?.stop();
});

async function balance(address) {
  return BigInt(await rpc(rpcUrl, "eth_getBalance", [address, "latest"]));
}

async function mintThroughPage(page, server, prompt) {
  await page.goto(server.url);
  await expect(page.locator("#price")).toHaveText("0.001 ETH");
  await page.getByTestId("prompt").fill(prompt);
  await page.getByTestId("generate").click();
  await page.waitForURL(/\/token\/\d+$/, { timeout: 60_000 });
}

test("an ETH mint through the page: a mint transaction, then the image on the token page", async ({ page }) => {
  const calls = await installWallet(page, { rpcUrl, account: BUYER.address });
  const before = await balance(BUYER.address);
  await mintThroughPage(page, delivering, "a paper boat on a rainy street");
  expect(calls.filter((m) => m === "eth_sendTransaction")).toHaveLength(1);
  await expect(page.getByTestId("token-state")).toHaveText("delivered", { timeout: 60_000 });
  const image = page.getByTestId("token-image");
  await expect.poll(() => image.evaluate((el) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  await expect(page.locator(".prompt-full")).toHaveText("a paper boat on a rainy street");
  // The price (plus a little gas) left the buyer's account.
  const spent = before - (await balance(BUYER.address));
  expect(spent >= 10n ** 15n && spent < 10n ** 15n + 10n ** 16n).toBe(true);
  await page.goto(delivering.url);
  await expect(page.getByTestId("gallery-item").first()).toContainText("a paper boat on a rainy street");
});

test("rejecting the ETH transaction is a clear sentence", async ({ page }) => {
  await installWallet(page, { rpcUrl, account: BUYER.address, failures: { eth_sendTransaction: REJECTED } });
  await page.goto(idle.url);
  await page.getByTestId("prompt").fill("a rejected ETH payment");
  await page.getByTestId("generate").click();
  await expect(page.getByTestId("error")).toHaveText("You rejected the request in your wallet; nothing was paid.");
  await expect(page.getByTestId("generate")).toBeEnabled();
});

test("refund after the deadline: the button appears, the wallet refunds, the state is refunded", async ({ page }) => {
  await installWallet(page, { rpcUrl, account: BUYER.address });
  await mintThroughPage(page, idle, "an image nobody delivers");
  await expect(page.getByTestId("token-state")).toHaveText("pending");
  await expect(page.getByText("Who may deliver")).toBeVisible();
  await expect(page.getByTestId("refund")).toBeHidden();
  const before = await balance(BUYER.address);
  await increaseTime(rpcUrl, 120);
  // The pending page notices by itself that the deadline passed.
  await expect(page.getByTestId("refund")).toBeVisible({ timeout: 20_000 });
  await page.getByTestId("refund").click();
  await expect(page.getByTestId("token-state")).toHaveText("refunded", { timeout: 30_000 });
  const returned = (await balance(BUYER.address)) - before;
  expect(returned > 9n * 10n ** 14n && returned <= 10n ** 15n).toBe(true);
  await expect(page.getByTestId("token-image")).toHaveCount(0);
});
