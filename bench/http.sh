#!/usr/bin/env bash
# HTTP throughput/latency: ringflow (/health/live) vs nginx (return 200) on loopback.
# HTTP/1.1 with wrk and ab; HTTP/2 with h2load: h2c (prior knowledge) -c50 -m10 and -c50 -m1,
# and h2 over TLS -c50 -m10, against nginx with `http2 reuseport` and the same workers.
# Then the cost of authentication: GET /v1/workflows with --auth off beside --auth on with an
# API key on every request (same binary, same shards, measured in the same run).
#
#   bench/http.sh [--duration 10s] [--shards N]
#
# Binary: $RINGFLOW_BIN (default build/release/src/app/ringflow). Installs wrk, ab
# (apache2-utils) and nginx with apt-get if they are missing. Both servers only
# listen on 127.0.0.1 and are stopped (by PID) on exit. Load generator and servers
# share this machine's cores, so absolute numbers are indicative; the ratio matters.
set -euo pipefail

DURATION=10s
SHARDS=$(nproc)

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
        --duration=*) DURATION=${1#*=}; shift ;;
        --shards) SHARDS=${2:?--shards needs a value}; shift 2 ;;
        --shards=*) SHARDS=${1#*=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "http.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $DURATION =~ ^[0-9]+[smh]?$ ]] || { echo "http.sh: bad --duration: $DURATION" >&2; exit 2; }
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "http.sh: bad --shards: $SHARDS" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
RINGFLOW_BIN=${RINGFLOW_BIN:-$REPO/build/release/src/app/ringflow}

# ------------------------------------------------------------------ tools
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v ab >/dev/null 2>&1 || missing+=(apache2-utils)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
install_missing "${missing[@]}"
if [[ ! -x $RINGFLOW_BIN ]]; then
    echo "http.sh: ringflow binary not found: $RINGFLOW_BIN (build it or set RINGFLOW_BIN)" >&2
    exit 1
fi

# ------------------------------------------------------------------ processes
TMP=$(mktemp -d -t rf-bench.XXXXXX)
cleanup() {
    stop_started
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_ringflow() { # shards port [extra flags...] -> sets RF_PID
    local shards=$1 port=$2 log=$TMP/ringflow-$1-$2.log
    shift 2
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --shards "$shards" \
        --data-dir "$TMP/data-$shards-$port" --log-level warn --access-log false "${RF_EGRESS_ARGS[@]}" \
        "$@" 2>"$log" &
    RF_PID=$!
    PIDS+=("$RF_PID")
    wait_ready "$RF_PID" "$port" /health/ready "$log"
}

# wait_url PID URL CURL_FLAGS...: up to 10 s for a 200 (servers the HTTP/1.1 probe cannot ask).
wait_url() {
    local pid=$1 url=$2 i
    shift 2
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { echo "http.sh: server (pid $pid) exited during startup" >&2; exit 1; }
        [[ $(curl -sk -o /dev/null -w '%{http_code}' "$@" "$url" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    echo "http.sh: $url not ready after 10 s" >&2
    exit 1
}

start_ringflow_tls() { # shards port -> sets RF_TLS_PID
    local shards=$1 port=$2 log=$TMP/ringflow-tls.log
    "$RINGFLOW_BIN" serve --listen "127.0.0.1:$port" --shards "$shards" \
        --data-dir "$TMP/data-tls" --log-level warn --access-log false "${RF_EGRESS_ARGS[@]}" \
        --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" 2>"$log" &
    RF_TLS_PID=$!
    PIDS+=("$RF_TLS_PID")
    wait_url "$RF_TLS_PID" "https://127.0.0.1:$port/health/ready"
}

# start_nginx_h2 DIR PORT WORKERS tls|h2c: nginx serving HTTP/2 (h2c prior knowledge, or TLS
# with ALPN), reuseport, WORKERS workers; sets NG_H2_PID.
start_nginx_h2() {
    local dir=$1 port=$2 workers=$3 mode=$4 listen ssl=""
    if [[ $mode == tls ]]; then
        listen="ssl http2 reuseport"
        ssl="ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
    else
        listen="http2 reuseport"
    fi
    write_nginx_conf "$dir" "$port" "$workers" "$listen" "http2_max_concurrent_streams 100;" \
        "$ssl location / { return 200 \"ok\\n\"; }"
    launch_nginx "$dir"
    NG_H2_PID=$NGINX_PID
    if [[ $mode == tls ]]; then
        wait_url "$NG_H2_PID" "https://127.0.0.1:$port/"
    else
        wait_url "$NG_H2_PID" "http://127.0.0.1:$port/" --http2-prior-knowledge
    fi
}

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------------ header
cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "== ringflow HTTP bench =="
echo "machine : nproc=$(nproc) kernel=$(uname -r) cpu=\"${cpu_model:-unknown}\""
echo "ringflow: $RINGFLOW_BIN ($("$RINGFLOW_BIN" version 2>/dev/null | head -n 1 || echo '?'))"
echo "nginx   : $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "settings: duration=$DURATION shards=$SHARDS nginx_workers=$SHARDS (load generator shares the same cores)"

# Idle RSS with 2 shards, after startup and before any load.
rss_port=$(free_port)
start_ringflow 2 "$rss_port"
sleep 1
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$RF_PID/status")
echo "idle RSS: $((rss_kb / 1024)) MiB (${rss_kb} kB, ringflow --shards 2, before load)"
stop_pid "$RF_PID"

# ------------------------------------------------------------------ servers
RF_PORT=$(free_port)
start_ringflow "$SHARDS" "$RF_PORT"

NG_PORT=$(free_port)
start_nginx "$TMP/nginx" "$NG_PORT" "$SHARDS" / 'location / { return 200 "ok\n"; }'

RF_URL=http://127.0.0.1:$RF_PORT/health/live
NG_URL=http://127.0.0.1:$NG_PORT/

# HTTP/2: ringflow's h2c is on its one port; nginx needs an http2 listener (and TLS) of its own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
    -out "$TMP/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
RF_TLS_PORT=$(free_port)
start_ringflow_tls "$SHARDS" "$RF_TLS_PORT"
NG_H2C_PORT=$(free_port)
start_nginx_h2 "$TMP/nginx-h2c" "$NG_H2C_PORT" "$SHARDS" h2c
NG_TLS_PORT=$(free_port)
start_nginx_h2 "$TMP/nginx-tls" "$NG_TLS_PORT" "$SHARDS" tls
declare -A URL=(
    [h2c,ringflow]=$RF_URL
    [h2c,nginx]=http://127.0.0.1:$NG_H2C_PORT/
    [tls,ringflow]=https://127.0.0.1:$RF_TLS_PORT/health/live
    [tls,nginx]=https://127.0.0.1:$NG_TLS_PORT/
)
H2_SECONDS=$(awk -v d="$DURATION" 'BEGIN {
    n = d + 0; if (d ~ /m$/) n *= 60; if (d ~ /h$/) n *= 3600; print n }')

# warm-up
wrk -t2 -c16 -d2s "$RF_URL" >/dev/null
wrk -t2 -c16 -d2s "$NG_URL" >/dev/null

# ------------------------------------------------------------------ parsing
# wrk --latency output -> "req/s p50_ms p99_ms errors"
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /^Requests\/sec:/                 { rps = $2 }
        /Latency Distribution/            { dist = 1; next }
        dist && $1 == "50%"               { p50 = ms($2) }
        dist && $1 == "99%"               { p99 = ms($2); dist = 0 }
        /Socket errors:/ {
            gsub(/,/, "")
            err += $4 + $6 + $8 + $10
        }
        /Non-2xx or 3xx responses:/       { err += $NF }
        END { printf "%s %.3f %.3f %d\n", (rps == "" ? "0" : rps), p50, p99, err }
    '
}

# ab output -> "req/s p50_ms p99_ms errors" (ab percentiles are whole ms)
parse_ab() {
    awk '
        /^Requests per second:/  { rps = $4 }
        /^Failed requests:/      { err += $3 }
        /^Non-2xx responses:/    { err += $3 }
        /^Write errors:/         { err += $3 }
        $1 == "50%"              { p50 = $2 }
        $1 == "99%"              { p99 = $2 }
        END { printf "%s %.3f %.3f %d\n", (rps == "" ? "0" : rps), p50, p99, err }
    '
}

# h2load output and its --log-file (start_us, status, duration_us per request) ->
# "req/s p50_ms p99_ms errors"
parse_h2load() { # out log
    local rps err pct
    rps=$(awk '/^finished in/ { gsub(/,/, ""); print $4 }' "$1")
    err=$(awk '/^requests:/ { gsub(/,/, ""); e = $10 + $12 + $14 }
               /^status codes:/ { gsub(/,/, ""); e += $5 + $7 + $9 }
               END { print e + 0 }' "$1")
    pct=$(cut -f3 "$2" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
        i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }')
    echo "${rps:-0} $pct ${err:-0}"
}

# ------------------------------------------------------------------ runs
declare -A RESULT
SCENARIOS=("wrk-t2-c64" "wrk-t1-c1" "ab-k-c50" "h2c-c50-m10" "h2c-c50-m1" "tls-c50-m10")

run_one() { # scenario server url
    local scenario=$1 server=$2 url=$3 out
    out=$TMP/$scenario-$server.txt
    case $scenario in
        h2c-c50-m10 | h2c-c50-m1 | tls-c50-m10)
            local m=${scenario##*-m} proto=${scenario%%-*}
            url=${URL[$proto,$server]}
            h2load -t2 -c50 -m"$m" -D "$H2_SECONDS" --warm-up-time=1 --log-file="$out.log" \
                "$url" >"$out" 2>&1 || true
            RESULT[$scenario,$server]=$(parse_h2load "$out" "$out.log")
            rm -f "$out.log" ;;
        wrk-t2-c64) wrk -t2 -c64 -d"$DURATION" --latency "$url" >"$out" 2>&1 || true
            RESULT[$scenario,$server]=$(parse_wrk <"$out") ;;
        wrk-t1-c1) wrk -t1 -c1 -d"$DURATION" --latency "$url" >"$out" 2>&1 || true
            RESULT[$scenario,$server]=$(parse_wrk <"$out") ;;
        ab-k-c50) ab -k -r -s 10 -n 100000 -c 50 "$url" >"$out" 2>&1 || true
            RESULT[$scenario,$server]=$(parse_ab <"$out") ;;
    esac
    echo "  done: $scenario $server -> ${RESULT[$scenario,$server]}" >&2
}

for scenario in "${SCENARIOS[@]}"; do
    run_one "$scenario" ringflow "$RF_URL"
    run_one "$scenario" nginx "$NG_URL"
done

kill -0 "$RF_PID" 2>/dev/null || echo "WARNING: ringflow is no longer running (crashed under load?)"
kill -0 "$RF_TLS_PID" 2>/dev/null || echo "WARNING: ringflow (TLS) is no longer running"

echo
printf '%-12s | %-8s | %12s | %10s | %10s | %8s\n' scenario server req/s "p50 (ms)" "p99 (ms)" errors
printf '%s\n' "-------------+----------+--------------+------------+------------+---------"
for scenario in "${SCENARIOS[@]}"; do
    for server in ringflow nginx; do
        read -r rps p50 p99 err <<<"${RESULT[$scenario,$server]}"
        printf '%-12s | %-8s | %12.0f | %10.3f | %10.3f | %8d\n' \
            "$scenario" "$server" "$rps" "$p50" "$p99" "$err"
    done
done

echo
printf '%-12s | %18s | %28s\n' scenario "req/s ringflow/ng" "p99 ringflow vs nginx (ms)"
printf '%s\n' "-------------+--------------------+-----------------------------"
for scenario in "${SCENARIOS[@]}"; do
    read -r rf_rps _ rf_p99 _ <<<"${RESULT[$scenario,ringflow]}"
    read -r ng_rps _ ng_p99 _ <<<"${RESULT[$scenario,nginx]}"
    awk -v s="$scenario" -v a="$rf_rps" -v b="$ng_rps" -v p="$rf_p99" -v q="$ng_p99" 'BEGIN {
        ratio = (b > 0) ? sprintf("%.2fx", a / b) : "n/a"
        pr = (q > 0) ? sprintf("(%.2fx)", p / q) : ""
        printf "%-12s | %18s | %10.3f vs %-8.3f %s\n", s, ratio, p, q, pr
    }'
done
echo

# ------------------------------------------------------------------ authentication cost
# The same API route with auth off and with an API key on every request: one SHA-256 and one
# lookup in the shard's key table per request (src/auth). /health/live is open either way.
ADMIN_KEY=bench-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
AUTH_PORT=$(free_port)
export RINGFLOW_ADMIN_KEY=$ADMIN_KEY
start_ringflow "$SHARDS" "$AUTH_PORT" --auth on
unset RINGFLOW_ADMIN_KEY
AUTH_PID=$RF_PID
API_KEY=$(curl -fsS -X POST "http://127.0.0.1:$AUTH_PORT/v1/keys" -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' -d '{"name":"bench","role":"viewer"}' |
    sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
[[ -n $API_KEY ]] || { echo "http.sh: could not create an API key" >&2; exit 1; }
OFF_URL=http://127.0.0.1:$RF_PORT/v1/workflows
KEY_URL=http://127.0.0.1:$AUTH_PORT/v1/workflows
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $API_KEY" "$KEY_URL")
[[ $code == 200 ]] || { echo "http.sh: the API key gets $code" >&2; exit 1; }
wrk -t2 -c16 -d2s "$OFF_URL" >/dev/null
wrk -t2 -c16 -d2s -H "Authorization: Bearer $API_KEY" "$KEY_URL" >/dev/null

declare -A AUTHRES
AUTH_SCENARIOS=("wrk-t2-c64" "wrk-t1-c1")
for scenario in "${AUTH_SCENARIOS[@]}"; do
    conns=64 threads=2
    [[ $scenario == wrk-t1-c1 ]] && conns=1 threads=1
    # Alternating rounds, best of each kept: the two daemons share the cores with wrk and
    # whatever else runs, and a drift during one long run would otherwise favour one side.
    for round in 1 2 3; do
        for variant in off key; do
            out=$TMP/auth-$scenario-$variant-$round.txt
            if [[ $variant == off ]]; then
                wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$OFF_URL" >"$out" 2>&1 || true
            else
                wrk -t"$threads" -c"$conns" -d"$DURATION" --latency -H "Authorization: Bearer $API_KEY" \
                    "$KEY_URL" >"$out" 2>&1 || true
            fi
            res=$(parse_wrk <"$out")
            echo "  done: auth $scenario $variant round $round -> $res" >&2
            best=${AUTHRES[$scenario,$variant]:-0 0 0 0}
            if awk -v a="${res%% *}" -v b="${best%% *}" 'BEGIN { exit !(a > b) }'; then
                AUTHRES[$scenario,$variant]=$res
            fi
        done
    done
done
kill -0 "$AUTH_PID" 2>/dev/null || echo "WARNING: ringflow --auth on is no longer running"

echo "GET /v1/workflows: --auth off vs --auth on with an API key on every request (best of 3 alternating runs)"
printf '%-12s | %-9s | %12s | %10s | %10s | %8s\n' scenario auth req/s "p50 (ms)" "p99 (ms)" errors
printf '%s\n' "-------------+-----------+--------------+------------+------------+---------"
for scenario in "${AUTH_SCENARIOS[@]}"; do
    for variant in off key; do
        read -r rps p50 p99 err <<<"${AUTHRES[$scenario,$variant]}"
        printf '%-12s | %-9s | %12.0f | %10.3f | %10.3f | %8d\n' \
            "$scenario" "$([[ $variant == off ]] && echo off || echo "API key")" "$rps" "$p50" "$p99" "$err"
    done
    read -r a _ _ _ <<<"${AUTHRES[$scenario,key]}"
    read -r b _ _ _ <<<"${AUTHRES[$scenario,off]}"
    awk -v s="$scenario" -v a="$a" -v b="$b" 'BEGIN {
        if (b > 0) printf "%-12s | API key / off = %.3f (%+.1f %%)\n", s, a / b, (a / b - 1) * 100 }'
done
echo
