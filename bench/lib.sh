# shellcheck shell=bash
# Shared by the bench scripts (sourced): installing what is missing, the processes a
# script started (stopped by PID, never by name), free loopback ports, readiness probes.

BENCH_NAME=$(basename "$0")
PIDS=()

# The benches' http steps call servers on 127.0.0.1 (nginx), an address ringflow's default
# egress policy denies: every `ringflow serve` a bench starts passes these.
# shellcheck disable=SC2034  # used by the scripts that source this file
RF_EGRESS_ARGS=(--egress-allow 127.0.0.1)

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

# stop_pid PID [SIGNAL]: SIGNAL (default TERM) to one process this script started, KILL if it is
# still there after 10 s; reaps it and drops it from PIDS.
stop_pid() {
    local pid=$1 sig=${2:-TERM} i
    disown "$pid" 2>/dev/null || true  # no "Killed" job notice in the bench's output
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# forget_pid PID: drops PID (a process already waited for) from PIDS.
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
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

# write_nginx_conf DIR PORT WORKERS LISTEN HTTP SERVER: DIR/nginx.conf for nginx on
# 127.0.0.1:PORT with WORKERS workers; LISTEN: more parameters of its listen directive (e.g.
# "http2 reuseport"); HTTP, SERVER: directives inside its http and server blocks.
write_nginx_conf() {
    local dir=$1 port=$2 workers=$3 listen=$4 http=$5 server=$6
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    $http
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port $listen;
        $server
    }
}
EOF
}

# launch_nginx DIR: starts nginx on DIR/nginx.conf in the background; sets NGINX_PID and adds
# it to PIDS (stopped on exit).
launch_nginx() {
    local dir=$1
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/stderr.log" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
}

# start_nginx DIR PORT WORKERS READY_PATH DIRECTIVES: nginx on 127.0.0.1:PORT under DIR, with
# DIRECTIVES (locations, default_type...) inside its server block; sets NG_PID, waits
# until READY_PATH answers 200.
start_nginx() {
    local dir=$1 port=$2 workers=$3 ready=$4 directives=$5
    write_nginx_conf "$dir" "$port" "$workers" "" "" "$directives"
    launch_nginx "$dir"
    NG_PID=$NGINX_PID
    wait_ready "$NG_PID" "$port" "$ready" "$dir/error.log"
}

# prepare_bench: installs the tools both bench scripts drive (curl, jq, nginx, python3),
# builds release unless SKIP_BUILD=1, and checks RINGFLOW_BIN and LOADGEN_BIN exist.
prepare_bench() {
    local missing=() tool bin
    for tool in curl jq nginx python3; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    install_missing "${missing[@]}"
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        echo "building release (tools/build.sh release; includes rf-loadgen) ..." >&2
        "$REPO/tools/build.sh" release
    fi
    for bin in "$RINGFLOW_BIN" "$LOADGEN_BIN"; do
        [[ -x $bin ]] || { echo "$BENCH_NAME: binary not found: $bin" >&2; exit 1; }
    done
}

# cleanup_bench: the EXIT trap of both bench scripts: stops what they started (and the
# private PostgreSQL in PG_DIR and Redis in REDIS_DIR, if any) and removes TMP.
cleanup_bench() {
    stop_started
    if [[ -n ${PG_DIR:-} ]]; then
        "$REPO/tools/pg.sh" stop "$PG_DIR" >/dev/null 2>&1 || true
    fi
    if [[ -n ${REDIS_DIR:-} ]]; then
        "$REPO/tools/redis.sh" stop "$REDIS_DIR" >/dev/null 2>&1 || true
    fi
    if [[ -n ${TMP:-} ]]; then rm -rf "$TMP"; fi
}

# start_bench_with_pg NAME: for the benches on a private PostgreSQL: TMP (a temporary dir,
# removed on exit by cleanup_bench) with a copy of RINGFLOW_BIN that RINGFLOW_BIN then names, and
# a private PostgreSQL (tools/pg.sh, durability on) in PG_DIR, reached at PG_URL.
start_bench_with_pg() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/rf-$1.XXXXXX")
    mkdir -p "$TMP/bin"
    cp "$RINGFLOW_BIN" "$TMP/bin/ringflow"
    RINGFLOW_BIN=$TMP/bin/ringflow
    trap cleanup_bench EXIT
    trap 'exit 130' INT TERM
    PG_DIR="$TMP/pg"
    mkdir -p "$PG_DIR"
    chmod 755 "$TMP"  # the cluster runs as the postgres user (tools/pg.sh): it must reach PG_DIR
    # shellcheck disable=SC2034  # read by the bench that calls this
    PG_URL=$(env -u PG_FAST "$REPO/tools/pg.sh" start "$PG_DIR")
}

# no_args_but_help LAST_HEADER_LINE "$@": for the benches configured by environment alone:
# -h/--help prints the script's header comment (lines 2..LAST_HEADER_LINE) and exits 0; any
# argument is refused with exit 2.
no_args_but_help() {
    local last=$1
    shift
    case ${1:-} in
        -h | --help) sed -n "2,${last}s/^# \{0,1\}//p" "$0"; exit 0 ;;
        "") ;;
        *) echo "$BENCH_NAME: unknown argument ${1} (see --help)" >&2; exit 2 ;;
    esac
}

# start_embedded DIR: a ringflow daemon on a free loopback port with its data under DIR/data
# (--shards $SHARDS, --fsync $FSYNC, warnings only, log in DIR/log); sets RF_PID and RF_PORT
# and waits for /health/ready.
start_embedded() {
    local dir=$1
    RF_PORT=$(free_port)
    mkdir -p "$dir"
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$RF_PORT" --shards "$SHARDS" --data-dir "$dir/data" \
        --fsync "$FSYNC" --log-level warn >"$dir/log" 2>&1 &
    RF_PID=$!
    PIDS+=("$RF_PID")
    wait_ready "$RF_PID" "$RF_PORT" /health/ready "$dir/log"
}
