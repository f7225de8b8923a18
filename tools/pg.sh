#!/usr/bin/env bash
# A private PostgreSQL cluster under one directory, for tests and benches.
#
#   tools/pg.sh start DIR   creates the cluster the first time, starts it, prints its URL
#   tools/pg.sh stop DIR    stops that cluster's postmaster, found by its PID
#   tools/pg.sh url DIR     prints the cluster's URL
#   tools/pg.sh bindir      prints the directory of the PostgreSQL server binaries
#
# DIR holds: data/ (PGDATA), pg.log (server log), initdb.log, port, url
# (postgresql://ringflow@127.0.0.1:PORT/ringflow), pg.pid (the postmaster's PID while it
# runs) and the unix socket. The cluster listens on 127.0.0.1 only and trusts every local
# connection for the superuser `ringflow`: it is for tests on this machine, nothing else.
# A restart (stop, then start on the same DIR) keeps the data and the port. `stop` removes
# pg.pid and nothing else; delete DIR yourself once it is stopped.
#
# Durability: fsync, synchronous_commit and full_page_writes stay on, because the benchmark
# measures the real cost of a durable commit. PG_FAST=1 at `start` turns them off for tests
# that do not measure it (the data then survives a process crash, not a machine crash).
#
# As root: initdb, pg_ctl and postgres refuse to run as root, so this script runs them as the
# unprivileged user PG_RUN_AS (default `postgres`, the system user Debian's postgresql package
# creates) through `runuser -u`, and gives DIR to that user (chown, mode 700). That user must be
# able to reach DIR: a directory under /tmp works, one under a 0700 directory owned by root
# (such as pytest's /tmp/pytest-of-root) does not, and `start` says so. Not root: everything
# runs as the calling user.
#
# TLS: PG_TLS_CERT and PG_TLS_KEY (PEM files) at `start` turn ssl on with that certificate and
# key (copied into DIR/tls, owned by the server's user, the key mode 600 as PostgreSQL demands);
# clients may then use sslmode=require/verify-ca/verify-full. Without them at a (re)start, ssl
# is off.
#
# Other settings: PG_BIN (server binaries directory; default: the newest
# /usr/lib/postgresql/*/bin, else pg_config --bindir, else initdb on PATH), PG_PORT (port of
# a new cluster; default: a free one), PG_START_TIMEOUT (seconds to wait, default 60).
set -euo pipefail

# Connection settings from the caller's environment must not redirect our own psql calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGOPTIONS PGSERVICE PGSERVICEFILE PGSSLMODE

readonly DB=ringflow          # database and superuser name
readonly HOST=127.0.0.1
readonly NO_BINARIES="PostgreSQL server binaries (initdb, pg_ctl) not found: run tools/setup.sh \
or set PG_BIN"
timeout=${PG_START_TIMEOUT:-60}
if [[ ! $timeout =~ ^[1-9][0-9]*$ ]]; then
  echo "pg.sh: PG_START_TIMEOUT must be a positive integer" >&2
  exit 2
fi

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: tools/pg.sh start DIR | stop DIR | url DIR | bindir   (PG_FAST=1 start: fsync off)"
}

find_bindir() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || return 1
    echo "$PG_BIN"
    return 0
  fi
  local newest d
  newest=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  if [[ -x "$newest" ]]; then
    dirname "$newest"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
      echo "$d"
      return 0
    fi
  fi
  d=$(command -v initdb 2>/dev/null) || return 1
  dirname "$d"
}

# Runs a server binary as the cluster's owner, from DIR (the owner may not be allowed into the
# caller's working directory, and postgres warns about that).
RUN_AS=()
run_as_owner() {
  (cd "$dir" && "${RUN_AS[@]}" "$@")
}

setup_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  local user=${PG_RUN_AS:-postgres}
  id -u "$user" >/dev/null 2>&1 ||
    die "running as root: user '$user' does not exist; install postgresql (it creates" \
        "'postgres') or set PG_RUN_AS to an unprivileged user"
  [[ $(id -u "$user") -ne 0 ]] || die "PG_RUN_AS must be an unprivileged user, not '$user'"
  command -v runuser >/dev/null 2>&1 || die "running as root needs runuser (util-linux)"
  RUN_AS=(runuser -u "$user" --)
  owner=$user
}

