#!/usr/bin/env bash
# Starts or stops the offline IPFS node (js-ipfs, pinned in tests/ipfs) used by the store tests.
#
#   script/ipfs-node.sh start [PORT]   # prints the API URL, e.g. http://127.0.0.1:5001
#   script/ipfs-node.sh stop [PORT]
#   script/ipfs-node.sh status [PORT]
#
# Typical use (tests and CI):
#   export GENIM_TEST_IPFS_API="$(script/ipfs-node.sh start)"
#   cargo test --test it stores
#   script/ipfs-node.sh stop
#
# `start` installs tests/ipfs with `npm ci` when needed (1-4 min the first time, ~300 MB), inits
# a fresh repo in a temporary folder with every address on 127.0.0.1 and no bootstrap peers,
# starts `jsipfs daemon --offline` in the background and waits until the API answers
# (~15 s in all: init ~6 s, daemon ~6 s).
# Only the URL goes to stdout; progress goes to stderr. State (repo, log, pid file) lives in
# ${GENIM_IPFS_STATE:-${TMPDIR:-/tmp}/genim-ipfs-PORT}; `stop` ends that one daemon and removes it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/tests/ipfs"
cmd="${1:-}"
port="${2:-5001}"
state="${GENIM_IPFS_STATE:-${TMPDIR:-/tmp}/genim-ipfs-$port}"
pidfile="$state/daemon.pid"
url="http://127.0.0.1:$port"
ready_timeout="${GENIM_IPFS_READY_TIMEOUT:-60}"

log() { echo "ipfs-node: $*" >&2; }

usage() {
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

running_pid() {
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

api_answers() {
    curl -fsS -m 2 -X POST "$url/api/v0/version" >/dev/null 2>&1
}

start() {
    [[ "$port" =~ ^[0-9]+$ ]] || { log "PORT must be a number, got '$port'"; exit 2; }
    command -v node >/dev/null || { log "node is not installed (Node 18-20 needed)"; exit 1; }
    if pid="$(running_pid)"; then
        log "already running (pid $pid, state $state)"
        echo "$url"
        return
    fi
    if api_answers; then
        log "something else already answers on $url; pick another PORT"
        exit 1
    fi
    if [[ ! -x "$pkg/node_modules/.bin/jsipfs" ]]; then
        log "installing js-ipfs into tests/ipfs (npm ci, first time 1-4 min)"
        npm ci --prefix "$pkg" --no-audit --no-fund --loglevel=error >&2
    fi

    rm -rf "$state"
    mkdir -p "$state"
    local swarm=$((port + 1))
    cat >"$state/config.json" <<EOF
{
  "Addresses": {
    "API": "/ip4/127.0.0.1/tcp/$port",
    "Gateway": "",
    "RPC": "",
    "Swarm": ["/ip4/127.0.0.1/tcp/$swarm"],
    "Announce": [],
    "NoAnnounce": [],
    "Delegates": []
  },
  "Bootstrap": [],
  "Discovery": {
    "MDNS": { "Enabled": false },
    "webRTCStar": { "Enabled": false }
  }
}
EOF
    export IPFS_PATH="$state/repo"
    local jsipfs="$pkg/node_modules/.bin/jsipfs"
    log "init repo in $IPFS_PATH"
    "$jsipfs" init --emptyRepo --defaultConfig "$state/config.json" >"$state/init.log" 2>&1 || {
        cat "$state/init.log" >&2
        exit 1
    }

    log "starting daemon on $url (log $state/daemon.log)"
    nohup "$jsipfs" daemon --offline --enable-preload=false >"$state/daemon.log" 2>&1 &
    echo $! >"$pidfile"

    local waited=0
    until api_answers; do
        if ! running_pid >/dev/null; then
            log "daemon exited; its log:"
            cat "$state/daemon.log" >&2
            exit 1
        fi
        if ((waited >= ready_timeout * 4)); then
            log "API did not answer within ${ready_timeout}s; its log:"
            cat "$state/daemon.log" >&2
            stop
            exit 1
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    log "ready after ~$((waited / 4))s (pid $(cat "$pidfile"))"
    echo "$url"
}

stop() {
    local pid
    if pid="$(running_pid)"; then
        kill "$pid"
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop on SIGTERM; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
        fi
        log "stopped pid $pid"
    else
        log "not running (no live pid in $pidfile)"
    fi
    rm -rf "$state"
}

case "$cmd" in
start) start ;;
stop) stop ;;
status)
    if pid="$(running_pid)" && api_answers; then
        echo "$url"
    else
        log "not running on $url"
        exit 1
    fi
    ;;
*) usage ;;
esac
