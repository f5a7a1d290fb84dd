import { expect, test } from "@playwright/test";
import { axe, lot, ok, partnerAndCompany, setLanguage, shoot, signInAs, token, visit } from "./helpers";

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

test("Enrolments > All: tick, Set expiry date — one request for the ticked enrolments, a day passed ends them at once, a learner counted again refused in words — in English and Dutch", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("bulk");
  await lot(cm, pm, company, 5);
  const platform = await token("platform", company);
  const [ann, bob, cas] = ["ann", "bob", "cas"].map((n) => `${n}@${company}.example`);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [ann, bob, cas], create_missing: true });
  for (const e of [ann, bob, cas]) await ok(platform, "PUT", `/v1/orgs/${company}/users/${e}/enrolments/course-a`, { status: "active" });
  const day = (offset: number) => new Date(Date.now() + offset * 86400_000).toISOString().slice(0, 10);
  const courseA = async () => (await ok(cm, "GET", `/v1/orgs/${company}/enrolments?enrolment_id=course-a`)).items as any[];

  await signInAs(page, cm, "/enrolments?enrolment_id=course-a");
  const rows = page.getByRole("row");
  await expect(rows).toHaveCount(4);
  const setExpiry = page.getByRole("button", { name: "Set expiry date" });
  await expect(setExpiry).toBeDisabled();
  await page.getByRole("checkbox", { name: `Select course-a of ${ann}` }).check();
  await page.getByRole("checkbox", { name: `Select course-a of ${bob}` }).check();
  await expect(page.getByText("2 selected")).toBeVisible();
  await setExpiry.click();
  const later = day(60);
  await page.getByRole("form", { name: "Set the expiry date of 2 enrolments" }).getByLabel("Expiry date").fill(later);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Expiry date set on 2 enrolments.")).toBeVisible();
  let held = await courseA();
  expect(held.map((e) => `${e.email} ${e.status} ${e.ends_at}`)).toEqual([
    `${ann} active ${later}T23:59:59Z`,
    `${bob} active ${later}T23:59:59Z`,
    `${cas} active ${held[2].ends_at}`,
  ]);
  expect(held[2].ends_at).not.toContain(later);
  await axe(page, "enrolments, expiry date set");

  // Select all, a day passed: every enrolment ends at once, and its learners are counted off.
  await page.getByRole("checkbox", { name: "Select all" }).check();
  await expect(page.getByText("3 selected")).toBeVisible();
  await setExpiry.click();
  await page.getByLabel("Expiry date", { exact: true }).fill(day(-1));
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Expiry date set on 3 enrolments.")).toBeVisible();
  held = await courseA();
  expect(held.map((e) => e.status)).toEqual(["expired", "expired", "expired"]);
  await expect(rows.filter({ hasText: "Expired" })).toHaveCount(3);
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${bob}`)).active).toBe(false);

  // In Dutch: bob's enrolment active again but past its end (as the platform may send it), a date
  // ahead would count him again — the API's refusal, in words, and nothing changed.
  await ok(platform, "PUT", `/v1/orgs/${company}/users/${bob}/enrolments/course-a`, { status: "active", ends_at: `${day(-1)}T00:00:00Z` });
  await setLanguage(page, "nl");
  await page.getByRole("checkbox", { name: `course-a van ${bob} selecteren` }).check();
  await page.getByRole("button", { name: "Vervaldatum instellen" }).click();
  await page.getByLabel("Vervaldatum", { exact: true }).fill(day(30));
  await page.getByRole("button", { name: "Opslaan" }).click();
  const alert = page.getByRole("alert");
  await expect(alert).toContainText(bob);
  await expect(alert).not.toContainText("{");
  expect((await courseA()).map((e) => e.status)).toEqual(["expired", "expired", "expired"]);
  await axe(page, "enrolments, refused (nl)");
  await setLanguage(page, "en");
});
