#!/usr/bin/env bash
# An S3-compatible server on loopback (moto's server, from PyPI into .local/venv). The local
# scripts start a second one for SES (AWS_ENDPOINT_URL_SESV2), whose record of sent mail
# (/moto-api/data.json) then holds no buckets.
#   s3-local.sh start PORT
#   s3-local.sh stop PORT
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.local/venv"
mkdir -p "$root/.local"

install() {
  if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/cfn-lint" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/infra/requirements-dev.txt"
  fi
}

case "${1:-}" in
  install) install ;;
  start)
    install
    port="${2:?port}"
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$root/.local/s3-$port.log" 2>&1 &
    echo $! >"$root/.local/s3-$port.pid"
    # A budget, not a count of tries: a loaded machine starts Python slowly.
    deadline=$(($(date +%s) + 180))
    until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "the S3 server did not answer on port $port within 180 s; see .local/s3-$port.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "S3-compatible server on 127.0.0.1:$port" >&2
    ;;
  stop)
    pidfile="$root/.local/s3-${2:?port}.pid"
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    ;;
  *) echo "usage: $0 install | start PORT | stop PORT" >&2; exit 2 ;;
esac
