#!/usr/bin/env python3
"""End to end through a running local server (`seatkeeper-local serve`), over real HTTP with
minted tokens: the foundation's "done when" walk. Standard library only.

    python3 tests/e2e/orders_flow.py http://127.0.0.1:3000
"""
import sys
import time
import uuid

from client import Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token, mail = w.call, w.check, w.token, w.mail




def main():
    w.wait_for_server()
    run = uuid.uuid4().hex[:8]
    partner, company = f"p-{run}", f"c-{run}"
    admin = token("vendor_admin", "vendor")

    s, b = call("POST", "/v1/orgs", admin, {"org_id": partner, "name": "Partner", "kind": "partner", "parent_id": "vendor"})
    check("vendor admin creates a partner", s == 201, b)
    pm = token("partner_manager", partner)
    s, b = call("POST", "/v1/orgs", pm, {"org_id": company, "name": "Company", "kind": "company", "parent_id": partner})
    check("partner manager creates a company", s == 201, b)

    # The partner's account manager is its contact for orders (a partner org holds no users);
    # the company's manager is a user of it.
    account, boss = f"account@{partner}.example", f"boss@{company}.example"
    s, b = call("PUT", f"/v1/orgs/{partner}/contacts", pm, {"contacts": [{"email": account, "name": "Account", "receives": ["orders"]}]})
    check("the partner names its account manager", s == 200, b)
    cm = token("company_manager", company)
    s, b = call("PUT", f"/v1/orgs/{company}/users/{boss}", cm, {"role": "company_manager"})
    check("the company has a manager", s in (200, 201), b)
    s, order = call("POST", f"/v1/orgs/{company}/orders", cm, {"quantity": 10}, now="2026-01-10T08:00:00Z")
    check("company manager requests 10", s == 201 and order.get("status") == "requested", order)
    order_id = order.get("order_id")

    s, b = call("GET", f"/v1/orgs/{partner}/orders?status=requested", pm)
    check("the partner's requested list shows it", s == 200 and [o["order_id"] for o in b["items"]] == [order_id], b)

    s, b = call("POST", f"/v1/orders/{order_id}/assign", pm, now="2026-01-15T09:00:00Z")
    check("partner manager assigns", s == 200 and b["status"] == "assigned", b)
    s, b = call("GET", f"/v1/orgs/{company}/lots", cm, now="2026-01-15T09:00:00Z")
    lot = b["items"][0] if s == 200 and b["items"] else {}
    check("the lot runs one calendar year", lot.get("valid_until") == "2027-01-15T09:00:00Z" and lot.get("available") == 10, b)
    s, b = call("GET", f"/v1/orgs/{company}/notifications", cm)
    check("the company is notified", s == 200 and [n["kind"] for n in b["items"]] == ["order_assigned"], b)
    requested = mail(account, "order_requested")
    check("the account manager is e-mailed the request", len(requested) == 1 and "requests 10 licences" in requested[0]["subject"], requested)
    ready = mail(boss, "order_assigned")
    check("the company's manager is e-mailed the assigned licences", len(ready) == 1 and ready[0]["subject"] == "10 licences are ready for allocation", ready)
    s, b = call("GET", f"/v1/orgs/{company}/audit", cm)
    check("the audit log has both steps", s == 200 and [e["action"] for e in b["items"] if e["action"].startswith("order.")] == ["order.assigned", "order.requested"], b)

    s, before = call("GET", f"/v1/orgs/{company}/orders", cm)
    bad = [
        ({"quantity": 0}, None, 400),
        ({"quantity": 100001}, None, 400),
        ({"quantity": "ten"}, None, 400),
        (None, None, 400),
        (None, b"{not json", 400),
    ]
    for body, raw, want in bad:
        s, b = call("POST", f"/v1/orgs/{company}/orders", cm, body, raw=raw)
        check(f"bad order {body or raw!r} is refused", s == want and b["error"]["code"] == "invalid_request" and b["error"]["message"], b)
    s, b = call("POST", "/v1/orgs/no-such-org/orders", admin, {"quantity": 1})
    check("an unknown org is not found", s == 404 and b["error"]["code"] == "not_found", b)
    s, after = call("GET", f"/v1/orgs/{company}/orders", cm)
    check("bad input changed nothing", before == after, (before, after))

    w.finish("orders walk")


if __name__ == "__main__":
    main()
