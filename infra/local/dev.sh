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

began=$(date +%s)
step() { printf '\n==> %s (%ds)\n' "$*" $(($(date +%s) - began)) >&2; }
mkdir -p .local

# What needs the network (DynamoDB Local from Maven Central, moto from PyPI, the console's npm
# packages) is fetched, and the console built, in the background while the local server compiles.
step "fetching DynamoDB Local and moto, and building the console, in the background (logs: .local/dev-*.log)"
infra/local/dynamodb-local.sh install >.local/dev-dynamodb.log 2>&1 &
ddb_install=$!
infra/local/s3-local.sh install >.local/dev-moto.log 2>&1 &
moto_install=$!
(cd console && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run build) >.local/dev-console.log 2>&1 &
console_build=$!
step "building the local server (the first build takes a few minutes)"
cargo build -p seatkeeper-local
waiting() {
  local pid=$1 log=$2 what=$3
  wait "$pid" || { cat "$log" >&2; echo "make dev: $what failed (above, and in $log)" >&2; exit 1; }
}
step "waiting for the console's build"
waiting "$console_build" .local/dev-console.log "building the console"
waiting "$ddb_install" .local/dev-dynamodb.log "fetching DynamoDB Local"
waiting "$moto_install" .local/dev-moto.log "installing moto"
cleanup() {
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  infra/local/dynamodb-local.sh stop "$ddb_port"
  infra/local/s3-local.sh stop "$s3_port"
  infra/local/s3-local.sh stop "$ses_port"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step "DynamoDB Local on port $ddb_port, the S3-compatible server on port $s3_port and the SES one on $ses_port"
infra/local/dynamodb-local.sh start "$ddb_port" "$root/.local/dynamodb" &
ddb_start=$!
infra/local/s3-local.sh start "$s3_port" &
s3_start=$!
infra/local/s3-local.sh start "$ses_port"
wait "$ddb_start" && wait "$s3_start"

step "the local API on $addr (table $TABLE_NAME, bucket $BUCKET_NAME; logs below)"
target/debug/seatkeeper-local serve --addr "$addr" --console "$root/console/dist" &
api_pid=$!
# The server creates the table and the bucket before it answers; a slow machine gets a generous
# budget, and running out of it says what was awaited.
deadline=$(($(date +%s) + 300))
until curl -s -o /dev/null "http://$addr/health"; do
  kill -0 "$api_pid" 2>/dev/null || { echo "make dev: the local API stopped before it answered (its log is above)" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "make dev: the local API did not answer GET /health on $addr within 300 s" >&2; exit 1; }
  sleep 0.1
done
printf '\n==> ready after %d s: the console is on http://%s/ and the API under http://%s/v1 (the contract: /openapi.json).\n    A token for curl: make token ROLE=vendor_admin ORG=vendor. Stop with Ctrl-C.\n\n' $(($(date +%s) - began)) "$addr" "$addr" >&2
wait "$api_pid"
