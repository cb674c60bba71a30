#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit and integration test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Integration tests start real processes (pushgate, loadtest workers, redis-server) on free
# ports; the gateway binary is built first so the loadtest tests can run it.
cargo build --workspace --bins
cargo test --workspace
