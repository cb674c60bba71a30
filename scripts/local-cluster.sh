#!/usr/bin/env bash
# Try scale-out by hand: Redis, N gateways, M fan-out workers and the REST API on loopback.
#
#   scripts/local-cluster.sh [gateways=3] [workers=2]
#
# Environment: REDIS_PORT (default 6390), API_PORT (8080), FIRST_GATEWAY_PORT (8081),
# FIRST_WORKER_PORT (9091), PUSHGATE_JWT_SECRET, PUSHGATE_API_KEY (production roles refuse the
# development values: random ones per run unless set, written to target/local-cluster/credentials).
# Everything stops on Ctrl-C. Logs go to target/local-cluster/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."

gateways=${1:-3}
workers=${2:-2}
redis_port=${REDIS_PORT:-6390}
api_port=${API_PORT:-8080}
gateway_port=${FIRST_GATEWAY_PORT:-8081}
worker_port=${FIRST_WORKER_PORT:-9091}
logs=target/local-cluster
mkdir -p "$logs"
PUSHGATE_JWT_SECRET=${PUSHGATE_JWT_SECRET:-$(head -c 24 /dev/urandom | base64)}
PUSHGATE_API_KEY=${PUSHGATE_API_KEY:-$(head -c 24 /dev/urandom | base64)}
export PUSHGATE_JWT_SECRET PUSHGATE_API_KEY
(umask 077; printf 'export PUSHGATE_JWT_SECRET=%q\nexport PUSHGATE_API_KEY=%q\n' \
  "$PUSHGATE_JWT_SECRET" "$PUSHGATE_API_KEY" >"$logs/credentials")

command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 1; }
cargo build --release -q -p pushgate-gateway --bin pushgate
bin=target/release/pushgate
redis="redis://127.0.0.1:$redis_port"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$logs/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.1; done

for ((i = 0; i < gateways; i++)); do
  port=$((gateway_port + i))
  "$bin" gateway --redis "$redis" --listen "127.0.0.1:$port" --node-id "gw$i" \
    --public-url "ws://127.0.0.1:$port/v1/ws" >"$logs/gateway$i.log" 2>&1 &
  pids+=($!)
  echo "gateway gw$i   ws://127.0.0.1:$port/v1/ws   (pid $!)"
done
for ((i = 0; i < workers; i++)); do
  port=$((worker_port + i))
  "$bin" worker --redis "$redis" --listen "127.0.0.1:$port" --worker-name "w$i" >"$logs/worker$i.log" 2>&1 &
  pids+=($!)
  echo "worker  w$i    http://127.0.0.1:$port/metrics   (pid $!)"
done
"$bin" api --redis "$redis" --listen "127.0.0.1:$api_port" >"$logs/api.log" 2>&1 &
pids+=($!)
echo "api            http://127.0.0.1:$api_port   (pid $!)"
echo "redis          $redis"
echo
echo "Credentials: source $logs/credentials; then TOKEN=\$($bin token --user bob)"
echo "Ask where a user connects: curl -H \"Authorization: Bearer \$TOKEN\" localhost:$api_port/v1/connect"
echo "Ctrl-C stops everything."
wait
