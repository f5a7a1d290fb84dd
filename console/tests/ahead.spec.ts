import { expect, test } from "@playwright/test";
import { at, lot, ok, partnerAndCompany, setLanguage, shoot, signInAs, token, uid, users, visit } from "./helpers";

const daysAgo = (n: number) => new Date(Date.now() - n * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");

test("Renewals ahead: the partner's customers whose licences end in 30, 60 or 90 days, and Request and assign with the new end shown first — in English and Dutch", async ({ page }) => {
  const { admin, partner, pm, cm, company } = await partnerAndCompany("ahead");
  const later = uid("c-later");
  await ok(admin, "POST", "/v1/orgs", { org_id: later, name: `Initech ${later}`, kind: "company", parent_id: partner });
  const cmLater = await token("company_manager", later, `cm@${later}.example`);
  // Globex: 5 seats ending in about 15 days, 3 of them in use; Initech: 7 seats ending in about 65.
  const then = daysAgo(350);
  await lot(cm, pm, company, 5, then);
  const learners = ["ann", "bob", "cas"].map((n) => `${n}@${company}.example`);
  await users(cm, company, learners, then);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners }, at(then));
  await lot(cmLater, pm, later, 7, daysAgo(300));

  await signInAs(page, pm, "/ahead");
  expect(await visit(page, "/ahead")).toBeLessThanOrEqual(3);
  await expect(page.getByRole("heading", { level: 1, name: "Renewals ahead" })).toBeVisible();
  const globex = page.getByRole("row").filter({ hasText: "Globex ahead" });
  await expect(globex).toContainText("5");
  await expect(globex.getByRole("cell").nth(3)).toHaveText("3");
  await expect(page.getByRole("row").filter({ hasText: "Initech" })).toHaveCount(0);
  await page.getByLabel("Ending within").selectOption("90");
  await expect(page.getByRole("row").filter({ hasText: "Initech" })).toContainText("7");
  await expect(page).toHaveURL(/within=90/);
  await shoot(page, "renewals-ahead");

  // The dialog: the seats in use prefilled, and the new lot's end before anything is sent.
  await page.getByRole("button", { name: /Request and assign the renewal of Globex ahead/ }).click();
  const dialog = page.getByRole("form", { name: /Renew the licences of Globex ahead/ });
  await expect(dialog.getByLabel("Number of licences")).toHaveValue("3");
  const nextYear = String(new Date().getUTCFullYear() + 1);
  await expect(dialog.getByTestId("new-end")).toContainText(nextYear);
  await expect(dialog.getByTestId("new-end")).toContainText("12 months");
  await shoot(page, "renewals-ahead-dialog");
  const before = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  expect(before.items).toHaveLength(1);
  await dialog.getByLabel("Number of licences").fill("4");
  await dialog.getByRole("button", { name: "Request and assign" }).click();
  await expect(page.getByRole("status").filter({ hasText: "a lot of 4 licences assigned" })).toBeVisible();
  // The row now says the company is renewed already, so nobody renews it twice.
  await expect(globex.getByRole("cell").nth(5)).toContainText(nextYear);
  await expect(page.getByRole("row").filter({ hasText: "Initech" }).getByRole("cell").nth(5)).toHaveText("—");

  const lots = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  const fresh = lots.items.find((l: any) => l.quantity === 4);
  expect(fresh, JSON.stringify(lots.items)).toBeTruthy();
  expect(fresh.valid_until.slice(0, 4)).toBe(nextYear);
  const orders = await ok(pm, "GET", `/v1/orgs/${partner}/orders?status=assigned&company_id=${company}`);
  expect(orders.items.map((o: any) => o.quantity).sort()).toEqual([4, 5]);
  const notices = await ok(cm, "GET", `/v1/orgs/${company}/notifications`);
  expect(notices.items.filter((n: any) => n.kind === "order_assigned")).toHaveLength(2);

  await setLanguage(page, "nl");
  await expect(page.getByRole("heading", { level: 1, name: "Verlengingen in zicht" })).toBeVisible();
  await expect(page.getByRole("button", { name: /De verlenging van Globex ahead aanvragen en toewijzen/ })).toBeVisible();
});
