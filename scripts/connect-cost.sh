#!/usr/bin/env bash
# CPU per WebSocket connect of `pushgate dev` and of Nginx+Nchan, measured side by side, and
# pushgate's resident memory per idle socket.
#
#   scripts/connect-cost.sh [runs=3]
#
# Each run starts a fresh Nginx (one worker, Nchan websocket subscriber) and opens
# $CONNECTIONS sockets to it with `pushgate-loadtest generic`, then a fresh `pushgate dev` and
# the same number of sockets with `pushgate-loadtest idle`, from the same client. The figure is
# the server process's CPU time (utime+stime of all its threads, /proc/<pid>/stat) from just
# before the first connect until every socket is open, divided by the sockets; for Nginx the
# worker process is measured, and the kernel's part of it (stime) is shown beside it. Memory
# per idle socket is pushgate's RSS growth over the same phase divided by the sockets. At the
# end: median and range over the runs.
#
# Installs nothing. Needs Nginx with the Nchan module (Debian: nginx-light and
# libnginx-mod-nchan), jq, and release builds:
#   cargo build --release -p pushgate-gateway --bin pushgate -p pushgate-loadtest
#
# Environment: PUSHGATE_BIN, LOADTEST_BIN (default target/release/...), NGINX_BIN
# (/usr/sbin/nginx), NCHAN_MODULE (found under /usr/lib/nginx/modules), CONNECTIONS (15000),
# RAMP (connects per second, 2000: the load generator's default), NGINX_PORT (8091), PUSHGATE_PORT
# (8090), PUSHGATE_FLAGS (extra `pushgate dev` flags, e.g. "--worker-threads 1"), ONLY
# ("pushgate" or "nchan" to measure one side), NCHAN_LISTEN (parameters for Nginx's `listen`,
# e.g. "deferred": see scripts/nchan-conf.sh), WORK_DIR (/tmp/pushgate-connect-cost).
#
# Not part of the test suite: it takes a minute per run and its figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
target=${CARGO_TARGET_DIR:-target}
pushgate_bin=${PUSHGATE_BIN:-$target/release/pushgate}
loadtest_bin=${LOADTEST_BIN:-$target/release/pushgate-loadtest}
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}
nchan_module=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
connections=${CONNECTIONS:-15000}
ramp=${RAMP:-2000}
nginx_port=${NGINX_PORT:-8091}
pushgate_port=${PUSHGATE_PORT:-8090}
only=${ONLY:-}
dir=${WORK_DIR:-/tmp/pushgate-connect-cost}

need() { [[ -e $1 ]] || { echo "missing $1: $2" >&2; exit 1; }; }
need "$pushgate_bin" "cargo build --release -p pushgate-gateway --bin pushgate"
need "$loadtest_bin" "cargo build --release -p pushgate-loadtest"
if [[ $only != pushgate ]]; then
  need "$nginx_bin" "apt-get install nginx-light libnginx-mod-nchan (this script installs nothing)"
  need "$nchan_module" "apt-get install libnginx-mod-nchan (this script installs nothing)"
fi
command -v jq >/dev/null || { echo "missing jq" >&2; exit 1; }

mkdir -p "$dir/nginx/logs"
ulimit -n "$(ulimit -Hn)"
server_pid=

stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

# shellcheck source=scripts/nchan-conf.sh
. scripts/nchan-conf.sh
write_nchan_conf "$dir" "$nginx_port" "$nchan_module"

# "<us per connect> <bytes per socket> <system us per connect>" from a loadtest JSON report,
# or "failed"; the run_* functions leave it in $result (not run in subshells, so the EXIT trap
# can stop the server).
figures() {
  jq -r --argjson n "$connections" '
    if .connections.peak_connected == $n and .connections.handshake_errors == 0
    then "\(.gateways[0].connect_cpu_seconds / $n * 1e7 | round / 10) \(.connections.gateway_rss_per_socket_bytes | round) \(.gateways[0].connect_system_cpu_seconds / $n * 1e7 | round / 10)"
    else "failed" end' "$1"
}

