#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every suite:
#   layers       tools/check_layers.py: every #include in src/ follows the module table
#                (STYLE.md §1; detail/ stays private); no build needed
#   unit         doctest units (release build)
#   unit-asan    the same units under AddressSanitizer + UndefinedBehaviorSanitizer
#   system       pytest against the real binary over sockets (engine on the embedded store)
#   system-pg    the engine's system tests again, on PostgreSQL (a private cluster, tools/pg.sh)
#   ops          kernel-tuning/systemd scripts (shellcheck, fake /proc trees, units)
#                and observability/ (promtool check/test rules, dashboard checks)
#   fuzz         every libFuzzer target for FUZZ_SECONDS (default 10) each
# Exits non-zero if any suite fails. Last line: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [[ "${1:-}" == "--help" ]]; then
  echo "usage: tools/test.sh [suite...]   suites: layers unit unit-asan system system-pg ops fuzz (default: all)"
  exit 0
fi
suites=("$@")
[[ ${#suites[@]} -eq 0 ]] && suites=(layers unit unit-asan system system-pg ops fuzz)

./tools/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }

passed=0
failed=0
failed_suites=()
log_dir=$(mktemp -d /tmp/rf-test.XXXXXX)

record() {  # suite, exit code, passed count, failed count
  local suite=$1 rc=$2 p=$3 f=$4
  passed=$((passed + p))
  failed=$((failed + f))
  if [[ $rc -ne 0 ]]; then
    [[ $f -eq 0 ]] && failed=$((failed + 1))
    failed_suites+=("$suite")
    echo "== $suite: FAILED (rc=$rc, log $log_dir/$suite.log)"
  else
    echo "== $suite: ok ($p passed)"
  fi
}

doctest_counts() {  # log -> "passed failed"
  local line
  line=$(grep -E '^\[doctest\] test cases:' "$1" | tail -n 1)
  echo "$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line" | grep -E '^[0-9]+$' || echo 0)" \
       "$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line" | grep -E '^[0-9]+$' || echo 0)"
}

run_unit() {  # flavour
  local flavour=$1 suite=$2
  if ! ./tools/build.sh "$flavour" >"$log_dir/$suite.log" 2>&1; then
    cat "$log_dir/$suite.log"
    record "$suite" 1 0 1
    return
  fi
  local rc=0
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    timeout 600 "build/$flavour/tests/unit/unit_tests" >>"$log_dir/$suite.log" 2>&1 || rc=$?
  tail -n 4 "$log_dir/$suite.log"
  [[ $rc -ne 0 ]] && grep -E 'ERROR|FAILED|Sanitizer|runtime error' "$log_dir/$suite.log" | head -n 40
  read -r p f < <(doctest_counts "$log_dir/$suite.log")
  record "$suite" "$rc" "$p" "$f"
}

for suite in "${suites[@]}"; do
  echo "== $suite"
  case "$suite" in
    layers)
      rc=0
      timeout 60 python3 tools/check_layers.py >"$log_dir/layers.log" 2>&1 || rc=$?
      grep -v '^layers:' "$log_dir/layers.log" | head -n 40
      tail -n 1 "$log_dir/layers.log"
      if [[ $rc -eq 0 ]]; then record layers 0 1 0; else record layers "$rc" 0 1; fi
      ;;
    unit) run_unit release unit ;;
    unit-asan) run_unit asan unit-asan ;;
    system | system-pg)
      log="$log_dir/$suite.log"
      if ! ./tools/build.sh release >"$log" 2>&1; then
        cat "$log"; record "$suite" 1 0 1; continue
      fi
      selection=(tests/system)
      store=embedded
      if [[ $suite == system-pg ]]; then
        selection=(tests/system -k engine)
        store=postgres
      fi
      rc=0
      RINGFLOW_BIN="$PWD/build/release/src/app/ringflow" RINGFLOW_TEST_STORE=$store RINGFLOW_REQUIRE_PG=1 \
        timeout 1800 /usr/bin/python3 -m pytest "${selection[@]}" -q -p no:cacheprovider >"$log" 2>&1 || rc=$?
      tail -n 25 "$log"
      p=$(grep -Eo '[0-9]+ passed' "$log" | tail -n 1 | grep -Eo '[0-9]+' || echo 0)
      f=$(grep -Eo '[0-9]+ (failed|errors?)' "$log" | awk '{s+=$1} END{print s+0}')
      [[ $rc -eq 5 ]] && { echo "$suite: pytest collected no tests"; rc=1; }
      record "$suite" "$rc" "${p:-0}" "${f:-0}"
      ;;
    ops)
      rc=0
      timeout 600 bash tests/ops/run.sh >"$log_dir/ops.log" 2>&1 || rc=$?
      grep -E '^not ok' "$log_dir/ops.log" | head -n 40
      tail -n 1 "$log_dir/ops.log"
      p=$(sed -nE 's/^ops: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$log_dir/ops.log" | tail -n 1)
      f=$(sed -nE 's/^ops: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$log_dir/ops.log" | tail -n 1)
      record ops "$rc" "${p:-0}" "${f:-0}"
      ;;
    fuzz)
      rc=0
      timeout 900 ./tools/fuzz.sh all "${FUZZ_SECONDS:-10}" >"$log_dir/fuzz.log" 2>&1 || rc=$?
      grep -E '^(fuzz|==|INFO: Done|#[0-9]+ *DONE)' "$log_dir/fuzz.log" | tail -n 10
      n=$(grep -c -E '^Done [0-9]+ runs' "$log_dir/fuzz.log" || true)
      record fuzz "$rc" "${n:-0}" 0
      ;;
    *) echo "test.sh: unknown suite '$suite'" >&2; exit 2 ;;
  esac
done

echo
if [[ ${#failed_suites[@]} -gt 0 ]]; then
  echo "failed suites: ${failed_suites[*]} (logs in $log_dir)"
fi
echo "tests: $passed passed, $failed failed"
[[ ${#failed_suites[@]} -eq 0 ]]
