#!/usr/bin/env bash
# memtwin and Debian's memcached 1.6.18 in the deployment topologies of tools/deploy/, in the same
# run, alternating, with tools/loadgen as the client; prints a Markdown table of ratios
# (memtwin / memcached):
#   haproxy:    loadgen -> HAProxy (tools/deploy/haproxy.cfg) -> memtwin pair A (+ B, backup)
#               vs loadgen -> the same HAProxy config -> one memcached (as server a and b)
#   nutcracker: loadgen -> nutcracker (tools/deploy/nutcracker.yml) -> 2 x (HAProxy -> memtwin pair)
#               vs loadgen -> the same nutcracker config -> 2 memcached
#               and, like for like, vs nutcracker -> 2 x (HAProxy -> memcached)
# Workloads: get/set 90/10 and set-only, 100,000 keys prefilled on every backend, 100-byte values.
# Each rep starts every topology afresh, its setups in one order in odd reps and the other way
# round in even ones; the table shows the median over the reps of ops/s, p50 and p99, and of the
# per-rep ratio of ops/s (each rep runs the two sides a few seconds apart), with its range.
#
# On a small host everything shares the CPUs: loadgen (1 thread), HAProxy (one thread per CPU
# by default), nutcracker (1 thread), every server's -t workers, and for memtwin the peer node
# that applies each replicated write (on its own host in production). The defaults are
# compare.sh's (-t 2, one loadgen thread, 50 connections), so the rows can be read next to its
# direct ones.
#
# Usage: tools/bench/topology_bench.sh [seconds per run (5)] [reps (3)]
# Environment: THREADS (-t of every server, 2), CONNECTIONS (loadgen connections, 50),
#   MEMORY (-m, 1024), BUILD (build directory, build-release); MEMTWIN and LOADGEN (binaries)
#   skip the build.
# Everything listens on free 127.0.0.1 ports; every process started here is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${1:-5}"
REPS="${2:-3}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-50}"
MEMORY="${MEMORY:-1024}"
BUILD="${BUILD:-build-release}"
HAPROXY=/usr/sbin/haproxy
NUTCRACKER=/usr/sbin/nutcracker
MEMCACHED=/usr/bin/memcached
PY=/usr/bin/python3

for tool in "$HAPROXY" "$NUTCRACKER" "$MEMCACHED" "$PY"; do
  [[ -x $tool ]] || { echo "$tool is missing (tools/lib/packages.sh)" >&2; exit 1; }
done
if [[ -z ${MEMTWIN:-} || -z ${LOADGEN:-} ]]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target memtwin loadgen >/dev/null
  MEMTWIN="$BUILD/server/memtwin"
  LOADGEN="$BUILD/tools/loadgen/loadgen"
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ulimit -n 20000

user_args=()
[[ "$(id -u)" == 0 ]] && user_args=(-u root)
# shellcheck source=tools/lib/ports.sh
source tools/lib/ports.sh

WORK=$(mktemp -d /tmp/memtwin-topology-bench.XXXXXX)
PIDS=()
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
on_exit() {
  stop_all
  rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- helpers ----------------------------------------------------------------------------------
# $1 = template in tools/deploy, $2 = output file, then NAME=value pairs for the @NAME@ placeholders.
render() {
  local template="tools/deploy/$1" out="$2" kv
  shift 2
  cp "$template" "$out"
  for kv in "$@"; do
    grep -q "@${kv%%=*}@" "$out" || { echo "$template has no @${kv%%=*}@" >&2; exit 1; }
    sed -i "s|@${kv%%=*}@|${kv#*=}|g" "$out"
  done
  if grep -q '@[A-Z0-9_]*@' "$out"; then
    echo "$template: placeholders left: $(grep -o '@[A-Z0-9_]*@' "$out" | sort -u | tr '\n' ' ')" >&2
    exit 1
  fi
}

# $1 = port, $2 = stats argument ("" or "replication"), $3 = stat name: prints its value.
stat_of() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import socket, sys
port, arg, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(("stats %s\r\n" % arg).encode())
buf = b""
while not buf.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
for line in buf.decode().split("\r\n"):
    parts = line.split(" ")
    if len(parts) == 3 and parts[1] == name:
        print(parts[2])
PY
}

# $1 = what, then a command: polls it for up to 20 s.
wait_until() {
  local what="$1" _
  shift
  for _ in $(seq 400); do
    "$@" && return 0
    sleep 0.05
  done
  echo "timed out waiting for $what" >&2
  exit 1
}

