import { expect, test } from "@playwright/test";
import { ok, partnerAndCompany, shoot, signInAs, token, uid, visit } from "./helpers";

test("Requested orders: every customer's orders, filters kept in the URL, Assign and Reject; the company then sees its lot", async ({ page }) => {
  const { admin, partner, company, pm, cm } = await partnerAndCompany("ord");
  const other = uid("c-ord2");
  await ok(admin, "POST", "/v1/orgs", { org_id: other, name: "Initech", kind: "company", parent_id: partner });
  const cm2 = await token("company_manager", other);
  const mine = await ok(cm, "POST", `/v1/orgs/${company}/orders`, { quantity: 10, note: "spring cohort" });
  const theirs = await ok(cm2, "POST", `/v1/orgs/${other}/orders`, { quantity: 7 });

  await signInAs(page, pm);
  await expect(page).toHaveURL(/\/orders$/);
  expect(await visit(page, "/orders")).toBeLessThanOrEqual(3);
  await expect(page.getByRole("row", { name: /Globex ord/ })).toBeVisible();
  await expect(page.getByRole("row", { name: /Initech/ })).toBeVisible();
  await shoot(page, "requested-orders");

  // The company filter goes into the URL and survives a reload.
  await page.getByLabel("Company").selectOption(other);
  await expect(page).toHaveURL(new RegExp(`company=${other}`));
  await page.reload();
  await expect(page.getByLabel("Company")).toHaveValue(other);
  await expect(page.getByRole("row", { name: /Globex ord/ })).toHaveCount(0);
  await page.getByRole("button", { name: /^Reject: / }).click();
  await page.getByLabel("Reason for rejecting").fill("ordered twice");
  await page.getByRole("button", { name: "Reject order" }).click();
  await expect(page.getByText("Order rejected.")).toBeVisible();
  const rejected = await ok(pm, "GET", `/v1/orders/${theirs.order_id}`);
  expect([rejected.status, rejected.reason]).toEqual(["rejected", "ordered twice"]);

  await page.getByLabel("Company").selectOption("");
  await page.getByRole("button", { name: /^Assign: .*Globex ord/ }).dblclick();
  await expect(page.getByText(/Order assigned: a lot of 10 licences/)).toBeVisible();
  const assigned = await ok(pm, "GET", `/v1/orders/${mine.order_id}`);
  expect(assigned.status).toBe("assigned");
  const lots = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  expect(lots.items.map((l: any) => [l.order_id, l.quantity, l.available])).toEqual([[mine.order_id, 10, 10]]);
  // Nothing is left requested; the status filter (All) shows both decisions.
  await expect(page.getByText("No orders.")).toBeVisible();
  await page.getByLabel("Status").selectOption("");
  await expect(page).toHaveURL(/status=(&|$)/);
  await expect(page.getByRole("row", { name: /Initech/ })).toContainText("Rejected");
  await expect(page.getByRole("row", { name: /Globex ord/ })).toContainText("Assigned");
});
