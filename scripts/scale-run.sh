#!/usr/bin/env bash
# A Redis-backed deployment for big load tests on one machine: Redis, N gateways, M fan-out
# workers and A REST API processes on loopback, started in the background, recorded in a
# state directory, and stopped by the pids recorded there.
#
#   scripts/scale-run.sh up [gateways=13] [workers=2] [apis=1]
#   scripts/scale-run.sh status      # connections per gateway, RSS, presence keys, Redis and machine memory
#   scripts/scale-run.sh down        # SIGTERM every recorded pid, SIGKILL what is left after 15 s
#
# One gateway process holds at most ~19,500 sockets (20,000 open files per process), so
# 250,000 sockets need 13 gateways and 1,000,000 need 52. `up` prints shell assignments
# (also written to $SCALE_DIR/env) to feed pushgate-loadtest:
#
#   eval "$(scripts/scale-run.sh up 13 2 2)"
#   pushgate-loadtest idle -n 250000 --max-connections 250000 --follow-connect \
#       $LT_TARGETS --gateway-pid "$GATEWAY_PIDS" ...
#
# Environment: PUSHGATE_BIN (default target/release/pushgate, or $CARGO_TARGET_DIR/release/
# pushgate), SCALE_DIR (/tmp/pushgate-scale), REDIS_PORT (6491), FIRST_API_PORT (8480),
# FIRST_GATEWAY_PORT (8501), FIRST_WORKER_PORT (9501), PREFIX (Redis key prefix, "pg"),
# GATEWAY_FLAGS / WORKER_FLAGS / API_FLAGS (extra flags), PUSHGATE_LOG (warn),
# PUSHGATE_JWT_SECRET / PUSHGATE_API_KEY (production roles refuse the development values: random
# ones per `up` unless set, exported in $SCALE_DIR/env so pushgate-loadtest mints valid tokens).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${SCALE_DIR:-/tmp/pushgate-scale}
bin=${PUSHGATE_BIN:-${CARGO_TARGET_DIR:-target}/release/pushgate}
redis_port=${REDIS_PORT:-6491}
api_port=${FIRST_API_PORT:-8480}
gateway_port=${FIRST_GATEWAY_PORT:-8501}
worker_port=${FIRST_WORKER_PORT:-9501}
prefix=${PREFIX:-pg}
export PUSHGATE_LOG=${PUSHGATE_LOG:-warn}
redis="redis://127.0.0.1:$redis_port"

# Record "role name pid" so `down` stops exactly what `up` started.
record() { echo "$1 $2 $3" >>"$dir/pids"; }

up() {
  local gateways=${1:-13} workers=${2:-2} apis=${3:-1}
  if [[ -s $dir/pids ]]; then
    echo "$dir/pids exists: run '$0 down' first" >&2
    exit 1
  fi
  [[ -x $bin ]] || { echo "no $bin: cargo build --release -p pushgate-gateway" >&2; exit 1; }
  mkdir -p "$dir"
  : >"$dir/pids"
  PUSHGATE_JWT_SECRET=${PUSHGATE_JWT_SECRET:-$(head -c 24 /dev/urandom | base64)}
  PUSHGATE_API_KEY=${PUSHGATE_API_KEY:-$(head -c 24 /dev/urandom | base64)}
  export PUSHGATE_JWT_SECRET PUSHGATE_API_KEY
  # Sockets per process are capped by the open-file limit: use the whole hard limit.
  ulimit -n "$(ulimit -Hn)"

  # No persistence: a benchmark Redis. maxclients: every role opens a few connections.
  setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --maxclients 10000 >"$dir/redis.log" 2>&1 </dev/null &
  record redis redis $!
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done
  redis-cli -p "$redis_port" flushall >/dev/null

  local gateway_pids=() gateway_urls=() api_urls=() i port
  for ((i = 0; i < gateways; i++)); do
    port=$((gateway_port + i))
    # Handshake limit per client IP raised: the load generator is the only client.
    # shellcheck disable=SC2086
    setsid "$bin" gateway --redis "$redis" --redis-prefix "$prefix" --listen "127.0.0.1:$port" \
      --node-id "gw$i" --public-url "ws://127.0.0.1:$port/v1/ws" --handshakes-per-sec 100000 \
      ${GATEWAY_FLAGS:-} >"$dir/gateway$i.log" 2>&1 </dev/null &
    record gateway "gw$i" $!
    gateway_pids+=($!)
    gateway_urls+=("http://127.0.0.1:$port")
  done
  for ((i = 0; i < workers; i++)); do
    port=$((worker_port + i))
    # shellcheck disable=SC2086
    setsid "$bin" worker --redis "$redis" --redis-prefix "$prefix" --listen "127.0.0.1:$port" \
      --worker-name "w$i" ${WORKER_FLAGS:-} >"$dir/worker$i.log" 2>&1 </dev/null &
    record worker "w$i" $!
  done
  for ((i = 0; i < apis; i++)); do
    port=$((api_port + i))
    # The service key posts for every author; user limits stay at their defaults.
    # shellcheck disable=SC2086
    setsid "$bin" api --redis "$redis" --redis-prefix "$prefix" --listen "127.0.0.1:$port" \
      --service-rps 1000000 ${API_FLAGS:-} >"$dir/api$i.log" 2>&1 </dev/null &
    record api "api$i" $!
    api_urls+=("http://127.0.0.1:$port")
  done

  # Ready when every HTTP port answers and every gateway is in the ring.
  local deadline=$((SECONDS + 60)) url
  for url in "${gateway_urls[@]}" "${api_urls[@]}"; do
    until curl -sf "$url/healthz" >/dev/null 2>&1; do
      ((SECONDS < deadline)) || { echo "$url did not come up; see $dir/*.log" >&2; exit 1; }
      sleep 0.2
    done
  done
  until [[ $(redis-cli -p "$redis_port" zcard "$prefix:{m}:nodes") -ge $gateways ]]; do
    ((SECONDS < deadline)) || { echo "gateways missing from the ring" >&2; exit 1; }
    sleep 0.2
  done

  local targets="" u
  for u in "${api_urls[@]}"; do targets+=" --target $u"; done
  {
    echo "REDIS_URL=$redis"
    echo "REDIS_PORT=$redis_port"
    echo "PREFIX=$prefix"
    echo "GATEWAY_PIDS=$(IFS=,; echo "${gateway_pids[*]}")"
    echo "GATEWAY_URLS=$(IFS=,; echo "${gateway_urls[*]}")"
    echo "API_URLS=$(IFS=,; echo "${api_urls[*]}")"
    echo "LT_TARGETS='${targets# }'"
    printf 'export PUSHGATE_JWT_SECRET=%q\nexport PUSHGATE_API_KEY=%q\n' \
      "$PUSHGATE_JWT_SECRET" "$PUSHGATE_API_KEY"
  } >"$dir/env"
  cat "$dir/env"
  echo "# started: $(wc -l <"$dir/pids") processes ($gateways gateways, $workers workers, $apis APIs); logs in $dir" >&2
}

