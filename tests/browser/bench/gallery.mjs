// Benchmark: cold loads of the gallery (`/`) of a running `genim serve` in headless Chromium
// (Debian's /usr/bin/chromium driven by Playwright), at 1280x800 (desktop) and 375x812 (phone).
// Every load gets a new browser context (empty cache, no cookies); one warm-up load per viewport
// is run first and discarded (it pays for the browser's own process start-up).
//
// Per load: time to first byte, first paint, first contentful paint, DOMContentLoaded, load
// event, largest contentful paint (ms from navigation start); the HTML's size; the <img>
// elements on the page; the images fetched before the page settled (load event, then no request
// for 500 ms, no scrolling: lazy loading should keep this well under the <img> count); all bytes
// received (headers and bodies, from the DevTools protocol).
//
// Usage: node bench/gallery.mjs URL [--runs N] [--json FILE]
// Prints a markdown table on stdout, logs on stderr; exits 1 when the median first
// contentful paint (desktop or phone) is 1000 ms or more, or missing (issue 10: "first paint
// < 1 s").
import { chromium } from "@playwright/test";
import { writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const url = args[0]?.startsWith("--") ? undefined : args[0];
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const runs = Number(option("--runs", "10"));
const jsonOut = option("--json", null);
if (!url || !Number.isInteger(runs) || runs < 1) {
  console.error("usage: node bench/gallery.mjs URL [--runs N] [--json FILE]");
  process.exit(2);
}
const TARGET_MS = 1000;
const log = (line) => console.error(`bench-web: ${line}`);

const VIEWPORTS = [
  { name: "desktop 1280x800", context: { viewport: { width: 1280, height: 800 } } },
  {
    name: "phone 375x812",
    context: { viewport: { width: 375, height: 812 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true },
  },
];

/** One cold load of `url` in a new context; resolves to the metrics of that load. */
async function load(browser, contextOptions) {
  const context = await browser.newContext(contextOptions);
  try {
    const page = await context.newPage();
    // LCP entries are only buffered for observers: register one before the page's scripts.
    await page.addInitScript(() => {
      window.__lcp = null;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__lcp = entry.startTime;
      }).observe({ type: "largest-contentful-paint", buffered: true });
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const requests = new Map(); // requestId -> {type, url}
    let bytes = 0;
    let images = 0;
    let lastActivity = Date.now();
    let inFlight = 0;
    cdp.on("Network.requestWillBeSent", (e) => {
      requests.set(e.requestId, { type: e.type, url: e.request.url });
      inFlight++;
      lastActivity = Date.now();
    });
    cdp.on("Network.loadingFinished", (e) => {
      bytes += e.encodedDataLength;
      const request = requests.get(e.requestId);
      if (request?.type === "Image") images++;
      inFlight--;
      lastActivity = Date.now();
    });
    cdp.on("Network.loadingFailed", () => {
      inFlight--;
      lastActivity = Date.now();
    });
    const response = await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    if (!response?.ok()) throw new Error(`GET ${url}: ${response?.status()}`);
    // Settled: nothing in flight and no request for 500 ms.
    while (inFlight > 0 || Date.now() - lastActivity < 500) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const paint = Object.fromEntries(performance.getEntriesByType("paint").map((p) => [p.name, p.startTime]));
      return {
        ttfb: nav.responseStart,
        fp: paint["first-paint"] ?? null,
        fcp: paint["first-contentful-paint"] ?? null,
        dcl: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd,
        lcp: window.__lcp,
        htmlBytes: nav.decodedBodySize,
        imgElements: document.querySelectorAll("img").length,
        galleryItems: document.querySelectorAll('[data-testid="gallery-item"]').length,
        total: Number(document.querySelector(".count")?.textContent.match(/\d+/)?.[0] ?? 0),
      };
    });
    return { ...timing, imagesFetched: images, bytes };
  } finally {
    await context.close();
  }
}

/** Linear-interpolated percentile `p` (0..1) of `values` (nulls dropped). */
function percentile(values, p) {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const at = (sorted.length - 1) * p;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

const METRICS = [
  ["ttfb", "time to first byte", "ms"],
  ["fp", "first paint", "ms"],
  ["fcp", "first contentful paint", "ms"],
  ["dcl", "DOMContentLoaded", "ms"],
  ["load", "load event", "ms"],
  ["lcp", "largest contentful paint", "ms"],
  ["htmlBytes", "HTML", "KiB"],
  ["imgElements", "`<img>` elements", ""],
  ["imagesFetched", "images fetched (no scroll)", ""],
  ["bytes", "bytes transferred", "KiB"],
];

function format(value, unit) {
  if (value === null) return "n/a";
  if (unit === "ms") return `${value.toFixed(0)} ms`;
  if (unit === "KiB") return `${(value / 1024).toFixed(1)} KiB`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const results = {};
try {
  for (const viewport of VIEWPORTS) {
    await load(browser, viewport.context); // warm-up, discarded
    results[viewport.name] = [];
    for (let i = 0; i < runs; i++) {
      const run = await load(browser, viewport.context);
      results[viewport.name].push(run);
      log(`${viewport.name} #${i + 1}: fcp ${run.fcp?.toFixed(0)} ms, load ${run.load.toFixed(0)} ms, ` +
        `${run.imagesFetched}/${run.imgElements} images, ${(run.bytes / 1024).toFixed(1)} KiB`);
    }
  }
} finally {
  await browser.close();
}

const [desktop, phone] = VIEWPORTS.map((v) => results[v.name]);
const sample = desktop[0];
const out = [];
out.push(`Gallery \`/\` of \`genim serve\` (local anvil, ${sample.total} delivered images, ` +
  `${sample.galleryItems} on the first page), cold loads in headless Chromium, ${runs} per viewport ` +
  `(new context each, after one discarded warm-up); ms from navigation start.`);
out.push("");
out.push("| metric | desktop 1280x800 median | desktop p90 | phone 375x812 median | phone p90 |");
out.push("|---|---:|---:|---:|---:|");
for (const [key, label, unit] of METRICS) {
  const cells = [desktop, phone].flatMap((rows) => {
    const values = rows.map((r) => r[key]);
    return [format(percentile(values, 0.5), unit), format(percentile(values, 0.9), unit)];
  });
  out.push(`| ${label} | ${cells.join(" | ")} |`);
}
const fcp = percentile(desktop.map((r) => r.fcp), 0.5);
const phoneFcp = percentile(phone.map((r) => r.fcp), 0.5);
const met = [fcp, phoneFcp].every((v) => v !== null && v < TARGET_MS);
out.push("");
out.push(`first paint < 1 s: ${met ? "met" : "missed"} (median first contentful paint: desktop ` +
  `${format(fcp, "ms")}, phone ${format(phoneFcp, "ms")})`);
console.log(out.join("\n"));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ url, runs, results }, null, 2));
process.exit(met ? 0 : 1);
