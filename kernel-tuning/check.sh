#!/usr/bin/env bash
# check.sh: compare the running kernel's sysctls with kernel-tuning/99-ringflow.conf.
#
# Read-only unless --apply. See usage() for options, environment and exit codes.
set -euo pipefail

# Keys where more is fine ("at least"): a current value >= the recommended one
# is ok, and --apply never lowers it. These are queue lengths, table sizes,
# limits and buffer sizes. For multi-value keys (tcp_rmem, tcp_wmem) each field
# is compared on its own. Every other key must match exactly (after
# whitespace normalisation).
AT_LEAST_KEYS=(
  net.core.somaxconn
  net.ipv4.tcp_max_syn_backlog
  net.core.netdev_max_backlog
  net.core.netdev_budget
  net.ipv4.tcp_max_tw_buckets
  net.core.rmem_max
  net.core.wmem_max
  net.ipv4.tcp_rmem
  net.ipv4.tcp_wmem
  net.core.rps_sock_flow_entries
  fs.file-max
  fs.nr_open
  net.netfilter.nf_conntrack_max
)

prog=${0##*/}
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<EOF
Usage: $prog [--conf FILE] [--json] [--apply]

Compares each setting in the sysctl file with the running kernel and prints
key | current | recommended | status, where status is:
  ok       current equals the recommendation (or, for "at least" keys, exceeds it)
  DIFF     current differs
  missing  the key does not exist on this kernel (module not loaded, older kernel)

Options:
  --conf FILE  sysctl file to check (default: $prog's directory/99-ringflow.conf,
               else /etc/sysctl.d/99-ringflow.conf)
  --json       print a JSON array of {key, current, recommended, status, mode}
  --apply      root only: write every DIFF value to /proc/sys (elementwise
               maximum for "at least" keys, never lowering), then report again.
               Not persistent. Install the file into /etc/sysctl.d/ for that.
  -h, --help   this text

"At least" keys:
$(printf '  %s\n' "${AT_LEAST_KEYS[@]}")

Environment:
  RINGFLOW_PROC_SYS  root of the sysctl tree (default /proc/sys), for tests

Exit status: 0 values were read (differences are not an error), 1 /proc/sys
could not be read at all (or --apply failed to write a value), 2 bad usage.
EOF
}

die_usage() {
  echo "$prog: $*" >&2
  echo "Try '$prog --help'." >&2
  exit 2
}

