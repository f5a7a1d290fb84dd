"""A small HTTP client for the end-to-end walks: minted tokens, JSON calls, checks that count."""
import json
import os
import subprocess
import sys
import time
import uuid
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "debug", "seatkeeper-local")
# One request's budget: a guard against a server that never answers, not a measure of speed (a
# settled /dev/mail read waits up to 180 s for the mailer on a slow machine).
REQUEST_BUDGET = 300
# How long the walks wait for the local server to answer at all.
START_BUDGET = 300


class Walk:
    def __init__(self, base):
        self.base = base
        self.passed = 0
        self.failed = 0

    def token(self, role, org, email=None):
        args = [BIN, "token", "--role", role, "--org", org]
        if email:
            args += ["--email", email]
        return subprocess.check_output(args, text=True).strip()

    def call(self, method, path, tok=None, body=None, now=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        if now:
            req.add_header("X-Seatkeeper-Now", now)
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_BUDGET) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def mail(self, to, kind):
        """The e-mails of `kind` the local SES sent `to` (GET /dev/mail), once the mailer has
        mailed every notice written before the call (`settled=true`: the server waits for the
        table's stream to be read past them, however slow the machine)."""
        s, b = self.call("GET", f"/dev/mail?to={to}&settled=true")
        if s != 200:
            sys.exit(f"GET /dev/mail?to={to}&settled=true: {s} {b}")
        return [m for m in b["items"] if m["kind"] == kind]

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def wait_for_server(self):
        deadline = time.monotonic() + START_BUDGET
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"the local server did not answer GET /health on {self.base} within {START_BUDGET} s")

    def finish(self, name):
        print(f"{name}: {self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)

    def tenants(self, companies=1):
        """A fresh partner under the vendor with `companies` companies under it; their ids."""
        run = uuid.uuid4().hex[:8]
        partner = f"p-{run}"
        admin = self.token("vendor_admin", "vendor")
        s, b = self.call("POST", "/v1/orgs", admin, {"org_id": partner, "name": "Partner", "kind": "partner", "parent_id": "vendor"})
        self.check(f"partner {partner} created", s == 201, b)
        ids = []
        for i in range(companies):
            company = f"c{i}-{run}"
            s, b = self.call("POST", "/v1/orgs", admin, {"org_id": company, "name": company, "kind": "company", "parent_id": partner})
            self.check(f"company {company} created", s == 201, b)
            ids.append(company)
        return partner, ids
