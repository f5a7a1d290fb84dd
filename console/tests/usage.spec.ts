import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { lot, ok, partnerAndCompany, shoot, signInAs, token, uid, users, visit } from "./helpers";

test("Usage report: the org, each child with limit, used, remaining, a bar and overage, totals; Export to CSV; a child's report", async ({ page }) => {
  const { admin, partner, company, pm, cm } = await partnerAndCompany("use");
  const other = uid("c-use2");
  await ok(admin, "POST", "/v1/orgs", { org_id: other, name: "Initech use", kind: "company", parent_id: partner });
  const cm2 = await token("company_manager", other);
  await lot(cm, pm, company, 4);
  await lot(cm2, pm, other, 10);
  const learners = ["a", "b", "c"].map((n) => `${n}@${company}.example`);
  await users(cm, company, learners);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners });

  await signInAs(page, pm);
  expect(await visit(page, "/usage")).toBeLessThanOrEqual(3);
  const report = await ok(pm, "GET", `/v1/orgs/${partner}/usage`);
  const row = page.getByRole("row", { name: /Globex use/ });
  const mine = report.children.find((c: any) => c.org_id === company);
  await expect(row.locator("td.num")).toHaveText([String(mine.limit), String(mine.used), String(mine.remaining)]);
  expect([mine.limit, mine.used, mine.remaining]).toEqual([4, 3, 1]);
  await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "75");
  await expect(page.locator("tfoot tr")).toContainText(String(report.total.used));
  await expect(page.locator("tfoot td.num").first()).toHaveText(String(report.total.limit));
  await shoot(page, "usage");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export to CSV" }).click()]);
  expect(download.suggestedFilename()).toBe(`usage-${partner}.csv`);
  const text = readFileSync((await download.path())!, "utf8");
  expect(text).toContain("Globex use");
  expect(text).toContain("Name,Organisation,Limit,Used,Remaining");
  expect(text).toContain("Total,");

  // The help pages: the list icon beside a child opens its report, as its name does.
  await expect(page.getByRole("link", { name: "Org list: Globex use" })).toHaveAttribute("href", `/usage/${company}`);
  await page.getByRole("link", { name: "Org list: Globex use" }).click();
  await expect(page).toHaveURL(new RegExp(`/usage/${company}$`));
  await page.goBack();
  await page.getByRole("link", { name: "Open the report of Globex use" }).click();
  await expect(page).toHaveURL(new RegExp(`/usage/${company}$`));
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Globex use");
  await expect(page.getByRole("row", { name: /Initech/ })).toHaveCount(0);
});
