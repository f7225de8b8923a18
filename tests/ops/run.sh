#!/usr/bin/env bash
# tests/ops/run.sh: tests for the bare-metal operations kit (kernel-tuning/, systemd/,
# the README's "Running on bare metal" section), plus shellcheck over every *.sh in the repo's script folders,
# a self-test of the layering check (tools/check_layers.py) on fake src/ trees, and the
# dashboard and alert rules of observability/ (promtool check/test rules, check_observability.py).
#
# Run from anywhere: bash tests/ops/run.sh. Installs nothing and changes nothing on
# the machine: kernel settings are only read live, and every write goes to fake
# /proc and /sys trees in a temp dir.
# Needs: shellcheck, systemd-analyze (package systemd), python3, python3-yaml, util-linux (setpriv),
# promtool (package prometheus).
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  cat <<'EOF'
Usage: bash tests/ops/run.sh

Runs the ops checks and prints "ok - NAME" / "not ok - NAME" per check, then
"ops: N passed, M failed". Exit status 0 when nothing failed, 1 otherwise (also
when shellcheck, systemd-analyze, python3, setpriv or promtool is missing).
EOF
  exit 0
fi

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

missing=()
for tool in shellcheck systemd-analyze python3 setpriv promtool; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "ops: missing tools: ${missing[*]}" >&2
  echo "ops: install them with: apt-get install -y shellcheck systemd python3 python3-yaml util-linux prometheus" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
chmod 755 "$tmp" # the non-root --apply check runs as nobody and must read files in here

passed=0
failed=0
ok() {
  echo "ok - $1"
  passed=$((passed + 1))
}
not_ok() { # not_ok NAME [DIAGNOSTIC-FILE-OR-TEXT...]
  echo "not ok - $1"
  failed=$((failed + 1))
  shift
  local d
  for d in "$@"; do
    if [[ -f $d ]]; then
      sed 's/^/#   /' "$d" | head -n 40
    else
      printf '%s\n' "$d" | sed 's/^/#   /'
    fi
  done
}
skip() {
  echo "ok - $1 # SKIP $2"
  passed=$((passed + 1))
}

# run CMD...: runs CMD with stdout in $tmp/out, stderr in $tmp/err; sets $rc.
rc=0
run() {
  rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
# expect_rc NAME WANT CMD...
expect_rc() {
  local name=$1 want=$2
  shift 2
  run "$@"
  if ((rc == want)); then
    ok "$name"
  else
    not_ok "$name" "exit status $rc, expected $want" "$tmp/out" "$tmp/err"
  fi
}
# assert NAME CONDITION-CMD... [-- diagnostics]: ok when the command succeeds
assert() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name" "$tmp/out" "$tmp/err"; fi
}
# row FILE KEY: the table row for KEY with runs of spaces squeezed
row() { awk -v k="$2" -F' *[|] *' '$1 == k' "$1" | tr -s ' '; }
row_is() { [[ $(row "$1" "$2") == "$3" ]]; }

check_sh=kernel-tuning/check.sh
ps_sh=kernel-tuning/packet-steering.sh
conf=kernel-tuning/99-ringflow.conf

