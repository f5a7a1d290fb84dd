#!/usr/bin/env python3
"""End to end through a running local server: CSV import through the API (review, a refused
confirm, a fixed file, a confirm that licenses exactly the renew rows) and a partner file through
the local S3 path. Standard library only.

    python3 tests/e2e/import_flow.py http://127.0.0.1:3000
"""
import io
import json
import sys
import urllib.request
import zipfile
from xml.sax.saxutils import escape

from client import REQUEST_BUDGET, Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token = w.call, w.check, w.token


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx(rows):
    """A small Excel workbook (one sheet, shared strings), as a spreadsheet program writes it."""
    strings = sorted({v for r in rows for v in r})
    col = lambda i: chr(65 + i)
    sheet_rows = "".join(
        f'<row r="{y + 1}">' + "".join(f'<c r="{col(x)}{y + 1}" t="s"><v>{strings.index(v)}</v></c>' for x, v in enumerate(r)) + "</row>"
        for y, r in enumerate(rows))
    ns = "http://schemas.openxmlformats.org"
    files = {
        "[Content_Types].xml": f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{ns}/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}/spreadsheetml/2006/main" '
        f'xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="Learners" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{ns}/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}/spreadsheetml/2006/main">'
        f"<sheetData>{sheet_rows}</sheetData></worksheet>",
        "xl/sharedStrings.xml": f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{ns}/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">' + "".join(f"<si><t>{escape(v)}</t></si>" for v in strings) + "</sst>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return out.getvalue()


def upload(tok, company, body, content_type, query="", now=None):
    """POST a file to the import with its own Content-Type (the walk's client sends JSON's)."""
    req = urllib.request.Request(f"{BASE}/v1/orgs/{company}/imports{query}", data=body, method="POST")
    req.add_header("Content-Type", content_type)
    req.add_header("Authorization", "Bearer " + tok)
    if now:
        req.add_header("X-Seatkeeper-Now", now)
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_BUDGET) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def rows(tok, company, import_id, query):
    """Every row of an import the rows route gives for `query`, following its cursors."""
    out, cursor = [], None
    for _ in range(100):
        q = query + (f"&cursor={cursor}" if cursor else "")
        s, b = call("GET", f"/v1/orgs/{company}/imports/{import_id}/rows?{q}", tok)
        if s != 200:
            return s, b
        out += b["items"]
        cursor = b["next_cursor"]
        if not cursor:
            return s, out
    return 0, out


