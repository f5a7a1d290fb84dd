#!/usr/bin/env bash
# DynamoDB Local, fetched from Maven Central into .local/ (only when missing) and run on loopback.
#   dynamodb-local.sh install
#   dynamodb-local.sh start PORT [DB_DIR]   # DB_DIR persists the data; without it, in memory
#   dynamodb-local.sh stop PORT
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
home="$root/.local/dynamodb-local"
lib="$home/lib"

install() {
  if ls "$lib"/DynamoDBLocal-*.jar >/dev/null 2>&1 && ls "$lib"/libsqlite4java-linux-*.so >/dev/null 2>&1; then
    return 0
  fi
  command -v java >/dev/null || { echo "java is required for DynamoDB Local" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "mvn is required to fetch DynamoDB Local from Maven Central" >&2; exit 1; }
  echo "fetching DynamoDB Local from Maven Central into $lib" >&2
  mkdir -p "$lib"
  mvn -q -B -f "$root/infra/local/dynamodb-local/pom.xml" dependency:copy-dependencies -DoutputDirectory="$lib" >&2
}

# Java starts slowly on a loaded machine: a budget, not a count of tries, and running out of it
# says what was awaited.
START_BUDGET=180
wait_ready() {
  local port=$1 deadline=$(($(date +%s) + START_BUDGET))
  until curl -s -o /dev/null -X POST "http://127.0.0.1:$port/" \
      -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -H 'Content-Type: application/x-amz-json-1.0' \
      -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
      -d '{}'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "DynamoDB Local did not answer ListTables on port $port within $START_BUDGET s; see $home/dynamodb-$port.log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

start() {
  local port=$1 dir=${2:-}
  install
  local storage=(-inMemory)
  if [ -n "$dir" ]; then mkdir -p "$dir"; storage=(-dbPath "$dir"); fi
  nohup java -Djava.library.path="$lib" -cp "$lib/*" \
    software.amazon.dynamodb.services.local.main.ServerRunner \
    -port "$port" -sharedDb "${storage[@]}" >"$home/dynamodb-$port.log" 2>&1 &
  echo $! >"$home/dynamodb-$port.pid"
  wait_ready "$port"
  echo "DynamoDB Local on 127.0.0.1:$port (${dir:-in memory})" >&2
}

stop() {
  local pidfile="$home/dynamodb-$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:?port}" "${3:-}" ;;
  stop) stop "${2:?port}" ;;
  *) echo "usage: $0 install | start PORT [DB_DIR] | stop PORT" >&2; exit 2 ;;
esac
