import { expect, test } from "@playwright/test";
import { zipSync, strToU8 } from "fflate";
import { lot, ok, partnerAndCompany, shoot, signInAs, users } from "./helpers";

/** A small .xlsx (one sheet, shared strings), as a spreadsheet program writes it. */
function xlsx(rows: string[][]): Buffer {
  const strings: string[] = [];
  const idx = (s: string) => (strings.includes(s) ? strings.indexOf(s) : strings.push(s) - 1);
  const col = (i: number) => String.fromCharCode(65 + i);
  const sheetRows = rows
    .map((r, y) => `<row r="${y + 1}">${r.map((v, x) => `<c r="${col(x)}${y + 1}" t="s"><v>${idx(v)}</v></c>`).join("")}</row>`)
    .join("");
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const files = {
    "[Content_Types].xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
    ),
    "_rels/.rels": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
    ),
    "xl/workbook.xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Learners" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    ),
    "xl/_rels/workbook.xml.rels": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
    ),
    "xl/worksheets/sheet1.xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>${sheetRows}</sheetData></worksheet>`,
    ),
    "xl/sharedStrings.xml": strToU8(
      `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((s) => `<si><t>${esc(s)}</t></si>`).join("")}</sst>`,
    ),
  };
  return Buffer.from(zipSync(files));
}

test("Import allocation: a spreadsheet, the column dropdown, the review with its rows, Renew licences; sync shows who is released", async ({ page }) => {
  const { cm, pm, company } = await partnerAndCompany("imp");
  const [ann, bob, cas, dan] = ["ann", "bob", "cas", "dan"].map((n) => `${n}@${company}.example`);
  await users(cm, company, [ann, bob, dan]);
  await lot(cm, pm, company, 3);
  await signInAs(page, cm, "/licences/import");

  // The e-mail column is not one the API recognises by name: the dropdown offers the file's columns.
  await page.getByLabel("User spreadsheet file").setInputFiles({
    name: "learners.xlsx",
    mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    buffer: xlsx([["Name", "Work address"], ["Ann", ann], ["Bob", bob.toUpperCase()], ["Cas", cas], ["Ann again", ann], ["Nobody", "not-an-email"]]),
  });
  await page.getByRole("button", { name: "Upload" }).click();
  const column = page.getByLabel("Column containing the e-mail");
  await expect(column).toBeVisible();
  await expect(column.locator("option")).toHaveText(["Choose the column…", "Name", "Work address"]);
  await column.selectOption("Work address");
  const review = page.locator("table.review");
  await expect(review.locator('tr[data-outcome="renew"] td.num')).toHaveText("2");
  await expect(column).toHaveValue("Work address");
  for (const [o, n] of [["already_active", "0"], ["unknown", "1"], ["duplicate", "1"], ["invalid", "1"]]) {
    await expect(review.locator(`tr[data-outcome="${o}"] td.num`)).toHaveText(n);
  }
  await expect(review.getByRole("row", { name: /Licences available/ })).toContainText("3");
  await expect(review.getByRole("row", { name: /Shortfall/ })).toContainText("0");
  await page.getByRole("button", { name: /Show rows\W+Unknown/ }).click();
  await expect(page.getByRole("region", { name: "Rows: Unknown" }).getByRole("cell", { name: cas })).toBeVisible();
  await shoot(page, "import-review");

  // Nothing has happened yet.
  expect((await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`)).items).toHaveLength(0);
  await page.getByRole("button", { name: "Renew licences" }).dblclick();
  await expect(page.getByText("Done: 2 licences allocated, 0 users released.")).toBeVisible();
  const active = await ok(cm, "GET", `/v1/orgs/${company}/licences?status=active`);
  expect(active.items.map((l: any) => l.email).sort()).toEqual([ann, bob]);
  const lots = await ok(cm, "GET", `/v1/orgs/${company}/lots`);
  expect(lots.items[0].in_use).toBe(2);
  await shoot(page, "import-result");

  // Sync: the users missing from the file are shown as released before anything happens.
  await page.getByRole("button", { name: "Import another file" }).click();
  await page.getByLabel(/Synchronize users/).check();
  await expect(page).toHaveURL(/mode=sync/);
  await page.getByLabel("User spreadsheet file").setInputFiles({ name: "keep.csv", mimeType: "text/csv", buffer: Buffer.from(`email\n${ann}\n${bob}\n`) });
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(review.locator('tr[data-outcome="release"] td.num')).toHaveText("1");
  await expect(page.getByText(/1 users missing from the file will be released/)).toBeVisible();
  await page.getByRole("button", { name: /Show rows\W+To be released/ }).click();
  await shoot(page, "import-sync");
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${dan}`)).licence_status).toBeNull();
  await page.getByRole("button", { name: "Renew licences" }).click();
  await expect(page.getByText("Done: 0 licences allocated, 1 users released.")).toBeVisible();
  const d = await ok(cm, "GET", `/v1/orgs/${company}/users/${dan}`);
  expect(d.released_at).toBeTruthy();
  expect((await ok(cm, "GET", `/v1/orgs/${company}/users/${ann}`)).licence_status).toBe("active");
});
