#!/usr/bin/env bash
# packet-steering.sh: spread a NIC's packet processing over all CPUs (RSS, RPS, RFS, XPS).
#
# Dry run by default: prints every change as "write <path> <value>" (and an
# "ethtool -L ..." line for RSS) without touching anything. --apply makes the
# changes. The settings do not survive a reboot: run it from a oneshot unit or
# udev rule for that (see docs/bare-metal.md).
set -euo pipefail

prog=${0##*/}
RFS_ENTRIES=32768

usage() {
  cat <<EOF
Usage: $prog [--nic NAME] [--dry-run | --apply]

  RSS  ethtool -L NIC combined <ncpus> (capped at the NIC's maximum), when
       ethtool is installed and the NIC reports combined channels
  RPS  queues/rx-N/rps_cpus    = every online CPU
  RFS  net.core.rps_sock_flow_entries = $RFS_ENTRIES,
       queues/rx-N/rps_flow_cnt = $RFS_ENTRIES / <rx queues>
  XPS  queues/tx-N/xps_cpus    = CPU (N mod ncpus). When there are more CPUs
       than tx queues, CPU c also goes to queue (c mod <tx queues>), so every
       CPU has a queue

Options:
  --nic NAME   interface (default: the one holding the IPv4 default route, else IPv6)
  --dry-run    print the writes without making them (default)
  --apply      make the writes (root)
  -h, --help   this text

Environment (for tests):
  RINGFLOW_SYS       sysfs root (default /sys)
  RINGFLOW_PROC      procfs root (default /proc)
  RINGFLOW_ETHTOOL   ethtool to run (default: ethtool from PATH, but none when
                     RINGFLOW_SYS is set, so a fake tree never queries a real NIC)

Exit status: 0 success (also "no default route": nothing to do), 1 the NIC does
not exist or a write failed, 2 bad usage.
EOF
}

die_usage() {
  echo "$prog: $*" >&2
  echo "Try '$prog --help'." >&2
  exit 2
}

nic=""
apply=0
while (($#)); do
  case $1 in
    --nic)
      [[ $# -ge 2 && -n $2 ]] || die_usage "--nic needs an interface name"
      nic=$2
      shift 2
      ;;
    --nic=*)
      nic=${1#--nic=}
      [[ -n $nic ]] || die_usage "--nic needs an interface name"
      shift
      ;;
    --dry-run)
      apply=0
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
[[ $nic != */* && $nic != . && $nic != .. ]] || die_usage "bad interface name: $nic"

sys=${RINGFLOW_SYS:-/sys}
proc=${RINGFLOW_PROC:-/proc}
if [[ -n ${RINGFLOW_ETHTOOL:-} ]]; then
  ethtool=$RINGFLOW_ETHTOOL
elif [[ -z ${RINGFLOW_SYS:-} ]]; then
  ethtool=$(command -v ethtool || true)
else
  ethtool=""
fi

if ((apply)); then
  # A fake sysfs with the real /proc (or the reverse) would half-touch the host.
  if [[ -n ${RINGFLOW_SYS:-} && -z ${RINGFLOW_PROC:-} ]] || [[ -z ${RINGFLOW_SYS:-} && -n ${RINGFLOW_PROC:-} ]]; then
    die_usage "--apply needs both RINGFLOW_SYS and RINGFLOW_PROC set, or neither"
  fi
  if ((EUID != 0)) && [[ -z ${RINGFLOW_SYS:-} ]]; then
    echo "$prog: --apply writes to sysfs and /proc/sys and must run as root" >&2
    exit 2
  fi
fi

note() { echo "# $*"; }

# --- which NIC ------------------------------------------------------------------
default_route_nic() {
  local iface dest flags metric mask best="" best_metric=""
  if [[ -r $proc/net/route ]]; then
    # Iface Destination Gateway Flags RefCnt Use Metric Mask ...
    while read -r iface dest _ flags _ _ metric mask _; do
      [[ $dest == 00000000 && $mask == 00000000 ]] || continue
      (((16#$flags) & 1)) || continue # RTF_UP
      if [[ -z $best ]] || ((metric < best_metric)); then
        best=$iface
        best_metric=$metric
      fi
    done < <(tail -n +2 "$proc/net/route")
  fi
  if [[ -z $best && -r $proc/net/ipv6_route ]]; then
    # dest dest_len src src_len next_hop metric refcnt use flags iface
    local dlen m
    while read -r dest dlen _ _ _ m _ _ flags iface; do
      [[ $dest == 00000000000000000000000000000000 && $dlen == 00 ]] || continue
      [[ $iface != lo ]] || continue
      (((16#$flags) & 1)) || continue
      if [[ -z $best ]] || ((16#$m < best_metric)); then
        best=$iface
        best_metric=$((16#$m))
      fi
    done <"$proc/net/ipv6_route"
  fi
  printf '%s' "$best"
}

if [[ -z $nic ]]; then
  nic=$(default_route_nic)
  if [[ -z $nic ]]; then
    echo "$prog: no default route found in $proc/net/route or $proc/net/ipv6_route; nothing to do (pass --nic NAME to choose one)"
    exit 0
  fi
  how="default route"
else
  how="--nic"
fi

netdir=$sys/class/net/$nic
if [[ ! -d $netdir ]]; then
  echo "$prog: network interface '$nic' does not exist ($netdir)" >&2
  exit 1
fi

# --- CPUs -----------------------------------------------------------------------
# Online CPUs as a list of ids. The sysfs format is "0-3,8-11".
cpus=()
online=""
[[ -r $sys/devices/system/cpu/online ]] && online=$(<"$sys/devices/system/cpu/online")
if [[ -n $online ]]; then
  IFS=, read -r -a ranges <<<"$online"
  for r in "${ranges[@]}"; do
    if [[ $r =~ ^([0-9]+)-([0-9]+)$ ]]; then
      for ((c = BASH_REMATCH[1]; c <= BASH_REMATCH[2]; c++)); do cpus+=("$c"); done
    elif [[ $r =~ ^[0-9]+$ ]]; then
      cpus+=("$r")
    fi
  done
fi
if ((${#cpus[@]} == 0)); then
  n=$(nproc)
  for ((c = 0; c < n; c++)); do cpus+=("$c"); done
fi
ncpus=${#cpus[@]}

# cpumask CPU... -> sysfs bitmap: hex in 32-bit words, most significant first,
# comma-separated ("ff,ffffffff" for CPUs 0-39).
cpumask() {
  local -a words=()
  local c w i nwords=1 out=""
  for c in "$@"; do
    w=$((c / 32))
    ((w + 1 > nwords)) && nwords=$((w + 1))
    words[w]=$((${words[w]:-0} | (1 << (c % 32))))
  done
  for ((i = nwords - 1; i >= 0; i--)); do
    if ((i == nwords - 1)); then
      out+=$(printf '%x' "${words[i]:-0}")
    else
      out+=$(printf ',%08x' "${words[i]:-0}")
    fi
  done
  printf '%s' "$out"
}

failed=0
write() { # write PATH VALUE
  echo "write $1 $2"
  if ((apply)); then
    if ! printf '%s\n' "$2" 2>/dev/null >"$1"; then
      echo "$prog: failed to write $2 to $1" >&2
      failed=1
    fi
  fi
}

mode=dry-run
((apply)) && mode=apply
note "nic $nic ($how), $ncpus online CPUs (${online:-from nproc}), mode $mode"

# --- RSS: hardware queues (first: changing channels re-creates the queue dirs) ----
if [[ -z $ethtool ]]; then
  note "RSS skipped: ethtool not available (apt-get install ethtool)"
elif ! channels=$("$ethtool" -l "$nic" 2>&1); then
  note "RSS skipped: $nic does not report channels ($(head -n1 <<<"$channels"))"
else
  max_combined=$(awk '/^Pre-set maximums/{s=1} /^Current hardware/{s=2} s==1 && /^Combined:/{print $2}' <<<"$channels")
  cur_combined=$(awk '/^Current hardware/{s=2} s==2 && /^Combined:/{print $2}' <<<"$channels")
  if [[ ! $max_combined =~ ^[0-9]+$ ]] || ((max_combined == 0)); then
    note "RSS skipped: $nic has no combined channels (maximum: ${max_combined:-n/a})"
  else
    want=$((ncpus < max_combined ? ncpus : max_combined))
    if [[ $cur_combined == "$want" ]]; then
      note "RSS: $nic already has $want combined channel(s) (NIC maximum $max_combined, $ncpus CPUs)"
    else
      echo "ethtool -L $nic combined $want"
      if ((apply)); then
        if ! "$ethtool" -L "$nic" combined "$want"; then
          echo "$prog: ethtool -L $nic combined $want failed" >&2
          failed=1
        fi
      else
        note "after this the queue lists below may change; rerun after --apply"
      fi
    fi
  fi
fi

# --- queues ---------------------------------------------------------------------
list_queues() { # list_queues rx|tx -> indices, numerically sorted
  local d
  for d in "$netdir/queues/$1-"*; do
    [[ -d $d ]] && echo "${d##*-}"
  done | sort -n
}
mapfile -t rxq < <(list_queues rx)
mapfile -t txq < <(list_queues tx)
note "${#rxq[@]} rx queues, ${#txq[@]} tx queues"

# --- RPS + RFS ------------------------------------------------------------------
all_mask=$(cpumask "${cpus[@]}")
if ((${#rxq[@]} > 0)); then
  write "$proc/sys/net/core/rps_sock_flow_entries" "$RFS_ENTRIES"
  per_queue=$((RFS_ENTRIES / ${#rxq[@]}))
  for q in "${rxq[@]}"; do
    qdir=$netdir/queues/rx-$q
    if [[ -e $qdir/rps_cpus ]]; then
      write "$qdir/rps_cpus" "$all_mask"
    else
      note "rx-$q: no rps_cpus (kernel without CONFIG_RPS?), skipped"
    fi
    if [[ -e $qdir/rps_flow_cnt ]]; then
      write "$qdir/rps_flow_cnt" "$per_queue"
    else
      note "rx-$q: no rps_flow_cnt, skipped"
    fi
  done
else
  note "no rx queues under $netdir/queues, RPS/RFS skipped"
fi

# --- XPS ------------------------------------------------------------------------
ntx=${#txq[@]}
for i in "${!txq[@]}"; do
  q=${txq[i]}
  qdir=$netdir/queues/tx-$q
  if [[ ! -e $qdir/xps_cpus ]]; then
    note "tx-$q: no xps_cpus, skipped"
    continue
  fi
  members=("${cpus[i % ncpus]}")
  for ((j = ntx; j < ncpus; j++)); do
    ((j % ntx == i)) && members+=("${cpus[j]}")
  done
  write "$qdir/xps_cpus" "$(cpumask "${members[@]}")"
done

exit "$failed"
