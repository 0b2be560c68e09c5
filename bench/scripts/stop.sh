#!/usr/bin/env bash
# stop.sh DIR: stops the PostgreSQL and Redis that start.sh DIR started, and waits for
# them to exit. Safe to run when one or both are not running.
set -uo pipefail

dir=${1:?usage: stop.sh DIR}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)

status=0
if [ -f "$dir/pg/data/postmaster.pid" ] && [ -n "$pg_bin" ]; then
  "${as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w -t 30 stop >/dev/null || status=1
fi
if [ -f "$dir/redis/redis.pid" ]; then
  pid=$(cat "$dir/redis/redis.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1 # polling for the process to exit, bounded to 30 s
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid"
      status=1
    fi
  fi
fi
exit $status
