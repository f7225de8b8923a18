#!/usr/bin/env bash
# Configures and builds one flavour: release (default), debug, or asan
# (debug + AddressSanitizer + UndefinedBehaviorSanitizer). Output: build/<flavour>.
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-release}"
case "$flavour" in
  release) opts=(--buildtype=release) ;;
  debug) opts=(--buildtype=debug) ;;
  asan) opts=(--buildtype=debug "-Db_sanitize=address,undefined" -Db_lundef=false -Dmimalloc=disabled) ;;
  --help) echo "usage: tools/build.sh [release|debug|asan]"; exit 0 ;;
  *) echo "build.sh: unknown flavour '$flavour' (release|debug|asan)" >&2; exit 2 ;;
esac

dir="build/$flavour"
if [[ ! -f "$dir/build.ninja" ]]; then
  meson setup "$dir" "${opts[@]}" >/dev/null || { rm -rf "$dir"; exit 1; }
fi
if ! ninja -C "$dir" >"$dir/ninja.log" 2>&1; then
  grep -E -A8 "error|FAILED" "$dir/ninja.log" | head -n 80 >&2
  exit 1
fi
