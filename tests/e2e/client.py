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
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def mail(self, to, kind, n=1):
        """The e-mails of `kind` the local SES sent `to` (GET /dev/mail), once there are `n` of
        them (the mailer runs off the table's stream, a moment behind), and after a pause that
        would let one too many show."""
        for _ in range(100):
            s, b = self.call("GET", f"/dev/mail?to={to}")
            if s == 200 and len([m for m in b["items"] if m["kind"] == kind]) >= n:
                time.sleep(0.8)
                break
            time.sleep(0.1)
        s, b = self.call("GET", f"/dev/mail?to={to}")
        return [m for m in b["items"] if m["kind"] == kind] if s == 200 else []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def wait_for_server(self):
        for _ in range(300):
            try:
                if self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"the local server did not answer on {self.base}")

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
