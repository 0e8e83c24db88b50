#!/usr/bin/env bash
# Faults, measured: a release build under refresh load while something goes wrong.
# The load is `load-driver chains`: every family (PEOPLE of them) refreshes over and over,
# presents its last acknowledged token again 20 ms after any answer that is not 200, and
# at the end checks that token still works ("lost" counts those that do not). A
# measurement, not a test: CI runs the same faults as tests (tests/it/store_outage.rs,
# tests/it/disk_full.rs).
#
#   tests/load/faults.sh                    # outage, failover, soak
#   tests/load/faults.sh outage             # PostgreSQL stopped for OUTAGE seconds
#   tests/load/faults.sh failover           # the primary killed, its streaming standby promoted
#   SYNC=off tests/load/faults.sh failover  # the same with an asynchronous standby
#   SOAK=60 tests/load/faults.sh soak       # SOAK seconds of refreshes on sled: RSS through the run
#   SOAK_STORE=postgres tests/load/faults.sh soak   # the same on PostgreSQL
#
# PostgreSQL comes from Debian (installed when missing) and runs as an unprivileged user,
# in throwaway clusters on loopback ports, removed afterwards. Every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

BEFORE=${BEFORE:-5}    # seconds of load before the fault
OUTAGE=${OUTAGE:-15}   # seconds PostgreSQL is stopped (outage)
AFTER=${AFTER:-10}     # seconds of load after the fault ends
PROMOTE_AFTER=${PROMOTE_AFTER:-1} # seconds from the primary's death to the promotion (failover)
SYNC=${SYNC:-on}       # failover: "on" = synchronous_standby_names '*', "off" = asynchronous
SOAK=${SOAK:-180}
SOAK_STORE=${SOAK_STORE:-sled} # soak: "sled" or "postgres"
PEOPLE=${PEOPLE:-40}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(outage failover soak)

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
bin=$(find_bin)
missing=()
[ -n "$bin" ] || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  bin=$(find_bin)
fi
cargo build --release --locked -p gatehouse -p load-driver
gatehouse=${GATEHOUSE:-target/release/gatehouse}
driver=target/release/load-driver

