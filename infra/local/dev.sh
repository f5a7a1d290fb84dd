#!/usr/bin/env bash
# `make dev`: DynamoDB Local (data kept in .local/dynamodb), an S3-compatible server for partner
# files, and the local API on 127.0.0.1:3000.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. infra/local/env.sh
ddb_port="${DYNAMODB_PORT:-8000}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
s3_port="${S3_PORT:-9000}"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port"
export S3_FORCE_PATH_STYLE=true
export TABLE_NAME="${TABLE_NAME:-seatkeeper}"
export BUCKET_NAME="${BUCKET_NAME:-seatkeeper-imports}"

cargo build -q -p seatkeeper-local
infra/local/dynamodb-local.sh start "$ddb_port" "$root/.local/dynamodb"
infra/local/s3-local.sh start "$s3_port"
trap 'infra/local/dynamodb-local.sh stop "$ddb_port"; infra/local/s3-local.sh stop "$s3_port"' EXIT
echo "Seatkeeper local API on http://127.0.0.1:3000 (table $TABLE_NAME). A token: make token ROLE=vendor_admin ORG=vendor" >&2
target/debug/seatkeeper-local serve --addr "${SEATKEEPER_ADDR:-127.0.0.1:3000}"
