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
  # The identity tests generate their key pairs with it.
  [openssl]=openssl
  # The trace test stops processes with SIGTERM to prove their drain flushes spans.
  [kill]=procps
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
    # Debian's package starts a server on 6379 at install; tests never use it.
    if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
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
