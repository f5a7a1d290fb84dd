#!/usr/bin/env python3
"""End to end through a running local server: CSV import through the API (review, a refused
confirm, a fixed file, a confirm that licenses exactly the renew rows) and a partner file through
the local S3 path. Standard library only.

    python3 tests/e2e/import_flow.py http://127.0.0.1:3000
"""
import json
import sys
import urllib.request

from client import Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token = w.call, w.check, w.token


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

    # A partner file through the local S3 path: stored in the bucket, handed over as an S3 event.
    req = urllib.request.Request(f"{BASE}/dev/s3/imports/{company}/partner%20file", data=f"email\n{emails[3]}\n".encode(), method="POST")
    req.add_header("x-amz-meta-mode", "renew")
    with urllib.request.urlopen(req, timeout=60) as r:
        record = json.loads(r.read())
    check("the S3 path reviews and commits in one go", record.get("source") == "s3" and record.get("status") == "failed"
          and "1 licences are needed but 0" in record.get("error", ""), record)
    s, b = call("GET", f"/v1/orgs/{company}/imports/{record['import_id']}", cm)
    check("its record is readable through the API", s == 200 and b["status"] == "failed", b)
    w.finish("import walk")


if __name__ == "__main__":
    main()
