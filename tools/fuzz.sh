#!/usr/bin/env bash
# Builds a libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) and runs it for N
# seconds over a working copy of its seed corpus under .fuzz/<target>/ (gitignored).
#
#   tools/fuzz.sh http 60     # one target for 60 s
#   tools/fuzz.sh all 10      # every target, 10 s each
#
# New inputs found by a run stay in .fuzz/<target>/corpus and are reused by the next run; crash
# reproducers land in .fuzz/<target>/artifacts/. Exits non-zero if any target crashes (or fails to
# build). Reproduce a crash: .fuzz/<target>/<target>_fuzz .fuzz/<target>/artifacts/crash-...
# Environment: CXX (default clang++), FUZZ_FLAGS (extra libFuzzer flags, e.g. "-jobs=4").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-clang++}"

# Every target, in the order "all" runs them.
targets=(http http_response definition h2)

# Sources of a target besides src/base/*.cc, relative to the repository root.
target_sources() {
  case "$1" in
    http) echo "tests/fuzz/h1_parser_fuzz.cc src/http/h1_parser.cc src/http/router.cc" ;;
    http_response) echo "tests/fuzz/h1_response_fuzz.cc src/http/client/response_parser.cc" ;;
    h2)
      echo "tests/fuzz/h2_session_fuzz.cc src/http/h2/session.cc src/http/h2/session_callbacks.cc" \
        "src/http/h1_parser.cc" \
        "src/http/router.cc src/http/response.cc src/http/date_cache.cc src/http/stats.cc src/http/admit.cc" \
        "src/obs/metrics.cc src/obs/log.cc"
      ;;
    definition)
      echo "tests/fuzz/definition_fuzz.cc src/engine/definition.cc src/engine/dag.cc" \
        "src/engine/retry_policy.cc src/engine/breaker.cc" \
        src/engine/detail/*.cc \
        "src/engine/record.cc src/engine/run.cc src/engine/map_step.cc src/store/run_id.cc" \
        "src/store/run_status.cc src/trace/trace_context.cc" \
        src/json/*.cc  # every definition parser and the whole json module: a new file must not break this target
      ;;
    *) return 1 ;;
  esac
}

# Libraries a target links besides the sanitizer runtimes.
target_libs() {
  case "$1" in
    definition) echo "-lsimdjson" ;;
    h2) echo "-lnghttp2" ;;
  esac
}

# Optional libFuzzer dictionary lines for a target.
target_dict() {
  case "$1" in
    http)
      printf '%s\n' '"GET "' '"HEAD "' '"POST "' '"OPTIONS * "' '" HTTP/1.1\x0d\x0a"' \
        '" HTTP/1.0\x0d\x0a"' '"\x0d\x0a"' '"\x0d\x0a\x0d\x0a"' '"Host: h\x0d\x0a"' '"Content-Length: "' \
        '"Transfer-Encoding: chunked\x0d\x0a"' '"Connection: close\x0d\x0a"' \
        '"Connection: keep-alive\x0d\x0a"' '"Expect: 100-continue\x0d\x0a"' '";ext=1"' '"0\x0d\x0a\x0d\x0a"' \
        '"http://"' '"?"' '"/v1/workflows/"'
      ;;
    http_response)
      printf '%s\n' '"HTTP/1.1 "' '"HTTP/1.0 "' '"200 OK\x0d\x0a"' '"100 Continue\x0d\x0a\x0d\x0a"' \
        '"\x0d\x0a\x0d\x0a"' '"Content-Length: "' '"Transfer-Encoding: chunked\x0d\x0a"' \
        '"Connection: close\x0d\x0a"' '"Connection: keep-alive\x0d\x0a"' '";ext=1"' '"0\x0d\x0a\x0d\x0a"' \
        '" 204 "' '" 304 "'
      ;;
    definition)
      printf '%s\n' '"\"steps\""' '"\"id\""' '"\"type\""' '"\"noop\""' '"\"transform\""' \
        '"\"delay\""' '"\"http\""' '"\"approval\""' '"\"depends_on\""' '"\"when\""' '"\"retry\""' \
        '"\"output\""' '"\"request\""' '"\"url\""' '"\"timeout_ms\""' '"{{input.x}}"' \
        '"{{steps.a.output}}"' '"\"t\""' '"\"run\""' '"\"data\""'
      ;;
  esac
}

usage() {
  echo "usage: $0 <target|all> [seconds]   (targets: ${targets[*]})" >&2
  exit 2
}

run_target() {
  local name="$1" seconds="$2"
  local sources work bin
  if ! sources="$(target_sources "$name")"; then
    echo "fuzz.sh: unknown target '$name' (targets: ${targets[*]})" >&2
    return 2
  fi
  work="$root/.fuzz/$name"
  bin="$work/${name}_fuzz"
  mkdir -p "$work/corpus" "$work/artifacts"

  echo "== building $name with $cxx"
  local -a srcs libs
  read -r -a srcs <<<"$sources"
  read -r -a libs <<<"$(target_libs "$name")"
  # Explicit checks: "set -e" does not apply inside a function called from "||" (see "all").
  if ! (cd "$root" && "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -Isrc "${srcs[@]}" src/base/*.cc "${libs[@]}" -o "$bin"); then
    echo "fuzz.sh: building $name FAILED" >&2
    return 1
  fi

  # The seeds are copied, never fuzzed in place: libFuzzer writes new inputs into the corpus dir.
  local seeds="$root/tests/fuzz/corpus/$name"
  if [[ -d "$seeds" ]]; then
    cp -n "$seeds"/* "$work/corpus/" 2>/dev/null || true
  fi
  local -a flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$work/artifacts/")
  local dict
  dict="$(target_dict "$name")"
  if [[ -n "$dict" ]]; then
    printf '%s\n' "$dict" >"$work/$name.dict"
    flags+=(-dict="$work/$name.dict")
  fi
  local -a extra=()
  if [[ -n "${FUZZ_FLAGS:-}" ]]; then
    read -r -a extra <<<"$FUZZ_FLAGS"
  fi

  echo "== fuzzing $name for ${seconds}s (corpus $work/corpus)"
  local status=0
  "$bin" "${flags[@]}" "${extra[@]}" "$work/corpus" || status=$?
  if ((status != 0)); then
    echo "fuzz.sh: $name FAILED (exit $status); reproducers in $work/artifacts/" >&2
  fi
  return "$status"
}

(($# >= 1 && $# <= 2)) || usage
seconds="${2:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage

if [[ "$1" == "all" ]]; then
  failed=()
  for t in "${targets[@]}"; do
    run_target "$t" "$seconds" || failed+=("$t")
  done
  if ((${#failed[@]} > 0)); then
    echo "fuzz.sh: failed targets: ${failed[*]}" >&2
    exit 1
  fi
  echo "fuzz.sh: all targets passed"
else
  run_target "$1" "$seconds"
fi
