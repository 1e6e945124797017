// Browser tests of the page `genim serve` serves: Debian's chromium, headless, driven by
// Playwright (no browser download). One local `genim serve` for all tests (global-setup.js);
// the ETH tests start their own servers on the same anvil.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.js$/,
  // Two cores and one chain: tests run one after the other.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  globalSetup: "./global-setup.js",
  use: {
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      // Root in a container has no user namespaces for chromium's sandbox.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    },
    trace: "off",
  },
});
