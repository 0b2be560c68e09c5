#!/usr/bin/env bash
# Regenerates registry.pb.go from registry.proto on a fresh machine: installs protoc
# (Debian's protobuf-compiler) when missing and protoc-gen-go at the version go.mod pins.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v protoc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq protobuf-compiler
fi
version=$(cd ../../.. && go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
PATH=$bin:$PATH protoc --go_out=. --go_opt=paths=source_relative registry.proto
