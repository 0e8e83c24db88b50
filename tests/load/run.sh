#!/usr/bin/env bash
# The load benchmark: a release build on a scratch config, wrk against it, one table
# per signing algorithm. A benchmark, not a test: CI does not run it.
#
#   tests/load/run.sh                 # EdDSA and RS256
#   tests/load/run.sh ES256           # the algorithms named
#   DURATION=20s CONNECTIONS=32 tests/load/run.sh EdDSA
#   GATEHOUSE=/path/to/other/gatehouse tests/load/run.sh   # benchmark another build
#   LOG_LEVEL=info tests/load/run.sh EdDSA   # with a log line per request (default warn)
#   STORES="sled postgres" .ci/with-postgres tests/load/run.sh EdDSA
#                                     # each store in turn; postgres needs the URL of a
#                                     # superuser in GATEHOUSE_TEST_POSTGRES (a database
#                                     # is made per run)
#   LDAP=no tests/load/run.sh         # without the ldap login scenario
#   ONLY="refresh_token" tests/load/run.sh EdDSA
#                                     # only the scenarios named (as in the table's first
#                                     # column; "beside" and "login" for those groups)
#
# The ldap scenario logs people in through an `ldap` upstream on Debian's slapd: unless
# GATEHOUSE_TEST_LDAP names one already, the script runs itself again under .ci/with-slapd
# with a directory of the same PEOPLE (user1.., password "bob").
#
# Everything listens on 127.0.0.1 and every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10s} # wrk's duration, a number and a unit: "10s", "2m"
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
PEOPLE=${PEOPLE:-40}
LOGIN_CONCURRENCY=${LOGIN_CONCURRENCY:-4}
STORES=${STORES:-sled}
LOG_LEVEL=${LOG_LEVEL:-warn}
LDAP=${LDAP:-yes}
ONLY=${ONLY:-}
if [ "$LDAP" = yes ] && [ -z "${GATEHOUSE_TEST_LDAP:-}" ]; then
  LOAD_LDIF=$(mktemp /tmp/gatehouse-load-people.XXXXXX)
  export LOAD_LDIF
  {
    printf 'dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n'
    printf 'dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n'
    printf 'dn: ou=groups,dc=example,dc=org\nobjectClass: organizationalUnit\nou: groups\n\n'
    for n in $(seq 1 "$PEOPLE"); do
      printf 'dn: uid=user%s,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n' "$n"
      printf 'uid: user%s\ncn: User %s\nsn: %s\nmail: user%s@example.org\nuserPassword: bob\n\n' "$n" "$n" "$n" "$n"
    done
    printf 'dn: cn=staff,ou=groups,dc=example,dc=org\nobjectClass: groupOfNames\ncn: staff\n'
    for n in $(seq 1 "$PEOPLE"); do printf 'member: uid=user%s,ou=people,dc=example,dc=org\n' "$n"; done
  } >"$LOAD_LDIF"
  exec .ci/with-slapd "$LOAD_LDIF" "$0" "$@"