# $1 = HAProxy stats socket, $2 = server name: true when HAProxy has it UP.
haproxy_up() {
  "$PY" - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
lines = data.decode().splitlines()
header = lines[0].lstrip("# ").split(",")
sv, st = header.index("svname"), header.index("status")
sys.exit(0 if any(l.split(",")[sv] == sys.argv[2] and l.split(",")[st] == "UP"
                  for l in lines[1:] if l) else 1)
PY
}

# Starts memcached on a free port; prints nothing, sets PORT.
start_memcached() {
  PORT=$(free_port)
  "$MEMCACHED" -p "$PORT" -U 0 -l 127.0.0.1 -t "$THREADS" -m "$MEMORY" -c 10000 \
    "${user_args[@]}" >>"$WORK/servers.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
}

# Starts a memtwin pair on free ports (the flags of tools/deploy/memtwin.env.example); sets
# PORT_A and PORT_B once B has synced and A streams to it.
start_pair() {
  local xa xb
  PORT_A=$(free_port); PORT_B=$(free_port); xa=$(free_port); xb=$(free_port)
  "$MEMTWIN" -p "$PORT_A" -l 127.0.0.1 -X "$xa" -x "127.0.0.1:$xb" -m "$MEMORY" -c 10000 \
    -t "$THREADS" "${user_args[@]}" >>"$WORK/servers.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT_A"
  "$MEMTWIN" -p "$PORT_B" -l 127.0.0.1 -X "$xb" -x "127.0.0.1:$xa" -m "$MEMORY" -c 10000 \
    -t "$THREADS" "${user_args[@]}" >>"$WORK/servers.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT_B"
  wait_until "pair $PORT_A/$PORT_B to stream" \
    test "$(stat_of "$PORT_A" replication repl_link_state)" = streaming
}

# $1 = name, $2 = node a port, $3 = node b port: HAProxy from tools/deploy/haproxy.cfg; sets LB.
start_haproxy() {
  local cfg="$WORK/$1.cfg" sock="$WORK/$1.sock"
  LB=$(free_port)
  render haproxy.cfg "$cfg" LISTEN_ADDR=127.0.0.1 "LB_PORT=$LB" "NODE_A=127.0.0.1:$2" \
    "NODE_B=127.0.0.1:$3" "STATS_SOCKET=$sock"
  "$HAPROXY" -c -q -f "$cfg"
  "$HAPROXY" -f "$cfg" -db >>"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$LB"
  wait_until "$1 to see server a UP" haproxy_up "$sock" a
}

# $1, $2 = the two servers' ports: nutcracker from tools/deploy/nutcracker.yml; sets PROXY.
start_nutcracker() {
  local cfg="$WORK/nutcracker.yml"
  PROXY=$(free_port)
  render nutcracker.yml "$cfg" LISTEN_ADDR=127.0.0.1 "PROXY_PORT=$PROXY" \
    "PAIR1=127.0.0.1:$1" "PAIR2=127.0.0.1:$2"
  "$NUTCRACKER" -t -c "$cfg" >/dev/null 2>&1 || { echo "nutcracker -t rejects $cfg" >&2; exit 1; }
  "$NUTCRACKER" -c "$cfg" -s "$(free_port)" -a 127.0.0.1 -o "$WORK/nutcracker.log" &
  PIDS+=($!)
  wait_port "$PROXY"
}

prefill() {  # $@ = ports: loads the 100,000 keys into each (nutcracker has no `version`)
  local p
  for p in "$@"; do
    "$LOADGEN" --port "$p" --keys 100000 --value-size 100 --prefill --duration 0
  done
}

# Sets ENDPOINT (the port loadgen drives) for topology $1 and side $2 (memtwin|memcached|
# memcached-lb), after starting its processes.
start_topology() {
  case "$1/$2" in
    haproxy/memtwin)
      start_pair; start_haproxy lb "$PORT_A" "$PORT_B"; ENDPOINT=$LB; prefill "$LB" ;;
    haproxy/memcached)
      start_memcached; start_haproxy lb "$PORT" "$PORT"; ENDPOINT=$LB; prefill "$LB" ;;
    nutcracker/memtwin)
      local lb1 lb2
      start_pair; start_haproxy lb1 "$PORT_A" "$PORT_B"; lb1=$LB
      start_pair; start_haproxy lb2 "$PORT_A" "$PORT_B"; lb2=$LB
      prefill "$lb1" "$lb2"; start_nutcracker "$lb1" "$lb2"; ENDPOINT=$PROXY ;;
    nutcracker/memcached)
      local m1 m2
      start_memcached; m1=$PORT; start_memcached; m2=$PORT
      prefill "$m1" "$m2"; start_nutcracker "$m1" "$m2"; ENDPOINT=$PROXY ;;
    nutcracker/memcached-lb)
      local lb1 lb2
      start_memcached; start_haproxy lb1 "$PORT" "$PORT"; lb1=$LB
      start_memcached; start_haproxy lb2 "$PORT" "$PORT"; lb2=$LB
      prefill "$lb1" "$lb2"; start_nutcracker "$lb1" "$lb2"; ENDPOINT=$PROXY ;;
  esac
}

