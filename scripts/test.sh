#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit and integration test in the workspace.
#
# On a machine with only the Rust toolchain it first installs what the tests need (Debian
# packages, as root), or stops at once naming the package to install: a test that needs a
# server never passes because the server is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it.
declare -A needed=(
  [redis-server]=redis-server
  [redis-cli]=redis-server
  # The identity tests generate their key pairs with it, the Redis TLS tests their certificates.
  [openssl]=openssl
  # The deploy tests check deploy/prometheus/alerts.yml with it.
  [promtool]=prometheus
  # The JavaScript SDK's tests (clients/js), its demo page in a headless browser.
  [node]=nodejs
  [npm]=npm
  [chromium]=chromium
  # The trace test stops processes with SIGTERM to prove their drain flushes spans.
  [kill]=procps
  # The gateway's allocator, jemalloc, is built from source with it.
  [make]=make
)
missing=()
for command in "${!needed[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${needed[$command]}")
done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (needed by the tests)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Debian's packages start a Redis on 6379 and a Prometheus on 9090 at install; tests
    # never use them.
    if command -v service >/dev/null 2>&1; then
      for daemon in redis-server prometheus; do service "$daemon" stop >/dev/null 2>&1 || true; done
    fi
  else
    echo "the tests need these Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Integration tests start real processes (pushgate, loadtest workers, redis-server) on free
# ports; the gateway binary is built first so the loadtest tests can run it.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast
# The JavaScript SDK (clients/js): unit tests, then integration tests against the binary built
# above (dev, a Redis deployment) and the demo page in Chromium; npm packages from the lockfile.
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error && npm test)
