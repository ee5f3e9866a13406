#!/usr/bin/env bash
# What TLS costs, measured in one run on this machine and printed as Markdown tables:
#  - clients: the same loadgen workloads against memtwin and Debian's memcached 1.6.18 (built
#    with TLS), each plain and with -Z; ratios TLS/plain per server and memtwin/memcached over TLS
#  - the replication link: tools/bench/replication_bench.sh plain, then with --repl-tls and
#    --repl-secret-file, side by side
# Certificates are made with the openssl tool in a temporary directory.
# Usage: tools/bench/tls_bench.sh [seconds per run] [rounds] [items for the sync]
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-5}"
ROUNDS="${2:-2}"
SYNC_ITEMS="${3:-200000}"

source tools/lib/bench.sh

PKI=$(mktemp -d /tmp/memtwin-tls-bench-XXXXXX)
SERVER_PID=""
stop_server() { [[ -n "$SERVER_PID" ]] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }; SERVER_PID=""; }
cleanup() { stop_server; rm -rf "$PKI"; }
trap cleanup EXIT

(
  cd "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench-ca -keyout ca.key -out ca.pem
  for name in a b; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=node-$name" \
      -keyout "$name.key" -out "$name.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
      >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$name.ext" -out "$name.pem"
  done
  chmod 644 ./*.key  # memcached reads them after switching user
  openssl rand -hex 32 >secret
) >/dev/null 2>&1 || { echo "openssl could not make the test certificates" >&2; exit 1; }

start_server() {  # $1 = binary, $2 = plain|tls; sets PORT and SERVER_PID
  PORT=$(free_port)
  local tls=()
  [[ "$2" == tls ]] && tls=(-Z -o "ssl_chain_cert=$PKI/a.pem,ssl_key=$PKI/a.key")
  local repl=()
  [[ "$1" == "$MEMTWIN" ]] && repl=(-X 0)
  "$1" -p "$PORT" -U 0 -l 127.0.0.1 -t 2 -m 1024 -c 4096 "${user_args[@]}" "${repl[@]}" \
    "${tls[@]}" 2>/dev/null &
  SERVER_PID=$!
  wait_port "$PORT" || { echo "$1 ($2) did not start" >&2; exit 1; }
}

declare -A WORKLOADS=(
  ["get/set 90/10, 50 conns"]="--connections 50 --get-ratio 0.9"
  ["set-only, 50 conns"]="--connections 50 --get-ratio 0"
  ["pipeline 16, 50 conns"]="--connections 50 --get-ratio 0.9 --pipeline 16"
  ["1 connection"]="--connections 1 --get-ratio 0.9"
)
ORDER=("get/set 90/10, 50 conns" "set-only, 50 conns" "pipeline 16, 50 conns" "1 connection")
declare -A OPS P99
run_one() {  # $1 = server label, $2 = binary, $3 = plain|tls, $4 = workload
  start_server "$2" "$3"
  local tls=()
  [[ "$3" == tls ]] && tls=(--tls)
  local out ops key="$1|$3|$4"
  out=$("$LOADGEN" --port "$PORT" --threads 1 --duration "$DURATION" --keys 100000 \
    --value-size 100 --prefill "${tls[@]}" ${WORKLOADS[$4]})
  stop_server
  ops=$(sed -E 's/.*ops_per_sec=([0-9]+).*/\1/' <<<"$out")
  if [[ -z "${OPS[$key]:-}" || "$ops" -gt "${OPS[$key]}" ]]; then
    OPS[$key]=$ops
    P99[$key]=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$out")
  fi
}

for round in $(seq "$ROUNDS"); do
  for w in "${ORDER[@]}"; do
    for mode in plain tls; do
      if ((round % 2)); then
        run_one memcached /usr/bin/memcached "$mode" "$w"; run_one memtwin "$MEMTWIN" "$mode" "$w"
      else
        run_one memtwin "$MEMTWIN" "$mode" "$w"; run_one memcached /usr/bin/memcached "$mode" "$w"
      fi
    done
  done
done

echo "| workload | memtwin TLS ops/s (p99 us) | memtwin plain | TLS/plain | memcached -Z ops/s (p99 us) | memcached plain | TLS/plain | memtwin/memcached over TLS |"
echo "|---|---|---|---|---|---|---|---|"
for w in "${ORDER[@]}"; do
  mt=${OPS["memtwin|tls|$w"]}; mp=${OPS["memtwin|plain|$w"]}
  ct=${OPS["memcached|tls|$w"]}; cp=${OPS["memcached|plain|$w"]}
  echo "| $w | $mt (${P99["memtwin|tls|$w"]}) | $mp (${P99["memtwin|plain|$w"]}) | $(ratio "$mt" "$mp")x | $ct (${P99["memcached|tls|$w"]}) | $cp (${P99["memcached|plain|$w"]}) | $(ratio "$ct" "$cp")x | $(ratio "$mt" "$ct")x |"
done
echo "(${ROUNDS} rounds of ${DURATION}s, best of rounds; -t 2; loadgen 1 thread; 100,000 keys, 100-byte values; ECDSA P-256 certificates, TLS 1.3)"
echo

secure="--repl-tls --repl-tls-cert $PKI/a.pem --repl-tls-key $PKI/a.key --repl-tls-ca $PKI/ca.pem --repl-secret-file $PKI/secret"
plain_table=$(tools/bench/replication_bench.sh "$DURATION" "$SYNC_ITEMS")
secure_table=$(REPL_ARGS="$secure" tools/bench/replication_bench.sh "$DURATION" "$SYNC_ITEMS")
row() { grep -F "$2" <<<"$1" | head -1 | awk -F'|' '{gsub(/^ +| +$/, "", $3); print $3}'; }
echo "| replication measure | plain link | mTLS + secret | ratio |"
echo "|---|---|---|---|"
for label in "set ops/s, linked peer vs alone" "replication lag" "bulk sync of" "failover"; do
  p=$(row "$plain_table" "$label"); s=$(row "$secure_table" "$label")
  r=""
  [[ "$label" == "set ops/s, linked peer vs alone" ]] && r="$(ratio "$s" "$p")x"
  echo "| $(grep -F "$label" <<<"$plain_table" | head -1 | awk -F'|' '{gsub(/^ +| +$/, "", $2); print $2}') | $p | $s | $r |"
done
echo "(tools/bench/replication_bench.sh $DURATION $SYNC_ITEMS, plain and with REPL_ARGS=--repl-tls ... --repl-secret-file ...)"
