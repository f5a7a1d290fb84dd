import { expect, test } from "@playwright/test";
import { lot, ok, partnerAndCompany, shoot, signInAs, users, visit } from "./helpers";

test("Users: search, filter by licence status, add, release (records kept), a user's enrolments", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("usr");
  await lot(cm, pm, company, 5);
  const [ann, anna, bob] = ["ann", "anna", "bob"].map((n) => `${n}@${company}.example`);
  await users(cm, company, [ann, anna, bob]);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [ann, bob] });
  await ok(cm, "PUT", `/v1/orgs/${company}/users/${ann}/enrolments/course-1`, { status: "active" });

  await signInAs(page, cm);
  expect(await visit(page, "/users")).toBeLessThanOrEqual(3);
  await expect(page.locator("tbody tr")).toHaveCount(3);
  await shoot(page, "users");

  // Search by e-mail prefix (kept in the URL); the API's answer is what the table shows.
  await page.getByLabel("Search by e-mail").fill("ann");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/q=ann/);
  const found = await ok(cm, "GET", `/v1/orgs/${company}/users?email_prefix=ann`);
  await expect(page.locator("tbody tr")).toHaveCount(found.items.length);
  await page.getByLabel("Search by e-mail").fill("");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByLabel("Licence status").selectOption("active");
  await expect(page).toHaveURL(/status=active/);
  const activeOnes = await ok(cm, "GET", `/v1/orgs/${company}/users?licence_status=active`);
  await expect(page.locator("tbody tr")).toHaveCount(activeOnes.items.length);
  await page.getByLabel("Licence status").selectOption("");

  // Add a user.
  const cas = `cas@${company}.example`;
  await page.getByRole("button", { name: "Add user" }).click();
  await page.getByLabel("E-mail", { exact: true }).fill(cas);
  await page.getByLabel("Name", { exact: true }).fill("Cas de Vries");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText(`${cas} saved.`)).toBeVisible();
  const added = await ok(cm, "GET", `/v1/orgs/${company}/users/${cas}`);
  expect([added.name, added.role, added.licence_status]).toEqual(["Cas de Vries", "learner", null]);

  // Release: licence released, enrolments expired, the user kept.
  await page.getByRole("button", { name: `Release: ${bob}` }).click();
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await expect(page.getByText(`${bob} released`)).toBeVisible();
  const released = await ok(cm, "GET", `/v1/orgs/${company}/users/${bob}`);
  expect(released.licence_status).toBe("released");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/lots`)).items[0].in_use).toBe(1);

  // A user's page: licence and enrolments.
  await page.getByRole("link", { name: ann, exact: true }).click();
  await expect(page.getByRole("heading", { name: `Details of ${ann}` })).toBeVisible();
  const enrolments = await fetch(`${process.env.BASE_URL}/v1/orgs/${company}/users/${ann}/enrolments`, { headers: { authorization: `Bearer ${cm}` } });
  if (enrolments.ok) await expect(page.getByRole("cell", { name: "course-1" })).toBeVisible();
  else await expect(page.getByText("Enrolments cannot be listed yet by this server.")).toBeVisible();
  await shoot(page, "user-detail");
});