resolve_dir() {  # DIR argument -> $dir (absolute, symlinks resolved), $data
  [[ -n "${1:-}" ]] || { usage >&2; exit 2; }
  [[ -d "$1" ]] || die "$1 is not a directory"
  dir=$(cd "$1" && pwd -P)
  data=$dir/data
}

free_port() {
  local p
  local probe='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
  p=$(python3 -c "$probe" 2>/dev/null) || p=""
  [[ $p =~ ^[0-9]+$ ]] || p=$((20000 + RANDOM % 20000))
  echo "$p"
}

# True when PID is alive and is the postmaster of $data (a PID from an old file may have been
# reused by another process, which must never be signalled).
is_our_postmaster() {
  local pid=$1 cwd
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  [[ -e /proc/$pid ]] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || cwd=""
  [[ $cwd == "$data" ]] && return 0  # the postmaster chdirs into its data directory
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$data"
}

recorded_pid() {  # DIR/pg.pid, else the first line of data/postmaster.pid, else nothing
  local pid=""
  [[ -f $dir/pg.pid ]] && pid=$(head -n 1 "$dir/pg.pid")
  if [[ -z $pid && -f $data/postmaster.pid ]]; then pid=$(head -n 1 "$data/postmaster.pid"); fi
  echo "$pid"
}

sql_quote() {  # a value for a single-quoted postgresql.conf string
  printf "'%s'" "${1//\'/\'\'}"
}

