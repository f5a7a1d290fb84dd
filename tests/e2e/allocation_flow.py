#!/usr/bin/env python3
"""End to end through a running local server: allocation and the access check (the allocation
issue's "done when"). Standard library only.

    python3 tests/e2e/allocation_flow.py http://127.0.0.1:3000
"""
import sys

from client import Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token = w.call, w.check, w.token


def main():
    w.wait_for_server()
    partner, (company, other) = w.tenants(2)
    cm, pm = token("company_manager", company), token("partner_manager", partner)
    s, order = call("POST", f"/v1/orgs/{company}/orders", cm, {"quantity": 10}, now="2026-01-10T08:00:00Z")
    s, b = call("POST", f"/v1/orders/{order['order_id']}/assign", pm, now="2026-01-15T09:00:00Z")
    check("a lot of 10 is assigned", s == 200, b)

    emails = [f"learner{i}@{company}.example" for i in range(1, 13)]
    for e in emails:
        call("PUT", f"/v1/orgs/{company}/users/{e}", cm, {"name": e}, now="2026-01-16T00:00:00Z")
    s, b = call("POST", f"/v1/orgs/{company}/allocations", cm, {"emails": emails}, now="2026-02-01T10:00:00Z")
    check("12 learners with 10 in the balance: 409", s == 409 and b["error"]["code"] == "insufficient_licences"
          and b["error"]["details"] == {"needed": 12, "available": 10}, b)
    s, b = call("GET", f"/v1/orgs/{company}/licences?status=active", cm, now="2026-02-01T10:00:00Z")
    check("nobody was licensed", s == 200 and b["items"] == [], b)

    s, b = call("POST", f"/v1/orgs/{company}/allocations", cm, {"emails": emails[:10]}, now="2026-02-01T10:00:00Z")
    check("10 learners are allocated", s == 200 and b["allocated"] == 10, b)
    s, b = call("GET", f"/v1/orgs/{company}/licences?status=active", cm, now="2026-02-01T10:00:00Z")
    check("all 10 active until the lot's end", s == 200 and len(b["items"]) == 10
          and all(l["valid_until"] == "2027-01-15T09:00:00Z" for l in b["items"]), b)

    platform = token("platform", company)
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[0]}/access", platform, now="2026-02-02T00:00:00Z")
    check("the access check says yes for a licensed learner", s == 200 and b["access"] is True and b["reason"] == "active", b)
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[10]}/access", platform, now="2026-02-02T00:00:00Z")
    check("and no for the 11th", s == 200 and b["access"] is False, b)

    # The users list: searched by e-mail prefix, filtered by licence status now, page by page.
    s, b = call("GET", f"/v1/orgs/{company}/users?email_prefix=LEARNER1", cm, now="2026-02-02T00:00:00Z")
    check("a search by prefix finds learner1, 10, 11 and 12, in e-mail order", s == 200 and [u["email"] for u in b["items"]]
          == [f"learner{i}@{company}.example" for i in (10, 11, 12, 1)], b)
    s, b = call("GET", f"/v1/orgs/{company}/users?licence_status=none", cm, now="2026-02-02T00:00:00Z")
    check("the filter keeps the two without a licence", s == 200 and sorted(u["email"] for u in b["items"])
          == sorted(emails[10:]) and all(u["licence_status"] is None for u in b["items"]), b)
    seen, cursor = [], None
    for _ in range(20):
        q = "licence_status=active&limit=3" + (f"&cursor={cursor}" if cursor else "")
        s, b = call("GET", f"/v1/orgs/{company}/users?{q}", cm, now="2026-02-02T00:00:00Z")
        seen += [u["email"] for u in b["items"]]
        cursor = b["next_cursor"]
        if not cursor:
            break
    check("its pages lead to each of the 10 active learners once", sorted(seen) == sorted(emails[:10]), seen)

    # A user's enrolments, as the platform recorded them.
    run = {"status": "active", "starts_at": "2026-02-02T00:00:00Z", "ends_at": "2026-03-01T00:00:00Z"}
    call("PUT", f"/v1/orgs/{company}/users/{emails[0]}/enrolments/run-1", platform, run, now="2026-02-02T00:00:00Z")
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[0]}/enrolments", platform, now="2026-02-10T00:00:00Z")
    check("the enrolment is listed, live", s == 200 and [(e["enrolment_id"], e["status"], e["live"]) for e in b["items"]]
          == [("run-1", "active", True)], b)
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[0]}/enrolments", cm, now="2026-03-02T00:00:00Z")
    check("and expired once its end has passed", s == 200 and b["items"][0]["status"] == "expired"
          and b["items"][0]["live"] is False, b)

    foreign = token("company_manager", other)
    routes = [
        ("PUT", f"/v1/orgs/{company}/users/{emails[0]}", {"name": "x"}),
        ("GET", f"/v1/orgs/{company}/users/{emails[0]}", None),
        ("GET", f"/v1/orgs/{company}/users", None),
        ("DELETE", f"/v1/orgs/{company}/users/{emails[0]}", None),
        ("POST", f"/v1/orgs/{company}/users/renewable", {"emails": [emails[0]], "renewable": False}),
        ("PUT", f"/v1/orgs/{company}/users/{emails[0]}/enrolments/run-1", {"status": "active"}),
        ("GET", f"/v1/orgs/{company}/users/{emails[0]}/access", None),
        ("GET", f"/v1/orgs/{company}/users/{emails[0]}/enrolments", None),
        ("POST", f"/v1/orgs/{company}/allocations", {"emails": [emails[11]]}),
        ("GET", f"/v1/orgs/{company}/licences", None),
        ("GET", f"/v1/orgs/{company}/lots", None),
    ]
    for method, path, body in routes:
        s, b = call(method, path, foreign, body)
        route = path[len("/v1/orgs/" + company):]
        check(f"a foreign manager gets 404 on {method} {route}", s == 404 and b["error"]["code"] == "not_found", (s, b))
    s, b = call("GET", f"/v1/orgs/{company}/licences?status=active", cm, now="2026-02-02T00:00:00Z")
    check("and changed nothing", len(b["items"]) == 10, b)
    w.finish("allocation walk")


if __name__ == "__main__":
    main()
