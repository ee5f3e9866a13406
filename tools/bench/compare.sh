#!/usr/bin/env bash
# Runs the same workloads against memtwin and Debian's memcached 1.6.18 (same -t and -m),
# alternating servers for each round, and prints a table of ratios (memtwin / memcached) of the
# medians over the rounds. Also reports RSS with 5,000 idle connections.
# Each round runs the two servers back to back, so the ratio within a round is the comparison least
# moved by a noisy host; the table also gives the median and range of those per-round ratios and
# in how many rounds memtwin had the lower p99.
# Usage: tools/bench/compare.sh [seconds] [rounds]
# THREADS (-t) defaults to one less than the CPUs, leaving one for the load generator (a single
# thread): when the server's workers and the load generator share CPUs, the closed-loop p99 is
# mostly how the kernel scheduler interleaves them (see the README). THREADS=2 on a 2-CPU host
# measures exactly that. MEMTWIN_ARGS adds flags to memtwin only (e.g. "-o worker_slice_us=100").
# PIN=1 runs the server on the first THREADS of the CPUs this script may use and the load
# generator on the rest (needs THREADS below the CPU count), so the two never wait for each
# other's CPU; the server's other threads (listener, LRU maintainer) then share its CPUs too.
# By default (PIN=0) the scheduler places them.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-5}"
ROUNDS="${2:-5}"
THREADS="${THREADS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"
MEMORY="${MEMORY:-1024}"
# The CPUs this script may use, in order (a container's set need not start at 0).
read -r -a allowed <<<"$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
PIN="${PIN:-0}"
server_cpus=(); loadgen_cpus=()
if [[ "$PIN" == 1 ]]; then
  (( THREADS < ${#allowed[@]} )) ||
    { echo "PIN=1 needs THREADS ($THREADS) below the CPU count (${#allowed[@]})" >&2; exit 1; }
  cpu_list() { local IFS=,; echo "$*"; }
  server_cpus=(taskset -c "$(cpu_list "${allowed[@]:0:THREADS}")")
  loadgen_cpus=(taskset -c "$(cpu_list "${allowed[@]:THREADS}")")
fi

source tools/lib/bench.sh
ulimit -n 20000

SERVER_PID=""
read -r -a memtwin_args <<<"${MEMTWIN_ARGS:-}"
start_server() {  # $1 = binary; sets PORT and SERVER_PID
  PORT=$(free_port)
  local extra=()
  [[ "$1" == "$MEMTWIN" ]] && extra=("${memtwin_args[@]}")
  "${server_cpus[@]}" "$1" -p "$PORT" -U 0 -l 127.0.0.1 -t "$THREADS" -m "$MEMORY" -c 10000 "${user_args[@]}" \
    "${extra[@]}" &
  SERVER_PID=$!
  wait_port "$PORT" || { echo "server $1 did not start" >&2; exit 1; }
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
trap stop_server EXIT

declare -A WORKLOADS=(
  ["set-only"]="--connections 50 --get-ratio 0"
  ["get/set 90/10"]="--connections 50 --get-ratio 0.9"
  ["multiget of 10"]="--connections 50 --get-ratio 1 --multiget 10"
  ["pipeline 16"]="--connections 50 --get-ratio 0.9 --pipeline 16"
  ["1 connection latency"]="--connections 1 --threads 1 --get-ratio 0.9"
  # Closed-loop p99 grows with the throughput a server sustains; at the same offered load the
  # two latencies compare like for like.
  ["get/set 90/10 paced"]="--connections 50 --get-ratio 0.9 --rate 30000"
  ["binary protocol get/set 90/10"]="--connections 50 --get-ratio 0.9 --binary"
)
ORDER=("set-only" "get/set 90/10" "multiget of 10" "pipeline 16" "1 connection latency"
       "get/set 90/10 paced" "binary protocol get/set 90/10")

declare -A ALL_OPS ALL_P99  # space-separated, one value per round
run_one() {  # $1 = name (memtwin|memcached), $2 = binary, $3 = workload
  start_server "$2"
  local out
  out=$("${loadgen_cpus[@]}" "$LOADGEN" --port "$PORT" --threads 1 --duration "$DURATION" --keys 100000 \
        --value-size 100 --prefill ${WORKLOADS[$3]})
  stop_server
  local ops p99
  ops=$(sed -E 's/.*ops_per_sec=([0-9]+).*/\1/' <<<"$out")
  p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$out")
  local key="$1|$3"
  ALL_OPS[$key]="${ALL_OPS[$key]:-} $ops"
  ALL_P99[$key]="${ALL_P99[$key]:-} $p99"
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2)}'; }
spread() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
# Two space-separated lists in round order, side by side: one "memtwin memcached" line per round.
by_round() { paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .); }
# Round by round: $1 / $2, one ratio per line.
paired_ratios() { by_round "$1" "$2" | awk '{printf "%.3f\n", $1/$2}'; }
# "median (low-high)" of per-round ratios read from stdin.
ratio_summary() { sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2fx (%.2f-%.2f)", m, v[1], v[NR]}'; }
# In how many rounds memtwin's p99 ($1) was below memcached's ($2).
lower_in() { by_round "$1" "$2" | awk '$1<$2{n++} END {printf "%d/%d", n, NR}'; }

for round in $(seq "$ROUNDS"); do
  for w in "${ORDER[@]}"; do
    if ((round % 2)); then
      run_one memcached /usr/bin/memcached "$w"; run_one memtwin "$MEMTWIN" "$w"
    else
      run_one memtwin "$MEMTWIN" "$w"; run_one memcached /usr/bin/memcached "$w"
    fi
  done
done

echo "workload | memtwin ops/s | memcached ops/s | ratio | per-round ratio, median (range) | memtwin p99 us | memcached p99 us | p99 ranges over rounds | rounds with memtwin's p99 lower"
echo "---|---|---|---|---|---|---|---|---"
for w in "${ORDER[@]}"; do
  a=$(median "${ALL_OPS["memtwin|$w"]}"); b=$(median "${ALL_OPS["memcached|$w"]}")
  printf "%s | %s | %s | %.2fx | %s | %s | %s | %s vs %s | %s\n" "$w" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')" \
    "$(paired_ratios "${ALL_OPS["memtwin|$w"]}" "${ALL_OPS["memcached|$w"]}" | ratio_summary)" \
    "$(median "${ALL_P99["memtwin|$w"]}")" "$(median "${ALL_P99["memcached|$w"]}")" \
    "$(spread "${ALL_P99["memtwin|$w"]}")" "$(spread "${ALL_P99["memcached|$w"]}")" \
    "$(lower_in "${ALL_P99["memtwin|$w"]}" "${ALL_P99["memcached|$w"]}")"
done

idle_rss() {  # $1 = binary; prints RSS in KB with 5,000 idle connections
  start_server "$1"
  python3 - "$PORT" "$SERVER_PID" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(5000)]
for c in conns[::500]:
    c.sendall(b"version\r\n"); c.recv(100)
time.sleep(0.5)
status = open(f"/proc/{pid}/status").read().splitlines()
print(" ".join(l.split()[1] for l in status if l.startswith(("VmRSS", "RssAnon"))))
PY
  stop_server
}
# VmRSS counts the shared libraries' pages too (memtwin maps libstdc++, memcached does not);
# RssAnon is the process's own memory, where the connections live.
read -r a a_anon <<<"$(idle_rss "$MEMTWIN")"; read -r b b_anon <<<"$(idle_rss /usr/bin/memcached)"
printf "RSS with 5,000 idle connections | %s KB | %s KB | %.2fx\n" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{print a/b}')"
printf "anonymous RSS (RssAnon) with 5,000 idle connections | %s KB | %s KB | %.2fx\n" "$a_anon" "$b_anon" "$(awk -v a="$a_anon" -v b="$b_anon" 'BEGIN{print a/b}')"
echo "(${ROUNDS} rounds of ${DURATION}s, medians of rounds; -t $THREADS -m $MEMORY${MEMTWIN_ARGS:+; memtwin $MEMTWIN_ARGS}; loadgen 1 thread; $( ((PIN)) && echo "server on CPUs ${server_cpus[2]}, loadgen on ${loadgen_cpus[2]}" || echo "unpinned"); 100,000 keys, 100-byte values)"
