import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { call, JOB_BUDGET, lot, ok, partnerAndCompany, SETUP_BUDGET, shoot, signInAs, users } from "./helpers";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
// A small workbook as a spreadsheet program writes it (one sheet "Learners", shared strings):
//   Name      | E-mail                 | Work address
//   Ann       | ann@home.example       | ann@globex.example
//   Bob       | bob@home.example       | BOB@globex.example
//   Cas       | cas@home.example       | cas@globex.example
//   Ann again | ann.again@home.example | ann@globex.example
//   Nobody    | nobody@home.example    | not-an-email
const learners = readFileSync(fileURLToPath(new URL("./fixtures/learners.xlsx", import.meta.url)));

test("Import allocation: an .xlsx sent as it is, the API's columns, the review with its rows, Renew licences; sync shows who is released", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("imp");
  const [ann, bob, dan] = ["ann", "bob", "dan"].map((n) => `${n}@globex.example`);
  await users(cm, company, [ann, bob, dan]);
  await lot(cm, pm, company, 3);
  await signInAs(page, cm, "/licences/import");

  // The workbook goes to the API as it is; the API guesses "E-mail" and names the columns.
  const file = page.getByLabel("User spreadsheet file");
  await file.setInputFiles({ name: "learners.xlsx", mimeType: XLSX, buffer: learners });
  const posted = page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === `/v1/orgs/${company}/imports`);
  await page.getByRole("button", { name: "Upload" }).click();
  // (Chromium does not expose a Blob body to Playwright: the header and the API's answer tell.)
  const request = await posted;
  expect(request.headers()["content-type"]).toBe(XLSX);
  expect((await (await request.response())!.json()).columns).toEqual(["Name", "E-mail", "Work address"]);
  const column = page.getByLabel("Column containing the e-mail");
  await expect(column).toHaveValue("E-mail");
  await expect(column.locator("option")).toHaveText(["Name", "E-mail", "Work address"]);
  const review = page.locator("table.review");
  await expect(review.locator('tr[data-outcome="unknown"] td.num')).toHaveText("5");

  // Another column: the file is sent again with ?email_column=.
  const again = page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).searchParams.get("email_column") === "Work address");
  await column.selectOption("Work address");
  await again;
  await expect(review.locator('tr[data-outcome="renew"] td.num')).toHaveText("2");
  await expect(column).toHaveValue("Work address");
  for (const [o, n] of [["already_active", "0"], ["unknown", "1"], ["duplicate", "1"], ["invalid", "1"]]) {
    await expect(review.locator(`tr[data-outcome="${o}"] td.num`)).toHaveText(n);
  }
  await expect(review.getByRole("row", { name: /Licences available/ })).toContainText("3");
  await expect(review.getByRole("row", { name: /Shortfall/ })).toContainText("0");
  await page.getByRole("button", { name: /Show rows\W+Unknown/ }).click();
  const unknown = page.getByRole("region", { name: "Rows: Unknown" });
  await expect(unknown.getByRole("row", { name: /cas@globex\.example/ })).toContainText("4");
  await shoot(page, "import-review");

  // Nothing has happened yet.
  expect((await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`)).items).toHaveLength(0);
  await page.getByRole("button", { name: "Renew licences" }).dblclick();
  await expect(page.getByText("Done: 2 licences allocated, 0 users released.")).toBeVisible();
  const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`);
  expect(active.items.map((l: any) => l.email).sort()).toEqual([ann, bob]);
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${dan}`)).licence_status).toBeNull();
  const lots = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  expect(lots.items[0].in_use).toBe(2);
  await shoot(page, "import-result");

  // Sync: who would be released (from the rows route: outcome release, no line) before anything happens.
  await page.getByRole("button", { name: "Import another file" }).click();
  await page.getByLabel(/Synchronize users/).check();
  await expect(page).toHaveURL(/mode=sync/);
  await file.setInputFiles({ name: "keep.csv", mimeType: "text/csv", buffer: Buffer.from(`email\n${ann}\n${bob}\n`) });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(review.locator('tr[data-outcome="release"] td.num')).toHaveText("1");
  await expect(page.getByText(/1 users missing from the file will be released/)).toBeVisible();
  const released = page.getByRole("region", { name: "Rows: To be released" });
  await expect(released.locator("tbody tr")).toHaveCount(1);
  await expect(released.locator("tbody tr td")).toHaveText(["—", dan]);
  await shoot(page, "import-sync");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${dan}`)).released_at).toBeUndefined();
  await page.getByRole("button", { name: "Renew licences" }).click();
  await expect(page.getByText("Done: 0 licences allocated, 1 users released.")).toBeVisible();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${dan}`)).released_at).toBeTruthy();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}`)).licence_status).toBe("active");
});

