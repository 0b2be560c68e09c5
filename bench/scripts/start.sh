#!/usr/bin/env bash
# start.sh DIR: starts a private PostgreSQL and a private Redis with their data under DIR
# (which must exist and be empty of them), on 127.0.0.1 only, each on a free port, and
# prints two lines for the harness:
#
#   postgres=127.0.0.1:PORT user=bench dbname=bench
#   redis=127.0.0.1:PORT
#
# PostgreSQL keeps its default durability (fsync on, synchronous_commit on); Redis writes
# an append-only file synced on every write (appendfsync always), with RDB snapshots off.
# stop.sh DIR stops both. Run as root, the servers run as the postgres user (PostgreSQL
# refuses root) and DIR is made traversable for it.
set -euo pipefail

dir=${1:?usage: start.sh DIR}
dir=$(cd "$dir" && pwd)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || ! command -v redis-server >/dev/null 2>&1; then
  echo "start.sh: PostgreSQL or Redis is not installed (run install.sh)" >&2
  exit 1
fi

# freeport prints a TCP port nothing listens on (a race with other programs is possible
# but unlikely; a server that cannot bind fails start.sh).
freeport() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$p" | grep -q .; then
      echo "$p"
      return
    fi
  done
  echo "start.sh: no free port found" >&2
  exit 1
}

as=()
if [ "$(id -u)" = 0 ]; then
  chmod o+x "$dir"
  as=(runuser -u postgres --)
fi
mkdir -p "$dir/pg" "$dir/pg-sock" "$dir/redis"
[ ${#as[@]} -eq 0 ] || chown postgres: "$dir/pg" "$dir/pg-sock" "$dir/redis"

pg_port=$(freeport)
"${as[@]}" "$pg_bin/initdb" -D "$dir/pg/data" -U bench --auth=trust -E UTF8 >"$dir/pg/initdb.log" 2>&1
"${as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$dir/pg-sock -c max_connections=200" \
  start >/dev/null
"${as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U bench bench

redis_port=$(freeport)
"${as[@]}" redis-server --bind 127.0.0.1 --port "$redis_port" --protected-mode yes \
  --dir "$dir/redis" --appendonly yes --appendfsync always --save '' \
  --daemonize yes --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log"
for _ in $(seq 100); do
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; then
    break
  fi
  sleep 0.1 # polling for the server to answer, bounded to 10 s
done
redis-cli -h 127.0.0.1 -p "$redis_port" ping | grep -q PONG
echo "$redis_port" >"$dir/redis/port"

echo "postgres=127.0.0.1:$pg_port user=bench dbname=bench"
echo "redis=127.0.0.1:$redis_port"
