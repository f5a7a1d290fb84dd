#!/usr/bin/env bash
# The console's browser tests: builds console/ (types generated from shared/openapi.yaml, the
# first-load size check) and drives it with Playwright in Debian's chromium, headless, against a
# running local server that serves console/dist:
#   infra/local/console-test.sh BASE_URL        e.g. http://127.0.0.1:3000
# The server must have been started with `--console console/dist` (it reads the files on each
# request, so building here after it started is fine). Screenshots go to .local/screenshots/.
set -euo pipefail
base="${1:?usage: infra/local/console-test.sh BASE_URL (a local server serving console/dist)}"
base="${base%/}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/console"

say() { echo "console-test: $*" >&2; }

if [ ! -d node_modules ]; then
  say "installing the console's packages (npm ci)"
  npm ci --no-audit --no-fund
fi

say "building (type generation, type check, vite build, size check)"
npm run build

if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  if ! apt-get install -y -qq chromium >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium
  fi
fi

curl -sf -o /dev/null "$base/health" || { say "no local server answers at $base"; exit 1; }
curl -sf "$base/config.json" | grep -q '"local"' || { say "$base/config.json does not say mode local"; exit 1; }
if ! curl -s "$base/sign-in" | grep -q '<div id="root">'; then
  say "$base serves no console: start the server with --console console/dist"
  exit 1
fi

mkdir -p "$root/.local/screenshots"
say "running the browser tests against $base"
BASE_URL="$base" SCREENSHOTS="$root/.local/screenshots" CHROMIUM="$(command -v chromium)" npx playwright test