def main():
    w.wait_for_server()
    partner, (company,) = w.tenants()
    cm, pm = token("company_manager", company), token("partner_manager", partner)
    s, order = call("POST", f"/v1/orgs/{company}/orders", cm, {"quantity": 3}, now="2026-01-10T08:00:00Z")
    call("POST", f"/v1/orders/{order['order_id']}/assign", pm, now="2026-01-15T09:00:00Z")
    emails = [f"learner{i}@{company}.example" for i in range(1, 5)]
    for e in emails:
        call("PUT", f"/v1/orgs/{company}/users/{e}", cm, {"name": e})

    csv = "Naam;E-mail\r\n" + "".join(f"x;{e.upper()}\r\n" for e in emails) + f"x;ghost@{company}.example\r\n"
    s, review = call("POST", f"/v1/orgs/{company}/imports", cm, raw=("\ufeff" + csv).encode(), now="2026-02-01T10:00:00Z")
    summary = review.get("summary", {})
    check("the review counts the rows", s == 201 and summary.get("renew") == 4 and summary.get("unknown") == 1
          and summary.get("available") == 3 and summary.get("shortfall") == 1, review)
    s, b = call("POST", f"/v1/orgs/{company}/imports/{review['import_id']}/confirm", cm, now="2026-02-01T10:00:00Z")
    check("a confirm with a shortfall is a 409", s == 409 and b["error"]["code"] == "insufficient_licences", b)
    s, b = call("GET", f"/v1/orgs/{company}/lots", cm, now="2026-02-01T10:00:00Z")
    check("and changes nothing", b["items"][0]["in_use"] == 0, b)

    fixed = "Naam;E-mail\r\n" + "".join(f"x;{e}\r\n" for e in emails[:3])
    s, review = call("POST", f"/v1/orgs/{company}/imports", cm, raw=fixed.encode(), now="2026-02-01T10:00:00Z")
    check("the fixed file has no shortfall", s == 201 and review["summary"]["shortfall"] == 0, review)
    s, b = call("POST", f"/v1/orgs/{company}/imports/{review['import_id']}/confirm", cm, now="2026-02-01T10:00:00Z")
    check("confirm licenses exactly the renew rows", s == 200 and b["status"] == "committed" and b["allocated"] == 3, b)
    s, b = call("GET", f"/v1/orgs/{company}/licences?status=active", cm, now="2026-02-01T10:00:00Z")
    check("three active licences", sorted(l["email"] for l in b["items"]) == sorted(emails[:3]), b)

    check("the review names the file's columns", review.get("columns") == ["Naam", "E-mail"]
          and review.get("email_column") == "E-mail", review)
    s, all_rows = rows(cm, company, review["import_id"], "limit=2")
    check("its rows come page by page", s == 200 and [(r["line"], r["email"], r["outcome"]) for r in all_rows]
          == [(i + 2, e, "renew") for i, e in enumerate(emails[:3])], all_rows)

    # A spreadsheet, by its media type: read as its CSV would be, rows numbered as the sheet's.
    book = xlsx([["Name", "Work e-mail"], ["D", emails[3].upper()], ["G", f"ghost@{company}.example"]])
    s, review = upload(cm, company, book, XLSX, "?email_column=work%20e-mail&mode=sync", now="2026-02-01T11:00:00Z")
    check("a workbook is reviewed", s == 201 and review["columns"] == ["Name", "Work e-mail"]
          and review["summary"]["renew"] == 1 and review["summary"]["unknown"] == 1, review)
    s, unknown = rows(cm, company, review["import_id"], "outcome=unknown")
    check("its unknown row is row 3", s == 200 and [(r["line"], r["outcome"]) for r in unknown] == [(3, "unknown")], unknown)
    s, released = rows(cm, company, review["import_id"], "outcome=release")
    check("a sync review lists who would be released before anything happens",
          s == 200 and sorted(r["email"] for r in released) == sorted(emails[:3])
          and all(r["line"] is None for r in released) and review["summary"]["release"] == 3, released)
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[0]}", cm, now="2026-02-01T11:00:00Z")
    check("and nobody was released yet", b["licence_status"] == "active", b)
    s, b = upload(cm, company, b"email\nx@y.example\n", XLSX)
    check("a CSV sent as a workbook is refused, naming the row", s == 400 and b["error"]["message"].startswith("row 1:"), b)

    # A partner file through the local S3 path: stored in the bucket, handed over as an S3 event.
    req = urllib.request.Request(f"{BASE}/dev/s3/imports/{company}/partner%20file", data=f"email\n{emails[3]}\n".encode(), method="POST")
    req.add_header("x-amz-meta-mode", "renew")
    with urllib.request.urlopen(req, timeout=REQUEST_BUDGET) as r:
        record = json.loads(r.read())
    check("the S3 path reviews and commits in one go", record.get("source") == "s3" and record.get("status") == "failed"
          and "1 licences are needed but 0" in record.get("error", ""), record)
    s, b = call("GET", f"/v1/orgs/{company}/imports/{record['import_id']}", cm)
    check("its record is readable through the API", s == 200 and b["status"] == "failed", b)
    req = urllib.request.Request(f"{BASE}/dev/s3/imports/{company}/partner%20book", data=xlsx([["email"], [emails[3]]]), method="POST")
    with urllib.request.urlopen(req, timeout=REQUEST_BUDGET) as r:
        record = json.loads(r.read())
    check("a partner workbook on the local S3 path lands under .xlsx and is read",
          record.get("s3", {}).get("key") == f"imports/{company}/partner book.xlsx" and record.get("columns") == ["email"]
          and record.get("summary", {}).get("renew") == 1, record)
    w.finish("import walk")


if __name__ == "__main__":
    main()