wait_http() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "nothing answers $1" >&2
  exit 1
}

run_nchan() {
  setsid "$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" >"$dir/nginx/stdout" 2>&1 </dev/null &
  server_pid=$!
  wait_http "http://127.0.0.1:$nginx_port/pub/warmup"
  local worker
  worker=$(pgrep -P "$server_pid" | head -1)
  "$loadtest_bin" generic -q -n "$connections" --ramp "$ramp" --duration 1 --drain 1 \
    --subscribe-url "ws://127.0.0.1:$nginx_port/sub/ch{channel}" \
    --publish-url "http://127.0.0.1:$nginx_port/pub/ch{channel}" --rate 1 \
    --gateway-pid "$worker" --json "$dir/nchan.json" >"$dir/nchan.txt"
  stop_server
  result=$(figures "$dir/nchan.json")
}

run_pushgate() {
  # shellcheck disable=SC2086 # PUSHGATE_FLAGS is a list of flags
  PUSHGATE_LOG=warn setsid "$pushgate_bin" dev --listen "127.0.0.1:$pushgate_port" \
    ${PUSHGATE_FLAGS:-} >"$dir/pushgate.log" 2>&1 </dev/null &
  server_pid=$!
  wait_http "http://127.0.0.1:$pushgate_port/healthz"
  "$loadtest_bin" idle -q -n "$connections" --ramp "$ramp" --duration 1 --drain 1 \
    --target "http://127.0.0.1:$pushgate_port" --gateway-pid "$server_pid" \
    --json "$dir/pushgate.json" >"$dir/pushgate.txt"
  stop_server
  result=$(figures "$dir/pushgate.json")
}

# Median and range of a column of numbers.
summary() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "no successful run"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %.1f, range %.1f-%.1f (%d runs)\n", m, v[1], v[NR], NR }'
}

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; $connections sockets per run, ramp $ramp/s"
echo "pushgate: $pushgate_bin dev ${PUSHGATE_FLAGS:-}"
echo "nginx: listen 127.0.0.1:$nginx_port${NCHAN_LISTEN:+ $NCHAN_LISTEN}"
: >"$dir/results"
for ((run = 1; run <= runs; run++)); do
  if [[ $only != pushgate ]]; then
    run_nchan
    read -r nchan_us _ nchan_sys <<<"$result"
    echo "nchan $nchan_us" >>"$dir/results"
    echo "nchan_system ${nchan_sys:-failed}" >>"$dir/results"
  else
    nchan_us=- nchan_sys=-
  fi
  if [[ $only != nchan ]]; then
    run_pushgate
    read -r pushgate_us pushgate_bytes pushgate_sys <<<"$result"
    echo "pushgate $pushgate_us" >>"$dir/results"
    echo "pushgate_system ${pushgate_sys:-failed}" >>"$dir/results"
    echo "bytes ${pushgate_bytes:-failed}" >>"$dir/results"
  else
    pushgate_us=- pushgate_bytes=- pushgate_sys=-
  fi
  printf 'run %d: nchan %s us/connect (system %s); pushgate %s us/connect (system %s), %s B per idle socket\n' \
    "$run" "$nchan_us" "${nchan_sys:--}" "$pushgate_us" "${pushgate_sys:--}" "${pushgate_bytes:--}"
done
for what in nchan nchan_system pushgate pushgate_system bytes; do
  label=$what
  [[ $what == bytes ]] && label="pushgate B/socket"
  [[ $what == pushgate ]] && label="pushgate us/connect"
  [[ $what == nchan ]] && label="nchan us/connect"
  [[ $what == pushgate_system ]] && label="pushgate system us/connect"
  [[ $what == nchan_system ]] && label="nchan system us/connect"
  if grep -q "^$what " "$dir/results"; then
    printf '%s: ' "$label"
    grep "^$what " "$dir/results" | awk '$2 != "failed" { print $2 }' | summary
  fi
done