conf=""
json=0
apply=0
while (($#)); do
  case $1 in
    --conf)
      (($# >= 2)) || die_usage "--conf needs a file"
      conf=$2
      shift 2
      ;;
    --conf=*)
      conf=${1#--conf=}
      shift
      ;;
    --json)
      json=1
      shift
      ;;
    --apply)
      apply=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

if [[ -z $conf ]]; then
  if [[ -f $script_dir/99-ringflow.conf ]]; then
    conf=$script_dir/99-ringflow.conf
  else
    conf=/etc/sysctl.d/99-ringflow.conf
  fi
fi
[[ -f $conf && -r $conf ]] || die_usage "cannot read conf file: $conf"

if ((apply)) && ((EUID != 0)); then
  echo "$prog: --apply writes kernel settings and must run as root (try: sudo $0 --apply)" >&2
  exit 2
fi

proc_sys=${RINGFLOW_PROC_SYS:-/proc/sys}

# --- parse the conf: keys[i], recs[i], optional[i] -----------------------------
keys=()
recs=()
optional=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
  lineno=$((lineno + 1))
  line=${line#"${line%%[![:space:]]*}"} # trim leading space
  [[ -z $line || $line == \#* || $line == \;* ]] && continue
  [[ $line == *=* ]] || die_usage "$conf:$lineno: expected 'key = value': $line"
  key=${line%%=*}
  val=${line#*=}
  key=${key//[[:space:]]/}
  opt=0
  if [[ $key == -* ]]; then
    opt=1
    key=${key#-}
  fi
  [[ -n $key ]] || die_usage "$conf:$lineno: empty key"
  read -r -a words <<<"$val"
  keys+=("$key")
  recs+=("${words[*]}")
  optional+=("$opt")
done <"$conf"
((${#keys[@]} > 0)) || die_usage "no settings found in $conf"

# --- helpers ------------------------------------------------------------------
key_path() { # net.ipv4.tcp_rmem -> $proc_sys/net/ipv4/tcp_rmem ("/" form kept as is)
  local k=$1
  [[ $k == */* ]] || k=${k//./\/}
  printf '%s/%s' "$proc_sys" "$k"
}

is_at_least() {
  local k
  for k in "${AT_LEAST_KEYS[@]}"; do
    [[ $k == "$1" ]] && return 0
  done
  return 1
}

# num_ge A B: A >= B for non-negative decimal integers of any length
# (fs.file-max is LONG_MAX, and values can exceed what bash arithmetic holds).
num_ge() {
  local a=$1 b=$2
  a=${a#"${a%%[!0]*}"}
  b=${b#"${b%%[!0]*}"}
  if ((${#a} != ${#b})); then
    ((${#a} > ${#b}))
    return
  fi
  [[ $a > $b || $a == "$b" ]]
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# compare CURRENT RECOMMENDED MODE -> prints ok|DIFF
compare() {
  local cur=$1 rec=$2 mode=$3 i
  if [[ $cur == "$rec" ]]; then
    echo ok
    return
  fi
  if [[ $mode == at_least ]]; then
    local -a c r
    read -r -a c <<<"$cur"
    read -r -a r <<<"$rec"
    if ((${#c[@]} == ${#r[@]})); then
      for i in "${!r[@]}"; do
        if ! is_uint "${c[i]}" || ! is_uint "${r[i]}" || ! num_ge "${c[i]}" "${r[i]}"; then
          echo DIFF
          return
        fi
      done
      echo ok
      return
    fi
  fi
  echo DIFF
}

# apply_value CURRENT RECOMMENDED MODE -> the value --apply writes
apply_value() {
  local cur=$1 rec=$2 mode=$3 i
  local -a c r out
  if [[ $mode == at_least ]]; then
    read -r -a c <<<"$cur"
    read -r -a r <<<"$rec"
    if ((${#c[@]} == ${#r[@]})); then
      for i in "${!r[@]}"; do
        if is_uint "${c[i]}" && is_uint "${r[i]}" && num_ge "${c[i]}" "${r[i]}"; then
          out+=("${c[i]}")
        else
          out+=("${r[i]}")
        fi
      done
      echo "${out[*]}"
      return
    fi
  fi
  echo "$rec"
}

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# --- read the live values -------------------------------------------------------
currents=()
statuses=()
modes=()
read_all() {
  local i path raw status mode nread=0
  local -a words
  currents=()
  statuses=()
  modes=()
  for i in "${!keys[@]}"; do
    mode=exact
    is_at_least "${keys[i]}" && mode=at_least
    modes[i]=$mode
    path=$(key_path "${keys[i]}")
    if [[ -f $path ]] && raw=$(cat -- "$path" 2>/dev/null); then
      read -r -a words <<<"${raw//$'\n'/ }"
      currents[i]="${words[*]}"
      status=$(compare "${currents[i]}" "${recs[i]}" "$mode")
      nread=$((nread + 1))
    else
      currents[i]=""
      status=missing
    fi
    statuses[i]=$status
  done
  ((nread > 0))
}

if [[ ! -d $proc_sys || ! -r $proc_sys ]]; then
  echo "$prog: cannot read $proc_sys" >&2
  exit 1
fi
if ! read_all; then
  echo "$prog: could not read any of the ${#keys[@]} keys under $proc_sys" >&2
  exit 1
fi

apply_failed=0
if ((apply)); then
  for i in "${!keys[@]}"; do
    [[ ${statuses[i]} == DIFF ]] || continue
    value=$(apply_value "${currents[i]}" "${recs[i]}" "${modes[i]}")
    path=$(key_path "${keys[i]}")
    if printf '%s\n' "$value" 2>/dev/null >"$path"; then
      echo "set ${keys[i]} = $value" >&2
    else
      echo "$prog: failed to set ${keys[i]} = $value ($path)" >&2
      apply_failed=1
    fi
  done
  for i in "${!keys[@]}"; do
    if [[ ${statuses[i]} == missing && ${optional[i]} == 0 ]]; then
      echo "$prog: ${keys[i]} does not exist on this kernel, not set" >&2
    fi
  done
  read_all || true
fi

# --- report ---------------------------------------------------------------------
if ((json)); then
  printf '['
  for i in "${!keys[@]}"; do
    ((i > 0)) && printf ','
    printf '\n  {"key": %s, "current": ' "$(json_str "${keys[i]}")"
    if [[ ${statuses[i]} == missing ]]; then
      printf 'null'
    else
      json_str "${currents[i]}"
    fi
    printf ', "recommended": %s, "status": %s, "mode": %s}' \
      "$(json_str "${recs[i]}")" "$(json_str "${statuses[i]}")" "$(json_str "${modes[i]}")"
  done
  printf '\n]\n'
else
  wk=3 wc=7 wr=11
  for i in "${!keys[@]}"; do
    cur=${currents[i]:--}
    rec=${recs[i]}
    [[ ${modes[i]} == at_least ]] && rec=">= $rec"
    ((${#keys[i]} > wk)) && wk=${#keys[i]}
    ((${#cur} > wc)) && wc=${#cur}
    ((${#rec} > wr)) && wr=${#rec}
  done
  printf '%-*s | %-*s | %-*s | %s\n' "$wk" key "$wc" current "$wr" recommended status
  printf '%s-+-%s-+-%s-+-%s\n' "$(printf '%*s' "$wk" '' | tr ' ' -)" \
    "$(printf '%*s' "$wc" '' | tr ' ' -)" "$(printf '%*s' "$wr" '' | tr ' ' -)" "-------"
  n_ok=0 n_diff=0 n_missing=0
  for i in "${!keys[@]}"; do
    cur=${currents[i]:--}
    rec=${recs[i]}
    [[ ${modes[i]} == at_least ]] && rec=">= $rec"
    printf '%-*s | %-*s | %-*s | %s\n' "$wk" "${keys[i]}" "$wc" "$cur" "$wr" "$rec" "${statuses[i]}"
    case ${statuses[i]} in
      ok) n_ok=$((n_ok + 1)) ;;
      DIFF) n_diff=$((n_diff + 1)) ;;
      *) n_missing=$((n_missing + 1)) ;;
    esac
  done
  echo "$n_ok ok, $n_diff DIFF, $n_missing missing (conf: $conf, tree: $proc_sys)"
fi

exit "$apply_failed"
