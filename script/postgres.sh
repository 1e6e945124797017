#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL server for the ledger tests (src/serve/ledger).
#
#   script/postgres.sh start [PORT]   # prints the URL, e.g. postgres://genim:...@127.0.0.1:5432/genim
#   script/postgres.sh stop [PORT]
#   script/postgres.sh status [PORT]
#
# Typical use (tests and CI):
#   export GENIM_TEST_POSTGRES_URL="$(script/postgres.sh start 5491)"
#   cargo test --test it ledger
#   script/postgres.sh stop 5491
#
# `start` installs Debian's `postgresql` with apt-get when no server binaries are found (root
# only; no default cluster is created or started), then creates a fresh cluster in a temporary
# folder, listening on 127.0.0.1:PORT only (its Unix socket in that folder), with a user `genim`
# whose random password is in the URL (so the tests can check that it never shows in errors),
# and a database `genim`. PostgreSQL refuses to run as root: as root the cluster belongs to the
# `postgres` user, otherwise to the current user. fsync is off: this cluster is thrown away, and
# the tests check the ledger's logic, not the disk (the embedded ledger's durability tests do).
# Only the URL goes to stdout; progress goes to stderr. State (cluster, log, URL) lives in
# ${GENIM_POSTGRES_STATE:-${TMPDIR:-/tmp}/genim-postgres-PORT}; `stop` ends that server and
# removes it.
set -euo pipefail

cmd="${1:-}"
port="${2:-5432}"
state="${GENIM_POSTGRES_STATE:-${TMPDIR:-/tmp}/genim-postgres-$port}"
data="$state/data"
urlfile="$state/url"

log() { echo "postgres: $*" >&2; }

usage() {
    sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The newest installed server's bin folder (Debian keeps them off PATH).
bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

install() {
    if [[ "$(id -u)" != 0 ]]; then
        log "PostgreSQL is not installed; as root: apt-get install postgresql"
        exit 1
    fi
    log "installing PostgreSQL from Debian's packages (apt-get, once)"
    local started=$SECONDS
    # Debian's package would create and start a default cluster on port 5432: not wanted here.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/genim-tests.conf
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends postgresql >"${TMPDIR:-/tmp}/genim-postgres-apt.log" 2>&1; then
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends postgresql \
            >"${TMPDIR:-/tmp}/genim-postgres-apt.log" 2>&1 || {
            cat "${TMPDIR:-/tmp}/genim-postgres-apt.log" >&2
            exit 1
        }
    fi
    log "installed in $((SECONDS - started))s"
}

# Runs a server binary as the cluster's owner.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [[ -f "$data/postmaster.pid" ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
    [[ "$port" =~ ^[0-9]+$ ]] || { log "PORT must be a number, got '$port'"; exit 2; }
    bin="$(bindir)" || { install; bin="$(bindir)"; }
    if running && [[ -f "$urlfile" ]]; then
        log "already running (state $state)"
        cat "$urlfile"
        return
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        log "something else already listens on 127.0.0.1:$port; pick another PORT"
        exit 1
    fi
    local started=$SECONDS
    rm -rf "$state"
    mkdir -p "$state"
    local password
    password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$password" >"$state/pwfile"
    if [[ "$(id -u)" == 0 ]]; then
        chown -R postgres: "$state"
    fi
    chmod 700 "$state"
    if ! as_owner test -w "$state"; then
        log "the postgres user cannot reach $state (a TMPDIR only root can enter?); set GENIM_POSTGRES_STATE"
        exit 1
    fi

    log "initdb in $data"
    as_owner "$bin/initdb" -D "$data" -U genim --pwfile="$state/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$state/initdb.log" 2>&1 || {
        cat "$state/initdb.log" >&2
        exit 1
    }
    rm -f "$state/pwfile"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$state'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    log "starting on 127.0.0.1:$port (log $state/server.log)"
    as_owner "$bin/pg_ctl" -D "$data" -l "$state/server.log" -w -t 60 start >/dev/null || {
        cat "$state/server.log" >&2
        exit 1
    }
    as_owner "$bin/psql" -h "$state" -p "$port" -U genim -d postgres -qAt \
        -c "CREATE DATABASE genim" >/dev/null
    local url="postgres://genim:$password@127.0.0.1:$port/genim"
    printf '%s\n' "$url" >"$urlfile"
    log "ready after ${SECONDS}s in all, $((SECONDS - started))s for the cluster"
    echo "$url"
}

stop() {
    if bin="$(bindir)" && running; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
        log "stopped the server on port $port"
    else
        log "not running (no live server in $data)"
    fi
    rm -rf "$state"
}

case "$cmd" in
start) start ;;
stop) stop ;;
status)
    if bin="$(bindir)" && running && [[ -f "$urlfile" ]]; then
        cat "$urlfile"
    else
        log "not running on port $port"
        exit 1
    fi
    ;;
*) usage ;;
esac
