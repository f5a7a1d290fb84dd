#!/usr/bin/env python3
"""End to end through a running local server (`seatkeeper-local serve`), over real HTTP with
minted tokens: the foundation's "done when" walk. Standard library only.

    python3 tests/e2e/orders_flow.py http://127.0.0.1:3000
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "debug", "seatkeeper-local")
passed = 0
failed = 0


def token(role, org):
    return subprocess.check_output([BIN, "token", "--role", role, "--org", org], text=True).strip()


def call(method, path, tok=None, body=None, now=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    if now:
        req.add_header("X-Seatkeeper-Now", now)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def wait_for_server():
    for _ in range(300):
        try:
            if call("GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"the local server did not answer on {BASE}")


def main():
    wait_for_server()
    run = uuid.uuid4().hex[:8]
    partner, company = f"p-{run}", f"c-{run}"
    admin = token("vendor_admin", "vendor")

    s, b = call("POST", "/v1/orgs", admin, {"org_id": partner, "name": "Partner", "kind": "partner", "parent_id": "vendor"})
    check("vendor admin creates a partner", s == 201, b)
    pm = token("partner_manager", partner)
    s, b = call("POST", "/v1/orgs", pm, {"org_id": company, "name": "Company", "kind": "company", "parent_id": partner})
    check("partner manager creates a company", s == 201, b)

    cm = token("company_manager", company)
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
    s, b = call("GET", f"/v1/orgs/{company}/audit", cm)
    check("the audit log has both steps", s == 200 and [e["action"] for e in b["items"]] == ["order.assigned", "order.requested"], b)

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

    print(f"e2e: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
