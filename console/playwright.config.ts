import { defineConfig } from "@playwright/test";

// Runs against a local server that serves the built console (infra/local/console-test.sh):
// BASE_URL, e.g. http://127.0.0.1:3000. Debian's chromium, headless (Playwright's own browser
// download is not used).
export default defineConfig({
  testDir: "tests",
  // Bounds against a hang, generous for a slow machine: a test's own steps (set-up that makes
  // hundreds of requests runs in beforeAll hooks, with SETUP_BUDGET of its own), each expect's
  // wait for the screen, and the whole run, after which Playwright names the tests it stopped
  // and what each was waiting for.
  timeout: 5 * 60_000,
  expect: { timeout: 30_000 },
  globalTimeout: 45 * 60_000,
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.BASE_URL ?? "http://127.0.0.1:3000",
    headless: true,
    locale: "en-GB",
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      // No connections of chromium's own (updates, sync, metrics): a closed network refuses them,
      // and on a loaded machine they only compete with the page.
      args: [
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
    trace: "off",
    screenshot: "only-on-failure",
  },
  // Every journey twice: on a desktop, and on a phone 375 px wide (the console's narrow layout).
  projects: [
    { name: "desktop", use: { viewport: { width: 1280, height: 900 } } },
    { name: "phone", use: { viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true } },
  ],
});
