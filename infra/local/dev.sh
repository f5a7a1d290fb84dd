#!/usr/bin/env bash
# `make dev`: DynamoDB Local (data kept in .local/dynamodb), an S3-compatible server for partner
# files and an SES one for notice e-mail (moto's), the local API on 127.0.0.1:3000, and the
# template's schedules on the wall clock.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. infra/local/env.sh
ddb_port="${DYNAMODB_PORT:-8000}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
s3_port="${S3_PORT:-9000}"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port"
export S3_FORCE_PATH_STYLE=true
# A moto server of its own for SES: notices are e-mailed to it from MAIL_FROM, and GET /dev/mail
# reads its record of sent mail (apart from the S3 server's buckets, which that record would walk).
ses_port="${SES_PORT:-9001}"
export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$ses_port"
export MAIL_FROM="${MAIL_FROM:-notices@seatkeeper.local}"
export TABLE_NAME="${TABLE_NAME:-seatkeeper}"
export BUCKET_NAME="${BUCKET_NAME:-seatkeeper-imports}"
addr="${SEATKEEPER_ADDR:-127.0.0.1:3000}"
export CONSOLE_URL="${CONSOLE_URL:-http://$addr}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "building the local server (the first build takes a few minutes)"
cargo build -p seatkeeper-local
step "building the console (npm packages fetched the first time)"
(cd console && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
step "DynamoDB Local on port $ddb_port (fetched from Maven Central the first time)"
infra/local/dynamodb-local.sh start "$ddb_port" "$root/.local/dynamodb"
step "the S3-compatible server on port $s3_port and the SES one on $ses_port (moto's, from PyPI the first time)"
infra/local/s3-local.sh start "$s3_port"
infra/local/s3-local.sh start "$ses_port"
cleanup() {
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  infra/local/dynamodb-local.sh stop "$ddb_port"
  infra/local/s3-local.sh stop "$s3_port"
  infra/local/s3-local.sh stop "$ses_port"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "the local API on $addr (table $TABLE_NAME, bucket $BUCKET_NAME; logs below)"
target/debug/seatkeeper-local serve --addr "$addr" --console "$root/console/dist" &
api_pid=$!
for _ in $(seq 1 200); do
  if curl -s -o /dev/null "http://$addr/health"; then
    printf '\n==> ready: the console is on http://%s/ and the API under http://%s/v1 (the contract: /openapi.json).\n    A token for curl: make token ROLE=vendor_admin ORG=vendor. Stop with Ctrl-C.\n\n' "$addr" "$addr" >&2
    break
  fi
  kill -0 "$api_pid" 2>/dev/null || { echo "the local API did not start" >&2; exit 1; }
  sleep 0.1
done
wait "$api_pid"
