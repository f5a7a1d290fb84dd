import { expect, test } from "@playwright/test";
import { lot, ok, partnerAndCompany, setLanguage, shoot, signInAs, token, visit } from "./helpers";

test("Enrolments > All: every enrolment of the company, one learning experience's, by status now, each a link to its learner — in English and Dutch", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("enr");
  await lot(cm, pm, company, 5);
  const platform = await token("platform", company);
  const [ann, bob, cas] = ["ann", "bob", "cas"].map((n) => `${n}@${company}.example`);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [ann, bob, cas], create_missing: true });
  const enrol = (email: string, run: string, body: object) => ok(platform, "PUT", `/v1/orgs/${company}/users/${email}/enrolments/${run}`, body);
  await enrol(ann, "course-a", { status: "active" });
  await enrol(bob, "course-a", { status: "new" });
  await enrol(cas, "course-b", { status: "active" });
  await enrol(ann, "course-b", { status: "active", ends_at: new Date(Date.now() + 30 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z") });
  // The list in the API's words, to compare with the screen.
  const api = await ok(cm, "GET", `/v1/orgs/${company}/enrolments?enrolment_id=course-a`);
  expect(api.items.map((e: any) => `${e.email} ${e.status}`)).toEqual([`${ann} active`, `${bob} new`]);

  await signInAs(page, cm, "/enrolments");
  expect(await visit(page, "/enrolments")).toBeLessThanOrEqual(3);
  await expect(page.getByRole("heading", { level: 1, name: "Enrolments" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "All" })).toBeVisible();
  const rows = page.getByRole("row");
  await expect(rows).toHaveCount(5); // the header and four enrolments
  await page.getByLabel("Learning experience").fill("course-a");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/enrolment_id=course-a/);
  await expect(rows).toHaveCount(3);
  await expect(rows.filter({ hasText: bob })).toContainText("New");
  await page.getByLabel("Status").selectOption("active");
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: ann })).toContainText("Active");
  await shoot(page, "enrolments");
  await setLanguage(page, "nl");
  await expect(page.getByRole("heading", { level: 1, name: "Inschrijvingen" })).toBeVisible();
  await expect(page.getByLabel("Leerervaring")).toHaveValue("course-a");
  await setLanguage(page, "en");
  await page.getByRole("link", { name: ann }).click();
  await expect(page).toHaveURL(new RegExp(`/users/${encodeURIComponent(ann).replace(/\./g, "\\.")}$`));
});