# ---------------------------------------------------------------------------------
# 1. shellcheck and script conventions
# ---------------------------------------------------------------------------------
dirs=()
for d in kernel-tuning tools tests bench; do [[ -d $d ]] && dirs+=("$d"); done
mapfile -t scripts < <(find "${dirs[@]}" -type f -name '*.sh' | sort)
if ((${#scripts[@]} == 0)); then
  not_ok "shellcheck: found scripts to check"
fi
for s in "${scripts[@]}"; do
  run shellcheck -x --source-path=SCRIPTDIR "$s"
  if ((rc == 0)); then ok "shellcheck $s"; else not_ok "shellcheck $s" "$tmp/out"; fi
done

for s in "$check_sh" "$ps_sh" tests/ops/run.sh; do
  assert "$s is executable" test -x "$s"
  assert "$s sets -euo pipefail" grep -qx 'set -euo pipefail' "$s"
  expect_rc "$s --help exits 0" 0 bash "$s" --help
  assert "$s --help prints usage" grep -q '^Usage:' "$tmp/out"
done

# ---------------------------------------------------------------------------------
# 2. the sysctl file itself
# ---------------------------------------------------------------------------------
mapfile -t conf_keys < <(sed -n 's/^[[:space:]]*-\{0,1\}\([a-z0-9_.-]*\)[[:space:]]*=.*/\1/p' "$conf")
assert "99-ringflow.conf has settings" test "${#conf_keys[@]}" -ge 25
dups=$(printf '%s\n' "${conf_keys[@]}" | sort | uniq -d)
assert "99-ringflow.conf has no duplicate keys" test -z "$dups"

no_why=$(awk '/^[[:space:]]*-?[a-z0-9_.-]+[[:space:]]*=/ { if (prev !~ /^# why: /) print $0 } { prev = $0 }' "$conf")
if [[ -z $no_why ]]; then ok "99-ringflow.conf: every setting has a '# why:' line above it"; else not_ok "99-ringflow.conf: every setting has a '# why:' line above it" "$no_why"; fi

bad=""
for k in net.ipv4.tcp_tw_recycle net.ipv4.tcp_fack net.ipv4.tcp_low_latency net.ipv4.tcp_delack_min \
  net.ipv4.tcp_rfs_entries net.ipv4.tcp_adv_win_scale net.ipv4.tcp_mem; do
  printf '%s\n' "${conf_keys[@]}" | grep -qx "$k" && bad+="$k "
  grep -q "^#.*${k##*.}" "$conf" || bad+="(${k##*.} not explained) "
done
if [[ -z $bad ]]; then ok "99-ringflow.conf: obsolete keys left out and explained"; else not_ok "99-ringflow.conf: obsolete keys left out and explained" "$bad"; fi

bad=""
for k in net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog net.core.netdev_budget \
  net.ipv4.tcp_tw_reuse net.ipv4.tcp_fin_timeout net.ipv4.ip_local_port_range net.ipv4.tcp_fastopen \
  net.core.default_qdisc net.ipv4.tcp_congestion_control net.core.rmem_max net.core.wmem_max \
  net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl \
  net.ipv4.tcp_keepalive_probes fs.file-max fs.nr_open vm.swappiness net.ipv4.tcp_slow_start_after_idle \
  net.ipv4.tcp_notsent_lowat; do
  printf '%s\n' "${conf_keys[@]}" | grep -qx "$k" || bad+="$k "
done
if [[ -z $bad ]]; then ok "99-ringflow.conf covers the required keys"; else not_ok "99-ringflow.conf covers the required keys" "missing: $bad"; fi

# A key that is not optional ("-" prefix) and missing on this kernel is most likely a typo.
typos=""
while IFS= read -r k; do
  [[ -e /proc/sys/${k//.//} ]] || typos+="$k "
done < <(sed -n 's/^[[:space:]]*\([a-z][a-z0-9_.-]*\)[[:space:]]*=.*/\1/p' "$conf")
if [[ -z $typos ]]; then ok "99-ringflow.conf: every non-optional key exists on this kernel"; else not_ok "99-ringflow.conf: every non-optional key exists on this kernel" "$typos"; fi

# ---------------------------------------------------------------------------------
# 3. check.sh on the live machine (read-only)
# ---------------------------------------------------------------------------------
expect_rc "check.sh on the live machine exits 0" 0 bash "$check_sh"
cp "$tmp/out" "$tmp/live.txt"
assert "check.sh prints the table header" grep -Eq '^key +[|] current +[|] recommended +[|] status$' "$tmp/live.txt"
missing_rows=""
for k in "${conf_keys[@]}"; do
  [[ -n $(row "$tmp/live.txt" "$k") ]] || missing_rows+="$k "
done
if [[ -z $missing_rows ]]; then ok "check.sh prints a row for every key"; else not_ok "check.sh prints a row for every key" "$missing_rows" "$tmp/live.txt"; fi
sed -n '1,3p;$p' "$tmp/live.txt" | sed 's/^/#   /'

expect_rc "check.sh --json on the live machine exits 0" 0 bash "$check_sh" --json
cp "$tmp/out" "$tmp/live.json"
expect_rc "check.sh --json output is valid JSON" 0 python3 -m json.tool "$tmp/live.json"
n=$(bash "$check_sh" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
assert "check.sh --json has one object per key" test "$n" -eq "${#conf_keys[@]}"

# ---------------------------------------------------------------------------------
# 4. check.sh against a fake /proc/sys
# ---------------------------------------------------------------------------------
fake=$tmp/procsys
mkfake() { # mkfake KEY VALUE: value written as the kernel does (tabs, newline)
  local p=$fake/${1//.//}
  mkdir -p "$(dirname "$p")"
  printf '%s\n' "$2" >"$p"
}
mkfake net.core.somaxconn 65535                          # at least: larger -> ok
mkfake net.ipv4.tcp_max_syn_backlog 1024                 # at least: smaller -> DIFF
mkfake net.ipv4.tcp_fin_timeout 15                       # exact: equal -> ok
mkfake net.ipv4.tcp_keepalive_time 7200                  # exact: larger -> DIFF
# net.ipv4.tcp_notsent_lowat: absent                     # -> missing
mkfake net.ipv4.ip_local_port_range $'10000\t65535'      # tabs normalised -> ok
mkfake net.ipv4.tcp_rmem $'4096\t131072\t33554432'       # at least per field -> ok
mkfake net.ipv4.tcp_wmem $'8192\t16384\t4194304'         # max field smaller -> DIFF
mkfake fs.file-max 9223372036854775807                   # 19 digits -> ok
mkfake fs.nr_open 1048576                                # at least: smaller -> DIFF
mkfake net.core.default_qdisc fq_codel                   # exact string -> DIFF
mkfake vm.swappiness 10                                  # exact -> ok
cat >"$tmp/test.conf" <<'EOF'
# test conf
net.core.somaxconn = 4096
net.ipv4.tcp_max_syn_backlog=8192
net.ipv4.tcp_fin_timeout = 15
  net.ipv4.tcp_keepalive_time = 120
net.ipv4.tcp_notsent_lowat = 131072
; a semicolon comment
net.ipv4.ip_local_port_range = 10000   65535
net.ipv4.tcp_rmem = 4096 131072 16777216
net.ipv4.tcp_wmem = 4096 16384 16777216
fs.file-max = 9223372036854775807
fs.nr_open = 1073741816
net.core.default_qdisc = fq
vm.swappiness = 10
-net.netfilter.nf_conntrack_max = 1048576
EOF
cp -a "$fake" "$tmp/procsys.pristine"

expect_rc "check.sh on a fake tree exits 0 despite differences" 0 env RINGFLOW_PROC_SYS="$fake" bash "$check_sh" --conf "$tmp/test.conf"
cp "$tmp/out" "$tmp/fake.txt"
assert "fake: exact key, equal value -> ok" row_is "$tmp/fake.txt" net.ipv4.tcp_fin_timeout "net.ipv4.tcp_fin_timeout | 15 | 15 | ok"
assert "fake: exact key, larger value -> DIFF" row_is "$tmp/fake.txt" net.ipv4.tcp_keepalive_time "net.ipv4.tcp_keepalive_time | 7200 | 120 | DIFF"
assert "fake: absent key -> missing" row_is "$tmp/fake.txt" net.ipv4.tcp_notsent_lowat "net.ipv4.tcp_notsent_lowat | - | 131072 | missing"
assert "fake: optional (-) absent key -> missing" row_is "$tmp/fake.txt" net.netfilter.nf_conntrack_max "net.netfilter.nf_conntrack_max | - | >= 1048576 | missing"
assert "fake: at-least key, larger value -> ok" row_is "$tmp/fake.txt" net.core.somaxconn "net.core.somaxconn | 65535 | >= 4096 | ok"
assert "fake: at-least key, smaller value -> DIFF" row_is "$tmp/fake.txt" net.ipv4.tcp_max_syn_backlog "net.ipv4.tcp_max_syn_backlog | 1024 | >= 8192 | DIFF"
assert "fake: port range with tabs normalised -> ok" row_is "$tmp/fake.txt" net.ipv4.ip_local_port_range "net.ipv4.ip_local_port_range | 10000 65535 | 10000 65535 | ok"
assert "fake: triple, every field at least -> ok" row_is "$tmp/fake.txt" net.ipv4.tcp_rmem "net.ipv4.tcp_rmem | 4096 131072 33554432 | >= 4096 131072 16777216 | ok"
assert "fake: triple, one field smaller -> DIFF" row_is "$tmp/fake.txt" net.ipv4.tcp_wmem "net.ipv4.tcp_wmem | 8192 16384 4194304 | >= 4096 16384 16777216 | DIFF"
assert "fake: LONG_MAX compares without overflow -> ok" row_is "$tmp/fake.txt" fs.file-max "fs.file-max | 9223372036854775807 | >= 9223372036854775807 | ok"
assert "fake: string value differs -> DIFF" row_is "$tmp/fake.txt" net.core.default_qdisc "net.core.default_qdisc | fq_codel | fq | DIFF"
assert "fake: summary line counts" grep -qx "6 ok, 5 DIFF, 2 missing (conf: $tmp/test.conf, tree: $fake)" "$tmp/fake.txt"

expect_rc "fake: --json exits 0" 0 env RINGFLOW_PROC_SYS="$fake" bash "$check_sh" --conf "$tmp/test.conf" --json
cp "$tmp/out" "$tmp/fake.json"
expect_rc "fake: --json parses with python3 -m json.tool" 0 python3 -m json.tool "$tmp/fake.json"
expect_rc "fake: --json statuses, currents and modes are right" 0 python3 - "$tmp/fake.json" <<'EOF'
import json, sys
rows = {r["key"]: r for r in json.load(open(sys.argv[1]))}
want = {
    "net.core.somaxconn": ("ok", "65535", "at_least"),
    "net.ipv4.tcp_max_syn_backlog": ("DIFF", "1024", "at_least"),
    "net.ipv4.tcp_fin_timeout": ("ok", "15", "exact"),
    "net.ipv4.tcp_keepalive_time": ("DIFF", "7200", "exact"),
    "net.ipv4.tcp_notsent_lowat": ("missing", None, "exact"),
    "net.ipv4.ip_local_port_range": ("ok", "10000 65535", "exact"),
    "net.ipv4.tcp_rmem": ("ok", "4096 131072 33554432", "at_least"),
    "net.ipv4.tcp_wmem": ("DIFF", "8192 16384 4194304", "at_least"),
    "fs.file-max": ("ok", "9223372036854775807", "at_least"),
    "fs.nr_open": ("DIFF", "1048576", "at_least"),
    "net.core.default_qdisc": ("DIFF", "fq_codel", "exact"),
    "vm.swappiness": ("ok", "10", "exact"),
    "net.netfilter.nf_conntrack_max": ("missing", None, "at_least"),
}
got = {k: (r["status"], r["current"], r["mode"]) for k, r in rows.items()}
if got != want:
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print(k, "got", got.get(k), "want", want.get(k))
    sys.exit(1)
if rows["net.ipv4.tcp_rmem"]["recommended"] != "4096 131072 16777216":
    sys.exit("recommended not normalised")
EOF

expect_rc "check.sh: unknown option -> exit 2" 2 bash "$check_sh" --frobnicate
expect_rc "check.sh: --conf without a file -> exit 2" 2 bash "$check_sh" --conf
expect_rc "check.sh: unreadable --conf -> exit 2" 2 bash "$check_sh" --conf "$tmp/no-such.conf"
expect_rc "check.sh: /proc/sys root missing -> exit 1" 1 env RINGFLOW_PROC_SYS="$tmp/no-such-dir" bash "$check_sh" --conf "$tmp/test.conf"
mkdir -p "$tmp/empty"
expect_rc "check.sh: no key readable -> exit 1" 1 env RINGFLOW_PROC_SYS="$tmp/empty" bash "$check_sh" --conf "$tmp/test.conf"

# The shipped conf against a fake tree holding exactly its values: all ok.
full=$tmp/procsys.full
while IFS='=' read -r k v; do
  k=${k//[[:space:]]/}
  k=${k#-}
  read -r -a w <<<"$v"
  mkdir -p "$(dirname "$full/${k//.//}")"
  (IFS=$'\t' && printf '%s\n' "${w[*]}") >"$full/${k//.//}"
done < <(grep -E '^[[:space:]]*-?[a-z]' "$conf")
expect_rc "check.sh: shipped conf on a tree with its own values exits 0" 0 env RINGFLOW_PROC_SYS="$full" bash "$check_sh"
assert "check.sh: shipped conf on a tree with its own values is all ok" grep -qx "${#conf_keys[@]} ok, 0 DIFF, 0 missing (conf: $root/$conf, tree: $full)" "$tmp/out"

# --apply: refused for non-root. Run as nobody; the fake tree means that even a
# broken root check could not touch the live kernel.
cp -a "$tmp/procsys.pristine" "$tmp/procsys.nobody"
cp "$check_sh" "$tmp/check-copy.sh"
chmod -R a+rX "$tmp/procsys.nobody" "$tmp/test.conf" "$tmp/check-copy.sh"
as_user=()
((EUID == 0)) && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
run "${as_user[@]}" env RINGFLOW_PROC_SYS="$tmp/procsys.nobody" bash "$tmp/check-copy.sh" --conf "$tmp/test.conf" --apply
if ((rc == 2)) && grep -q 'must run as root' "$tmp/err"; then
  ok "check.sh --apply as non-root: exit 2 with a message"
else
  not_ok "check.sh --apply as non-root: exit 2 with a message" "exit status $rc" "$tmp/out" "$tmp/err"
fi
assert "check.sh --apply as non-root changed nothing" diff -r "$tmp/procsys.pristine" "$tmp/procsys.nobody"

# --apply as root, into the fake tree only.
if ((EUID == 0)); then
  cp -a "$tmp/procsys.pristine" "$tmp/procsys.apply"
  expect_rc "check.sh --apply (fake tree) exits 0" 0 env RINGFLOW_PROC_SYS="$tmp/procsys.apply" bash "$check_sh" --conf "$tmp/test.conf" --apply
  cp "$tmp/out" "$tmp/apply.txt"
  cp "$tmp/err" "$tmp/apply.err"
  assert "--apply: report afterwards shows no DIFF" grep -qx "11 ok, 0 DIFF, 2 missing (conf: $tmp/test.conf, tree: $tmp/procsys.apply)" "$tmp/apply.txt"
  assert "--apply: exact key set" grep -qx 120 "$tmp/procsys.apply/net/ipv4/tcp_keepalive_time"
  assert "--apply: string key set" grep -qx fq "$tmp/procsys.apply/net/core/default_qdisc"
  assert "--apply: at-least key raised" grep -qx 1073741816 "$tmp/procsys.apply/fs/nr_open"
  assert "--apply: larger at-least value not lowered" grep -qx 65535 "$tmp/procsys.apply/net/core/somaxconn"
  assert "--apply: triple raised per field, never lowered" grep -qx '8192 16384 16777216' "$tmp/procsys.apply/net/ipv4/tcp_wmem"
  assert "--apply: ok keys left untouched" grep -qx $'4096\t131072\t33554432' "$tmp/procsys.apply/net/ipv4/tcp_rmem"
  assert "--apply: missing keys not created" test ! -e "$tmp/procsys.apply/net/ipv4/tcp_notsent_lowat"
  assert "--apply: reports each change on stderr" grep -qx 'set net.ipv4.tcp_keepalive_time = 120' "$tmp/apply.err"
else
  skip "check.sh --apply as root into a fake tree" "not running as root"
fi

# ---------------------------------------------------------------------------------
# 5. packet-steering.sh on the live machine (dry run only)
# ---------------------------------------------------------------------------------
flow_before=$(cat /proc/sys/net/core/rps_sock_flow_entries 2>/dev/null || echo none)
expect_rc "packet-steering.sh --dry-run on the live machine exits 0" 0 bash "$ps_sh" --dry-run
if grep -q '^write ' "$tmp/out" || grep -q 'no default route' "$tmp/out"; then
  ok "packet-steering.sh --dry-run prints writes or 'no default route'"
else
  not_ok "packet-steering.sh --dry-run prints writes or 'no default route'" "$tmp/out" "$tmp/err"
fi
sed 's/^/#   /' "$tmp/out"
flow_after=$(cat /proc/sys/net/core/rps_sock_flow_entries 2>/dev/null || echo none)
assert "packet-steering.sh --dry-run changed nothing" test "$flow_before" = "$flow_after"
expect_rc "packet-steering.sh is a dry run by default" 0 bash "$ps_sh"
assert "packet-steering.sh default mode says dry-run" grep -Eq 'mode dry-run|no default route' "$tmp/out"

# ---------------------------------------------------------------------------------
# 6. packet-steering.sh against fake /sys and /proc
# ---------------------------------------------------------------------------------
# mkps DIR ONLINE-CPUS ROUTE(yes|no): NIC eth9 with rx-0, rx-1, tx-0, tx-1
mkps() {
  local d=$1 q
  mkdir -p "$d/sys/devices/system/cpu" "$d/proc/net" "$d/proc/sys/net/core"
  printf '%s\n' "$2" >"$d/sys/devices/system/cpu/online"
  for q in rx-0 rx-1; do
    mkdir -p "$d/sys/class/net/eth9/queues/$q"
    echo 0 >"$d/sys/class/net/eth9/queues/$q/rps_cpus"
    echo 0 >"$d/sys/class/net/eth9/queues/$q/rps_flow_cnt"
  done
  for q in tx-0 tx-1; do
    mkdir -p "$d/sys/class/net/eth9/queues/$q"
    echo 0 >"$d/sys/class/net/eth9/queues/$q/xps_cpus"
  done
  mkdir -p "$d/sys/class/net/lo/queues/rx-0"
  echo 0 >"$d/proc/sys/net/core/rps_sock_flow_entries"
  printf 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' >"$d/proc/net/route"
  if [[ $3 == yes ]]; then
    printf 'eth9\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' >>"$d/proc/net/route"
    printf 'eth9\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n' >>"$d/proc/net/route"
  fi
}
# A fake ethtool: "-l" prints channels (max 8, current 1), "-L" is logged.
cat >"$tmp/ethtool" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/ethtool.log"
case "\$1" in
  -l) printf 'Channel parameters for %s:\nPre-set maximums:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t8\nCurrent hardware settings:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\t1\nCombined:\t1\n' "\$2" ;;
  -L) exit 0 ;;
  *) exit 1 ;;
esac
EOF
cat >"$tmp/ethtool-unsupported" <<'EOF'
#!/bin/sh
echo "netlink error: Operation not supported" >&2
exit 1
EOF
chmod +x "$tmp/ethtool" "$tmp/ethtool-unsupported"

# ps_run DIR ARGS...: packet-steering.sh with the fake roots and fake ethtool
ps_run() {
  local d=$1
  shift
  run env RINGFLOW_SYS="$d/sys" RINGFLOW_PROC="$d/proc" RINGFLOW_ETHTOOL="$tmp/ethtool" bash "$ps_sh" "$@"
}
# writes_are NAME EXPECTED: the non-comment output lines equal EXPECTED exactly
writes_are() {
  local got
  got=$(grep -v '^#' "$tmp/out" || true)
  if [[ $got == "$2" ]]; then ok "$1"; else not_ok "$1" "got:" "$got" "expected:" "$2"; fi
}

# 2 CPUs, 2 rx + 2 tx queues: tx queue i -> CPU i.
p2=$tmp/ps2
mkps "$p2" 0-1 yes
: >"$tmp/ethtool.log"
ps_run "$p2" --dry-run
assert "ps fake (2 CPUs) --dry-run exits 0" test "$rc" -eq 0
s=$p2/sys/class/net/eth9/queues
writes_are "ps fake (2 CPUs): exact write lines" "ethtool -L eth9 combined 2
write $p2/proc/sys/net/core/rps_sock_flow_entries 32768
write $s/rx-0/rps_cpus 3
write $s/rx-0/rps_flow_cnt 16384
write $s/rx-1/rps_cpus 3
write $s/rx-1/rps_flow_cnt 16384
write $s/tx-0/xps_cpus 1
write $s/tx-1/xps_cpus 2"
assert "ps fake: NIC found through the default route" grep -q '^# nic eth9 (default route)' "$tmp/out"
assert "ps fake: --dry-run wrote nothing" test "$(cat "$s"/*/* "$p2/proc/sys/net/core/rps_sock_flow_entries" | sort -u)" = 0
assert "ps fake: --dry-run did not run ethtool -L" test -z "$(grep -e '^-L' "$tmp/ethtool.log" || true)"

# --apply into the fake tree.
ps_run "$p2" --apply
assert "ps fake --apply exits 0" test "$rc" -eq 0
assert "ps fake --apply: rps_cpus written" grep -qx 3 "$s/rx-1/rps_cpus"
assert "ps fake --apply: rps_flow_cnt written" grep -qx 16384 "$s/rx-0/rps_flow_cnt"
assert "ps fake --apply: xps_cpus written" grep -qx 2 "$s/tx-1/xps_cpus"
assert "ps fake --apply: rps_sock_flow_entries written" grep -qx 32768 "$p2/proc/sys/net/core/rps_sock_flow_entries"
assert "ps fake --apply: ran ethtool -L eth9 combined 2" grep -qx -- '-L eth9 combined 2' "$tmp/ethtool.log"

# 4 CPUs, 2 tx queues: every CPU gets a tx queue (queue i: CPUs i, i+2).
p4=$tmp/ps4
mkps "$p4" 0-3 yes
ps_run "$p4" --nic eth9
assert "ps fake (4 CPUs) --nic eth9 exits 0" test "$rc" -eq 0
s=$p4/sys/class/net/eth9/queues
writes_are "ps fake (4 CPUs): exact write lines" "ethtool -L eth9 combined 4
write $p4/proc/sys/net/core/rps_sock_flow_entries 32768
write $s/rx-0/rps_cpus f
write $s/rx-0/rps_flow_cnt 16384
write $s/rx-1/rps_cpus f
write $s/rx-1/rps_flow_cnt 16384
write $s/tx-0/xps_cpus 5
write $s/tx-1/xps_cpus a"

# 40 CPUs: masks are comma-separated 32-bit words.
p40=$tmp/ps40
mkps "$p40" 0-39 yes
ps_run "$p40"
s=$p40/sys/class/net/eth9/queues
assert "ps fake (40 CPUs): rps mask spans two words" grep -qx "write $s/rx-0/rps_cpus ff,ffffffff" "$tmp/out"
assert "ps fake (40 CPUs): xps masks split even/odd CPUs" test "$(grep xps_cpus "$tmp/out" | awk '{print $3}' | tr '\n' ' ')" = "55,55555555 aa,aaaaaaaa "
assert "ps fake (40 CPUs): RSS capped at the NIC maximum" grep -qx 'ethtool -L eth9 combined 8' "$tmp/out"

# Online list with a hole: CPUs 0,2,3.
p3=$tmp/ps3
mkps "$p3" 0,2-3 yes
ps_run "$p3"
s=$p3/sys/class/net/eth9/queues
assert "ps fake (CPUs 0,2-3): rps mask d" grep -qx "write $s/rx-0/rps_cpus d" "$tmp/out"
assert "ps fake (CPUs 0,2-3): xps masks 9 and 4" test "$(grep xps_cpus "$tmp/out" | awk '{print $3}' | tr '\n' ' ')" = "9 4 "

# Failure and edge cases.
expect_rc "ps: unknown NIC -> exit 1" 1 env RINGFLOW_SYS="$p2/sys" RINGFLOW_PROC="$p2/proc" bash "$ps_sh" --nic nosuch0
expect_rc "ps: unknown option -> exit 2" 2 bash "$ps_sh" --frobnicate
expect_rc "ps: --nic without a name -> exit 2" 2 bash "$ps_sh" --nic
pn=$tmp/psnoroute
mkps "$pn" 0-1 no
expect_rc "ps: no default route -> exit 0" 0 env RINGFLOW_SYS="$pn/sys" RINGFLOW_PROC="$pn/proc" bash "$ps_sh"
if grep -q 'no default route' "$tmp/out" && ! grep -q '^write' "$tmp/out"; then
  ok "ps: no default route -> clear message, no writes"
else
  not_ok "ps: no default route -> clear message, no writes" "$tmp/out"
fi
run env RINGFLOW_SYS="$p2/sys" RINGFLOW_PROC="$p2/proc" RINGFLOW_ETHTOOL="$tmp/ethtool-unsupported" bash "$ps_sh"
if ((rc == 0)) && grep -q '^# RSS skipped' "$tmp/out" && ! grep -q '^ethtool' "$tmp/out"; then
  ok "ps: ethtool without channel support -> RSS skipped, exit 0"
else
  not_ok "ps: ethtool without channel support -> RSS skipped, exit 0" "exit status $rc" "$tmp/out" "$tmp/err"
fi
run env RINGFLOW_SYS="$p2/sys" RINGFLOW_PROC="$p2/proc" bash "$ps_sh"
if ((rc == 0)) && grep -q '^# RSS skipped: ethtool not available' "$tmp/out"; then
  ok "ps: fake tree never queries the real ethtool"
else
  not_ok "ps: fake tree never queries the real ethtool" "exit status $rc" "$tmp/out" "$tmp/err"
fi
expect_rc "ps: --apply with a fake /sys but the real /proc is refused" 2 env RINGFLOW_SYS="$p2/sys" bash "$ps_sh" --apply

# ---------------------------------------------------------------------------------
# 7. systemd units
# ---------------------------------------------------------------------------------
units=(ringflow.service ringflow-migrate.service ringflow-control.slice ringflow-runner.slice)
vdir=$tmp/units
mkdir -p "$vdir"
for u in "${units[@]}"; do cp "systemd/$u" "$vdir/"; done
# verify checks that every Exec*= binary exists and is executable, and
# /usr/local/bin/ringflow is not installed here: point the copies at /bin/true.
sed -i 's|/usr/local/bin/ringflow|/bin/true|g' "$vdir"/*.service
# The security review below scores User=, so it gets copies that keep it.
sdir=$tmp/units-security
cp -a "$vdir" "$sdir"
# The ringflow user exists only once the README's bare-metal section has been followed.
# systemd-analyze 252 does not resolve User= in verify, but the result must
# not depend on the host's user database, so drop User=/Group= when the user
# is absent.
if ! getent passwd ringflow >/dev/null; then
  sed -i '/^User=/d; /^Group=/d' "$vdir"/*.service
fi
# verify exits 0 on mere warnings ("Unknown key ...", bad values ignored), so
# any output at all counts as a failure.
vunits=()
for u in "${units[@]}"; do vunits+=("$vdir/$u"); done
run systemd-analyze verify "${vunits[@]}"
if ((rc == 0)) && [[ ! -s $tmp/out && ! -s $tmp/err ]]; then
  ok "systemd-analyze verify: units load cleanly"
else
  not_ok "systemd-analyze verify: units load cleanly" "exit status $rc" "$tmp/out" "$tmp/err"
fi
# Control: the same harness catches a key systemd does not know in [Slice].
cp "$vdir/ringflow-runner.slice" "$tmp/ringflow-bogus.slice"
printf 'CPUAffinity=0-3\n' >>"$tmp/ringflow-bogus.slice"
run systemd-analyze verify "$tmp/ringflow-bogus.slice"
assert "systemd-analyze verify: harness catches an unknown key" test -s "$tmp/err"

for u in ringflow.service ringflow-migrate.service; do
  # Exposure 0-100 (shown as 0.0-10.0). 20 = "2.0 OK".
  run systemd-analyze security --offline=true --threshold=20 "$sdir/$u"
  if ((rc == 0)); then
    ok "systemd-analyze security $u: exposure <= 2.0 ($(grep -o 'Overall exposure level.*' "$tmp/out" | awk '{print $(NF-2), $(NF-1)}'))"
  else
    not_ok "systemd-analyze security $u: exposure <= 2.0" "$(grep 'Overall' "$tmp/out")"
  fi
done

svc=systemd/ringflow.service
for line in Type=notify NotifyAccess=main 'ExecStart=/usr/local/bin/ringflow serve' User=ringflow \
  EnvironmentFile=/etc/ringflow/ringflow.env LimitNOFILE=262144 LimitMEMLOCK=infinity WatchdogSec=30s \
  Restart=on-failure KillSignal=SIGTERM Slice=ringflow-control.slice Requires=ringflow-migrate.service \
  NoNewPrivileges=yes ProtectSystem=strict ReadWritePaths=-/var/lib/ringflow StateDirectory=ringflow \
  PrivateTmp=yes ProtectHome=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
  ProtectControlGroups=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK' \
  LockPersonality=yes RestrictRealtime=yes SystemCallArchitectures=native CapabilityBoundingSet= \
  MemoryDenyWriteExecute=yes RestrictNamespaces=yes; do
  assert "ringflow.service has $line" grep -qxF -- "$line" "$svc"
done
assert "ringflow.service is ordered after ringflow-migrate.service" grep -Eq '^After=(.* )?ringflow-migrate\.service( |$)' "$svc"

# io_uring must survive the seccomp filter: allowed by an allow-list line, denied by none.
filters=$(grep -h '^SystemCallFilter=' systemd/*.service || true)
uring_ok=yes
if [[ -n $filters ]]; then
  for u in ringflow.service ringflow-migrate.service; do
    allow=$(grep '^SystemCallFilter=[^~]' "systemd/$u" | head -n1)
    for sc in io_uring_setup io_uring_enter io_uring_register; do
      [[ " ${allow#SystemCallFilter=} " == *" $sc "* ]] || uring_ok="no ($u: $sc not allowed)"
    done
    grep -q '^SystemCallFilter=~.*io_uring' "systemd/$u" && uring_ok="no ($u denies io_uring)"
    [[ $allow == *@system-service* ]] || uring_ok="no ($u: allow list lacks @system-service)"
  done
fi
assert "SystemCallFilter keeps @system-service and allows io_uring_setup/enter/register" test "$uring_ok" = yes

# TimeoutStopSec must exceed the drain timeout.
to_sec() { # 20s, 2min, 1min30s, 500ms -> whole seconds
  python3 -c '
import re, sys
total = 0.0
for n, u in re.findall(r"(\d+)\s*(ms|min|s|m|h)?", sys.argv[1]):
    total += int(n) * {"ms": 0.001, "s": 1, "": 1, "min": 60, "m": 60, "h": 3600}[u]
print(int(total))' "$1"
}
stop=$(sed -n 's/^TimeoutStopSec=//p' "$svc")
drain=$(sed -n 's/^#RINGFLOW_DRAIN_TIMEOUT=//p' systemd/ringflow.env.example)
assert "TimeoutStopSec ($stop) exceeds RINGFLOW_DRAIN_TIMEOUT ($drain) by >= 5s" test "$(to_sec "$stop")" -ge $(($(to_sec "$drain") + 5))

mig=systemd/ringflow-migrate.service
for line in Type=oneshot RemainAfterExit=yes EnvironmentFile=/etc/ringflow/ringflow.env PartOf=ringflow.service; do
  assert "ringflow-migrate.service has $line" grep -qxF -- "$line" "$mig"
done

# The migrate guard: run its ExecStart= shell with a stub binary.
guard=$(sed -n "s/^ExecStart=\/bin\/sh -c '\(.*\)'\$/\1/p" "$mig")
guard=${guard//\$\$/\$}
cat >"$tmp/ringflow-stub" <<EOF
#!/bin/sh
echo "stub called: \$*"
exit \${STUB_RC:-0}
EOF
chmod +x "$tmp/ringflow-stub"
guard=${guard//\/usr\/local\/bin\/ringflow/$tmp/ringflow-stub}
assert "migrate guard found in ExecStart=" test -n "$guard"
for store in unset embedded; do
  if [[ $store == unset ]]; then
    run env -i /bin/sh -c "$guard"
  else
    run env -i RINGFLOW_STORE=$store /bin/sh -c "$guard"
  fi
  if ((rc == 0)) && ! grep -q 'stub called' "$tmp/out"; then
    ok "migrate guard: RINGFLOW_STORE $store -> success, no migration"
  else
    not_ok "migrate guard: RINGFLOW_STORE $store -> success, no migration" "exit status $rc" "$tmp/out" "$tmp/err"
  fi
done
run env -i RINGFLOW_STORE=postgres /bin/sh -c "$guard"
assert "migrate guard: postgres -> runs 'ringflow migrate up'" grep -qx 'stub called: migrate up' "$tmp/out"
run env -i RINGFLOW_STORE=postgres STUB_RC=3 /bin/sh -c "$guard"
assert "migrate guard: postgres and migration fails -> unit fails" test "$rc" -eq 3

for f in ringflow-control.slice ringflow-runner.slice; do
  for k in AllowedCPUs CPUQuota MemoryHigh MemoryMax CPUWeight; do
    assert "$f sets $k=" grep -q "^$k=" "systemd/$f"
  done
done
assert "ringflow-migrate.service runs in ringflow-runner.slice" grep -qx 'Slice=ringflow-runner.slice' "$mig"

# ---------------------------------------------------------------------------------
# 8. env example and limits
# ---------------------------------------------------------------------------------
env_ex=systemd/ringflow.env.example
for kv in RINGFLOW_LISTEN=127.0.0.1:8080 RINGFLOW_SHARDS=0 RINGFLOW_CPUS= RINGFLOW_MAX_BODY=1MiB \
  RINGFLOW_MAX_CONNECTIONS=100000 RINGFLOW_HEADER_TIMEOUT=10s RINGFLOW_IDLE_TIMEOUT=60s \
  RINGFLOW_DRAIN_TIMEOUT=10s RINGFLOW_LOG_LEVEL=info RINGFLOW_ACCESS_LOG=false \
  RINGFLOW_STORE=embedded RINGFLOW_DATABASE_URL=; do
  assert "ringflow.env.example documents #$kv" grep -qxF "#$kv" "$env_ex"
done
# The daemon's built-in data dir is ./data, so the example sets this one for real.
assert "ringflow.env.example sets RINGFLOW_DATA_DIR=/var/lib/ringflow" grep -qxF "RINGFLOW_DATA_DIR=/var/lib/ringflow" "$env_ex"
assert "ringflow.env.example sets nothing else" test "$(grep -v -e '^#' -e '^[[:space:]]*$' "$env_ex" || true)" = "RINGFLOW_DATA_DIR=/var/lib/ringflow"
assert "ringflow.service defaults RINGFLOW_DATA_DIR to its StateDirectory" grep -qxF "Environment=RINGFLOW_DATA_DIR=/var/lib/ringflow" "$svc"
# Every setting in the config table of src/app/config.cc (rows like
# {"max-body", Kind::kSize, ...}, env RINGFLOW_MAX_BODY) must be documented.
if [[ -f src/app/config.cc ]]; then
  mapfile -t table_vars < <(sed -n 's/^[[:space:]]*{"\([a-z0-9-]*\)",[[:space:]]*Kind::.*/\1/p' src/app/config.cc |
    tr 'a-z-' 'A-Z_' | sed 's/^/RINGFLOW_/')
  undocumented=""
  for v in "${table_vars[@]}"; do
    grep -Eq "^#?$v=" "$env_ex" || undocumented+="$v "
  done
  if ((${#table_vars[@]} == 0)); then
    not_ok "ringflow.env.example covers the config table in src/app/config.cc" "no {\"key\", Kind::...} rows found: update this check"
  elif [[ -z $undocumented ]]; then
    ok "ringflow.env.example covers the config table in src/app/config.cc (${#table_vars[@]} settings)"
  else
    not_ok "ringflow.env.example covers the config table in src/app/config.cc" "add to $env_ex: $undocumented"
  fi
fi

lim=kernel-tuning/limits.conf
bad_lines=$(awk '!/^[[:space:]]*(#|$)/ && !(NF == 4 && $1 == "ringflow" && ($2 == "soft" || $2 == "hard" || $2 == "-") && ($3 == "nofile" || $3 == "memlock"))' "$lim")
if [[ -z $bad_lines ]]; then ok "limits.conf: every line is 'ringflow soft|hard nofile|memlock VALUE'"; else not_ok "limits.conf: every line is 'ringflow soft|hard nofile|memlock VALUE'" "$bad_lines"; fi
for t in soft hard; do
  assert "limits.conf: $t nofile 262144 (= LimitNOFILE)" test "$(awk -v t=$t '$1 == "ringflow" && $2 == t && $3 == "nofile" {print $4}' "$lim")" = "$(sed -n 's/^LimitNOFILE=//p' "$svc")"
  assert "limits.conf: $t memlock unlimited" test "$(awk -v t=$t '$1 == "ringflow" && $2 == t && $3 == "memlock" {print $4}' "$lim")" = unlimited
done
assert "fs.nr_open in the conf allows LimitNOFILE" test "$(sed -n 's/^fs.nr_open *= *//p' "$conf")" -ge 262144

# ---------------------------------------------------------------------------------
# 9. docs
# ---------------------------------------------------------------------------------
doc=README.md
assert "README bare-metal section exists" test -s "$doc"
for needle in 'install -m755 build/release/src/app/ringflow /usr/local/bin/' 'systemctl daemon-reload' \
  'systemctl enable --now ringflow' 'curl' '/health/ready' 'ringflow doctor' 'journalctl -u ringflow' \
  'kernel-tuning/check.sh' 'kernel-tuning/packet-steering.sh' '/etc/sysctl.d/' '/etc/security/limits.d/' \
  'useradd' 'ringflow.env.example'; do
  assert "README bare-metal section mentions: $needle" grep -qF -- "$needle" "$doc"
done
dangling=""
while IFS= read -r p; do
  [[ -e $p ]] || dangling+="$p "
done < <(grep -oE '(kernel-tuning|systemd)/[A-Za-z0-9_.-]+\.(sh|conf|service|slice|example)' "$doc" | sort -u)
if [[ -z $dangling ]]; then ok "README bare-metal section: every repo path it names exists"; else not_ok "README bare-metal section: every repo path it names exists" "$dangling"; fi

# ---------------------------------------------------------------------------------
# 10. the layering check (tools/check_layers.py) can fail
# ---------------------------------------------------------------------------------
layers=tools/check_layers.py
expect_rc "check_layers --help exits 0" 0 python3 "$layers" --help
expect_rc "check_layers --print-table exits 0" 0 python3 "$layers" --print-table
assert "check_layers --print-table lists engine's row" grep -qx '  May include: fanout, store, trace, json, reactor, obs, base.' "$tmp/out"
expect_rc "check_layers: this tree is clean" 0 python3 "$layers"
fake="$tmp/layers"
mkdir -p "$fake/src/base" "$fake/src/engine/detail" "$fake/src/json" "$fake/src/steps" "$fake/src/store/embedded"
printf '#pragma once\n' >"$fake/src/base/result.h"
printf '#pragma once\n#include "base/result.h"\n' >"$fake/src/json/value.h"
printf '#pragma once\n' >"$fake/src/engine/detail/run_log.h"
printf '#pragma once\n#include "json/value.h"\n#include "engine/detail/run_log.h"\n' >"$fake/src/engine/run.h"
printf '#include "engine/run.h"\n' >"$fake/src/steps/http_step.cc"
printf '#pragma once\n#include "base/result.h"\n' >"$fake/src/store/embedded/journal.h"
printf '#include "engine/run.h"\n' >"$fake/src/engine/coordinator.cc"
expect_rc "check_layers: a clean fake tree exits 0" 0 python3 "$layers" --no-readmes --root "$fake"
# An upward include (json -> engine), another module's detail/ (steps -> engine/detail), and
# the engine reaching past the store interface to an adapter (engine -> store/embedded).
printf '#pragma once\n#include "base/result.h"\n#include "engine/run.h"\n' >"$fake/src/json/value.h"
printf '#include "engine/run.h"\n#include "engine/detail/run_log.h"\n' >"$fake/src/steps/http_step.cc"
printf '#include "engine/run.h"\n#include "store/embedded/journal.h"\n' >"$fake/src/engine/coordinator.cc"
expect_rc "check_layers: upward, detail and adapter includes exit 1" 1 python3 "$layers" --no-readmes --root "$fake"
assert "check_layers reports the upward include" \
  grep -qxF 'src/json/value.h:3: module json may not include engine (engine/run.h)' "$tmp/out"
assert "check_layers reports the detail include" \
  grep -qF 'src/steps/http_step.cc:2: module steps may not include engine/detail (engine/detail/run_log.h)' "$tmp/out"
assert "check_layers reports the engine including an adapter" \
  grep -qxF 'src/engine/coordinator.cc:2: module engine may not include store/embedded (store/embedded/journal.h)' "$tmp/out"
assert "check_layers summarises" grep -qx 'layers: 7 files, 9 includes checked, 3 violation(s)' "$tmp/out"
expect_rc "check_layers: a module without its README exits 1" 1 python3 "$layers" --root "$fake"
assert "check_layers names the missing README" grep -qF 'src/json/README.md:1: missing' "$tmp/out"

# ---------------------------------------------------------------------------------
# 11. dashboards and alerts (observability/)
# ---------------------------------------------------------------------------------
rules=observability/prometheus/alerts.yml
rule_tests=observability/prometheus/alerts_test.yml
obs_check=tests/ops/check_observability.py
expect_rc "promtool check rules $rules" 0 promtool check rules "$rules"
assert "promtool check rules finds the rules" grep -qE 'SUCCESS: [1-9][0-9]* rules found' "$tmp/out"
expect_rc "promtool test rules $rule_tests" 0 promtool test rules "$rule_tests"
for c in json datasources metrics promql alerts; do
  expect_rc "check_observability $c" 0 python3 "$obs_check" "$c"
done
# The checks can fail: fake dashboards, rules and tests, each with one fault.
fake_obs="$tmp/obs"
mkdir -p "$fake_obs"
python3 - "$fake_obs" "$rule_tests" <<'EOF'
import json, sys, yaml
d, rule_tests = sys.argv[1], sys.argv[2]
dash = json.load(open("observability/grafana/ringflow.json"))
panel = next(p for p in dash["panels"] if p.get("type") != "row")
panel["targets"][0]["expr"] = "sum(rate(rf_runs_lost_total[5m]))"
json.dump(dash, open(f"{d}/unknown_metric.json", "w"))
panel["targets"][0]["expr"] = "sum(rate(rf_runs_started_total[5m])"
json.dump(dash, open(f"{d}/bad_promql.json", "w"))
panel["targets"][0]["expr"] = "sum(rate(rf_runs_started_total[5m]))"
del panel["datasource"]
json.dump(dash, open(f"{d}/no_datasource.json", "w"))
tests = yaml.safe_load(open(rule_tests))
for t in tests["tests"]:
    t["alert_rule_test"] = [c for c in t["alert_rule_test"] if c.get("exp_alerts")]
yaml.safe_dump(tests, open(f"{d}/only_firing_test.yml", "w"))
EOF
expect_rc "check_observability metrics: an unknown family exits 1" 1 \
  python3 "$obs_check" metrics --dashboard "$fake_obs/unknown_metric.json"
assert "check_observability metrics names the unknown family" grep -qF 'rf_runs_lost_total is not exported' "$tmp/out"
expect_rc "check_observability promql: a query that does not parse exits 1" 1 \
  python3 "$obs_check" promql --dashboard "$fake_obs/bad_promql.json"
expect_rc "check_observability datasources: a panel without one exits 1" 1 \
  python3 "$obs_check" datasources --dashboard "$fake_obs/no_datasource.json"
assert "check_observability datasources names the panel" grep -qF ': datasource None' "$tmp/out"
expect_rc "check_observability alerts: alerts without a must-not-fire test exit 1" 1 \
  python3 "$obs_check" alerts --tests "$fake_obs/only_firing_test.yml"
assert "check_observability alerts names the missing case" \
  grep -qF 'RingflowRunsStalled: no test where it must not fire' "$tmp/out"
# promtool evaluates the rules: a rule that can no longer fire fails its test.
sed 's/^        expr: rf_ready == 0$/        expr: rf_ready == 2/' "$rules" >"$fake_obs/alerts.yml"
cp "$rule_tests" "$fake_obs/alerts_test.yml"
expect_rc "promtool test rules: a rule that no longer fires fails its test" 1 \
  promtool test rules "$fake_obs/alerts_test.yml"
assert "promtool names the failing alert" grep -qF 'alertname: RingflowNotReady' "$tmp/err"

echo "ops: $passed passed, $failed failed"
((failed == 0))
