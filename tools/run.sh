#!/usr/bin/env bash
# Builds memtwin (Release) and runs a local replicated pair in the foreground:
#   node A: clients on 127.0.0.1:11211, replication on 11311, peer 11312
#   node B: clients on 127.0.0.1:11212, replication on 11312, peer 11311
# Extra arguments go to both nodes (e.g. tools/run.sh -m 1024). Ctrl-C stops both.
# SINGLE=1 runs one node without replication on 11211 instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/packages.sh
ensure_packages

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"${JOBS:-2}" --target memtwin
MEMTWIN=build-release/server/memtwin

common=(-l 127.0.0.1 -v)
# Like memcached, memtwin refuses to run as root without naming a user to run as.
[[ "$(id -u)" == 0 ]] && common+=(-u root)

if [[ "${SINGLE:-0}" == 1 ]]; then
  echo "memtwin on 127.0.0.1:11211 (no replication). Try:"
  echo "  printf 'set k 0 0 5\\r\\nhello\\r\\nget k\\r\\n' | nc -q1 127.0.0.1 11211"
  exec "$MEMTWIN" -p 11211 -X 0 "${common[@]}" "$@"
fi

pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT
"$MEMTWIN" -p 11211 -X 11311 -x 127.0.0.1:11312 "${common[@]}" "$@" &
pids+=($!)
"$MEMTWIN" -p 11212 -X 11312 -x 127.0.0.1:11311 "${common[@]}" "$@" &
pids+=($!)
sleep 1
cat <<MSG
memtwin pair running: node A on 127.0.0.1:11211, node B on 127.0.0.1:11212. Try:
  printf 'set k 0 0 5\\r\\nhello\\r\\n' | nc -q1 127.0.0.1 11211     # write on A
  printf 'get k\\r\\n' | nc -q1 127.0.0.1 11212                      # read it on B
  printf 'stats replication\\r\\n' | nc -q1 127.0.0.1 11212
Kill one node and the other keeps serving; start it again and it re-joins warm. Ctrl-C stops both.
MSG
wait -n "${pids[@]}" || true
