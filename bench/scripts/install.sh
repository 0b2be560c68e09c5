#!/usr/bin/env bash
# Installs PostgreSQL and Redis from Debian's packages when they are missing (needs root).
# The packages' own services are not started: a policy-rc.d that refuses every start is
# put in place for the install when the machine has none, so that nothing is left
# listening on the default ports. start.sh starts private servers instead.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: ${need[*]} missing, and installing them needs root" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
placed=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  placed=1
fi
trap '[ -n "$placed" ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install.sh: installed ${need[*]}"
