#!/usr/bin/env bash
# `make test`: everything the project checks, on a fresh machine too. Installs what it needs
# (DynamoDB Local from Maven Central; cfn-lint, moto's server and the OpenAPI validator from PyPI;
# the Lambda Runtime Interface Emulator from the Go module proxy; the console's packages and
# openapi-typescript from npm; Debian's chromium), then: formatting, clippy, the build, and two
# lanes side by side, each with a DynamoDB Local, an S3 server and an SES server of its own:
#
#   lane e2e:  the template and contract checks, every function's binary under the emulator, the
#              end-to-end walks, the console in a browser and the fuzzed contract, all through one
#              local server; then it helps lane rust with its queue;
#   lane rust: the unit and integration tests, one queue item at a time (infra/local/test-plan.py:
#              the integration binary a module an item, longest first).
#
# DynamoDB Local answers one request at a time, so one instance is one core's work at most: two
# keep both cores of a small machine busy. Nothing here waits a fixed time; every wait is a poll
# with a budget that says what it was waiting for.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. infra/local/env.sh
mkdir -p .local

# Seconds a step, printed at the end (on failure too): `NAME SECONDS` lines, lanes included.
times=.local/test-steps.txt
: >"$times"
run_began=$(date +%s)
say() { printf '\n==> %s\n' "$*" >&2; }
timed() {
  local name=$1 began rc=0
  shift
  began=$(date +%s)
  "$@" || rc=$?
  echo "$name $(($(date +%s) - began))" >>"$times"
  return $rc
}
timings() {
  printf '\nmake test, seconds a step (lanes e2e and rust ran side by side):\n' >&2
  awk '{ printf "  %-22s %5d\n", $1, $2 }' "$times" >&2
  if [ -s .local/test-items.txt ]; then
    printf '  the slowest queue items:\n' >&2
    sort -k2,2nr .local/test-items.txt | head -n 5 | awk '{ printf "    %-30s %5d\n", $1, $2 }' >&2
  fi
  printf '  %-22s %5d\n' total $(($(date +%s) - run_began)) >&2
}
trap timings EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# What the checks need, fetched in the background while the Rust code compiles (mostly network).
tools() {
  infra/local/dynamodb-local.sh install
  infra/local/s3-local.sh install
  infra/local/rie.sh install
  if [ ! -x .local/venv-fuzz/bin/st ]; then
    python3 -m venv .local/venv-fuzz
    .local/venv-fuzz/bin/pip install -q --disable-pip-version-check -r infra/requirements-fuzz.txt
  fi
  if [ ! -d console/node_modules ]; then (cd console && npm ci --no-audit --no-fund --loglevel=error); fi
  if [ ! -d infra/openapi/node_modules ]; then (cd infra/openapi && npm ci --no-audit --no-fund --loglevel=error); fi
  if ! command -v chromium >/dev/null; then
    echo "installing Debian's chromium"
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
  fi
}
say "tools, in the background (log: .local/tools.log)"
timed tools tools >.local/tools.log 2>&1 &
tools_pid=$!

say "cargo fmt --check"
timed fmt cargo fmt --all -- --check

say "cargo clippy"
timed clippy cargo clippy --workspace --all-targets -q -- -D warnings

# One build for everything that runs: the function binaries (the emulator runs them, the local
# server serves the walks), every test executable, and the emulator's, listed for the queue.
build() {
  cargo build --workspace --bins
  cargo test --workspace --no-run --message-format=json-render-diagnostics >.local/test-artifacts.json
  cargo test -p seatkeeper-tests --test emulator --no-run --message-format=json-render-diagnostics >.local/emulator-artifacts.json
}
say "cargo build (every function, the local server and every test executable)"
timed build build

say "waiting for the tools"
if ! timed tools-wait wait "$tools_pid"; then
  cat .local/tools.log >&2
  echo "make test: installing the tools failed (above)" >&2
  exit 1
fi

# Two sets of local servers, one a lane.
declare -A ddb s3 ses
for lane in e2e rust; do
  ddb[$lane]="$(free_port)" s3[$lane]="$(free_port)" ses[$lane]="$(free_port)"
done
api_port="$(free_port)"
cleanup() {
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  for lane in e2e rust; do
    infra/local/dynamodb-local.sh stop "${ddb[$lane]}"
    infra/local/s3-local.sh stop "${s3[$lane]}"
    infra/local/s3-local.sh stop "${ses[$lane]}"
  done
  timings
}
trap cleanup EXIT
say "two lanes of local servers: DynamoDB Local, S3 and SES"
for lane in e2e rust; do
  infra/local/dynamodb-local.sh start "${ddb[$lane]}" &
  infra/local/s3-local.sh start "${s3[$lane]}" &
  infra/local/s3-local.sh start "${ses[$lane]}" &
done
wait_all() { local pid rc=0; for pid in $(jobs -p); do wait "$pid" || rc=1; done; return $rc; }
wait_all || { echo "make test: a local server did not start (above)" >&2; exit 1; }

export S3_FORCE_PATH_STYLE=true
export MAIL_FROM="notices@seatkeeper.test"
# A lane's environment: its own DynamoDB Local, S3 server and SES server (the mailer sends there,
# and /dev/mail and the tests read its record of sent mail back).
in_lane() {
  local lane=$1
  shift
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:${ddb[$lane]}" \
    AWS_ENDPOINT_URL_S3="http://127.0.0.1:${s3[$lane]}" \
    AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:${ses[$lane]}" "$@"
}

failed=.local/test-failed.txt
: >"$failed"
queue=.local/test-queue.tsv
python3 infra/local/test-plan.py .local/test-artifacts.json "$queue" .local/test-items.txt
: >.local/test-items.next

