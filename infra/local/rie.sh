#!/usr/bin/env bash
# The AWS Lambda Runtime Interface Emulator (what `sam local` and Lambda container images run),
# built once from the Go module proxy into .local/bin.
#   rie.sh install
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
module="github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
version="v0.0.0-20261030222936-bef5c4ba774d"
bin="$root/.local/bin/aws-lambda-rie"
stamp="$root/.local/bin/aws-lambda-rie.version"

case "${1:-}" in
  install)
    if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then exit 0; fi
    command -v go >/dev/null || { echo "Go is needed to build the Lambda emulator (https://go.dev/dl/)" >&2; exit 1; }
    echo "building the Lambda Runtime Interface Emulator ($version) into .local/bin" >&2
    mkdir -p "$root/.local/bin"
    GOBIN="$root/.local/bin" GOFLAGS=-mod=mod go install "$module@$version"
    echo "$version" >"$stamp"
    ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
