#!/usr/bin/env python3
"""End to end through a running local server: automatic renewal, the forecast a year ahead, the
sweep at that date charging exactly the forecast's will_renew users. Standard library only.

    python3 tests/e2e/renewal_flow.py http://127.0.0.1:3000
"""
import sys

from client import Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token = w.call, w.check, w.token


def main():
    w.wait_for_server()
    partner, (company,) = w.tenants()
    admin = token("vendor_admin", "vendor")
    s, b = call("PUT", f"/v1/orgs/{company}/policy", admin, {"term_starts": "activation", "renewal": "automatic"})
    check("the company renews automatically", s == 200 and b["policy"]["renewal"] == "automatic", b)
    cm, pm, platform = token("company_manager", company), token("partner_manager", partner), token("platform", company)
    s, order = call("POST", f"/v1/orgs/{company}/orders", cm, {"quantity": 6}, now="2021-04-01T08:00:00Z")
    call("POST", f"/v1/orders/{order['order_id']}/assign", pm, now="2021-04-01T09:00:00Z")

    start = "2021-05-11T09:00:00Z"
    people = {
        "wessel": {"status": "active", "starts_at": start, "ends_at": "2023-05-11T09:00:00Z"},
        "mandy": {"status": "active", "starts_at": start, "ends_at": "2023-01-01T00:00:00Z"},
        "once": {"status": "active", "starts_at": start, "ends_at": "2022-05-11T09:00:00Z"},
        "no": {"status": "active", "starts_at": start, "ends_at": "2023-05-11T09:00:00Z"},
    }
    for name, enrolment in people.items():
        email = f"{name}@{company}.example"
        call("PUT", f"/v1/orgs/{company}/users/{email}", platform, {"name": name}, now="2021-05-01T00:00:00Z")
        s, b = call("PUT", f"/v1/orgs/{company}/users/{email}/enrolments/run", platform, enrolment, now=start)
        check(f"{name} enrolled and started", s == 200 and b["user"]["licence"]["status"] == "active", b)
    call("POST", f"/v1/orgs/{company}/users/renewable", cm, {"emails": [f"no@{company}.example"], "renewable": False})

    s, forecast = call("GET", f"/v1/orgs/{company}/renewals?until=2022-05-31", cm, now="2021-06-01T00:00:00Z")
    will = sorted(r["email"] for r in forecast.get("items", []) if r["will_renew"])
    check("the forecast a year ahead lists all four", s == 200 and len(forecast["items"]) == 4, forecast)
    check("and says who will renew", will == [f"mandy@{company}.example", f"wessel@{company}.example"], will)

    s, report = call("POST", "/dev/sweeps/renewal?now=2022-05-31T00:00:00Z")
    check("the sweep at that date charges exactly them", s == 200 and sorted(report["renewed"]) == will, report)
    s, b = call("GET", f"/v1/orgs/{company}/users/wessel@{company}.example", cm, now="2022-05-31T00:00:00Z")
    check("wessel holds his second licence", b["licence_count"] == 2 and b["licence"]["licence_date"] == "2022-05-11", b)
    s, b = call("GET", f"/v1/orgs/{company}/lots", cm, now="2022-05-31T00:00:00Z")
    check("the balance paid for four starts and two renewals", b["items"][0]["uses"] == 6, b)
    s, report = call("POST", "/dev/sweeps/renewal?now=2022-05-31T00:00:00Z")
    check("the same sweep again charges nobody", s == 200 and report["renewed"] == [], report)
    w.finish("renewal walk")


if __name__ == "__main__":
    main()
