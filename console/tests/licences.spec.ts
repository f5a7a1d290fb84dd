import { expect, test, type Locator, type Page } from "@playwright/test";
import { at, call, JOB_BUDGET, lot, ok, partnerAndCompany, SETUP_BUDGET, shoot, setLanguage, signInAs, sweepExpire, users, visit } from "./helpers";

const yearAgo = () => new Date(Date.now() - 400 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");

test("Licences: lots and usage, Expired licences with Select all, short balance refused, Request licences, Allocate licences", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("lic");
  const then = yearAgo();
  const learners = ["ann", "bob", "cas"].map((n) => `${n}@${company}.example`);
  await lot(cm, pm, company, 3, then);
  await users(cm, company, learners, then);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners }, at(then));
  await sweepExpire(cm, company);
  await lot(cm, pm, company, 2);

  // Local sign-in page: role, org and e-mail.
  await page.goto("/sign-in");
  await page.getByLabel("Role").selectOption("company_manager");
  await page.getByLabel("Organisation id").fill(company);
  await page.getByLabel("E-mail (optional)").fill(`cm@${company}.example`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/licences\/expired$/);

  const requests = await visit(page, "/licences/expired");
  expect(requests).toBeLessThanOrEqual(3);
  await expect(page.getByText("0 of 2 allocated")).toBeVisible();
  await expect(page.getByText("0 of 3 allocated")).toBeVisible();
  for (const e of learners) await expect(page.getByRole("cell", { name: e, exact: true })).toBeVisible();
  await shoot(page, "licences-expired");

  // Short: 3 needed, 2 available: refused, nothing allocated.
  await page.getByLabel("Select all").check();
  await page.getByRole("button", { name: "Allocate licences" }).click();
  await expect(page.getByRole("alert")).toContainText("3 needed, 2 available");
  const still = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=expired`);
  expect(still.items).toHaveLength(3);
  const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`);
  expect(active.items).toHaveLength(0);

  // The way to order: the form opens with the missing quantity; a double click saves once.
  await page.getByRole("link", { name: "Request 1 licences" }).click();
  await expect(page).toHaveURL(/\/licences\/orders\?request=1$/);
  await expect(page.getByLabel("Number of licences")).toHaveValue("1");
  await page.getByLabel("Note (optional)").fill("for cas");
  await page.getByRole("button", { name: "Save" }).dblclick();
  await expect(page.getByText("Order for 1 licences requested.")).toBeVisible();
  let orders = await ok(cm, "GET", `/v1/orgs/${company}/orders?status=requested`);
  expect(orders.items.map((o: any) => [o.quantity, o.note])).toEqual([[1, "for cas"]]);
  await shoot(page, "licences-orders");

  // A lost connection says so and offers a retry, which applies once.
  await page.getByRole("button", { name: "Request licences" }).click();
  await page.getByLabel("Number of licences").fill("4");
  await page.context().setOffline(true);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("The connection was lost");
  await page.context().setOffline(false);
  await page.getByRole("button", { name: "Retry" }).click();
  await expect(page.getByText("Order for 4 licences requested.")).toBeVisible();
  orders = await ok(cm, "GET", `/v1/orgs/${company}/orders?status=requested`);
  expect(orders.items.map((o: any) => o.quantity).sort()).toEqual([1, 4]);

  // The partner assigns the order of 1: now 3 are available, Allocate licences applies.
  const one = orders.items.find((o: any) => o.quantity === 1);
  await ok(pm, "POST", `/v1/orders/${one.order_id}/assign`);
  await page.getByRole("link", { name: "Expired licences" }).click();
  await page.getByLabel("Select all").check();
  await page.getByRole("button", { name: "Allocate licences" }).dblclick();
  await expect(page.getByText("3 licences allocated.")).toBeVisible();
  const now = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`);
  expect(now.items.map((l: any) => l.email).sort()).toEqual(learners);
  const lots = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  const inUse = lots.items.filter((l: any) => l.status === "active").reduce((s: number, l: any) => s + l.in_use, 0);
  expect(inUse).toBe(3);
  const audit = await call(cm, "GET", `/v1/orgs/${company}/audit?limit=500`);
  expect(audit.body.items.filter((a: any) => a.action.startsWith("licence") && a.action.includes("alloc")).length).toBeLessThanOrEqual(3);
});

test.describe("a large allocation", () => {
  // 120 learners, each allocated a year ago, expired, and a new lot: set up outside the test's
  // own timeout.
  let setup: { cm: string; company: string };
  test.beforeAll(async () => {
    test.setTimeout(SETUP_BUDGET);
    const { cm, pm, company } = await partnerAndCompany("job");
    const then = yearAgo();
    const learners = Array.from({ length: 120 }, (_, i) => `l${String(i).padStart(3, "0")}@${company}.example`);
    await lot(cm, pm, company, 120, then);
    await users(cm, company, learners, then);
    for (const part of [learners.slice(0, 60), learners.slice(60)]) {
      await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: part }, at(then));
    }
    await sweepExpire(cm, company);
    await lot(cm, pm, company, 120);
    setup = { cm, company };
  });

  test("Licences: Select all for more learners than a request writes shows the job's progress until it is done", async ({ page }) => {
    // The test server finishes allocations of more than 100 licences in the background
    // (BACKGROUND_ROWS=100 in make test), as a deployed stack does above 5,000.
    const { cm, company } = setup;
    await signInAs(page, cm, "/licences/expired");
    await page.getByLabel("Select all").check();
    // Select all says how many it licenses, all of them, not the page's 50 (in Dutch too).
    const counted = await ok(cm, "GET", `/v1/orgs/${company}/licences/count?status=expired`);
    expect(counted).toEqual({ count: 120, complete: true });
    await expect(page.getByRole("status", { name: "Selected learners" })).toHaveText("All 120 expired learners are selected, on every page: Allocate licences licenses all 120.");
    await expect(page.getByText("120 selected")).toBeVisible();
    await setLanguage(page, "nl");
    await expect(page.getByRole("status", { name: "Geselecteerde deelnemers" })).toContainText("Alle 120 deelnemers met een verlopen licentie zijn geselecteerd");
    await setLanguage(page, "en");
    const answered = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === `/v1/orgs/${company}/allocations`);
    await page.getByRole("button", { name: "Allocate licences" }).click();
    const answer = await answered;
    expect(answer.status()).toBe(202);
    const job = await answer.json();
    expect(job.rows_total).toBe(120);
    // The answer's progress, at once; then the job's own, polled until it is done.
    await expect(page.getByRole("status")).toHaveText("Allocating licences…");
    const bar = page.getByRole("progressbar", { name: "Progress" });
    await expect(bar).toHaveAttribute("max", "120");
    await expect(page.getByText("120 licences allocated.")).toBeVisible({ timeout: JOB_BUDGET });
    await expect(bar).toHaveCount(0);
    await shoot(page, "licences-allocation-done");
    const progress = await ok(cm, "GET", `/v1/orgs/${company}/allocations/${job.allocation_id}`);
    expect([progress.status, progress.rows_done, progress.rows_total, progress.allocated]).toEqual(["committed", 120, 120, 120]);
    const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active&limit=500`);
    expect(active.items).toHaveLength(120);
  });
});

