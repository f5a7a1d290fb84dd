import { expect, test, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { axe, call, lot, ok, partnerAndCompany, setLanguage, shoot, signInAs, token, users, visit } from "./helpers";

/** The e-mails the table shows. */
const shown = (page: Page) => page.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-email")));

test("Users: search, filter by licence status, add, release (records kept), a user's enrolments", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("usr");
  await lot(cm, pm, company, 5);
  const [ann, anna, bob] = ["ann", "anna", "bob"].map((n) => `${n}@${company}.example`);
  await users(cm, company, [ann, anna, bob]);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [ann, bob] });
  // Enrolments come from the platform.
  const platform = await token("platform", company);
  await ok(platform, "PUT", `/v1/orgs/${company}/users/${ann}/enrolments/course-1`, { status: "active", starts_at: "2026-01-05T09:00:00Z", ends_at: "2099-01-05T09:00:00Z" });
  await ok(platform, "PUT", `/v1/orgs/${company}/users/${ann}/enrolments/course-2`, { status: "new" });

  await signInAs(page, cm);
  expect(await visit(page, "/users")).toBeLessThanOrEqual(3);
  await expect(page.locator("tbody tr")).toHaveCount(3);
  await shoot(page, "users");

  // Search by e-mail prefix (kept in the URL, any case): the table is the API's answer.
  await page.getByLabel("Search by e-mail").fill("ANN");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/q=ANN/);
  const found = await ok(cm, "GET", `/v1/orgs/${company}/users?email_prefix=ann`);
  expect(found.items.map((u: any) => u.email)).toEqual([ann, anna]);
  await expect(page.locator("tbody tr")).toHaveCount(2);
  expect(await shown(page)).toEqual([ann, anna]);

  // The filter combines with the search: active among "ann…" is ann alone.
  await page.getByLabel("Licence status").selectOption("active");
  await expect(page).toHaveURL(/status=active/);
  await expect(page.locator("tbody tr")).toHaveCount(1);
  expect(await shown(page)).toEqual([ann]);

  // The filter alone, after a reload (from the URL): each status as the API answers it.
  await page.getByLabel("Search by e-mail").fill("");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).not.toHaveURL(/q=/);
  for (const [status, want] of [["active", [ann, bob]], ["none", [anna]], ["expired", []]] as const) {
    await page.getByLabel("Licence status").selectOption(status);
    await expect(page).toHaveURL(new RegExp(`status=${status}`));
    const api = (await ok(cm, "GET", `/v1/orgs/${company}/users?licence_status=${status}`)).items.map((u: any) => u.email);
    expect(api).toEqual(want);
    if (want.length) {
      await expect(page.locator("tbody tr")).toHaveCount(want.length);
      expect(await shown(page)).toEqual(want);
    } else await expect(page.getByText("Nothing to show.")).toBeVisible();
  }
  await page.reload();
  await expect(page.getByLabel("Licence status")).toHaveValue("expired");
  await expect(page.getByText("Nothing to show.")).toBeVisible();
  await page.getByLabel("Licence status").selectOption("");
  await expect(page.locator("tbody tr")).toHaveCount(3);

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
  const enrolments = await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}/enrolments`);
  expect(enrolments.items.map((e: any) => [e.enrolment_id, e.status])).toEqual([
    ["course-1", "active"],
    ["course-2", "new"],
  ]);
  const list = page.getByRole("region", { name: "Enrolments" });
  await expect(list.locator("tbody tr")).toHaveCount(2);
  await expect(list.locator("tbody tr").nth(0).locator("td:not(.actions)")).toHaveText(["course-1", "Active", "5 Jan 2026", "5 Jan 2099"]);
  await expect(list.locator("tbody tr").nth(1).locator("td:not(.actions)")).toHaveText(["course-2", "New", "—", "—"]);
  await shoot(page, "user-detail");
});

test("Users: N of M top right in the terms of the org's counting; the user beyond the limit is refused with the API's words (counting = users)", async ({ page }) => {
  const { admin, company, pm, cm } = await partnerAndCompany("cnt");
  await ok(admin, "PUT", `/v1/orgs/${company}/policy`, { counting: "users", enforcement: "hard", seats_included: 1 });
  await lot(cm, pm, company, 2);
  const [ann, bob, cas, dirk] = ["ann", "bob", "cas", "dirk"].map((n) => `${n}@${company}.example`);
  await users(cm, company, [ann, bob]);

  await signInAs(page, cm);
  expect(await visit(page, "/users")).toBeLessThanOrEqual(3);
  const count = page.getByRole("status", { name: "Users of the subscription" });
  await expect(count).toHaveText("2 of 3 users");

  const add = async (email: string) => {
    await page.getByRole("button", { name: "Add user" }).click();
    await page.getByLabel("E-mail", { exact: true }).fill(email);
    await page.getByRole("button", { name: "Save" }).click();
  };
  await add(cas);
  await expect(page.getByText(`${cas} saved.`)).toBeVisible();
  await expect(count).toHaveText("3 of 3 users");

  // The fourth: the API's refusal, in words, and nobody created.
  await add(dirk);
  const refused = await call(cm, "PUT", `/v1/orgs/${company}/users/${dirk}`, {});
  expect([refused.status, refused.body.error.code]).toEqual([409, "seat_limit_reached"]);
  await expect(page.getByRole("alert")).toHaveText("All seats are in use: 3 of 3. Order more licences to add users.");
  expect((await call(cm, "GET", `/v1/orgs/${company}/users/${dirk}`)).status).toBe(404);
  await setLanguage(page, "nl");
  await expect(page.getByRole("status", { name: "Gebruikers van het abonnement" })).toHaveText("3 van 3 gebruikers");
  await expect(page.getByRole("alert")).toContainText("Alle licenties zijn in gebruik: 3 van 3.");
  await setLanguage(page, "en");

  // Releasing one makes room.
  await page.getByRole("button", { name: "Add user" }).click();
  await page.getByRole("button", { name: `Release: ${bob}` }).click();
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await expect(page.getByText(`${bob} released`)).toBeVisible();
  await expect(count).toHaveText("2 of 3 users");
  await add(dirk);
  await expect(page.getByText(`${dirk} saved.`)).toBeVisible();
  await expect(count).toHaveText("3 of 3 users");
  const usage = await ok(cm, "GET", `/v1/orgs/${company}/usage`);
  expect([usage.org.used, usage.org.limit]).toEqual([3, 3]);
  await shoot(page, "users-headcount");
});

test("Users: Export to CSV, then Import Users → Synchronize Users with the file unedited: no one to release, +tag e-mails as they are; Manage user licences opens Renewals", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("exp");
  await lot(cm, pm, company, 5);
  const learners = ["+a", "-a", "plain"].map((n) => `${n}@${company}.example`);
  await users(cm, company, learners);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: learners });

  await signInAs(page, cm);
  expect(await visit(page, "/users")).toBeLessThanOrEqual(3);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export to CSV" }).click()]);
  expect(download.suggestedFilename()).toBe(`users-${company}.csv`);
  const path = (await download.path())!;
  const text = readFileSync(path, "utf8");
  expect(text.startsWith("\ufeffemail,name,licence_status,licence_valid_until,last_login_at")).toBeTruthy();
  // Each e-mail as it is (a name that starts with + or - is made inert, as every report's text is).
  for (const email of learners) {
    expect(text).toContain(`\n${email},`);
    expect(text).not.toContain(`'${email}`);
  }
  expect(text).toContain(`\n+a@${company}.example,'+a,active,`);

  // The file as it came, synchronised: every learner already active, no one to release, nothing to commit.
  await visit(page, "/licences/import");
  await page.getByLabel(/Synchronize users/).check();
  await page.getByLabel("User spreadsheet file").setInputFiles(path);
  await page.getByRole("button", { name: "Upload" }).click();
  const review = page.locator("table.review");
  await expect(review.locator('tr[data-outcome="already_active"] td.num')).toHaveText("3");
  await expect(review.locator('tr[data-outcome="release"] td.num')).toHaveText("0");
  await expect(page.getByRole("button", { name: "Renew licences" })).toBeDisabled();
  for (const email of learners) {
    expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${encodeURIComponent(email)}`)).licence_status).toBe("active");
  }

  // "Manage user licences" on Users opens Renewals, the list of who is renewed when.
  await visit(page, "/users");
  await page.getByRole("link", { name: "Manage user licences" }).click();
  await expect(page).toHaveURL(/\/renewals(\?|$)/);
  await expect(page.getByRole("heading", { level: 1, name: "Renewals" })).toBeVisible();

  // The seed's words in Dutch.
  await visit(page, "/users");
  await setLanguage(page, "nl");
  await expect(page.getByRole("button", { name: "Exporteren naar CSV" })).toBeVisible();
  await page.getByRole("link", { name: "Beheer Gebruikerslicenties" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Verlengingen" })).toBeVisible();
  await setLanguage(page, "en");
});

test("Users: a licence from the row and the user's page, a learner added with a licence in one go (a shortfall creates no one); a user's page shows the subscription's size, activates an enrolment and sets its expiry date", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("lic");
  await lot(cm, pm, company, 2);
  const [ann, bob, cas, dirk] = ["ann", "bob", "cas", "dirk"].map((n) => `${n}@${company}.example`);
  await users(cm, company, [ann, bob]);
  const platform = await token("platform", company);
  await ok(platform, "PUT", `/v1/orgs/${company}/users/${ann}/enrolments/course-1`, { status: "new" });
  const status = async (email: string) => (await ok(cm, "GET", `/v1/orgs/${company}/users/${email}`)).licence_status;

  await signInAs(page, cm);
  expect(await visit(page, "/users")).toBeLessThanOrEqual(3);
  const count = page.getByRole("status", { name: "Users of the subscription" });
  await expect(count).toHaveText("0 of 2 licences in use");

  // From the row: the learner is licensed, the count follows.
  await page.getByRole("button", { name: `Allocate licence: ${ann}` }).click();
  await expect(page.getByText(`A licence was allocated to ${ann}.`)).toBeVisible();
  expect(await status(ann)).toBe("active");
  await expect(count).toHaveText("1 of 2 licences in use");
  await expect(page.getByRole("button", { name: `Allocate licence: ${ann}` })).toHaveCount(0);

  // Added with a licence in one go, named.
  const add = async (email: string, name = "") => {
    await page.getByRole("button", { name: "Add user" }).click();
    await page.getByLabel("E-mail", { exact: true }).fill(email);
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("Allocate a licence now").check();
    await page.getByRole("button", { name: "Save" }).click();
  };
  await add(cas, "Cas de Vries");
  await expect(page.getByText(`${cas} added with a licence.`)).toBeVisible();
  const added = await ok(cm, "GET", `/v1/orgs/${company}/users/${cas}`);
  expect([added.name, added.role, added.licence_status]).toEqual(["Cas de Vries", "learner", "active"]);
  await expect(count).toHaveText("2 of 2 licences in use");

  // None left: the API's shortfall in words, and no one created.
  await add(dirk, "Dirk");
  await expect(page.getByRole("alert")).toHaveText("Not enough licences: 1 needed, 0 available. Nothing was changed.");
  expect((await call(cm, "GET", `/v1/orgs/${company}/users/${dirk}`)).status).toBe(404);
  await page.getByRole("button", { name: "Add user" }).click();
  await page.getByRole("button", { name: `Allocate licence: ${bob}` }).click();
  await expect(page.getByRole("alert")).toHaveText("Not enough licences: 1 needed, 0 available. Nothing was changed.");
  expect(await status(bob)).toBe(null);

  // Someone already licensed: said so, and nothing written over them (the name kept).
  await add(ann, "Someone Else");
  await expect(page.getByText(`${ann} already holds a licence: nothing was allocated.`)).toBeVisible();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}`)).name).toBe("ann");

  // A user's page: the subscription's size (as the help pages ask), the licence, and the enrolments' actions.
  await visit(page, `/users/${encodeURIComponent(bob)}`);
  await expect(page.getByRole("status", { name: "Users of the subscription" })).toHaveText("2 of 2 licences in use");
  await page.getByRole("button", { name: "Allocate licence" }).click();
  await expect(page.getByRole("alert")).toHaveText("Not enough licences: 1 needed, 0 available. Nothing was changed.");
  await ok(cm, "DELETE", `/v1/orgs/${company}/users/${cas}`);
  await page.getByRole("button", { name: "Allocate licence" }).click();
  await expect(page.getByText(`A licence was allocated to ${bob}.`)).toBeVisible();
  expect(await status(bob)).toBe("active");
  await expect(page.getByRole("button", { name: "Allocate licence" })).toHaveCount(0);

  await visit(page, `/users/${encodeURIComponent(ann)}`);
  const row = page.getByRole("region", { name: "Enrolments" }).locator('tr[data-enrolment="course-1"]');
  await expect(row.locator("td").nth(1)).toHaveText("New");
  await page.getByRole("button", { name: "Activate: course-1" }).click();
  await expect(row.locator("td").nth(1)).toHaveText("Active");
  const activated = (await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}/enrolments`)).items[0];
  expect(activated.status).toBe("active");
  await page.getByRole("button", { name: "Set expiry date: course-1" }).click();
  await page.getByLabel("Expiry date of course-1").fill("2099-06-30");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(row.locator("td").nth(3)).toHaveText("30 Jun 2099");
  const ended = (await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}/enrolments`)).items[0];
  expect([ended.status, ended.ends_at]).toEqual(["active", "2099-06-30T23:59:59Z"]);

  await setLanguage(page, "nl");
  await expect(page.getByRole("button", { name: "Vervaldatum instellen: course-1" })).toBeVisible();
  await setLanguage(page, "en");

  // An expiry date in the past ends the enrolment at once.
  const yesterday = new Date(Date.now() - 86400_000).toISOString().slice(0, 10);
  await page.getByRole("button", { name: "Set expiry date: course-1" }).click();
  await page.getByLabel("Expiry date of course-1").fill(yesterday);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(row.locator("td").nth(1)).toHaveText("Expired");
  await expect(page.getByRole("button", { name: "Set expiry date: course-1" })).toHaveCount(0);
  const over = (await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}/enrolments`)).items[0];
  expect([over.status, over.live, over.ends_at]).toEqual(["expired", false, `${yesterday}T23:59:59Z`]);

  // The same in Dutch.
  await setLanguage(page, "nl");
  await expect(page.getByRole("status", { name: "Gebruikers van het abonnement" })).toHaveText("2 van 2 licenties in gebruik");
  await visit(page, `/users/${encodeURIComponent(cas)}`);
  await page.getByRole("button", { name: "Licentie toewijzen" }).click();
  await expect(page.getByRole("alert")).toHaveText("Niet genoeg licenties: 1 nodig, 0 beschikbaar. Er is niets gewijzigd.");
  await setLanguage(page, "en");
  await shoot(page, "user-licence");
});

test("Delete user: two clear choices — release and keep records, or erase personal data (refused while licensed, in words) — in English and Dutch", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("era");
  await lot(cm, pm, company, 5);
  const eve = `eve@${company}.example`;
  await ok(cm, "PUT", `/v1/orgs/${company}/users/${eve}`, { name: "Eve Erased" });
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [eve] });
  const platform = await token("platform", company);
  await ok(platform, "PUT", `/v1/orgs/${company}/users/${eve}/enrolments/course-a`, { status: "new" });

  await signInAs(page, cm, `/users/${encodeURIComponent(eve)}`);
  await setLanguage(page, "nl");
  await expect(page.getByRole("heading", { level: 2, name: "Gebruiker verwijderen" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Vrijgeven, gegevens bewaren" })).toBeVisible();
  await setLanguage(page, "en");
  const section = page.getByRole("region", { name: "Delete user" });
  // Licensed: the API refuses the erasure, and says why.
  await section.getByRole("button", { name: "Erase personal data" }).click();
  await section.getByRole("button", { name: "Erase", exact: true }).click();
  await expect(section.getByRole("alert")).toContainText("release the user first");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${eve}`)).name).toBe("Eve Erased");

  await section.getByRole("button", { name: "Release, keep records" }).click();
  await expect(page.getByText(`${eve} released`)).toBeVisible();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${eve}`)).licence.status).toBe("released");
  await section.getByRole("button", { name: "Erase personal data" }).click();
  await section.getByRole("button", { name: "Erase", exact: true }).click();
  await expect(page).toHaveURL(/\/users\/erased-[0-9a-f]{20}%40erased\.invalid$/);
  const pseudonym = decodeURIComponent(page.url().split("/users/")[1]);
  await expect(page.getByText(`Personal data erased: this user is now ${pseudonym}`)).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(pseudonym);
  await axe(page, "a user erased");

  // In the API: the e-mail finds no one, the pseudonym has no name, and its enrolment moves with it.
  expect((await call(cm, "GET", `/v1/orgs/${company}/users/${eve}`)).status).toBe(404);
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${pseudonym}`)).name ?? null).toBeNull();
  await expect
    .poll(async () => (await ok(cm, "GET", `/v1/orgs/${company}/enrolments?enrolment_id=course-a`)).items.map((e: any) => e.email))
    .toEqual([pseudonym]);
});
