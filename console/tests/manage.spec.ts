import { expect, test } from "@playwright/test";
import { ok, partnerAndCompany, setLanguage, shoot, signInAs, visit } from "./helpers";

test("Manage company: a partner picks a customer, acts in its Licences section under a banner, and exits", async ({ page }) => {
  const { company, pm, cm } = await partnerAndCompany("mng");
  await signInAs(page, pm, "/companies");
  expect(await visit(page, "/companies")).toBeLessThanOrEqual(3);
  await shoot(page, "companies");
  // The help pages: "Click on the 'Actions' button. Choose 'Manage Company'" (in Dutch: Acties, Bedrijf beheren).
  await setLanguage(page, "nl");
  await page.getByRole("button", { name: /^Acties: Globex mng/ }).click();
  await expect(page.getByRole("link", { name: /^Bedrijf beheren: Globex mng/ })).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("link", { name: /^Bedrijf beheren: Globex mng/ })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Acties: Globex mng/ })).toBeFocused();
  await setLanguage(page, "en");
  await page.getByRole("button", { name: /^Actions: Globex mng/ }).click();
  await page.getByRole("link", { name: /^Manage Company: Globex mng/ }).click();
  await expect(page).toHaveURL(new RegExp(`/companies/${company}/licences/expired$`));
  await expect(page.getByText(/Manage mode: you are managing Globex mng/)).toBeVisible();
  await page.getByRole("link", { name: "Orders" }).click();
  await expect(page).toHaveURL(new RegExp(`/companies/${company}/licences/orders$`));
  // A reload keeps the managed company (it is in the URL), the banner too.
  await page.reload();
  await expect(page.getByText(/Manage mode: you are managing Globex mng/)).toBeVisible();
  expect(await visit(page, `/companies/${company}/licences/orders`)).toBeLessThanOrEqual(3);
  await page.getByRole("button", { name: "Request licences" }).click();
  await page.getByLabel("Number of licences").fill("5");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Order for 5 licences requested.")).toBeVisible();
  await shoot(page, "manage-company");
  const orders = await ok(cm, "GET", `/v1/orgs/${company}/orders`);
  expect(orders.items.map((o: any) => [o.quantity, o.status, o.requested_by])).toEqual([[5, "requested", expect.stringMatching(/^pm@/)]]);
  const audit = await ok(cm, "GET", `/v1/orgs/${company}/audit`);
  expect(audit.items.find((a: any) => a.action === "order.requested")?.actor).toMatch(/^pm@/);
  await page.getByRole("link", { name: "Exit" }).click();
  await expect(page).toHaveURL(/\/companies$/);
  await expect(page.getByText(/Manage mode/)).toHaveCount(0);
});
