#!/usr/bin/env bash
# `make bench`: the benchmark (bench/), against DynamoDB Local started as the tests start it.
# Arguments go to the benchmark: --quick (10,000 rows instead of 100,000), --million (also a
# 1,000,000-row file on S3), --skip-build (use the release binaries already in target/release).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. infra/local/env.sh

infra/local/dynamodb-local.sh install
infra/local/s3-local.sh install
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
s3_port="$(free_port)"
trap 'infra/local/dynamodb-local.sh stop "$port"; infra/local/s3-local.sh stop "$s3_port"' EXIT
infra/local/dynamodb-local.sh start "$port"
# moto's server stands in for S3 (the 1,000,000-row file of --million).
infra/local/s3-local.sh start "$s3_port"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$s3_port"
export S3_FORCE_PATH_STYLE=true
# The benchmark and every function in one release build (one feature set, one set of artefacts);
# the benchmark then measures those binaries without building again.
packages=(-p bench)
for f in functions/*/; do packages+=(-p "$(basename "$f")"); done
cargo build --release --bins "${packages[@]}"
target/release/bench --skip-build "$@"
