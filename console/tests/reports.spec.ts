import { expect, test } from "@playwright/test";
import { lot, ok, partnerAndCompany, shoot, signInAs, visit } from "./helpers";

test("Notifications and Audit log, paged with the API's cursors", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("rep");
  // A manager stored as a user of the company: its notices are e-mailed to her.
  const boss = `boss@${company}.example`;
  await ok(cm, "PUT", `/v1/orgs/${company}/users/${boss}`, { role: "company_manager" });
  await lot(cm, pm, company, 60);
  const many = Array.from({ length: 55 }, (_, i) => `learner${String(i).padStart(2, "0")}@${company}.example`);
  await Promise.all(many.map((e) => ok(cm, "PUT", `/v1/orgs/${company}/users/${e}`, {})));

  // The local server mails each stored notice as the bus would, a moment after it is stored:
  // `settled=true` answers once everything stored so far is mailed.
  await ok(cm, "GET", `/dev/mail?to=${encodeURIComponent(boss)}&settled=true`);
  expect((await ok(cm, "GET", `/v1/orgs/${company}/notifications`)).items[0]?.deliveries?.[0]?.state).toBe("sent");
  await signInAs(page, cm);
  expect(await visit(page, "/notifications")).toBeLessThanOrEqual(3);
  const notices = await ok(cm, "GET", `/v1/orgs/${company}/notifications`);
  await expect(page.locator(`li[data-delivery="sent"]`)).toHaveText(`${boss} — e-mailed`);
  await expect(page.locator("tbody tr")).toHaveCount(notices.items.length);
  await expect(page.getByRole("cell", { name: "Licences ready for allocation" })).toBeVisible();
  await shoot(page, "notifications");

  expect(await visit(page, "/audit")).toBeLessThanOrEqual(3);
  const first = await ok(cm, "GET", `/v1/orgs/${company}/audit`);
  expect(first.next_cursor).toBeTruthy();
  await expect(page.locator("tbody tr")).toHaveCount(first.items.length);
  await shoot(page, "audit");
  await page.getByRole("button", { name: "Next page" }).click();
  await expect(page.getByText("Page 2", { exact: true })).toBeVisible();
  const second = await ok(cm, "GET", `/v1/orgs/${company}/audit?cursor=${encodeURIComponent(first.next_cursor)}`);
  await expect(page.locator("tbody tr")).toHaveCount(second.items.length);
  await expect(page.locator("tbody tr").first()).toContainText(second.items[0].subject);
  await page.getByRole("button", { name: "Previous page" }).click();
  await expect(page.locator("tbody tr").first()).toContainText(first.items[0].subject);
});
