#!/usr/bin/env bash
# Builds memtwin (Release) and runs it in the foreground on 127.0.0.1:11211 with memcached's
# defaults otherwise.
# Extra arguments go to memtwin, e.g. tools/run.sh -m 1024 -t 8. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/packages.sh
ensure_packages

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"${JOBS:-2}" --target memtwin

args=(-p "${PORT:-11211}" -l 127.0.0.1 -v)
# Like memcached, memtwin refuses to run as root without naming a user to run as.
[[ "$(id -u)" == 0 ]] && args+=(-u root)
echo "memtwin listening on 127.0.0.1:${PORT:-11211}; try: printf 'set k 0 0 1\r\nv\r\nget k\r\n' | nc -q1 127.0.0.1 ${PORT:-11211}"
exec build-release/server/memtwin "${args[@]}" "$@"