write_conf() {  # port
  local port=$1 sockets=$dir fsync=on
  [[ "${PG_FAST:-0}" == 1 ]] && fsync=off
  # A unix socket path is limited to 107 bytes; past that, clients use TCP only (our URL does).
  if (( ${#dir} + 20 > 107 )); then
    echo "pg.sh: $dir is too long for a unix socket path: TCP only" >&2
    sockets=""
  fi
  # Rewritten at every start (PG_FAST may differ); postgresql.conf includes it last.
  run_as_owner tee "$data/ringflow.conf" >/dev/null <<EOF
# Written by tools/pg.sh at each start; edits here are lost.
listen_addresses = '$HOST'
port = $port
unix_socket_directories = $(sql_quote "$sockets")
max_connections = 200
shared_buffers = 128MB
fsync = $fsync
synchronous_commit = $fsync
full_page_writes = $fsync
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] '
EOF
  if [[ -n "${PG_TLS_CERT:-}" || -n "${PG_TLS_KEY:-}" ]]; then
    [[ -r "${PG_TLS_CERT:-}" && -r "${PG_TLS_KEY:-}" ]] ||
      die "PG_TLS_CERT and PG_TLS_KEY must both name readable PEM files"
    run_as_owner mkdir -p "$dir/tls"
    run_as_owner tee "$dir/tls/server.crt" <"$PG_TLS_CERT" >/dev/null
    run_as_owner tee "$dir/tls/server.key" <"$PG_TLS_KEY" >/dev/null
    run_as_owner chmod 600 "$dir/tls/server.key"
    run_as_owner tee -a "$data/ringflow.conf" >/dev/null <<EOF
ssl = on
ssl_cert_file = $(sql_quote "$dir/tls/server.crt")
ssl_key_file = $(sql_quote "$dir/tls/server.key")
EOF
  fi
}

psql_admin() {  # port, sql -> output (as the superuser, on database postgres)
  PGCONNECT_TIMEOUT=5 "$bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$HOST" -p "$1" -U "$DB" -d postgres -c "$2"
}

cmd_start() {
  resolve_dir "$1"
  setup_user
  local pid url port fresh_port=0 tries=0 log_lines

  pid=$(recorded_pid)
  if [[ -n $pid ]] && is_our_postmaster "$pid"; then
    echo "$pid" >"$dir/pg.pid"
    [[ -f $dir/url ]] || die "a postmaster ($pid) runs on $data but $dir/url is missing"
    echo "pg.sh: already running (pid $pid)" >&2
    cat "$dir/url"
    return 0
  fi

  if [[ -n $owner ]]; then
    chown "$owner:" "$dir"
    chmod 700 "$dir"
    "${RUN_AS[@]}" test -x "$dir" -a -w "$dir" ||
      die "user $owner cannot reach $dir (a parent directory is closed to it);" \
          "use a directory under /tmp"
  fi

  if [[ ! -f $data/PG_VERSION ]]; then
    [[ -e $data ]] && die "$data exists but holds no cluster (an interrupted initdb?): remove it"
    local nosync=()
    [[ "${PG_FAST:-0}" == 1 ]] && nosync=(--no-sync)
    if ! run_as_owner "$bindir/initdb" -D "$data" -U "$DB" --auth=trust --encoding=UTF8 \
        --locale=C --no-instructions "${nosync[@]}" >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      die "initdb failed (log: $dir/initdb.log)"
    fi
    echo "include_if_exists = 'ringflow.conf'" |
      run_as_owner tee -a "$data/postgresql.conf" >/dev/null
  fi

  if [[ -f $dir/port ]]; then
    port=$(<"$dir/port")                       # a restart keeps its port
  elif [[ -n "${PG_PORT:-}" ]]; then
    port=$PG_PORT
  else
    port=$(free_port)
    fresh_port=1
  fi
  [[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"

  [[ -e $dir/pg.log ]] || run_as_owner touch "$dir/pg.log"
  while :; do
    write_conf "$port"
    log_lines=$(wc -l <"$dir/pg.log")
    if run_as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/pg.log" -w -t "$timeout" -s start; then
      break
    fi
    # Another process may have taken the free port since we probed it: try another.
    tries=$((tries + 1))
    if (( fresh_port && tries < 5 )) &&
        tail -n "+$((log_lines + 1))" "$dir/pg.log" | grep -q "Address already in use"; then
      port=$(free_port)
      continue
    fi
    pid=$(recorded_pid)
    if [[ -n $pid ]] && is_our_postmaster "$pid"; then
      echo "$pid" >"$dir/pg.pid"  # still starting after the timeout: `stop` can end it
    fi
    tail -n "+$((log_lines + 1))" "$dir/pg.log" | tail -n 30 >&2
    die "postgres did not start on port $port within ${timeout}s (log: $dir/pg.log)"
  done
  echo "$port" >"$dir/port"

  pid=$(head -n 1 "$data/postmaster.pid")
  is_our_postmaster "$pid" || die "postmaster.pid names $pid, which is not our postmaster"
  echo "$pid" >"$dir/pg.pid"

  # pg_ctl -w waited for the ready state; this also proves TCP works for clients (bounded).
  local deadline=$((SECONDS + timeout))
  until "$bindir/pg_isready" -q -h "$HOST" -p "$port" -U "$DB" -d postgres -t 2; do
    (( SECONDS < deadline )) ||
      die "postgres on port $port accepts no connections after ${timeout}s"
    sleep 0.1
  done
  if [[ $(psql_admin "$port" "SELECT 1 FROM pg_database WHERE datname = '$DB'") != 1 ]]; then
    psql_admin "$port" "CREATE DATABASE $DB" >/dev/null
  fi

  url="postgresql://$DB@$HOST:$port/$DB"
  echo "$url" >"$dir/url"
  echo "$url"
}

wait_gone() {  # pid, seconds
  local pid=$1 deadline=$((SECONDS + $2))
  while is_our_postmaster "$pid"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.1
  done
}

cmd_stop() {
  resolve_dir "$1"
  setup_user
  local pid
  pid=$(recorded_pid)
  if [[ -z $pid ]] || ! is_our_postmaster "$pid"; then
    rm -f "$dir/pg.pid"
    echo "pg.sh: no postmaster runs on $data" >&2
    return 0
  fi
  if ! run_as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t "$timeout" -s stop; then
    # pg_ctl failed or timed out: signal that PID ourselves, from fast shutdown to SIGKILL.
    local sig
    for sig in INT QUIT KILL; do
      is_our_postmaster "$pid" || break
      echo "pg.sh: pg_ctl could not stop postmaster $pid: SIG$sig" >&2
      kill "-$sig" "$pid" 2>/dev/null || true
      wait_gone "$pid" 10 && break
    done
  fi
  wait_gone "$pid" 10 || die "postmaster $pid did not exit"
  rm -f "$dir/pg.pid"
}

cmd_url() {
  resolve_dir "$1"
  [[ -f $dir/url ]] || die "no cluster was started in $dir"
  cat "$dir/url"
}

owner=""
dir=""
data=""
case "${1:-}" in
  start | stop)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    bindir=$(find_bindir) || die "$NO_BINARIES"
    if [[ $1 == start ]]; then mkdir -p "$2"; cmd_start "$2"; else cmd_stop "$2"; fi
    ;;
  url)
    [[ $# -eq 2 ]] || { usage >&2; exit 2; }
    cmd_url "$2"
    ;;
  bindir)
    find_bindir || die "$NO_BINARIES"
    ;;
  -h | --help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
