#!/usr/bin/env python3
"""End to end through a running local server: the usage report of a partner with three
companies after allocations, a release and an expiry, as JSON and CSV, and the overage state as
the dev snapshot sweep runs on chosen days. Standard library only.

    python3 tests/e2e/usage_flow.py http://127.0.0.1:3000
"""
import sys
import urllib.request

from client import REQUEST_BUDGET, Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token = w.call, w.check, w.token


def figures(row):
    return (row["limit"], row["used"], row["remaining"], row["percent_used"])


def main():
    w.wait_for_server()
    partner, (a, b, c) = w.tenants(3)
    admin, pm = token("vendor_admin", "vendor"), token("partner_manager", partner)
    call("PUT", f"/v1/orgs/{b}/policy", admin, {"counting": "active_users", "enforcement": "soft", "tiers": [5, 10]})
    for org, quantity, assigned in ((a, 10, "2026-01-15T09:00:00Z"), (b, 5, "2026-01-15T09:00:00Z"), (c, 4, "2025-03-01T09:00:00Z")):
        cm = token("company_manager", org)
        s, order = call("POST", f"/v1/orgs/{org}/orders", cm, {"quantity": quantity}, now=assigned)
        call("POST", f"/v1/orders/{order['order_id']}/assign", pm, now=assigned)
    cma, cmc = token("company_manager", a), token("company_manager", c)
    s, r = call("POST", f"/v1/orgs/{a}/allocations", cma, {"emails": [f"u{i}@{a}.example" for i in range(6)], "create_missing": True}, now="2026-02-01T00:00:00Z")
    check("six allocated in the first company", r.get("allocated") == 6, r)
    call("DELETE", f"/v1/orgs/{a}/users/u0@{a}.example", cma, now="2026-02-02T00:00:00Z")
    s, r = call("POST", f"/v1/orgs/{c}/allocations", cmc, {"emails": [f"u{i}@{c}.example" for i in range(2)], "create_missing": True}, now="2025-04-01T00:00:00Z")
    check("two allocated in the third company", r.get("allocated") == 2, r)
    platform = token("platform", b)
    for i in range(4):
        email = f"u{i}@{b}.example"
        call("PUT", f"/v1/orgs/{b}/users/{email}", platform, {})
        call("PUT", f"/v1/orgs/{b}/users/{email}/enrolments/run", platform, {"status": "active"}, now="2026-02-01T00:00:00Z")

    call("POST", "/dev/sweeps/expire?now=2026-04-01T00:00:00Z")
    s, u = call("GET", f"/v1/orgs/{partner}/usage", pm, now="2026-04-01T00:00:00Z")
    rows = {r["org_id"]: figures(r) for r in u.get("children", [])}
    check("the partner's own row is empty", s == 200 and figures(u["org"]) == (0, 0, 0, 0.0), u)
    check("allocations and a release show in the first company", rows.get(a) == (10, 5, 5, 50.0), rows)
    check("active users count in the second", rows.get(b) == (5, 4, 1, 80.0), rows)
    check("the expired lot leaves the third with nothing", rows.get(c) == (0, 0, 0, 0.0), rows)
    check("the total adds up", figures(u["total"]) == (15, 9, 6, 60.0), u["total"])

    req = urllib.request.Request(f"{BASE}/v1/orgs/{partner}/usage?format=csv")
    req.add_header("Authorization", "Bearer " + pm)
    req.add_header("X-Seatkeeper-Now", "2026-04-01T00:00:00Z")
    with urllib.request.urlopen(req, timeout=REQUEST_BUDGET) as r:
        text = r.read().decode("utf-8")
    check("the CSV opens in Excel (BOM) with a row per org and the total", text.startswith("\ufeff") and len(text.strip().splitlines()) == 6, text)

    call("POST", "/dev/sweeps/snapshot?now=2026-04-06T01:00:00Z")
    s, u = call("GET", f"/v1/orgs/{partner}/usage", pm, now="2026-04-06T02:00:00Z")
    second = next(r for r in u["children"] if r["org_id"] == b)
    check("within the limit: no overage", second["overage"]["state"] == "none", second)
    for i in range(4, 6):
        email = f"u{i}@{b}.example"
        call("PUT", f"/v1/orgs/{b}/users/{email}", platform, {})
        call("PUT", f"/v1/orgs/{b}/users/{email}/enrolments/run", platform, {"status": "active"}, now="2026-04-06T09:00:00Z")
    for day in ("2026-04-07", "2026-04-08"):
        call("POST", f"/dev/sweeps/snapshot?now={day}T01:00:00Z")
    s, u = call("GET", f"/v1/orgs/{partner}/usage", pm, now="2026-04-08T02:00:00Z")
    second = next(r for r in u["children"] if r["org_id"] == b)
    check("6 of 5 for two days: a major overage since the first", second["overage"] == {"state": "major", "since": "2026-04-07", "business_days": 2}, second)
    s, n = call("GET", f"/v1/orgs/{b}/notifications", token("company_manager", b))
    kinds = [x["kind"] for x in n["items"] if x["kind"] in ("overage", "upgrade_due")]
    check("one overage notice, then one upgrade_due", kinds == ["upgrade_due", "overage"], kinds)
    w.finish("usage walk")


if __name__ == "__main__":
    main()