pop() {
  (
    flock 9
    line=$(head -n 1 "$queue")
    [ -n "$line" ] || exit 1
    sed -i '1d' "$queue"
    printf '%s\n' "$line"
  ) 9>"$queue.lock"
}

# Takes queue items until none is left; each item is one test executable (or one module of the
# integration binary) run in the lane's environment from its package's folder, as cargo runs it.
work_queue() {
  local lane=$1 line label cwd exe began rc
  while line=$(pop); do
    IFS=$'\t' read -r -a item <<<"$line"
    label=${item[0]} cwd=${item[1]} exe=${item[2]}
    began=$(date +%s)
    rc=0
    (cd "$cwd" && in_lane "$lane" "$exe" "${item[@]:3}") || rc=$?
    echo "$label $(($(date +%s) - began))" >>.local/test-items.next
    [ $rc -eq 0 ] || echo "$label (lane $lane, exit $rc)" >>"$failed"
  done
}

lane_rust() {
  timed rust-queue work_queue rust
}

lane_e2e() {
  timed cfn-lint .local/venv/bin/cfn-lint infra/template.yaml || echo "cfn-lint" >>"$failed"
  timed openapi infra/local/openapi-check.sh || echo "openapi" >>"$failed"

  # AWS's sample events (tests/fixtures/events) against each debug binary; moto's server stands
  # in for EventBridge as it does for S3.
  local emulator
  emulator=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    m = json.loads(l) if l.startswith("{") else {}
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "emulator" and m.get("executable"):
        print(m["executable"])' .local/emulator-artifacts.json)
  timed emulator in_lane e2e env SEATKEEPER_RIE="$root/.local/bin/aws-lambda-rie" "$emulator" || echo "emulator" >>"$failed"

  # BACKGROUND_ROWS=100: allocations and confirms of more than 100 licences answer 202 and finish
  # in the background, so the console's progress bar is tested (a deployed stack: 5,000).
  # `exec`: the background subshell becomes the server, so `$!` is the server's pid and the kill
  # below (and the cleanup's) stops it rather than a wrapper that leaves it running.
  in_lane e2e exec env BACKGROUND_ROWS=100 TABLE_NAME="e2e-$(date +%s)" BUCKET_NAME="e2e-imports" \
    target/debug/seatkeeper-local serve --no-schedules --addr "127.0.0.1:$api_port" --console "$root/console/dist" \
    >.local/e2e-server.log 2>&1 &
  api_pid=$!
  : >.local/e2e.log
  walks() {
    local walk rc=0
    for walk in orders allocation import expiry renewal usage; do
      python3 "tests/e2e/${walk}_flow.py" "http://127.0.0.1:$api_port" | tee -a .local/e2e.log || rc=1
    done
    return $rc
  }
  timed walks walks || echo "walks" >>"$failed"

  # The console in Debian's chromium with Playwright, against the same local server.
  timed browser infra/local/console-test.sh "http://127.0.0.1:$api_port" >.local/console-test.log 2>&1 ||
    echo "browser (.local/console-test.log)" >>"$failed"
  tail -n 5 .local/console-test.log

  # The HTTP contract fuzzed (schemathesis, from shared/openapi.yaml as the server serves it): no
  # 5xx, every answer in its documented shape and status, errors in the contract's error shape; bounded and
  # seeded so a run is repeatable.
  fuzz() {
    local token
    token="$(target/debug/seatkeeper-local token --role vendor_admin --org vendor)"
    .local/venv-fuzz/bin/st run "http://127.0.0.1:$api_port/openapi.json" \
      -H "Authorization: Bearer $token" \
      --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
      -n 20 --seed 1 --no-color >.local/fuzz.log 2>&1
  }
  timed fuzz fuzz || echo "fuzz (.local/fuzz.log)" >>"$failed"
  tail -n 15 .local/fuzz.log
  kill "$api_pid" 2>/dev/null || true

  # Then the rest of the Rust queue, beside lane rust.
  timed e2e-queue work_queue e2e
}

say "the two lanes, side by side (logs: .local/lane-e2e.log, .local/lane-rust.log)"
: >.local/lane-e2e.log
: >.local/lane-rust.log
(lane_e2e 2>&1 | tee -a .local/lane-e2e.log | sed -u 's/^/[e2e]  /') &
e2e_pid=$!
(lane_rust 2>&1 | tee -a .local/lane-rust.log | sed -u 's/^/[rust] /') &
rust_pid=$!
wait "$e2e_pid" || echo "lane e2e stopped before its end (.local/lane-e2e.log)" >>"$failed"
wait "$rust_pid" || echo "lane rust stopped before its end (.local/lane-rust.log)" >>"$failed"
if [ -s "$queue" ]; then
  cut -f1 "$queue" | sed 's/$/ (never run: both lanes stopped before it)/' >>"$failed"
fi
mv .local/test-items.next .local/test-items.txt

# One closing line for everything that ran: the Rust tests, the walks' checks and the browser's.
unit=$(cat .local/lane-e2e.log .local/lane-rust.log | awk '/^test result:/ { n += $4 } END { print n + 0 }')
walked=$(sed -n 's/.* walk: \([0-9]*\) passed.*/\1/p' .local/e2e.log | awk '{ n += $1 } END { print n + 0 }')
browser=$(sed -n 's/^ *\([0-9][0-9]*\) passed.*/\1/p' .local/console-test.log | tail -1)
if [ -s "$failed" ]; then
  printf '\nmake test: FAILED:\n' >&2
  sed 's/^/  /' "$failed" >&2
  echo "all: $((unit + walked + ${browser:-0})) passed, $(wc -l <"$failed") failed (steps or queue items above)" >&2
  exit 1
fi
echo "all: $((unit + walked + ${browser:-0})) passed, 0 failed"