scratch=$(mktemp -d /tmp/gatehouse-faults.XXXXXX)
chmod 755 "$scratch"
run_as=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  id -u "$user" >/dev/null 2>&1 || { user=gatehouse-ci; id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"; }
  chown "$user" "$scratch"
  run_as=(runuser -u "$user" --)
fi
server=
clusters=()
cleanup() {
  [ -z "$server" ] || { kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
  for cluster in "${clusters[@]}"; do
    "${run_as[@]}" "$bin/pg_ctl" -D "$cluster" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

# Sets `port` to a loopback port nothing listens on, below the kernel's range for outgoing
# connections (32768 and up), which a connection of the run could hold. Not a $(...)
# function: RANDOM in a subshell repeats the parent's sequence, so two calls would agree.
pick_port() {
  while :; do
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 0
  done
}
now_ms() { date +%s%3N; }
# A scenario's folder, where the unprivileged user can make its clusters.
new_dir() { # DIR
  mkdir -p "$1"
  [ ${#run_as[@]} -eq 0 ] || chown "$user" "$1"
}

pg() { "${run_as[@]}" "$bin/$1" "${@:2}"; }
start_cluster() { # DIR PORT [SETTINGS...]
  local dir=$1 port=$2
  shift 2
  pg pg_ctl -D "$dir" -l "$dir.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $scratch $*" start >/dev/null ||
    { tail -n 20 "$dir.log" >&2; return 1; }
}
new_primary() { # DIR PORT [SETTINGS...]
  pg initdb -D "$1" -U gatehouse --auth=trust --encoding=UTF8 --no-instructions >"$1.init.log" 2>&1
  clusters+=("$1")
  start_cluster "$@"
  psql -q "postgres://gatehouse@127.0.0.1:$2/postgres" -c "CREATE DATABASE gatehouse" >/dev/null
}

start_gatehouse() { # DIR STORE_TOML
  local dir=$1 port hash
  pick_port
  base="http://127.0.0.1:$port"
  hash=$(printf bob | "$gatehouse" hash-password)
  {
    printf 'issuer = "%s"\ndata_dir = "data"\n\n[log]\nlevel = "warn"\n\n%s\n' "$base" "$2"
    printf '[[clients]]\nid = "app"\nsecret = "app-secret"\nredirect_uris = ["http://127.0.0.1:9/callback"]\nconsent = false\n\n'
    printf '[[upstreams]]\nid = "demo"\nkind = "local"\n'
    for n in $(seq 1 "$PEOPLE"); do
      printf '[[upstreams.users]]\nusername = "user%s"\npassword_hash = "%s"\n' "$n" "$hash"
    done
  } >"$dir/gatehouse.toml"
  "$gatehouse" serve --config "$dir/gatehouse.toml" 2>"$dir/server.log" &
  server=$!
  for _ in $(seq 1 600); do
    curl -fs "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$driver" setup "$base" "$PEOPLE" "$dir"
}
stop_gatehouse() {
  kill -TERM "$server"
  wait "$server" || echo "gatehouse exited with $?"
  server=
}
store_toml() { # URL
  printf '[store]\nurl = "%s"\nkey_encryption_key = "%s"\n' "$1" "$(head -c 32 /dev/urandom | base64 -w0)"
}
# The driver's figures, with the server's 500s (none expected) from its log.
report() { # DRIVER_OUTPUT SERVER_LOG
  sed 's/^/  /' "$1"
  echo "  server log lines at ERROR: $(grep -c ERROR "$2" || true)"
  grep ERROR "$2" | sed 's/.*"message":"\([^"]*\)".*/\1/' | sort | uniq -c | sed 's/^/    /' || true
}

# Refresh load for SECONDS from the families of DIR; FAULT DIR runs after BEFORE seconds,
# and returns when what it did is over (WHAT names that moment in the report).
under_load() { # DIR SECONDS FAULT WHAT
  local dir=$1 began ended chains recovered
  began=$(now_ms)
  "$driver" chains "$base" "$dir/refresh_tokens" "$2" >"$dir/chains" &
  chains=$!
  sleep "$BEFORE"
  "$3" "$dir"
  ended=$(($(now_ms) - began))
  wait "$chains"
  report "$dir/chains" "$dir/server.log"
  recovered=$(awk '/^recovered_at_ms:/ { print $2 }' "$dir/chains")
  echo "  $4 at ${ended} ms; the last family answered again at ${recovered} ms: $((recovered - ended)) ms later"
  stop_gatehouse
}

stop_database() { # DIR
  pg pg_ctl -D "$1/pg" -m fast stop >/dev/null
  sleep "$OUTAGE"
  start_cluster "$1/pg" "$database_port"
}

kill_primary() { # DIR
  pg pg_ctl -D "$1/primary" -m immediate stop >/dev/null
  sleep "$PROMOTE_AFTER"
  pg pg_ctl -D "$1/standby" -w promote >/dev/null
}

outage() {
  local dir=$scratch/outage port
  new_dir "$dir"
  pick_port
  database_port=$port
  new_primary "$dir/pg" "$port"
  start_gatehouse "$dir" "$(store_toml "postgres://gatehouse@127.0.0.1:$port/gatehouse")"
  echo "== outage: PostgreSQL stopped for ${OUTAGE}s under refresh load from $PEOPLE families"
  under_load "$dir" $((BEFORE + OUTAGE + AFTER)) stop_database "PostgreSQL back"
}

failover() {
  local dir=$scratch/failover primary standby admin port
  new_dir "$dir"
  pick_port
  primary=$port
  pick_port
  standby=$port
  new_primary "$dir/primary" "$primary"
  admin="postgres://gatehouse@127.0.0.1:$primary/postgres"
  pg pg_basebackup -h 127.0.0.1 -p "$primary" -U gatehouse -D "$dir/standby" -R -X stream -c fast >/dev/null
  clusters+=("$dir/standby")
  start_cluster "$dir/standby" "$standby"
  for _ in $(seq 1 100); do
    [ "$(psql -tAq "$admin" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] && break
    sleep 0.1
  done
  # Synchronous once the standby streams (before, every commit would wait for it).
  if [ "$SYNC" = on ]; then
    psql -q "$admin" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  start_gatehouse "$dir" "$(store_toml "postgres://gatehouse@127.0.0.1:$primary,127.0.0.1:$standby/gatehouse?target_session_attrs=read-write")"
  echo "== failover (synchronous standby: $SYNC): the primary killed, the standby promoted ${PROMOTE_AFTER}s later"
  under_load "$dir" $((BEFORE + PROMOTE_AFTER + AFTER)) kill_primary "standby promoted"
}

soak() {
  local dir=$scratch/soak store="" port
  new_dir "$dir"
  if [ "$SOAK_STORE" = postgres ]; then
    pick_port
    new_primary "$dir/pg" "$port"
    store=$(store_toml "postgres://gatehouse@127.0.0.1:$port/gatehouse")
  fi
  start_gatehouse "$dir" "$store"
  echo "== soak: ${SOAK}s of refreshes from $PEOPLE families on $SOAK_STORE (cache_mb 64, the default, on sled)"
  local samples=() chains
  "$driver" chains "$base" "$dir/refresh_tokens" "$SOAK" >"$dir/chains" &
  chains=$!
  # RSS every tenth of the run: growing without bound, or levelling off?
  for _ in $(seq 1 10); do
    samples+=("$(($(awk '/VmRSS/ { print $2 }' "/proc/$server/status") / 1024))")
    sleep "$((SOAK / 10))"
  done
  wait "$chains"
  samples+=("$(($(awk '/VmRSS/ { print $2 }' "/proc/$server/status") / 1024))")
  report "$dir/chains" "$dir/server.log"
  echo "  RSS (MiB) every $((SOAK / 10)) s: ${samples[*]}"
  [ "$SOAK_STORE" = postgres ] || echo "  database on disk: $(du -sh "$dir/data" | cut -f1)"
  stop_gatehouse
}

for scenario in "${SCENARIOS[@]}"; do
  case $scenario in
    outage | failover | soak) "$scenario" ;;
    *) echo "unknown scenario $scenario (outage, failover, soak)" >&2; exit 2 ;;
  esac
done
