#!/usr/bin/env bash
# LRU crawler benchmark, memtwin against Debian's memcached 1.6.18 in the same run: N items
# (default 1,000,000, 100-byte values), every other one expiring after 3 s, then
# "lru_crawler crawl all" once they have expired. Prints, per server, how long the crawl took
# (from the command to lru_crawler_running 0), what it reclaimed, and the client p99 of a paced
# 90/10 load (20 connections, 20,000 ops/s) during the crawl against the same load before it.
# Both servers run -t 2 -m 1024 -o no_lru_maintainer, so that the crawl asked for is the only
# thing that reclaims (memcached schedules crawls from its maintainer, and so does memtwin).
# Usage: tools/bench/crawler_bench.sh [items] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
ITEMS="${1:-1000000}"
ROUNDS="${2:-3}"
PY=/usr/bin/python3

source tools/lib/bench.sh
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
LOAD=(--connections 20 --threads 1 --get-ratio 0.9 --keys 100000 --value-size 100 --rate 20000)
LOAD_OUT=$(mktemp)

# Stores the items, every other one expiring in 3 s, in pipelined batches of noreply sets.
fill() {
  $PY - "$1" "$ITEMS" <<'PY'
import socket, sys, time
port, items = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
value = b"v" * 100
for start in range(0, items, 10000):
    batch = b"".join(b"set crawl%08d 0 %d 100 noreply\r\n%s\r\n" % (i, 3 if i % 2 == 0 else 0, value)
                     for i in range(start, min(items, start + 10000)))
    s.sendall(batch)
s.sendall(b"mn\r\n")
buf = b""
while not buf.endswith(b"MN\r\n"):
    buf += s.recv(65536)
PY
}

# Asks for the crawl and prints "seconds checked reclaimed curr_items" once
# lru_crawler_running is back to 0.
crawl() {
  $PY - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def call(req, end):
    s.sendall(req); buf = b""
    while not buf.endswith(end): buf += s.recv(65536)
    return buf
def stats():
    return dict(l.split()[1:3] for l in call(b"stats\r\n", b"END\r\n").decode().splitlines()
                if l.startswith("STAT "))
t0 = time.perf_counter()
assert call(b"lru_crawler crawl all\r\n", b"\r\n") == b"OK\r\n"
while True:
    st = stats()
    if st["lru_crawler_running"] == "0": break
    if time.perf_counter() - t0 > 60: raise SystemExit("crawl still running after 60 s")
    time.sleep(0.005)
print("%.3f %s %s %s" % (time.perf_counter() - t0, st["crawler_items_checked"],
                         st["crawler_reclaimed"], st["curr_items"]))
PY
}

echo "| round | server | crawl s | items looked at | per second | reclaimed | curr_items after | p99 before us | p99 during us |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for server in memtwin memcached; do
    port=$(free_port)
    if [[ $server == memtwin ]]; then
      "$MEMTWIN" -p "$port" -l 127.0.0.1 -X 0 -t 2 -m 1024 -o no_lru_maintainer "${user_args[@]}" 2>/dev/null &
    else
      /usr/bin/memcached -p "$port" -l 127.0.0.1 -U 0 -t 2 -m 1024 -o no_lru_maintainer "${user_args[@]}" &
    fi
    PIDS+=($!)
    wait_port "$port"
    fill "$port"
    filled=$(date +%s.%N)
    # The load's own keys first, so that both loads below run on a warm key space.
    "$LOADGEN" --port "$port" --keys 100000 --value-size 100 --prefill --duration 0 >/dev/null
    before=$(p99_of "$("$LOADGEN" --port "$port" --duration 2 "${LOAD[@]}")")
    # The even items expire 3 s after they were stored, by a clock in whole seconds that in
    # memcached lags the real time by up to another second.
    sleep "$(awk -v s="$filled" -v now="$(date +%s.%N)" 'BEGIN{w = s + 4.5 - now; print (w > 0 ? w : 0)}')"
    "$LOADGEN" --port "$port" --duration 4 "${LOAD[@]}" >"$LOAD_OUT" &
    load=$!
    sleep 0.5
    read -r secs checked reclaimed curr <<<"$(crawl "$port")"
    wait "$load"
    during=$(p99_of "$(cat "$LOAD_OUT")")
    rate=$(awk -v n="$checked" -v s="$secs" 'BEGIN{printf "%.0f", n / s}')
    echo "| $round | $server | $secs | $checked | $rate | $reclaimed | $curr | $before | $during |"
    cleanup
    PIDS=()
  done
done
rm -f "$LOAD_OUT"
echo "($ITEMS items of 100 bytes, every other one expired; -t 2 -m 1024 -o no_lru_maintainer;"
echo " the load: loadgen 90/10 at 20,000 ops/s over 20 connections, 100,000 keys; same machine)"
