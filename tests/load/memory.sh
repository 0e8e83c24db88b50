#!/usr/bin/env bash
# Memory and idle CPU with many live records: a release build on a scratch config whose
# database holds COUNT live sessions, each with a refresh family (load-driver populate);
# the server is started on it, asked a little, and left alone for IDLE seconds. Prints
# its RSS and the CPU it used while idle. A measurement, not a test: CI does not run it.
#
#   tests/load/memory.sh                      # 100,000 sessions, 60 s idle, cache_mb 64
#   COUNT=20000 IDLE=30 CACHE_MB=16 tests/load/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

COUNT=${COUNT:-100000}
IDLE=${IDLE:-60}
CACHE_MB=${CACHE_MB:-64}

cargo build --release --locked -p gatehouse -p load-driver
gatehouse=${GATEHOUSE:-target/release/gatehouse}
driver=target/release/load-driver

scratch=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

port=
while :; do
  port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
cat >"$scratch/gatehouse.toml" <<TOML
issuer = "http://127.0.0.1:$port"
data_dir = "data"

[store]
cache_mb = $CACHE_MB

[log]
level = "warn"

[[clients]]
id = "app"
secret = "app-secret"
redirect_uris = ["http://127.0.0.1:9/callback"]
consent = false

[[upstreams]]
id = "demo"
kind = "local"
users = []
TOML

"$driver" populate "$scratch/gatehouse.toml" "$COUNT"
echo "database on disk: $(du -sh "$scratch/data" | cut -f1)"

"$gatehouse" serve --config "$scratch/gatehouse.toml" >"$scratch/server.log" 2>&1 &
server=$!
for _ in $(seq 1 1200); do
  curl -fsS "http://127.0.0.1:$port/healthz/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz/ready" >/dev/null

rss() { awk '/^VmRSS/ { printf "%.1f MB", $2 / 1024 }' "/proc/$server/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }
echo "RSS after start: $(rss)"
# A little traffic: discovery, JWKS, and failed refreshes that read the refresh tables.
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null
  curl -fsS "http://127.0.0.1:$port/jwks" >/dev/null
  curl -sS -u app:app-secret -d grant_type=refresh_token -d refresh_token=unknown \
    "http://127.0.0.1:$port/token" >/dev/null
done
echo "RSS after 600 requests: $(rss)"
before=$(ticks)
sleep "$IDLE"
after=$(ticks)
hz=$(getconf CLK_TCK)
echo "RSS after ${IDLE} s idle: $(rss)"
awk -v t=$((after - before)) -v hz="$hz" -v s="$IDLE" \
  'BEGIN { printf "idle CPU: %.2f%% of one core (%d ticks in %d s)\n", 100 * t / hz / s, t, s }'
