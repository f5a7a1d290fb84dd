import { expect, test } from "@playwright/test";
import { call, lot, ok, partnerAndCompany, sesEvent, setLanguage, shoot, signInAs, visit } from "./helpers";

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
  await expect(page.getByText("No address is suppressed.")).toBeVisible();

  // SES reports that the manager marked the notice as spam (AWS's sample, as EventBridge
  // delivers it): her address is suppressed for this company, and the next notice says so.
  const complained = await ok(cm, "POST", "/dev/ses-events", sesEvent("complaint", boss, company, notices.items[0].notice_id));
  expect(complained.suppressed).toEqual([[boss, "org", company]]);
  await lot(cm, pm, company, 5);
  await ok(cm, "GET", `/dev/mail?to=${encodeURIComponent(boss)}&settled=true`);
  const after = await ok(cm, "GET", `/v1/orgs/${company}/notifications`);
  expect(after.items[0]?.deliveries?.[0]).toMatchObject({ email: boss, state: "suppressed", reason: "complaint" });
  await visit(page, "/notifications");
  await expect(page.locator(`li[data-delivery="suppressed"]`)).toHaveText(`${boss} — not sent: the recipient reported a notice as spam (clear it below to e-mail them again)`);
  await expect(page.locator(`tr[data-suppressed="${boss}"]`)).toContainText("Complaint");
  await shoot(page, "notifications");
  // Her manager clears it: the API holds no suppression any more.
  await page.getByRole("button", { name: `Clear ${boss}` }).click();
  await expect(page.getByText(`${boss} will be e-mailed again.`)).toBeVisible();
  await expect(page.getByText("No address is suppressed.")).toBeVisible();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/suppressions`)).items).toEqual([]);
  expect((await call(cm, "DELETE", `/v1/orgs/${company}/suppressions/${encodeURIComponent(boss)}`)).status).toBe(404);

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

test("Who is told: a partner manager names an order contact, who then receives the customers' requests (en, nl)", async ({ page }) => {
  const { partner, company, pm, cm } = await partnerAndCompany("who");
  const anna = `anna@${partner}.example`;
  await signInAs(page, pm);
  expect(await visit(page, "/notifications")).toBeLessThanOrEqual(3);
  const who = page.getByRole("form", { name: "Who is told" });
  await expect(who.getByText("No contacts yet.")).toBeVisible();
  await who.getByRole("button", { name: "Add contact" }).click();
  await who.getByLabel("E-mail of contact 1").fill(anna);
  await who.getByLabel("Name of contact 1").fill("Anna de Vries");
  await who.getByLabel("Orders to handle: contact 1").check();
  await who.getByRole("button", { name: "Save" }).click();
  await expect(who.getByText("Contacts saved.")).toBeVisible();
  expect((await ok(pm, "GET", `/v1/orgs/${partner}/contacts`)).contacts).toEqual([{ email: anna, name: "Anna de Vries", receives: ["orders"] }]);

  // Nothing ticked: the API's refusal, in words.
  await who.getByLabel("Orders to handle: contact 1").uncheck();
  await who.getByRole("button", { name: "Save" }).click();
  await expect(who.getByRole("alert")).toHaveText("Check contact 1, what they receive: must be filled in.");
  expect((await ok(pm, "GET", `/v1/orgs/${partner}/contacts`)).contacts[0].receives).toEqual(["orders"]);

  // The company's request reaches her; the company's managers see her as their account contact.
  await ok(cm, "POST", `/v1/orgs/${company}/orders`, { quantity: 4 });
  expect((await ok(cm, "GET", `/v1/orgs/${company}`)).account_contacts).toEqual([{ email: anna, name: "Anna de Vries" }]);
  await page.reload();
  await expect(page.locator("tbody tr").first()).toContainText(anna);
  await setLanguage(page, "nl");
  await expect(page.getByRole("heading", { name: "Wie krijgt bericht" })).toBeVisible();
  await expect(page.getByLabel("Te behandelen bestellingen: contactpersoon 1")).toBeChecked();
  // The API's refusal in Dutch, not its English: the same address twice.
  const wie = page.getByRole("form", { name: "Wie krijgt bericht" });
  await wie.getByRole("button", { name: "Contactpersoon toevoegen" }).click();
  await wie.getByLabel("E-mailadres van contactpersoon 2").fill(anna.toUpperCase());
  await wie.getByLabel("Te behandelen bestellingen: contactpersoon 2").check();
  await wie.getByRole("button", { name: "Opslaan" }).click();
  await expect(wie.getByRole("alert")).toHaveText(`Controleer contactpersoon 2, e-mail: ${anna} staat er twee keer in.`);
  expect((await ok(pm, "GET", `/v1/orgs/${partner}/contacts`)).contacts).toHaveLength(1);
  await shoot(page, "contacts");
});
