#!/usr/bin/env bash
# `make console-upload STACK=<name>`: puts the web console (console/) on a deployed stack.
#
#  1. reads the stack (aws cloudformation describe-stacks): its console bucket, distribution and
#     URL (outputs) and the console's OIDC settings (parameters);
#  2. builds the console (npm ci && npm run build in console/) when console/dist is missing or
#     older than any file of console/ outside node_modules and dist;
#  3. writes config.json {"mode": "oidc", "issuer", "client_id", "scope"} from those parameters
#     (the issuer is JwtIssuer when ConsoleOidcIssuer is empty, as in the template's CSP);
#  4. uploads: dist/assets/ (Vite's content-hashed files) with a year's immutable Cache-Control,
#     the other files of dist with no-cache, then config.json and index.html with no-cache;
#     nothing is deleted, so a browser still holding the previous index.html finds its assets;
#  5. invalidates /index.html and /config.json on the distribution (every console route is
#     /index.html in the cache: the distribution's function rewrites them before the lookup).
#
# Needs the AWS CLI (v1 or v2) with credentials for the stack's account (AWS_PROFILE, AWS_REGION
# or AWS_DEFAULT_REGION to find the stack, as for any aws command), npm and python3.
# CONSOLE_DIR overrides the console's directory (default: console/ of this repository).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

stack="${1:-}"
if [ -z "$stack" ]; then
  echo "usage: infra/console-upload.sh <stack name>   (make console-upload STACK=<stack name>)" >&2
  exit 2
fi
for tool in aws python3 npm; do
  command -v "$tool" >/dev/null || { echo "console-upload: $tool is needed" >&2; exit 1; }
done

console="${CONSOLE_DIR:-$root/console}"
dist="$console/dist"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() { printf '==> %s\n' "$*" >&2; }

# --- 1. the stack --------------------------------------------------------------------------
say "reading stack $stack"
aws cloudformation describe-stacks --stack-name "$stack" --output json >"$tmp/stack.json"

# Prints shell assignments (quoted) and writes config.json; exits non-zero, saying why, when the
# stack has no console or no client id.
vars="$(python3 - "$tmp/stack.json" "$tmp/config.json" <<'PY'
import json
import shlex
import sys

stack = json.load(open(sys.argv[1]))["Stacks"][0]
outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}
params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []}


def fail(message):
    print(f"console-upload: {message}", file=sys.stderr)
    sys.exit(1)


needed = ["ConsoleBucketName", "ConsoleDistributionId", "ConsoleUrl"]
missing = [k for k in needed if not outputs.get(k)]
if missing:
    fail(
        f"stack {stack['StackName']} has no {', '.join(missing)} output "
        f"(DeployConsole={params.get('DeployConsole', '?')}; deploy with DeployConsole=true, "
        f"status {stack.get('StackStatus')})"
    )
issuer = params.get("ConsoleOidcIssuer") or params.get("JwtIssuer") or ""
client_id = params.get("ConsoleOidcClientId") or ""
scope = params.get("ConsoleOidcScope") or "openid email profile"
if not issuer:
    fail("the stack has neither ConsoleOidcIssuer nor JwtIssuer")
if not client_id:
    fail(
        "the stack's ConsoleOidcClientId is empty: deploy with "
        "--parameter-overrides ConsoleOidcClientId=<the console's OIDC client id> (and the others)"
    )
with open(sys.argv[2], "w") as f:
    json.dump({"mode": "oidc", "issuer": issuer, "client_id": client_id, "scope": scope}, f, indent=2)
    f.write("\n")

# arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>: the bucket is in the stack's region.
region = stack["StackId"].split(":")[3]
for name, value in [
    ("region", region),
    ("bucket", outputs["ConsoleBucketName"]),
    ("distribution", outputs["ConsoleDistributionId"]),
    ("url", outputs["ConsoleUrl"]),
]:
    print(f"{name}={shlex.quote(value)}")
PY
)"
eval "$vars"
say "bucket $bucket, distribution $distribution ($region)"

# --- 2. the build --------------------------------------------------------------------------
stale() {
  [ -f "$dist/index.html" ] || return 0
  [ -n "$(find "$console" \( -path "$console/node_modules" -o -path "$dist" \) -prune \
    -o -type f -newer "$dist/index.html" -print -quit)" ]
}
if [ ! -f "$console/package.json" ]; then
  echo "console-upload: no console at $console (package.json missing)" >&2
  exit 1
fi
if stale; then
  say "building the console (npm ci && npm run build in $console)"
  (cd "$console" && npm ci && npm run build)
else
  say "$dist is up to date"
fi
[ -f "$dist/index.html" ] || { echo "console-upload: the build left no $dist/index.html" >&2; exit 1; }
# Deep links (/companies/globex/licences) are answered with index.html: its asset URLs must be
# absolute (Vite's default base "/"), or the browser asks for /companies/globex/assets/....
if grep -Eq '(src|href)="(\./)?assets/' "$dist/index.html"; then
  echo "console-upload: $dist/index.html loads assets by relative URL; build with base: '/'" >&2
  exit 1
fi

# --- 3. and 4. the upload ------------------------------------------------------------------
s3="s3://$bucket"
if [ -d "$dist/assets" ]; then
  say "uploading assets/ (immutable)"
  aws s3 sync "$dist/assets" "$s3/assets" --region "$region" --only-show-errors \
    --cache-control "public, max-age=31536000, immutable"
fi
say "uploading the other files (no-cache)"
aws s3 sync "$dist" "$s3" --region "$region" --only-show-errors \
  --exclude "assets/*" --exclude "index.html" --exclude "config.json" \
  --cache-control "no-cache"
# cp, not sync: these two are written every time, with their headers, whatever their size and
# date; index.html last, once everything it loads is there.
say "uploading config.json and index.html (no-cache)"
aws s3 cp "$tmp/config.json" "$s3/config.json" --region "$region" --only-show-errors \
  --cache-control "no-cache" --content-type "application/json"
aws s3 cp "$dist/index.html" "$s3/index.html" --region "$region" --only-show-errors \
  --cache-control "no-cache" --content-type "text/html; charset=utf-8"

# --- 5. the invalidation -------------------------------------------------------------------
invalidation="$(aws cloudfront create-invalidation --distribution-id "$distribution" \
  --paths /index.html /config.json --query Invalidation.Id --output text)"
say "invalidation $invalidation created (aws cloudfront wait invalidation-completed --distribution-id $distribution --id $invalidation)"
echo "console: $url"
