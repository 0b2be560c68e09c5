#!/usr/bin/env bash
# Regenerates Go code from .proto files on a fresh machine: installs protoc (Debian's
# protobuf-compiler) when missing and protoc-gen-go at the version go.mod pins.
#   gen.sh                    regenerates wire.pb.go here
#   gen.sh DIR FILE.proto...  regenerates the given files in DIR (used by the examples)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here}
shift || true
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(wire.proto)
if ! command -v protoc >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq protobuf-compiler
fi
version=$(cd "$here" && go list -m -f '{{.Version}}' google.golang.org/protobuf)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
cd "$dir"
PATH=$bin:$PATH protoc --go_out=. --go_opt=paths=source_relative "${files[@]}"
