#!/usr/bin/env bash
# Replication benchmarks, all in one run on this machine, printed as a Markdown table:
#  - set throughput: memtwin with a linked peer vs memtwin alone vs Debian's memcached
#  - replication lag p50/p99 at 50% of the paired set throughput
#  - bulk sync of N items (default 1,000,000 x 100 bytes) to an empty joiner: time until the
#    joiner's client port opens, and the serving node's client p99 during that sync
#  - failover: time from kill -9 of one node to the first successful write on the other
# Usage: tools/bench/replication_bench.sh [seconds per throughput run] [items for the sync]
# REPL_ARGS (split on spaces) is added to every replicating node, e.g. --repl-tls and its files.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-5}"
SYNC_ITEMS="${2:-1000000}"
PY=/usr/bin/python3
read -r -a repl_args <<<"${REPL_ARGS:-}"

source tools/lib/bench.sh
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
SET_LOAD=(--connections 50 --threads 1 --get-ratio 0 --keys 100000 --value-size 100)

# --- set throughput -------------------------------------------------------------------------
PA=$(free_port); XA=$(free_port); PB=$(free_port); XB=$(free_port)
"$MEMTWIN" -p "$PA" -l 127.0.0.1 -X 0 -t 2 -m 1024 "${user_args[@]}" & PIDS+=($!); wait_port "$PA"
alone=$(ops_of "$("$LOADGEN" --port "$PA" --duration "$DURATION" "${SET_LOAD[@]}")")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

/usr/bin/memcached -p "$PA" -l 127.0.0.1 -U 0 -t 2 -m 1024 "${user_args[@]}" & PIDS+=($!); wait_port "$PA"
memcached=$(ops_of "$("$LOADGEN" --port "$PA" --duration "$DURATION" "${SET_LOAD[@]}")")
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

start_pair() {
  "$MEMTWIN" -p "$PA" -l 127.0.0.1 -X "$XA" -x "127.0.0.1:$XB" -t 2 -m 1024 "${user_args[@]}" "${repl_args[@]}" 2>/dev/null &
  PID_A=$!; PIDS+=($PID_A); wait_port "$PA"
  "$MEMTWIN" -p "$PB" -l 127.0.0.1 -X "$XB" -x "127.0.0.1:$XA" -t 2 -m 1024 "${user_args[@]}" "${repl_args[@]}" 2>/dev/null &
  PID_B=$!; PIDS+=($PID_B); wait_port "$PB"
}
start_pair
paired=$(ops_of "$("$LOADGEN" --port "$PA" --duration "$DURATION" "${SET_LOAD[@]}")")

# --- lag at 50% load --------------------------------------------------------------------------
half=$((paired / 2))
"$LOADGEN" --port "$PA" --duration $((DURATION + 2)) --rate "$half" "${SET_LOAD[@]}" >/dev/null &
LOAD=$!
sleep 1
lag=$($PY - "$PA" "$PB" <<'PY'
import socket, sys, time
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
def call(s, req, end):
    s.sendall(req); buf = b""
    while not buf.endswith(end): buf += s.recv(65536)
    return buf
samples = []
for i in range(300):
    key = b"lagprobe%d" % i
    call(a, b"set " + key + b" 0 0 1\r\nx\r\n", b"\r\n")
    t0 = time.perf_counter()
    while call(b, b"get " + key + b"\r\n", b"END\r\n") == b"END\r\n":
        if time.perf_counter() - t0 > 5: break
    samples.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.005)
samples.sort()
print("%.2f %.2f" % (samples[len(samples)//2], samples[int(len(samples)*0.99)]))
PY
)
wait "$LOAD" || true
cleanup; PIDS=()

# --- bulk sync and client p99 on the serving node during it ----------------------------------
"$MEMTWIN" -p "$PA" -l 127.0.0.1 -X "$XA" -t 2 -m 2048 "${user_args[@]}" "${repl_args[@]}" 2>/dev/null & PIDS+=($!); wait_port "$PA"
"$LOADGEN" --port "$PA" --keys "$SYNC_ITEMS" --value-size 100 --prefill --duration 0
READ_LOAD=(--connections 20 --threads 1 --get-ratio 0.9 --keys 100000 --value-size 100 --rate 20000)
base_p99=$(p99_of "$("$LOADGEN" --port "$PA" --duration 3 "${READ_LOAD[@]}")")
"$LOADGEN" --port "$PA" --duration 6 "${READ_LOAD[@]}" > /tmp/replication_bench_sync_load.txt &
LOAD=$!
sleep 0.5
t0=$(date +%s.%N)
"$MEMTWIN" -p "$PB" -l 127.0.0.1 -X "$XB" -x "127.0.0.1:$XA" -t 2 -m 2048 "${user_args[@]}" "${repl_args[@]}" 2>/dev/null & PIDS+=($!)
wait_port "$PB"
t1=$(date +%s.%N)
wait "$LOAD" || true
sync_p99=$(p99_of "$(cat /tmp/replication_bench_sync_load.txt)")
sync_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
items_s=$(awk -v n="$SYNC_ITEMS" -v s="$sync_s" 'BEGIN{printf "%.0f", n/s}')

# --- failover ---------------------------------------------------------------------------------
failover_ms=$($PY - "$PB" "${PIDS[0]}" <<'PY'
import os, signal, socket, sys, time
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
os.kill(int(sys.argv[2]), signal.SIGKILL)
t0 = time.perf_counter()
b.sendall(b"set failover 0 0 1\r\nx\r\n")
buf = b""
while not buf.endswith(b"\r\n"): buf += b.recv(100)
assert buf == b"STORED\r\n", buf
print("%.2f" % ((time.perf_counter() - t0) * 1000))
PY
)

echo "| measure | memtwin | reference | ratio |"
echo "|---|---|---|---|"
echo "| set ops/s, linked peer vs alone | $paired | $alone | $(ratio "$paired" "$alone")x |"
echo "| set ops/s, linked peer vs memcached 1.6.18 | $paired | $memcached | $(ratio "$paired" "$memcached")x |"
echo "| replication lag at 50% load (${half} sets/s), p50 / p99 ms | ${lag% *} / ${lag#* } | | |"
echo "| bulk sync of $SYNC_ITEMS 100-byte items to an empty joiner (until its port opens) | ${sync_s} s ($items_s items/s) | | |"
echo "| serving node client p99 during the sync vs before (us) | $sync_p99 | $base_p99 | $(ratio "$sync_p99" "$base_p99")x |"
echo "| failover: kill -9 of one node to first successful write on the other | ${failover_ms} ms | | |"
echo "(set runs: ${DURATION}s, 50 connections, 100-byte values, -t 2; loadgen 1 thread; same machine)"
