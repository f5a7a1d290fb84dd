import { expect, test } from "@playwright/test";
import { at, lot, ok, partnerAndCompany, shoot, signInAs, token, users } from "./helpers";

const yearAgo = () => new Date(Date.now() - 400 * 86400_000).toISOString().replace(/\.\d+Z$/, "Z");

test("Access: a learner and a manager whose licence expired are told what happened and how to renew; a 401 returns to sign-in", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("acc");
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
  await shoot(page, "access-manager");
  await page.getByRole("link", { name: "Request licences" }).click();
  await expect(page).toHaveURL(/\/licences\/orders\?request=1$/);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Order for 1 licences requested.")).toBeVisible();
  expect((await ok(mt, "GET", `/v1/orgs/${company}/orders?status=requested`)).items).toHaveLength(1);

  // A token the API refuses (bad signature): back to sign-in, saying why.
  const forged = mt.slice(0, -4) + (mt.endsWith("AAAA") ? "BBBB" : "AAAA");
  await page.goto(`/users#token=${forged}`);
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByText("Your session has ended. Please sign in again.")).toBeVisible();
  await shoot(page, "sign-in");
});