down() {
  [[ -f $dir/pids ]] || { echo "nothing recorded in $dir/pids" >&2; return 0; }
  local role name pid left
  # Pushgate processes first, so gateways can still leave membership; Redis after them.
  while read -r role name pid; do
    [[ $role == redis ]] || kill -TERM "$pid" 2>/dev/null || true
  done <"$dir/pids"
  for _ in $(seq 1 100); do
    left=0
    while read -r role name pid; do
      [[ $role != redis ]] && kill -0 "$pid" 2>/dev/null && left=$((left + 1))
    done <"$dir/pids"
    ((left == 0)) && break
    sleep 0.1
  done
  while read -r role name pid; do
    [[ $role == redis ]] && kill -TERM "$pid" 2>/dev/null
  done <"$dir/pids"
  for _ in $(seq 1 150); do
    left=0
    while read -r role name pid; do
      kill -0 "$pid" 2>/dev/null && left=$((left + 1))
    done <"$dir/pids"
    ((left == 0)) && break
    sleep 0.1
  done
  while read -r role name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "SIGKILL $role $name ($pid)" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$dir/pids"
  rm -f "$dir/pids" "$dir/env"
  echo "stopped" >&2
}

status() {
  [[ -f $dir/pids ]] || { echo "nothing recorded in $dir/pids" >&2; exit 1; }
  local role name pid rss total_rss=0 total_conn=0 conn port
  printf '%-8s %-6s %8s %10s %12s\n' role name pid rss_mib connections
  while read -r role name pid; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    conn=""
    if [[ $role == gateway ]]; then
      port=$((gateway_port + ${name#gw}))
      conn=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "pushgate_connections" {print $2}')
      total_conn=$((total_conn + ${conn:-0}))
      total_rss=$((total_rss + ${rss:-0}))
    fi
    printf '%-8s %-6s %8s %10.1f %12s\n' "$role" "$name" "$pid" "$(echo "${rss:-0} / 1024" | bc -l)" "$conn"
  done <"$dir/pids"
  echo "gateways: $total_conn connections, $((total_rss / 1024)) MiB RSS"
  ((total_conn > 0)) && echo "gateway RSS per connection: $((total_rss * 1024 / total_conn)) B"
  # A presence hash keeps `seen` after its user leaves: count the node entries ("n:<node>" ->
  # "<connections>:<epoch>") that still hold a connection.
  redis-cli -p "$redis_port" --scan --pattern "$prefix:{p:*" | sed 's/^/HVALS /' | redis-cli -p "$redis_port" |
    awk '/^[0-9]+:[0-9]+$/ {split($0, a, ":"); if (a[1] > 0) on++; else off++; keys++}
         END {printf "presence: %d node entries online, %d offline\n", on, off}'
  redis-cli -p "$redis_port" info memory | grep -E '^(used_memory|used_memory_rss|used_memory_peak):'
  redis-cli -p "$redis_port" dbsize | sed 's/^/dbsize: /'
  free -m
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,24p' "$0" >&2; exit 2 ;;
esac
