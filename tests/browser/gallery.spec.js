// The gallery and token pages as a visitor sees them, at desktop and phone width.
import { test, expect } from "@playwright/test";
import path from "node:path";
import { ROOT } from "./lib/genim.js";

const url = () => process.env.GENIM_URL;
// Screenshots for the README with GENIM_SCREENSHOTS=1 (script/browser-test.sh --screenshots);
// otherwise in test-results/, so a test run leaves the tree clean.
const shot = (name) =>
  process.env.GENIM_SCREENSHOTS === "1" ? path.join(ROOT, "docs", name) : path.join("test-results", name);

/** Waits until every `<img>` matched by `locator` has loaded real pixels. */
async function expectLoaded(locator) {
  const count = await locator.count();
  for (let i = 0; i < count; i++) {
    const img = locator.nth(i);
    await img.scrollIntoViewIfNeeded();
    await expect.poll(() => img.evaluate((el) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  }
}

test("the gallery shows the delivered images, newest first, with prompt, model, date, owner", async ({ page }) => {
  const errors = [];
  page.on("console", (msg) => msg.type() === "error" && errors.push(msg.text()));
  await page.goto(url());
  // Other tests may have minted more: the 3 samples are tokens 1-3, and ids only go down.
  const items = page.getByTestId("gallery-item");
  const ids = (await items.evaluateAll((els) => els.map((el) => Number(el.dataset.tokenId))));
  expect(ids.slice(-3)).toEqual([3, 2, 1]);
  expect([...ids].sort((a, b) => b - a)).toEqual(ids);
  const robot = page.locator('[data-testid="gallery-item"][data-token-id="3"]');
  await expect(robot).toContainText("a tiny robot watering a bonsai tree");
  await expect(robot).toContainText("delivered");
  await expect(robot).toContainText("local-v1");
  await expect(robot).toContainText(/\d{4}-\d{2}-\d{2}/);
  await expect(robot).toContainText("owner 0x15d3");
  await expect(robot.locator("img")).toHaveAttribute("loading", "lazy");
  await expectLoaded(page.locator('[data-testid="gallery-item"][data-state="delivered"] img'));
  await expect(page.getByTestId("error")).toBeHidden();
  await expect(page.locator("#price")).toHaveText("0.05 USDC");
  expect(errors).toEqual([]);
  await page.screenshot({ path: shot("gallery.png"), fullPage: true });
});

test("a token page shows the image, the full prompt, the metadata and its state", async ({ page }) => {
  await page.goto(`${url()}/token/2`);
  await expect(page.getByTestId("token-state")).toHaveText("delivered");
  await expectLoaded(page.getByTestId("token-image"));
  await expect(page.locator(".prompt-full")).toHaveText("a red fox sleeping in fresh snow");
  await expect(page.locator(".meta-table")).toContainText("local-v1");
  await expect(page.locator(".meta-table")).toContainText("GenIm #2");
  await expect(page.getByText("Delivered by")).toBeVisible();
  await expect(page.getByTestId("refund")).toBeHidden();
  await page.screenshot({ path: shot("token.png"), fullPage: true });
});

test("an unknown token is a clear 404", async ({ page }) => {
  const response = await page.goto(`${url()}/token/999`);
  expect(response.status()).toBe(404);
  await expect(page.getByTestId("error")).toContainText("there is no token 999");
});

test("the pages fit a 375 px phone without horizontal scrolling", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 812 });
  for (const target of ["/", "/token/1"]) {
    await page.goto(`${url()}${target}`);
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    expect(widths[0], `${target} scrolls sideways`).toBeLessThanOrEqual(widths[1]);
    await expect(page.getByTestId("connect")).toBeVisible();
  }
  await expect(page.getByTestId("token-image")).toBeVisible();
  const box = await page.getByTestId("token-image").boundingBox();
  expect(box.width).toBeLessThanOrEqual(375);
});

test("every control is reachable with the keyboard and labelled", async ({ page }) => {
  await page.goto(url());
  await expect(page.getByLabel("Describe the image")).toHaveAttribute("data-testid", "prompt");
  const focused = [];
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("Tab");
    focused.push(await page.evaluate(() => document.activeElement?.dataset?.testid || document.activeElement?.tagName));
  }
  expect(focused).toContain("connect");
  expect(focused).toContain("prompt");
  expect(focused).toContain("generate");
});
