#!/usr/bin/env bash
# A private Redis server under one directory, for tests and benches.
#
#   tools/redis.sh start DIR   starts it (a free port the first time), prints its URL
#   tools/redis.sh stop DIR    stops that server, found by its PID (SIGTERM, then SIGKILL)
#   tools/redis.sh kill DIR    SIGKILLs it at once (crash tests)
#   tools/redis.sh url DIR     prints its URL
#
# DIR holds: redis.conf (rewritten at each start), port, url (redis://127.0.0.1:PORT),
# redis.pid (while it runs), redis.log. The server listens on 127.0.0.1 only, with no password,
# no persistence (`save ""`, no AOF) and DEBUG allowed from loopback (`enable-debug-command
# local`, for tests that pause it with DEBUG SLEEP): it is for tests on this machine, nothing
# else. A restart (stop, then start on the same DIR) keeps the port. Delete DIR yourself once
# it is stopped.
#
# Settings: REDIS_SERVER (the binary; default redis-server on PATH), REDIS_PORT (port of a new
# server; default a free one), REDIS_START_TIMEOUT (seconds to wait, default 20).
#
# TLS: REDIS_TLS_CERT and REDIS_TLS_KEY (PEM files) at `start` make the server also listen with
# TLS on a second port (tls-port; clients are not asked for certificates), kept across restarts
# in DIR/tls-port, its URL (rediss://127.0.0.1:PORT) in DIR/tls-url. The plain port stays (the
# readiness check and redis-cli use it).
set -euo pipefail

timeout=${REDIS_START_TIMEOUT:-20}
server=${REDIS_SERVER:-redis-server}

die() {
  echo "redis.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: tools/redis.sh start DIR | stop DIR | kill DIR | url DIR"
}

resolve_dir() {
  [[ -n "${1:-}" ]] || { usage >&2; exit 2; }
  [[ -d "$1" ]] || die "$1 is not a directory"
  dir=$(cd "$1" && pwd -P)
}

free_port() {
  local p
  local probe='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
  p=$(python3 -c "$probe" 2>/dev/null) || p=""
  [[ $p =~ ^[0-9]+$ ]] || p=$((20000 + RANDOM % 20000))
  echo "$p"
}

# True when PID is alive and is the redis-server started with $dir/redis.conf (a PID from an
# old file may have been reused by another process, which must never be signalled).
is_our_server() {
  local pid=$1
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  [[ -e /proc/$pid ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$dir" ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]]
}

recorded_pid() {
  if [[ -f $dir/redis.pid ]]; then head -n 1 "$dir/redis.pid"; fi
  return 0
}

answers() {  # port -> true once the server answers PING (redis-cli comes with redis-server)
  [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]]
}

cmd_start() {
  resolve_dir "$1"
  command -v "$server" >/dev/null 2>&1 || die "$server not found: run tools/setup.sh (redis-server)"
  local pid port fresh_port=0 tries=0
  pid=$(recorded_pid)
  if [[ -n $pid ]] && is_our_server "$pid"; then
    echo "redis.sh: already running (pid $pid)" >&2
    cat "$dir/url"
    return 0
  fi
  if [[ -f $dir/port ]]; then
    port=$(<"$dir/port")
  elif [[ -n "${REDIS_PORT:-}" ]]; then
    port=$REDIS_PORT
  else
    port=$(free_port)
    fresh_port=1
  fi
  [[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
  local tls_conf="" tls_port=""
  if [[ -n "${REDIS_TLS_CERT:-}" || -n "${REDIS_TLS_KEY:-}" ]]; then
    [[ -r "${REDIS_TLS_CERT:-}" && -r "${REDIS_TLS_KEY:-}" ]] ||
      die "REDIS_TLS_CERT and REDIS_TLS_KEY must both name readable PEM files"
    if [[ -f $dir/tls-port ]]; then tls_port=$(<"$dir/tls-port"); else tls_port=$(free_port); fi
    tls_conf="tls-port $tls_port
tls-cert-file $REDIS_TLS_CERT
tls-key-file $REDIS_TLS_KEY
tls-auth-clients no"
  fi
  while :; do
    rm -f "$dir/redis.pid"
    cat >"$dir/redis.conf" <<CONF
# Written by tools/redis.sh at each start; edits here are lost.
bind 127.0.0.1
port $port
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
enable-debug-command local
$tls_conf
CONF
    (cd "$dir" && "$server" "$dir/redis.conf") || die "$server failed to start (log: $dir/redis.log)"
    local deadline=$((SECONDS + timeout))
    until answers "$port"; do
      pid=$(recorded_pid)
      if (( SECONDS >= deadline )) || { [[ -n $pid ]] && ! is_our_server "$pid"; } ||
          grep -q "Address already in use" "$dir/redis.log" 2>/dev/null; then
        break
      fi
      sleep 0.05
    done
    answers "$port" && break
    pid=$(recorded_pid)
    [[ -n $pid ]] && is_our_server "$pid" && kill -KILL "$pid" 2>/dev/null
    tries=$((tries + 1))
    if (( fresh_port && tries < 5 )) && grep -q "Address already in use" "$dir/redis.log"; then
      : >"$dir/redis.log"
      port=$(free_port)
      continue
    fi
    tail -n 20 "$dir/redis.log" >&2 || true
    die "redis-server did not answer on port $port within ${timeout}s (log: $dir/redis.log)"
  done
  pid=$(recorded_pid)
  is_our_server "$pid" || die "redis.pid names '$pid', which is not our server"
  echo "$port" >"$dir/port"
  echo "redis://127.0.0.1:$port" >"$dir/url"
  if [[ -n $tls_port ]]; then
    echo "$tls_port" >"$dir/tls-port"
    echo "rediss://127.0.0.1:$tls_port" >"$dir/tls-url"
  fi
  cat "$dir/url"
}

cmd_stop() {  # signal
  resolve_dir "$1"
  local sig=$2 pid deadline
  pid=$(recorded_pid)
  if [[ -z $pid ]] || ! is_our_server "$pid"; then
    rm -f "$dir/redis.pid"
    echo "redis.sh: no server runs in $dir" >&2
    return 0
  fi
  kill "-$sig" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while is_our_server "$pid"; do
    if (( SECONDS >= deadline )); then
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      sig=KILL
    fi
    sleep 0.05
  done
  rm -f "$dir/redis.pid"
}

dir=""
case "${1:-}" in
  start)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    mkdir -p "$2"
    cmd_start "$2"
    ;;
  stop)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    cmd_stop "$2" TERM
    ;;
  kill)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    cmd_stop "$2" KILL
    ;;
  url)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    resolve_dir "$2"
    [[ -f $dir/url ]] || die "no server was started in $dir"
    cat "$dir/url"
    ;;
  -h | --help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
