#!/usr/bin/env bash
# tools/paircheck against real nodes: a converged pair compares equal (exit 0); two unrelated
# nodes with different contents are reported key by key (exit 1).
# Usage: paircheck_test.sh MEMTWIN PAIRCHECK
set -euo pipefail
MEMTWIN="$1"
PAIRCHECK="$2"
PY=/usr/bin/python3
user_args=()
[[ "$(id -u)" == 0 ]] && user_args=(-u root)
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
source "$(dirname "$0")/../../tools/lib/ports.sh"
send() {  # port, bytes
  $PY - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode() + b"version\r\n")
buf = b""
while b"VERSION" not in buf:
    buf += s.recv(65536)
PY
}

PA=$(free_port); PB=$(free_port); XA=$(free_port); XB=$(free_port)
"$MEMTWIN" -p "$PA" -l 127.0.0.1 -X "$XA" -x "127.0.0.1:$XB" "${user_args[@]}" 2>/dev/null &
pids+=($!)
wait_port "$PA"
"$MEMTWIN" -p "$PB" -l 127.0.0.1 -X "$XB" -x "127.0.0.1:$XA" "${user_args[@]}" 2>/dev/null &
pids+=($!)
wait_port "$PB"
send "$PA" 'set one 1 0 1\r\n1\r\nset two 2 100 2\r\n22\r\n'
send "$PB" 'set three 3 0 3\r\n333\r\ndelete one\r\n'
ok=0
for _ in $(seq 100); do
  if "$PAIRCHECK" "127.0.0.1:$PA" "127.0.0.1:$PB" > /tmp/paircheck_test.$$ 2>&1; then ok=1; break; fi
  sleep 0.05
done
cat /tmp/paircheck_test.$$
rm -f /tmp/paircheck_test.$$
[[ $ok == 1 ]] || { echo "FAIL: a converged pair did not compare equal" >&2; exit 1; }

PC=$(free_port); PD=$(free_port)
"$MEMTWIN" -p "$PC" -l 127.0.0.1 -X 0 "${user_args[@]}" & pids+=($!)
"$MEMTWIN" -p "$PD" -l 127.0.0.1 -X 0 "${user_args[@]}" & pids+=($!)
wait_port "$PC"
wait_port "$PD"
send "$PC" 'set same 0 0 1\r\nx\r\nset flags 5 0 1\r\nx\r\nset gone 0 0 1\r\nx\r\n'
send "$PD" 'set flags 0 0 1\r\nx\r\nset extra 0 0 1\r\nx\r\n'
set +e
out=$("$PAIRCHECK" "127.0.0.1:$PC" "127.0.0.1:$PD")
rc=$?
set -e
echo "$out"
[[ $rc == 1 ]] || { echo "FAIL: differing nodes gave exit $rc, not 1" >&2; exit 1; }
for line in "flags: flags differ (5 vs 0)" "gone: missing on second" "extra: missing on first" \
            "paircheck: 4 keys compared, 4 differences"; do
  grep -qxF "$line" <<<"$out" || { echo "FAIL: missing line: $line" >&2; exit 1; }
done
echo "paircheck_test: ok"