test("Import allocation: the rows of an outcome page with Show more; a file without an e-mail column is refused in words", async ({ page }) => {
  const { cm, company } = await partnerAndCompany("imq");
  await signInAs(page, cm, "/licences/import");
  const file = page.getByLabel("User spreadsheet file");

  // The API finds no e-mail column: its refusal, in words, names the header's columns
  // (details.columns), which the dropdown offers; choosing one sends the file again with it.
  await file.setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from("Name,Work address\nAnn,ann@globex.example\n") });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("alert")).toContainText(/Line 1 of the file: no e-mail column found.*"Name", "Work address"/);
  const column = page.getByLabel("Column containing the e-mail");
  await expect(column.locator("option")).toHaveText(["Choose the column…", "Name", "Work address"]);
  const chosen = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).searchParams.get("email_column") === "Work address");
  await column.selectOption("Work address");
  expect((await chosen).status()).toBe(201);
  await expect(page.getByRole("heading", { name: "Review" })).toBeVisible();

  // 150 unknown learners: the first 100, then Show more for the rest.
  const emails = Array.from({ length: 150 }, (_, i) => `learner${String(i).padStart(3, "0")}@globex.example`);
  await file.setInputFiles({ name: "many.csv", mimeType: "text/csv", buffer: Buffer.from(`email\n${emails.join("\n")}\n`) });
  const answered = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === `/v1/orgs/${company}/imports`);
  await page.getByRole("button", { name: "Upload" }).click();
  const id: string = (await (await answered).json()).import_id;
  const review = page.locator("table.review");
  await expect(review.locator('tr[data-outcome="unknown"] td.num')).toHaveText("150");
  await page.getByRole("button", { name: /Show rows\W+Unknown/ }).click();
  const rows = page.getByRole("region", { name: "Rows: Unknown" });
  await expect(rows.locator("tbody tr")).toHaveCount(100);
  await expect(rows.getByText("100 of 150 shown")).toBeVisible();
  await shoot(page, "import-rows");
  await rows.getByRole("button", { name: /Show more/ }).click();
  await expect(rows.locator("tbody tr")).toHaveCount(150);
  await expect(rows.getByText("150 of 150 shown")).toBeVisible();
  await expect(rows.getByRole("button", { name: /Show more/ })).toHaveCount(0);

  // The table holds exactly the API's rows of that outcome, page after page.
  const fromApi: string[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: any } = await call(cm, "GET", `/v1/orgs/${company}/imports/${id}/rows?outcome=unknown&limit=60${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(r.status).toBe(200);
    fromApi.push(...r.body.items.map((x: any) => `${x.line} ${x.email}`));
    cursor = r.body.next_cursor;
  } while (cursor);
  const shown = await rows.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent).join(" ")));
  expect(shown).toEqual(fromApi);
  expect(fromApi[0]).toBe(`2 ${emails[0]}`);
});

test.describe("a large commit", () => {
  // 130 users and a lot of 130, set up outside the test's own timeout.
  let setup: { cm: string; company: string; emails: string[] };
  test.beforeAll(async () => {
    test.setTimeout(SETUP_BUDGET);
    const { cm, pm, company } = await partnerAndCompany("impjob");
    const emails = Array.from({ length: 130 }, (_, i) => `r${String(i).padStart(3, "0")}@${company}.example`);
    await users(cm, company, emails);
    await lot(cm, pm, company, 130);
    setup = { cm, company, emails };
  });

  test("Import allocation: renewing more learners than a request writes shows the commit's progress until it is done", async ({ page }) => {
    // The test server finishes commits of more than 100 licences in the background
    // (BACKGROUND_ROWS=100 in make test), as a deployed stack does above 5,000.
    const { cm, company, emails } = setup;
    await signInAs(page, cm, "/licences/import");

    await page.getByLabel("User spreadsheet file").setInputFiles({ name: "renew.csv", mimeType: "text/csv", buffer: Buffer.from(`email\n${emails.join("\n")}\n`) });
    await page.getByRole("button", { name: "Upload" }).click();
    await expect(page.locator('table.review tr[data-outcome="renew"] td.num')).toHaveText("130");
    // The first two reads of the job answer 503 (the API busy for now): the console keeps
    // reading, with longer pauses, and the commit is still followed to its end.
    let unavailable = 0;
    await page.route(/\/v1\/orgs\/[^/]+\/imports\/[^/?]+$/, async (route) => {
      if (route.request().method() !== "GET" || unavailable >= 2) return route.fallback();
      unavailable++;
      await route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: { code: "unavailable", message: "busy, retry shortly" } }) });
    });
    const confirmed = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname.endsWith("/confirm"));
    await page.getByRole("button", { name: "Renew licences" }).click();
    const answer = await confirmed;
    expect(answer.status()).toBe(202);
    expect((await answer.json()).rows_total).toBe(130);
    await expect(page.getByRole("status")).toHaveText("Renewing licences…");
    await expect(page.getByRole("progressbar", { name: "Progress" })).toHaveAttribute("max", "130");
    await expect(page.getByText("Done: 130 licences allocated, 0 users released.")).toBeVisible({ timeout: JOB_BUDGET });
    expect(unavailable).toBe(2);
    await shoot(page, "import-done");
    const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active&limit=500`);
    expect(active.items).toHaveLength(130);
  });
});

