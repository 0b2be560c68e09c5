#!/usr/bin/env bash
# Regenerates registry.pb.go from registry.proto (see actor/internal/wire/gen.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../actor/internal/wire/gen.sh" "$here" registry.proto
