import { expect, test } from "@playwright/test";
import { ok, setLanguage, shoot, signInAs, token, uid, visit } from "./helpers";

test("Vendor: the org tree, create a partner and a company, a company's policy sending only what changed", async ({ page }) => {
  const admin = await token("vendor_admin", "vendor");
  const partner = uid("p-ven");
  const company = uid("c-ven");
  await signInAs(page, admin);
  await expect(page).toHaveURL(/\/vendor$/);
  expect(await visit(page, "/vendor")).toBeLessThanOrEqual(3);

  const create = page.getByRole("form", { name: "Create an organisation" });
  await create.getByLabel("Kind").selectOption("partner");
  await create.getByLabel("Name").fill(`Reseller ${partner}`);
  await create.getByLabel("Id (optional)").fill(partner);
  await create.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText(`Reseller ${partner} created.`)).toBeVisible();
  expect((await ok(admin, "GET", `/v1/orgs/${partner}`)).kind).toBe("partner");

  await expect(page.locator("ul.tree").getByText(`Reseller ${partner}`)).toBeVisible();
  await create.getByLabel("Kind").selectOption("company");
  await create.getByLabel("Name").fill(`Customer ${company}`);
  await create.getByLabel("Id (optional)").fill(company);
  await create.getByLabel("Parent").selectOption(partner);
  await create.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText(`Customer ${company} created.`)).toBeVisible();
  const made = await ok(admin, "GET", `/v1/orgs/${company}`);
  expect([made.kind, made.parent_id]).toEqual(["company", partner]);

  await page.getByRole("button", { name: `Show the organisations under Reseller ${partner}` }).click();
  await expect(page.locator("ul.tree").getByText(`Customer ${company}`)).toBeVisible();
  await shoot(page, "vendor");

  await page.getByRole("link", { name: `Policy of Customer ${company}` }).click();
  await expect(page).toHaveURL(new RegExp(`/vendor/${company}/policy$`));
  await page.getByLabel("Renewal", { exact: true }).selectOption("automatic");
  await page.getByLabel("Seats included").fill("1");
  await shoot(page, "policy");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Policy saved.")).toBeVisible();
  let org = await ok(admin, "GET", `/v1/orgs/${company}`);
  expect(org.own_policy).toEqual({ renewal: "automatic", seats_included: 1 });
  expect(org.policy.renewal).toBe("automatic");

  // A course run is open a year unless set otherwise (the default shown as inherited).
  const runs = page.getByLabel("Course run open for (months; 0 = no end)");
  await expect(runs).toHaveAttribute("placeholder", "12");
  await page.getByLabel("Term (months)").fill("24");
  await runs.fill("18");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Policy saved.")).toBeVisible();
  org = await ok(admin, "GET", `/v1/orgs/${company}`);
  expect(org.own_policy).toEqual({ renewal: "automatic", seats_included: 1, term_months: 24, run_access_months: 18 });
  expect(org.policy.run_access_months).toBe(18);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Nothing changed.")).toBeVisible();

  // The reminder's lead time, chosen from the values the API takes; in Dutch too.
  await page.getByLabel("Reminder before an expiry (hours)").selectOption("24");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Policy saved.")).toBeVisible();
  org = await ok(admin, "GET", `/v1/orgs/${company}`);
  expect([org.own_policy.reminder_hours, org.policy.reminder_hours]).toEqual([24, 24]);
  await setLanguage(page, "nl");
  await expect(page.getByLabel("Herinnering vóór het verlopen (uren)")).toHaveValue("24");
});

test("Policy: the vendor names its licences (licence_name) per language; a language is sent whole, the form not typed as in force; a bad name is the API's message", async ({ page }) => {
  const admin = await token("vendor_admin", "vendor");
  const partner = uid("p-name");
  await ok(admin, "POST", "/v1/orgs", { org_id: partner, name: `Reseller ${partner}`, kind: "partner", parent_id: "vendor" });
  await signInAs(page, admin, `/vendor/${partner}/policy`);
  const many = page.getByLabel("Name of several licences, in English");
  await expect(many).toHaveAttribute("placeholder", "licences");
  await page.getByLabel("Name of one licence, in English (e-mails and headings)").fill("Premium licence");
  await many.fill("Premium licences");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Policy saved.")).toBeVisible();
  let org = await ok(admin, "GET", `/v1/orgs/${partner}`);
  expect(org.own_policy).toEqual({ licence_name: { en: { one: "Premium licence", other: "Premium licences" } } });

  // Only the Dutch plural typed: the singular in force ("licentie") goes with it.
  await page.getByLabel("Name of several licences, in Dutch").fill("Premium-licenties");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Policy saved.")).toBeVisible();
  org = await ok(admin, "GET", `/v1/orgs/${partner}`);
  expect(org.own_policy.licence_name).toEqual({
    en: { one: "Premium licence", other: "Premium licences" },
    nl: { one: "licentie", other: "Premium-licenties" },
  });

  // Blank is refused by the API, in its words, and nothing changes.
  await page.getByLabel("Name of one licence, in Dutch").fill(" ");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("licence_name.nl.one");
  expect((await ok(admin, "GET", `/v1/orgs/${partner}`)).own_policy.licence_name.nl.one).toBe("licentie");
  await setLanguage(page, "nl");
  await expect(page.getByLabel("Naam van meerdere licenties, in het Nederlands")).toHaveValue("Premium-licenties");
});