declare -A WORKLOADS=(
  ["get/set 90/10"]="--get-ratio 0.9"
  ["set-only"]="--get-ratio 0"
)
WORKLOAD_ORDER=("get/set 90/10" "set-only")
# topology|side pairs compared in the table: memtwin against each memcached setup.
declare -A SIDES=(
  [haproxy]="memcached memtwin"
  [nutcracker]="memcached memtwin memcached-lb"
)
TOPOLOGY_ORDER=(haproxy nutcracker)

declare -A RESULTS  # "topology|side|workload" -> "ops p50 p99" lines, one per rep
run_side() {  # $1 = topology, $2 = side
  local w out
  start_topology "$1" "$2"
  for w in "${WORKLOAD_ORDER[@]}"; do
    # shellcheck disable=SC2086 # the workload flags are words
    out=$("$LOADGEN" --port "$ENDPOINT" --threads 1 --connections "$CONNECTIONS" \
      --duration "$DURATION" --keys 100000 --value-size 100 ${WORKLOADS[$w]}) || {
      echo "loadgen failed against $1/$2 ($w): $out" >&2; exit 1; }
    RESULTS["$1|$2|$w"]+="$(sed -E 's/.*ops_per_sec=([0-9]+).*p50_us=([0-9]+) p99_us=([0-9]+).*/\1 \2 \3/' <<<"$out")"$'\n'
    echo "  rep $rep $1 $2 $w: $out" >&2
  done
  stop_all
}

for rep in $(seq "$REPS"); do
  for t in "${TOPOLOGY_ORDER[@]}"; do
    read -r -a sides <<<"${SIDES[$t]}"
    if ((rep % 2 == 0)); then  # the other way round in even reps
      for ((i = ${#sides[@]} - 1; i >= 0; i--)); do run_side "$t" "${sides[i]}"; done
    else
      for side in "${sides[@]}"; do run_side "$t" "$side"; done
    fi
  done
done

median() {  # stdin: numbers, one a line
  sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
col() { awk -v c="$1" 'NF {print $c}' <<<"${RESULTS[$2]}" | median | awk '{printf "%.0f", $1}'; }
# Per-rep ratios of ops/s ($1 = memtwin key, $2 = memcached key; the reps ran side by side):
# "median (min-max)".
ratios() {
  local r
  r=$(paste -d' ' <(awk 'NF {print $1}' <<<"${RESULTS[$1]}") \
    <(awk 'NF {print $1}' <<<"${RESULTS[$2]}") | awk '{printf "%.3f\n", $1 / $2}')
  printf "%.2fx (%.2f-%.2f)" "$(median <<<"$r")" "$(sort -g <<<"$r" | head -1)" \
    "$(sort -g <<<"$r" | tail -1)"
}
label() {
  case "$1" in
    haproxy/memcached) echo "HAProxy: memtwin pair vs one memcached" ;;
    nutcracker/memcached) echo "nutcracker: 2 pairs (each behind HAProxy) vs 2 memcached" ;;
    nutcracker/memcached-lb) echo "nutcracker: 2 pairs vs 2 memcached, each behind HAProxy too" ;;
  esac
}

echo
echo "| topology | workload | memtwin ops/s | memcached ops/s | ratio (min-max) | memtwin p50 / p99 µs | memcached p50 / p99 µs |"
echo "|---|---|---|---|---|---|---|"
for t in "${TOPOLOGY_ORDER[@]}"; do
  for side in ${SIDES[$t]}; do
    [[ $side == memtwin ]] && continue
    for w in "${WORKLOAD_ORDER[@]}"; do
      printf "| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n" "$(label "$t/$side")" "$w" \
        "$(col 1 "$t|memtwin|$w")" "$(col 1 "$t|$side|$w")" "$(ratios "$t|memtwin|$w" "$t|$side|$w")" \
        "$(col 2 "$t|memtwin|$w")" "$(col 3 "$t|memtwin|$w")" \
        "$(col 2 "$t|$side|$w")" "$(col 3 "$t|$side|$w")"
    done
  done
done
echo "(median of $REPS reps of ${DURATION}s; every server -t $THREADS -m $MEMORY; loadgen 1 thread," \
  "$CONNECTIONS connections, 100,000 keys, 100-byte values; HAProxy and nutcracker from" \
  "tools/deploy; all on one host, $(nproc) CPUs; load average before the run: $LOAD_BEFORE)"