test("Licences: a banner when licences end within 30 days — how many learners, the first end — and Request licences with that many prefilled", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("end");
  // A lot assigned 350 days ago ends in about 15 days (a lot's year starts at its assignment).
  const then = new Date(Date.now() - 350 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");
  const learners = ["ann", "bob"].map((n) => `${n}@${company}.example`);
  await lot(cm, pm, company, 3, then);
  await users(cm, company, learners, then);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners }, at(then));
  // A lot that ends next year is no cause for a banner.
  await lot(cm, pm, company, 1);
  const lots = (await ok(cm, "GET", `/v1/orgs/${company}/lots`)).items;
  const ending = lots.filter((l: any) => Date.parse(l.valid_until) - Date.now() < 30 * 86400_000);
  expect(ending.map((l: any) => l.in_use)).toEqual([2]);
  const day = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(new Date(ending[0].valid_until));

  await signInAs(page, cm);
  expect(await visit(page, "/licences/expired")).toBeLessThanOrEqual(4);
  const banner = page.getByRole("status", { name: "Licences ending soon" });
  await expect(banner).toContainText(`The licences of 2 learners end within 30 days, the first on ${day}.`);
  await banner.getByRole("link", { name: "Request licences" }).click();
  await expect(page).toHaveURL(/\/licences\/orders\?request=2$/);
  await expect(page.getByLabel("Number of licences")).toHaveValue("2");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Order for 2 licences requested.")).toBeVisible();
  const requested = (await ok(cm, "GET", `/v1/orgs/${company}/orders?status=requested`)).items;
  expect(requested.map((o: any) => o.quantity)).toEqual([2]);

  // From the Orders tab itself, the banner's link opens the form again; in Dutch too.
  await banner.getByRole("link", { name: "Request licences" }).click();
  await expect(page.getByLabel("Number of licences")).toHaveValue("2");
  await setLanguage(page, "nl");
  await expect(page.getByRole("status", { name: "Licenties die binnenkort eindigen" })).toContainText("De licenties van 2 deelnemers eindigen binnen 30 dagen");
  await setLanguage(page, "en");
  await shoot(page, "licences-ending");
});

