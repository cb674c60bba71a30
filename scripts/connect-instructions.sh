#!/usr/bin/env bash
# User-space instructions per WebSocket connect of `pushgate dev` and of Nginx+Nchan, counted
# by Valgrind's callgrind: a figure that, unlike CPU time on a shared VM, comes out the same
# run after run (within about 1 %).
#
#   scripts/connect-instructions.sh
#
# Each server runs under callgrind with instrumentation off while it starts; it is switched
# on just before the first connect, $CONNECTIONS sockets open at $RAMP per second (slowly:
# the server runs some 50 times slower under Valgrind), and the counts are dumped once every
# socket is established, before any closes. The figure is the instructions of all the
# server's threads (Nginx's one worker) divided by the sockets.
#
# What it does not show: the kernel's part, cache misses and thread wake-ups, which
# `scripts/connect-cost.sh` measures as CPU time. Under Valgrind both servers hash in
# software (it does not emulate the SHA instructions), which adds about 13,000 instructions
# to a pushgate connect (HMAC-SHA256 for the token, SHA-1 for the accept key) and the SHA-1
# to Nchan's.
#
# Installs nothing. Needs valgrind (Debian: valgrind), Nginx with the Nchan module (Debian:
# nginx-light and libnginx-mod-nchan), curl, ss, and release builds:
#   cargo build --release -p pushgate-gateway --bin pushgate -p pushgate-loadtest
#
# Environment: PUSHGATE_BIN, LOADTEST_BIN (default target/release/...), NGINX_BIN
# (/usr/sbin/nginx), NCHAN_MODULE (/usr/lib/nginx/modules/ngx_nchan_module.so), CONNECTIONS
# (2000), RAMP (200 connects per second), NGINX_PORT (8091), PUSHGATE_PORT (8090), ONLY
# ("pushgate" or "nchan"), WORK_DIR (/tmp/pushgate-connect-instructions).
#
# Not part of the test suite: it takes about a minute and needs Valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
pushgate_bin=${PUSHGATE_BIN:-$target/release/pushgate}
loadtest_bin=${LOADTEST_BIN:-$target/release/pushgate-loadtest}
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
nchan_module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
connections=${CONNECTIONS:-2000}
ramp=${RAMP:-200}
nginx_port=${NGINX_PORT:-8091}
pushgate_port=${PUSHGATE_PORT:-8090}
only=${ONLY:-}
dir=${WORK_DIR:-/tmp/pushgate-connect-instructions}

need() { command -v "$1" >/dev/null || [[ -e $1 ]] || { echo "missing $1: $2" >&2; exit 1; }; }
need valgrind "apt-get install valgrind (this script installs nothing)"
need callgrind_control "apt-get install valgrind"
need curl "apt-get install curl"
need ss "apt-get install iproute2"
need "$pushgate_bin" "cargo build --release -p pushgate-gateway --bin pushgate"
need "$loadtest_bin" "cargo build --release -p pushgate-loadtest"
if [[ $only != pushgate ]]; then
  need "$nginx_bin" "apt-get install nginx-light libnginx-mod-nchan"
  need "$nchan_module" "apt-get install libnginx-mod-nchan"
fi

mkdir -p "$dir/nginx/logs"
ulimit -n "$(ulimit -Hn)"
server_pid=
client_pid=

stop() {
  [[ -n $client_pid ]] && { kill "$client_pid" 2>/dev/null || true; wait "$client_pid" 2>/dev/null || true; }
  [[ -n $server_pid ]] && { kill -9 "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
  client_pid= server_pid=
}
trap stop EXIT

# One process, no master: callgrind then follows the worker itself.
# shellcheck source=scripts/nchan-conf.sh
. scripts/nchan-conf.sh
write_nchan_conf "$dir" "$nginx_port" "$nchan_module" "master_process off;"

wait_http() {
  for _ in $(seq 600); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "nothing answers $1" >&2
  exit 1
}

# Instructions per connect of the server on $1 (port), started as "${@:2}" under callgrind,
# with the client the caller's `client` function starts; left in $result (not run in a
# subshell, so the EXIT trap can stop the server).
count() {
  local port=$1 out=$dir/callgrind.out
  shift
  rm -f "$out"*
  setsid valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$@" \
    >"$dir/valgrind.log" 2>&1 </dev/null &
  server_pid=$!
  wait_http "http://127.0.0.1:$port/$health"
  callgrind_control -i on "$server_pid" >/dev/null 2>&1
  client &
  client_pid=$!
  local established=0
  for _ in $(seq 1200); do
    established=$(ss -Htn state established "( sport = :$port )" | wc -l)
    ((established >= connections)) && break
    sleep 0.1
  done
  if ((established < connections)); then
    echo "only $established of $connections sockets opened" >&2
    exit 1
  fi
  callgrind_control -d "$server_pid" >/dev/null 2>&1
  # The dump is written when a server thread next runs; wait for its summary line.
  for _ in $(seq 100); do
    grep -qs "^summary" "$out".* && break
    sleep 0.1
  done
  stop
  result=$(grep -h "^summary" "$out".* | awk -v n="$connections" '{ s += $2 } END { printf "%.0f", s / n }')
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $connections sockets at $ramp/s under callgrind"
if [[ $only != pushgate ]]; then
  health=pub/warmup
  client() {
    exec "$loadtest_bin" generic -q -n "$connections" --ramp "$ramp" --duration 600 --drain 1 \
      --subscribe-url "ws://127.0.0.1:$nginx_port/sub/ch{channel}" \
      --publish-url "http://127.0.0.1:$nginx_port/pub/ch{channel}" --rate 1 >/dev/null 2>&1
  }
  count "$nginx_port" "$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf"
  echo "nchan: $result instructions per connect"
fi
if [[ $only != nchan ]]; then
  health=healthz
  client() {
    exec "$loadtest_bin" idle -q -n "$connections" --ramp "$ramp" --duration 600 --drain 1 \
      --target "http://127.0.0.1:$pushgate_port" >/dev/null 2>&1
  }
  export PUSHGATE_LOG=warn
  count "$pushgate_port" "$pushgate_bin" dev --listen "127.0.0.1:$pushgate_port"
  echo "pushgate: $result instructions per connect"
fi
