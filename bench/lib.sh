# shellcheck shell=bash
# Shared by the bench scripts (sourced): installing what is missing, the processes a
# script started (stopped by PID, never by name), free loopback ports, readiness probes.

BENCH_NAME=$(basename "$0")
PIDS=()

# install_missing PACKAGE...: apt-get install the given packages (sudo unless root).
install_missing() {
    [[ $# -gt 0 ]] || return 0
    echo "installing: $*" >&2
    local sudo=()
    [[ $EUID -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get -y install "$@" >&2
}

# stop_started: TERM every PID in PIDS, then KILL what is still there after 10 s.
stop_started() {
    local pid i
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# probe PORT PATH: the HTTP status of GET 127.0.0.1:PORT PATH (empty if no answer within 2 s).
probe() {
    local port=$1 path=$2 line=""
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        printf 'GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' "$path" >&3
        IFS= read -r -t 2 line <&3 || true
        exec 3<&- 3>&-
    fi
    line=${line#* }
    echo "${line%% *}"
}

# wait_ready PID PORT PATH LOG: up to 10 s for a 200; exits the script if the server dies.
wait_ready() {
    local pid=$1 port=$2 path=$3 log=$4 i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$BENCH_NAME: server (pid $pid) exited during startup; log:" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
        [[ $(probe "$port" "$path") == 200 ]] && return 0
        sleep 0.1
    done
    echo "$BENCH_NAME: server on port $port not ready after 10 s; log:" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
}