test("Expired licences: the seeds' two ways — Select users manually (Manual Upgrade) and Select users by CSV, with Import Licence Renewal top right opening the import — in English and Dutch", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("way");
  await lot(cm, pm, company, 1);
  await signInAs(page, cm);
  await visit(page, "/licences/expired");
  const ways = page.getByRole("navigation", { name: "How to select users" });
  await expect(ways.getByRole("link")).toHaveText(["Select users manually", "Select users by CSV"]);
  await expect(ways.getByRole("link", { name: "Select users manually" })).toHaveAttribute("aria-current", "page");
  await expect(page.getByRole("heading", { level: 3, name: "Manual Upgrade" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Allocate licences" })).toBeDisabled();

  await ways.getByRole("link", { name: "Select users by CSV" }).click();
  await expect(page).toHaveURL(/\/licences\/import$/);
  await expect(page.getByLabel("User spreadsheet file")).toBeVisible();
  await page.goBack();
  await page.getByRole("link", { name: "Import Licence Renewal" }).click();
  await expect(page).toHaveURL(/\/licences\/import$/);
  await expect(page.getByLabel("User spreadsheet file")).toBeVisible();

  await visit(page, "/licences/expired");
  await setLanguage(page, "nl");
  const manier = page.getByRole("navigation", { name: "Hoe gebruikers te selecteren" });
  await expect(manier.getByRole("link")).toHaveText(["Gebruikers handmatig selecteren", "Gebruikers selecteren via CSV"]);
  await expect(page.getByRole("heading", { level: 3, name: "Handmatige upgrade" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Licentieverlenging importeren" })).toBeVisible();
  await setLanguage(page, "en");
  await shoot(page, "licences-expired-ways");
});

/** Presses Tab until `target` has the focus (at most `max` times): reachable by keyboard alone. */
async function tabTo(page: Page, target: Locator, max = 80) {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  await expect(target, "reached with Tab").toBeFocused();
}

test("Expired licences by keyboard alone: Tab to Select all, Space, back to Allocate licences, Enter", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("key");
  const then = yearAgo();
  const learners = ["ann", "bob", "cas"].map((n) => `${n}@${company}.example`);
  await lot(cm, pm, company, 3, then);
  await users(cm, company, learners, then);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners }, at(then));
  await lot(cm, pm, company, 3);

  await signInAs(page, cm);
  await visit(page, "/licences/expired");
  for (const e of learners) await expect(page.getByRole("cell", { name: e, exact: true })).toBeVisible();
  // From the top of the page: the skip link first, then on through the screen.
  await page.locator("body").focus();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  const all = page.getByLabel("Select all");
  await tabTo(page, all);
  await page.keyboard.press("Space");
  await expect(all).toBeChecked();
  await expect(page.getByText("3 selected")).toBeVisible();
  const allocate = page.getByRole("button", { name: "Allocate licences" });
  // Shift+Tab back up to the button above the list.
  for (let i = 0; i < 20 && !(await allocate.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Shift+Tab");
  await expect(allocate).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByText("3 licences allocated.")).toBeVisible();
  const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`);
  expect(active.items.map((l: any) => l.email).sort()).toEqual([...learners].sort());
});

test("Licences: the vendor's own name for its licences (licence_name, inherited from the partner) heads the screen, in English and Dutch", async ({ page }) => {
  const { admin, cm, pm, partner, company } = await partnerAndCompany("name");
  // A name that breaks the rules is refused, naming the field, and changes nothing.
  const bad = await call(admin, "PUT", `/v1/orgs/${partner}/policy`, { licence_name: { en: { one: " ", other: "Premium licences" } } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain("licence_name.en.one");
  const names = { en: { one: "Premium licence", other: "Premium licences" }, nl: { one: "Premium-licentie", other: "Premium-licenties" } };
  await ok(admin, "PUT", `/v1/orgs/${partner}/policy`, { licence_name: names });
  const org = await ok(cm, "GET", `/v1/orgs/${company}`);
  expect(org.policy.licence_name).toEqual(names);
  await lot(cm, pm, company, 2);

  await signInAs(page, cm, "/licences/expired");
  expect(await visit(page, "/licences/expired")).toBeLessThanOrEqual(3);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Premium licences");
  await expect(page.getByRole("link", { name: "Expired Premium licences" })).toBeVisible();
  await expect(page.getByText("0 of 2 allocated")).toBeVisible();
  await setLanguage(page, "nl");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Premium-licenties");
  await expect(page.getByRole("link", { name: "Verlopen Premium-licenties" })).toBeVisible();
  await shoot(page, "licences-named");
});
