#!/usr/bin/env bash
# A private PostgreSQL server for the queue tests: a fresh cluster in DIR (initdb), listening only on a Unix socket
# in DIR (no TCP port, so parallel runs and a system server never collide), trust authentication for its one local
# user. Debian's postgresql package provides the binaries (Scripts/setup.sh installs it).
#
#   Scripts/test-postgres.sh start DIR   # prints the URL to give --queue / VOCASEG_TEST_POSTGRES
#   Scripts/test-postgres.sh stop DIR
#
# initdb and the server refuse to run as root; as root they run as the postgres system user.
set -euo pipefail
action="${1:-}"; dir="${2:-}"
[ -n "$action" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || { echo "test-postgres: no PostgreSQL server binaries (run Scripts/setup.sh)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
user="$( [ "$(id -u)" -eq 0 ] && echo postgres || id -un )"

case "$action" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
            || { echo "test-postgres: initdb failed:" >&2; tail -5 "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $dir -c max_connections=200 -c fsync=off" start >/dev/null \
        || { echo "test-postgres: server did not start:" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
    echo "postgres://$user@/postgres?host=$dir"
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
