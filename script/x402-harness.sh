#!/usr/bin/env bash
# The x402 reference stack (official npm packages, pinned in tests/x402) for testing genim serve
# and genim pay: install it, start/stop the reference facilitator and server in the background.
#
#   script/x402-harness.sh install                      # npm ci in tests/x402 when needed
#   script/x402-harness.sh start facilitator [ARGS...]  # prints its URL; ARGS as facilitator-v2.mjs
#   script/x402-harness.sh start server [ARGS...]       # prints its URL; ARGS as server-v2.mjs
#   script/x402-harness.sh stop facilitator|server|all [PORT]
#   script/x402-harness.sh run SCRIPT [ARGS...]         # node tests/x402/SCRIPT.mjs ARGS
#   script/x402-harness.sh selftest                     # tests/x402/selftest.sh (anvil, both generations)
#
# Typical use (tests and CI), with anvil on :8545 and USDC from `run deploy-usdc`:
#   export FACILITATOR_PRIVATE_KEY=0x...                # the relayer, holds ETH for gas
#   fac="$(script/x402-harness.sh start facilitator --port 4022 --rpc http://127.0.0.1:8545)"
#   srv="$(script/x402-harness.sh start server --port 4021 --facilitator "$fac" \
#          --pay-to 0x... --asset 0x... --network eip155:31337)"
#   PAYER_PRIVATE_KEY=0x... script/x402-harness.sh run client-v2 "$srv/weather"
#   script/x402-harness.sh stop all
#
# `install` runs `npm ci` once per package-lock.json (a hash stamp in node_modules; ~160 MB, about
# 45-80 s cold, offline afterwards) and is a no-op when the stamp matches. `start` waits until the
# process prints its one JSON line (it does so once listening), keeps that line in
# $state/KIND-PORT.json and prints only the URL; logs go to $state/KIND-PORT.log. State lives in
# ${GENIM_X402_STATE:-${TMPDIR:-/tmp}/genim-x402}; instances are named by kind and --port
# (defaults 4022 facilitator, 4021 server). Secrets come from the environment only
# (FACILITATOR_PRIVATE_KEY, PAYER_PRIVATE_KEY, DEPLOYER_PRIVATE_KEY) and are never printed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/tests/x402"
state="${GENIM_X402_STATE:-${TMPDIR:-/tmp}/genim-x402}"
ready_timeout="${GENIM_X402_READY_TIMEOUT:-60}"

log() { echo "x402-harness: $*" >&2; }

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# npm ci when node_modules is missing or was installed from another package-lock.json.
install() {
    command -v node >/dev/null || { log "node is not installed (Node 20+ needed)"; exit 1; }
    local want have stamp="$pkg/node_modules/.genim-lock-sha256"
    want="$(sha256sum "$pkg/package-lock.json" | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [[ "$want" == "$have" ]]; then
        return
    fi
    log "installing the x402 reference packages into tests/x402 (npm ci, ~160 MB, first time ~1 min)"
    local t0=$SECONDS
    npm ci --prefix "$pkg" --no-audit --no-fund --loglevel=error >&2
    echo "$want" >"$stamp"
    log "installed in $((SECONDS - t0)) s"
}

# The --port value among the arguments, else the script's default.
port_of() {
    local default="$1"
    shift
    while (($#)); do
        case "$1" in
        --port) echo "${2:-}"; return ;;
        --port=*) echo "${1#--port=}"; return ;;
        esac
        shift
    done
    echo "$default"
}

script_of() {
    case "$1" in
    facilitator) echo facilitator-v2 ;;
    server) echo server-v2 ;;
    *) log "unknown kind '$1' (facilitator or server)"; exit 2 ;;
    esac
}

default_port() { [[ "$1" == facilitator ]] && echo 4022 || echo 4021; }

running_pid() {
    local pidfile="$1" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The "url" field of a one-line JSON file.
url_of() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).url)' "$1"; }

start() {
    local kind="${1:-}"
    [[ -n "$kind" ]] || usage
    shift
    local script port name
    script="$(script_of "$kind")"
    port="$(port_of "$(default_port "$kind")" "$@")"
    [[ "$port" =~ ^[1-9][0-9]*$ ]] || { log "start needs a fixed --port (got '$port')"; exit 2; }
    name="$kind-$port"
    mkdir -p "$state"
    if pid="$(running_pid "$state/$name.pid")"; then
        log "$name already running (pid $pid)"
        url_of "$state/$name.json"
        return
    fi
    install
    rm -f "$state/$name.json"
    log "starting $name (log $state/$name.log)"
    # exec: the pid file holds node's own pid, so `stop` ends exactly that process.
    nohup bash -c 'exec node "$0" "$@"' "$pkg/$script.mjs" --port "$port" "$@" \
        >"$state/$name.json" 2>"$state/$name.log" </dev/null &
    echo $! >"$state/$name.pid"

    local waited=0
    until [[ -s "$state/$name.json" ]]; do
        if ! running_pid "$state/$name.pid" >/dev/null; then
            log "$name exited; its log:"
            cat "$state/$name.log" >&2
            rm -f "$state/$name.pid"
            exit 1
        fi
        if ((waited >= ready_timeout * 10)); then
            log "$name did not start within ${ready_timeout}s; its log:"
            cat "$state/$name.log" >&2
            stop_one "$name"
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    url_of "$state/$name.json"
}

stop_one() {
    local name="$1" pid
    if pid="$(running_pid "$state/$name.pid")"; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM; SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
        log "stopped $name (pid $pid)"
    fi
    rm -f "$state/$name.pid" "$state/$name.json"
}

stop() {
    local kind="${1:-}" port="${2:-}"
    case "$kind" in
    all)
        local f
        for f in "$state"/*.pid; do
            [[ -e "$f" ]] && stop_one "$(basename "$f" .pid)"
        done
        ;;
    facilitator | server)
        stop_one "$kind-${port:-$(default_port "$kind")}"
        ;;
    *) usage ;;
    esac
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
install) install ;;
start) start "$@" ;;
stop) stop "$@" ;;
run)
    [[ $# -gt 0 ]] || usage
    install
    script="$1"
    shift
    exec node "$pkg/${script%.mjs}.mjs" "$@"
    ;;
selftest) install && exec "$pkg/selftest.sh" "$@" ;;
*) usage ;;
esac