test("Import allocation: a job that is gone (404) stops the polling with the message; nothing was committed", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("imz");
  const learner = `ann@${company}.example`;
  await users(cm, company, [learner]);
  await lot(cm, pm, company, 1);
  await page.clock.install();
  await signInAs(page, cm, "/licences/import");
  await page.getByLabel("User spreadsheet file").setInputFiles({ name: "one.csv", mimeType: "text/csv", buffer: Buffer.from(`email\n${learner}\n`) });
  const answered = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === `/v1/orgs/${company}/imports`);
  await page.getByRole("button", { name: "Upload" }).click();
  const reviewed = await (await answered).json();
  await expect(page.locator('table.review tr[data-outcome="renew"] td.num')).toHaveText("1");
  // The confirm answered as a commit in the background, and its record then gone.
  await page.route(`**/v1/orgs/${company}/imports/${reviewed.import_id}/confirm`, (route) =>
    route.fulfill({ status: 202, contentType: "application/json", body: JSON.stringify({ ...reviewed, status: "committing", rows_done: 0, rows_total: 1 }) }),
  );
  let reads = 0;
  await page.route(`**/v1/orgs/${company}/imports/${reviewed.import_id}`, (route) => {
    reads++;
    return route.fulfill({ status: 404, contentType: "application/json", body: JSON.stringify({ error: { code: "not_found", message: "no such import" } }) });
  });
  await page.getByRole("button", { name: "Renew licences" }).click();
  await expect(page.getByRole("alert")).toHaveText("Not found (or not yours to see).");
  await expect(page.getByRole("button", { name: "Import another file" })).toBeVisible();
  await expect(page.getByText("Renewing licences…")).toHaveCount(0);
  // A minute later by the page's clock: no read after the 404.
  await page.clock.runFor(60_000);
  expect(reads).toBe(1);
  const held = await ok(cm, "GET", `/v1/orgs/${company}/imports/${reviewed.import_id}`);
  expect(held.status).toBe("reviewed");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${learner}`)).licence_status).toBe(null);
});
