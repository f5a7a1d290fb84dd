import { expect, test } from "@playwright/test";
import { at, lot, ok, partnerAndCompany, setLanguage, shoot, signInAs, token, users, visit } from "./helpers";

const yearAgo = () => new Date(Date.now() - 400 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");

test("Access: a learner and a manager whose licence expired are told what happened and how to renew; a 401 returns to sign-in", async ({ page }) => {
  const { company, partner, pm, cm } = await partnerAndCompany("acc");
  // The partner's orders contact: the account manager the access page names.
  const anna = `anna@${partner}.example`;
  await ok(pm, "PUT", `/v1/orgs/${partner}/contacts`, { contacts: [{ email: anna, name: "Anna de Vries", receives: ["orders"] }] });
  const then = yearAgo();
  const learner = `lena@${company}.example`;
  const manager = `boss@${company}.example`;
  await lot(cm, pm, company, 2, then);
  await users(cm, company, [learner], then);
  await ok(cm, "PUT", `/v1/orgs/${company}/users/${manager}`, { name: "Boss", role: "company_manager" }, at(then));
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [learner, manager] }, at(then));

  const lt = await token("learner", company, learner);
  const api = await ok(lt, "GET", `/v1/orgs/${company}/users/${learner}/access`);
  expect([api.access, api.reason]).toEqual([false, "expired"]);
  await signInAs(page, lt);
  await expect(page).toHaveURL(/\/access$/);
  await expect(page.getByText("Your licence has expired.")).toBeVisible();
  await expect(page.getByText(/Ask your company manager to allocate a licence/)).toBeVisible();
  await shoot(page, "access-learner");

  // A manager whose own licence expired lands on the page with the way to order.
  await page.getByRole("button", { name: "Sign out" }).click();
  const mt = await token("company_manager", company, manager);
  await signInAs(page, mt);
  await expect(page).toHaveURL(/\/access$/);
  await expect(page.getByText(/click Request licences/)).toBeVisible();
  const named = (await ok(mt, "GET", `/v1/orgs/${company}`)).account_contacts;
  expect(named).toEqual([{ email: anna, name: "Anna de Vries" }]);
  await expect(page.getByRole("list", { name: "Your account manager" })).toHaveText(`Anna de Vries ${anna}`);
  await expect(page.getByRole("link", { name: anna })).toHaveAttribute("href", `mailto:${anna}`);
  await shoot(page, "access-manager");

  // Whichever screen they open, they are sent to the page (not only at /), in Dutch too.
  for (const path of ["/users", "/renewals", "/licences/expired", `/users/${encodeURIComponent(learner)}`]) {
    await visit(page, path);
    await expect(page).toHaveURL(/\/access$/);
    await expect(page.getByRole("heading", { level: 1, name: "Access" })).toBeVisible();
  }
  await setLanguage(page, "nl");
  await visit(page, "/usage");
  await expect(page).toHaveURL(/\/access$/);
  await expect(page.getByRole("heading", { level: 1, name: "Toegang" })).toBeVisible();
  await expect(page.getByRole("list", { name: "Uw accountmanager" })).toBeVisible();
  await setLanguage(page, "en");
  await page.getByRole("link", { name: "Request licences" }).click();
  await expect(page).toHaveURL(/\/licences\/orders\?request=1$/);
  // The screen and the access check settle first: a click while the guard's answer re-renders
  // the screen would land on a form about to be replaced.
  await page.waitForLoadState("networkidle");
  await expect(page.getByLabel("Number of licences")).toHaveValue("1");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Order for 1 licences requested.")).toBeVisible();
  expect((await ok(mt, "GET", `/v1/orgs/${company}/orders?status=requested`)).items).toHaveLength(1);

  // Licensed again: the access page checks again, and every screen opens.
  await lot(cm, pm, company, 1);
  await ok(cm, "POST", `/v1/orgs/${company}/allocations`, { emails: [manager] });
  await visit(page, "/access");
  await expect(page.getByText("Your licence is active. You have access to the platform.")).toBeVisible();
  // Within the same page (no reload): the screens open at the next click.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole("heading", { level: 1, name: "Users" })).toBeVisible();

  // A token the API refuses (bad signature): back to sign-in, saying why.
  const forged = mt.slice(0, -4) + (mt.endsWith("AAAA") ? "BBBB" : "AAAA");
  await page.goto("about:blank");
  await page.goto(`/users#token=${forged}`);
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByText("Your session has ended. Please sign in again.")).toBeVisible();
  await shoot(page, "sign-in");
});
