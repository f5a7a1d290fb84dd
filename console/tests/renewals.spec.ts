import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { at, ok, partnerAndCompany, setLanguage, shoot, signInAs, visit } from "./helpers";

const daysAgo = (n: number) => new Date(Date.now() - n * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");

test("Renewals: the forecast up to a date, the Renewable switch, Not renewable / Renewable, Download Excel and CSV", async ({ page }) => {
  const { admin, company, pm, cm } = await partnerAndCompany("ren");
  await ok(admin, "PUT", `/v1/orgs/${company}/policy`, { renewal: "automatic", term_starts: "activation" });
  const start = daysAgo(350); // renews in about two weeks
  const o = await ok(cm, "POST", `/v1/orgs/${company}/orders`, { quantity: 10 }, at(start));
  await ok(pm, "POST", `/v1/orders/${o.order_id}/assign`, undefined, at(start));
  const people = ["wessel", "mandy", "kees"].map((n) => `${n}@${company}.example`);
  for (const e of people) {
    await ok(cm, "PUT", `/v1/orgs/${company}/users/${e}`, { name: e.split("@")[0] }, at(start));
    await ok(cm, "PUT", `/v1/orgs/${company}/users/${e}/enrolments/run-${e.split("@")[0]}`, { status: "active", starts_at: start, ends_at: "2030-01-01T00:00:00Z" }, at(start));
  }
  await signInAs(page, cm);
  expect(await visit(page, "/renewals")).toBeLessThanOrEqual(3);
  for (const e of people) await expect(page.locator(`tr[data-email="${e}"]`)).toContainText("Yes");
  await shoot(page, "renewals");

  // The switch of one learner.
  await page.getByRole("switch", { name: `Renewable: ${people[0]}` }).click();
  await expect(page.getByRole("switch", { name: `Renewable: ${people[0]}` })).toHaveAttribute("aria-checked", "false");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${people[0]}`)).renewable).toBe(false);
  await expect(page.locator(`tr[data-email="${people[0]}"]`)).toContainText("Not renewable");

  // Select two → Not renewable; then all → Renewable.
  await page.getByLabel(`Select ${people[1]}`).check();
  await page.getByLabel(`Select ${people[2]}`).check();
  await page.getByRole("button", { name: "Not renewable" }).click();
  await expect(page.getByText("2 users updated.")).toBeVisible();
  for (const e of people.slice(1)) expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${e}`)).renewable).toBe(false);
  await page.getByLabel("Select all").check();
  await page.getByRole("button", { name: "Renewable", exact: true }).click();
  await expect(page.getByText("3 users updated.")).toBeVisible();
  for (const e of people) expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${e}`)).renewable).toBe(true);

  // The date moves as far as one likes; it is in the URL.
  await page.getByLabel("Renewal date up to").fill("2020-01-01");
  await expect(page).toHaveURL(/until=2020-01-01/);
  await expect(page.getByText("Nobody is due for renewal up to this date.")).toBeVisible();
  await page.getByLabel("Renewal date up to").fill("2035-06-30");
  await expect(page.locator(`tr[data-email="${people[0]}"]`)).toBeVisible();

  for (const [button, ext, magic] of [["Download Excel", "xlsx", "PK"], ["Download CSV", "csv", ""]] as const) {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: button }).click()]);
    expect(download.suggestedFilename()).toBe(`renewals-${company}-2035-06-30.${ext}`);
    const body = readFileSync((await download.path())!);
    expect(body.length).toBeGreaterThan(20);
    if (magic) expect(body.subarray(0, 2).toString()).toBe(magic);
    else {
      expect(body.toString("utf8")).toContain(people[0]);
      expect(body.toString("utf8")).toContain("E-mail,Name,Licence date,Renewal date");
    }
  }
  // In Dutch the person's file reads Dutch.
  await setLanguage(page, "nl");
  const [nl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
  expect(readFileSync((await nl.path())!).toString("utf8")).toContain("E-mailadres,Naam,Licentiedatum,Verlengdatum");
  await setLanguage(page, "en");
});