fi
ALGS=("$@")
[ ${#ALGS[@]} -gt 0 ] || ALGS=(EdDSA RS256)

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
cargo build --release --locked -p gatehouse -p load-driver
gatehouse=${GATEHOUSE:-target/release/gatehouse}
driver=target/release/load-driver

scratch=$(mktemp -d)
server=
# SIGTERM, and SIGKILL if the server has not exited 15 s later (a hung one ignores SIGTERM).
stop_server() {
  kill -TERM "$server" 2>/dev/null || return 0
  for _ in $(seq 1 150); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server" 2>/dev/null; then
    echo "the server did not exit within 15 s of SIGTERM: killed" >&2
    kill -KILL "$server"
  fi
  wait "$server" || echo "the server exited with $?" >&2
  server=
}
cleanup() {
  [ -n "$server" ] && stop_server
  rm -rf "$scratch" "${LOAD_LDIF:-}"
}
trap cleanup EXIT

basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
# A loopback port nothing listens on.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

write_config() { # DIR PORT ALG STORE
  local hash secret_hash
  hash=$(printf bob | "$gatehouse" hash-password)
  secret_hash=$(printf hashed-secret | "$gatehouse" hash-secret)
  {
    cat <<EOF
issuer = "http://127.0.0.1:$2"
data_dir = "data"

[tokens]
signing_alg = "$3"

$(store_table "$4")

[scopes."api:read"]
claims = ["name"]

[[clients]]
id = "app"
secret = "app-secret"
redirect_uris = ["http://127.0.0.1:9/callback"]
consent = false

[[clients]]
id = "machine"
secret = "machine-secret"
grant_types = ["client_credentials"]

# A client whose secret is configured as an argon2 hash.
[[clients]]
id = "hashed"
secret_hash = "$secret_hash"
grant_types = ["client_credentials"]

[[clients]]
id = "resource-server"
secret = "resource-server-secret"
grant_types = ["client_credentials"]
introspect = true

[[upstreams]]
id = "demo"
kind = "local"
EOF
    for n in $(seq 1 "$PEOPLE"); do
      printf '[[upstreams.users]]\nusername = "user%s"\npassword_hash = "%s"\n' "$n" "$hash"
    done
    [ -z "${GATEHOUSE_TEST_LDAP:-}" ] || cat <<EOF

# The same people in a directory (.ci/with-slapd), for the ldap scenario.
[[upstreams]]
id = "corp"
kind = "ldap"
mapping = "$PWD/claim-mappings/ldap.toml"
url = "$GATEHOUSE_TEST_LDAP"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password = "admin-secret"
user_base = "ou=people,dc=example,dc=org"
group_base = "ou=groups,dc=example,dc=org"
EOF
  } >"$1/gatehouse.toml"
}

# The [store] table: none for sled; a new database for postgres.
store_table() { # STORE
  [ "$1" = postgres ] || return 0
  local admin=${GATEHOUSE_TEST_POSTGRES:?STORES=postgres needs GATEHOUSE_TEST_POSTGRES: run under .ci/with-postgres}
  local db="gatehouse_load_$RANDOM$RANDOM"
  psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
  printf '[store]\nurl = "%s/%s"\nkey_encryption_key = "%s"\n' "${admin%/*}" "$db" "$(head -c 32 /dev/urandom | base64 -w0)"
}

# wrk's summary as "requests/s p99 errors"; a run in which nothing was answered says so.
summarize() {
  awk '
    / requests in / { answered = $1 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "99%" { p99 = $2 }
    /^failures:/ { failed += $2 }
    /Socket errors:/ { gsub(/,/, ""); failed += $4 + $6 + $8 + $10 }
    END { if (answered == 0) failed = "none answered"; printf "%12s %10s %8s\n", rps, p99, failed }
  '
}

# Whether the scenario (or group) NAME is to run: all of them unless ONLY names some.
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

run_wrk() { # NAME SCRIPT ARGS...
  local name=$1 script=$2
  shift 2
  wanted "$name" || return 0
  printf '%-20s' "$name"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$base" -- "$@" | summarize
}

for store in $STORES; do
for alg in "${ALGS[@]}"; do
  dir="$scratch/$store-$alg"
  mkdir -p "$dir"
  port=$(free_port)
  base="http://127.0.0.1:$port"
  write_config "$dir" "$port" "$alg" "$store"
  RUST_LOG=$LOG_LEVEL "$gatehouse" serve --config "$dir/gatehouse.toml" 2>"$dir/server.log" &
  server=$!
  for _ in $(seq 1 600); do
    curl -fs "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$driver" setup "$base" "$PEOPLE" "$dir"
  access_token=$(cat "$dir/access_token")

  echo
  echo "== $alg on $store: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PEOPLE people logged in"
  printf '%-20s %12s %10s %8s\n' scenario "requests/s" p99 errors
  run_wrk client_credentials tests/load/request.lua POST /token "$(basic machine machine-secret)" \
    "grant_type=client_credentials&scope=api%3Aread"
  run_wrk "cc (secret_hash)" tests/load/request.lua POST /token "$(basic hashed hashed-secret)" \
    "grant_type=client_credentials&scope=api%3Aread"
  run_wrk refresh_token tests/load/refresh.lua "$dir/refresh_tokens" "$THREADS" "$(basic app app-secret)"
  run_wrk userinfo tests/load/request.lua GET /userinfo "Bearer $access_token"
  run_wrk introspect tests/load/request.lua POST /introspect "$(basic resource-server resource-server-secret)" \
    "token=$access_token"
  run_wrk discovery tests/load/request.lua GET /.well-known/openid-configuration ""
  # Whether signing holds up cheap requests: discovery on 2 connections while 16 others
  # ask for client_credentials tokens.
  if wanted beside; then
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s tests/load/request.lua "$base" -- POST /token \
    "$(basic machine machine-secret)" "grant_type=client_credentials&scope=api%3Aread" >"$dir/beside" &
  signing=$!
  printf '%-20s' "discovery beside cc"
  wrk -t1 -c2 -d"$DURATION" --latency -s tests/load/request.lua "$base" -- GET /.well-known/openid-configuration "" |
    summarize
  wait "$signing"
  printf '%-20s' "cc beside discovery"
  summarize <"$dir/beside"
  fi
  seconds=${DURATION%s}
  upstreams=(demo)
  [ -z "${GATEHOUSE_TEST_LDAP:-}" ] || upstreams+=(corp)
  wanted login || upstreams=()
  for upstream in "${upstreams[@]}"; do
    kind=local
    [ "$upstream" = demo ] || kind=ldap
    printf '%-20s' "login $kind (c=$LOGIN_CONCURRENCY)"
    "$driver" logins "$base" "$LOGIN_CONCURRENCY" "$seconds" "$upstream" |
      awk '/^requests\/s:/ { rps = $2 } /^p50:/ { p50 = $2 } /^p99:/ { p99 = $2 } /^errors:/ { e = $2 }
        END { printf "%12s %10s %8d   p50 %s\n", rps, p99, e, p50 }'
  done
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$server/status")
  echo "RSS after the load: $((rss / 1024)) MiB"
  stop_server
done
done
