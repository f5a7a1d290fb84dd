#!/usr/bin/env bash
# Checks the HTTP contract document, shared/openapi.yaml, with two independent readers:
#   1. openapi-spec-validator (PyPI, pinned in infra/requirements-fuzz.txt, in .local/venv-fuzz)
#      validates it against the OpenAPI 3.0 specification;
#   2. openapi-typescript (npm, pinned in infra/openapi/package.json and its package-lock.json)
#      generates TypeScript types from it into .local/openapi-types.d.ts, and tsc type-checks them.
# Installs what is missing (the venv as infra/local/test.sh makes it; node_modules with `npm ci`).
# Exits non-zero on any error or warning of either.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'openapi-check: %s\n' "$*" >&2; exit 1; }

doc=shared/openapi.yaml
venv=.local/venv-fuzz
tools=infra/openapi
out=.local/openapi-types.d.ts
mkdir -p .local

if [ ! -x "$venv/bin/openapi-spec-validator" ]; then
  step "installing infra/requirements-fuzz.txt into $venv"
  command -v python3 >/dev/null || fail "python3 is required"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r infra/requirements-fuzz.txt
fi

step "openapi-spec-validator $doc"
"$venv/bin/openapi-spec-validator" "$doc"

command -v node >/dev/null || fail "node is required to generate the TypeScript types"
command -v npm >/dev/null || fail "npm is required to install $tools"
# The pinned version in package.json; node_modules is (re)installed from the lock file when it is
# missing or holds another version.
want=$(node -p "require('./$tools/package.json').devDependencies['openapi-typescript']")
have=$(node -p "try { require('./$tools/node_modules/openapi-typescript/package.json').version } catch (e) { '' }")
if [ ! -x "$tools/node_modules/.bin/openapi-typescript" ] || [ "$have" != "$want" ]; then
  step "npm ci in $tools (openapi-typescript $want)"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi

step "openapi-typescript $doc -> $out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rm -f "$out"
if ! "$tools/node_modules/.bin/openapi-typescript" "$doc" --output "$out" 2>&1 | tee "$log"; then
  fail "openapi-typescript failed"
fi
# It reports problems of the document (from its Redocly bundler) as warnings and still writes.
if grep -Eiq '(^|[^a-z])(warn|warning|error)([^a-z]|$)' "$log"; then
  fail "openapi-typescript reported problems (above)"
fi
[ -s "$out" ] || fail "openapi-typescript wrote nothing to $out"

step "tsc --noEmit --strict $out"
"$tools/node_modules/.bin/tsc" --noEmit --strict "$out"

echo "openapi-check: $doc is valid OpenAPI, and its TypeScript types ($out, $(wc -l <"$out") lines) type-check" >&2
