// One `genim serve` on its local defaults (anvil, USDC, a GenImTokenNFT, 3 sample images)
// for all tests; its URL goes to the tests in GENIM_URL.
import { startServe, until } from "./lib/genim.js";

export default async function globalSetup() {
  const server = await startServe();
  process.env.GENIM_URL = server.url;
  await until(async () => {
    const page = await (await fetch(`${server.url}/api/tokens`)).json();
    return page.tokens.length >= 3 && page.tokens.every((t) => t.state === "delivered");
  }, "the 3 sample images", 90_000);
  return async () => server.stop();
}
