#!/usr/bin/env bash
# `make test`: everything the project checks, on a fresh machine too. Installs what it needs
# (DynamoDB Local from Maven Central; cfn-lint, moto's server and the OpenAPI validator from PyPI;
# the Lambda Runtime Interface Emulator from the Go module proxy; openapi-typescript from npm), then:
# formatting, the template and contract checks, unit and integration tests against DynamoDB Local,
# every function's binary under the emulator, and an end-to-end run of the local server.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. infra/local/env.sh

# Each step is timed; the table is printed at the end, on failure too, so a slow step is visible.
step_names=() step_secs=() step_name="" step_began=0
end_step() {
  if [ -n "$step_name" ]; then
    step_names+=("$step_name")
    step_secs+=($(($(date +%s) - step_began)))
  fi
  step_name=""
}
step() { end_step; step_name="$1"; step_began=$(date +%s); shift; printf '\n==> %s\n' "$*" >&2; }
run_began=$(date +%s)
timings() {
  end_step
  printf '\nmake test, seconds a step:\n' >&2
  for i in "${!step_names[@]}"; do printf '  %-10s %5d\n' "${step_names[$i]}" "${step_secs[$i]}" >&2; done
  printf '  %-10s %5d\n' total $(($(date +%s) - run_began)) >&2
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

trap timings EXIT
step tools "tools"
infra/local/dynamodb-local.sh install
infra/local/s3-local.sh install
infra/local/rie.sh install
if [ ! -x .local/venv-fuzz/bin/st ]; then
  python3 -m venv .local/venv-fuzz
  .local/venv-fuzz/bin/pip install -q --disable-pip-version-check -r infra/requirements-fuzz.txt
fi

step fmt "cargo fmt --check"
cargo fmt --all -- --check

step clippy "cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings

step cfn-lint "cfn-lint infra/template.yaml"
.local/venv/bin/cfn-lint infra/template.yaml

step openapi "shared/openapi.yaml: validated, and TypeScript types generated from it"
infra/local/openapi-check.sh

ddb_port="$(free_port)"
s3_port="$(free_port)"
ses_port="$(free_port)"
api_port="$(free_port)"
cleanup() {
  timings
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  infra/local/dynamodb-local.sh stop "$ddb_port"
  infra/local/s3-local.sh stop "$s3_port"
  infra/local/s3-local.sh stop "$ses_port"
}
trap cleanup EXIT
infra/local/dynamodb-local.sh start "$ddb_port"
infra/local/s3-local.sh start "$s3_port"
infra/local/s3-local.sh start "$ses_port"
: >.local/e2e.log
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port"
export S3_FORCE_PATH_STYLE=true
# SES: a moto server of its own; the mailer sends there, and /dev/mail and the tests read its
# record of sent mail back (apart from the S3 server, whose buckets that record would walk).
export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$ses_port"
export MAIL_FROM="notices@seatkeeper.test"

step build "cargo build (every function and the local server)"
cargo build --workspace --bins

step rust "cargo test (unit, and integration against DynamoDB Local)"
cargo test --workspace --no-fail-fast 2>&1 | tee .local/cargo-test.log

step emulator "every function's own binary under the Lambda Runtime Interface Emulator"
# AWS's sample events (tests/fixtures/events) against each debug binary; moto's server stands
# in for EventBridge as it does for S3.
SEATKEEPER_RIE="$root/.local/bin/aws-lambda-rie" cargo test -p seatkeeper-tests --test emulator 2>&1 | tee -a .local/cargo-test.log

step walks "end to end through the local server"
# BACKGROUND_ROWS=100: allocations and confirms of more than 100 licences answer 202 and finish
# in the background, so the console's progress bar is tested (a deployed stack: 5,000).
BACKGROUND_ROWS=100 TABLE_NAME="e2e-$(date +%s)" BUCKET_NAME="e2e-imports" target/debug/seatkeeper-local serve --no-schedules --addr "127.0.0.1:$api_port" --console "$root/console/dist" >.local/e2e-server.log 2>&1 &
api_pid=$!
for walk in orders allocation import expiry renewal usage; do
  python3 "tests/e2e/${walk}_flow.py" "http://127.0.0.1:$api_port" | tee -a .local/e2e.log
done

step browser "the console in a browser (Playwright in Debian's chromium, against the same local server)"
infra/local/console-test.sh "http://127.0.0.1:$api_port" 2>&1 | tee .local/console-test.log

step fuzz "the HTTP contract fuzzed (schemathesis, from shared/openapi.yaml as the server serves it)"
# No 5xx, every answer in its documented shape and status, errors in the API.md shape;
# bounded and seeded so a run is repeatable.
fuzz_token="$(target/debug/seatkeeper-local token --role vendor_admin --org vendor)"
.local/venv-fuzz/bin/st run "http://127.0.0.1:$api_port/openapi.json" \
  -H "Authorization: Bearer $fuzz_token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  -n 20 --seed 1 --no-color 2>&1 | tee .local/fuzz.log | tail -n 15

# One closing line for everything that ran: cargo's tests and the walks' checks.
unit=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' .local/cargo-test.log)
walked=$(sed -n 's/.* walk: \([0-9]*\) passed.*/\1/p' .local/e2e.log | awk '{ n += $1 } END { print n + 0 }')
browser=$(sed -n 's/^ *\([0-9][0-9]*\) passed.*/\1/p' .local/console-test.log | tail -1)
echo "all: $((unit + walked + ${browser:-0})) passed, 0 failed"
