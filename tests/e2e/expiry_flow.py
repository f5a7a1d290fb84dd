#!/usr/bin/env python3
"""End to end through a running local server: the expire sweep driven with /dev/sweeps/expire
(the expiry issue's "done when"). Standard library only.

    python3 tests/e2e/expiry_flow.py http://127.0.0.1:3000
"""
import sys
import time
from datetime import datetime, timedelta

from client import Walk

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
w = Walk(BASE)
call, check, token, mail = w.call, w.check, w.token, w.mail


def sweep(now):
    s, b = call("POST", f"/dev/sweeps/expire?now={now}")
    check(f"the sweep runs at {now}", s == 200, b)
    return b


def kinds(company, cm):
    s, b = call("GET", f"/v1/orgs/{company}/notifications", cm)
    return [n["kind"] for n in b["items"] if n["kind"] != "order_assigned"]




def main():
    w.wait_for_server()
    partner, (company,) = w.tenants()
    cm, pm = token("company_manager", company), token("partner_manager", partner)
    # A manager who reads Dutch, in Amsterdam: the e-mails come in Dutch, times in CET/CEST.
    admin = token("vendor_admin", "vendor")
    s, b = call("PUT", f"/v1/orgs/{company}/policy", admin, {"locale": "nl", "time_zone": "Europe/Amsterdam"})
    check("the company's e-mails are Dutch", s == 200 and b["policy"]["locale"] == "nl", b)
    boss = f"boss@{company}.example"
    s, b = call("PUT", f"/v1/orgs/{company}/users/{boss}", cm, {"role": "company_manager"})
    check("the company has a manager", s in (200, 201), b)
    # This lot ends before anything the other walks create, so these sweeps touch only it.
    s, order = call("POST", f"/v1/orgs/{company}/orders", cm, {"quantity": 2}, now="2025-05-20T08:00:00Z")
    assigned_at = "2025-06-01T09:30:00Z"
    s, b = call("POST", f"/v1/orders/{order['order_id']}/assign", pm, now=assigned_at)
    end = b["lot"]["valid_until"]
    check("the lot runs a calendar year", end == "2026-06-01T09:30:00Z", b)
    emails = [f"a@{company}.example", f"b@{company}.example"]
    s, b = call("POST", f"/v1/orgs/{company}/allocations", cm, {"emails": emails, "create_missing": True}, now=assigned_at)
    check("two learners allocated", s == 200 and b["allocated"] == 2, b)

    ends = datetime.fromisoformat(end.replace("Z", "+00:00"))
    before = (ends - timedelta(hours=72)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sweep(before)
    check("72 hours before the end: one reminder", kinds(company, cm) == ["expiry_reminder"], kinds(company, cm))
    sweep(before)
    check("and again: nothing new", kinds(company, cm) == ["expiry_reminder"], kinds(company, cm))
    reminders = mail(boss, "expiry_reminder")
    check("the manager gets one reminder e-mail, in Dutch", len(reminders) == 1 and "verlopen op 1 juni 2026" in reminders[0]["subject"], reminders)
    check("it names the instant in Amsterdam's time", bool(reminders) and "1 juni 2026, 11:30 CEST" in reminders[0]["text"], reminders)

    platform = token("platform", company)
    s, b = call("GET", f"/v1/orgs/{company}/users/{emails[0]}/access", platform, now=end)
    check("at the end access is denied, before any sweep", s == 200 and b["access"] is False and b["reason"] == "expired", b)
    report = sweep(end)
    check("the sweep expires the two licences", report.get("licences_expired") == 2, report)
    check("one expired notice", kinds(company, cm) == ["expired", "expiry_reminder"], kinds(company, cm))
    sweep(end)
    sweep(before)
    check("both again: nothing new", kinds(company, cm) == ["expired", "expiry_reminder"], kinds(company, cm))
    expired = mail(boss, "expired")
    check("and one expiry e-mail on the day", len(expired) == 1 and "zijn verlopen" in expired[0]["subject"], expired)
    check("still one reminder", len(mail(boss, "expiry_reminder")) == 1)
    s, b = call("GET", f"/v1/orgs/{company}/notifications", cm)
    sent = [d["state"] for n in b["items"] if n["kind"] in ("expired", "expiry_reminder") for d in n["deliveries"]]
    check("each notice shows its e-mail sent", sent == ["sent", "sent"], b)
    w.finish("expiry walk")


if __name__ == "__main__":
    main()
