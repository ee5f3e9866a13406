#!/usr/bin/env bash
# Runs memccapable's protocol checks, ASCII and binary (Debian's libmemcached-tools 1.1.4), against a server
# started here on a free 127.0.0.1 port: memtwin, or /usr/bin/memcached as the reference.
#
#   tests/integration/memccapable.sh SERVER_BINARY [extra server flags...]
#
# The test names come from memccapable itself (its -P prompt mode, answered "skip" for every
# test, lists them without running them); the tests then run in one -P session that answers
# "skip" for the tests named in SKIP below (memccapable has no option to skip a test by name), and
# each skipped test is printed with its reason. Exits non-zero if any test fails, if memccapable
# or the server is missing, or if the list of tests looks wrong. All 27 ASCII and 27 binary tests
# of memccapable 1.1.4 pass against memcached 1.6.18 and against memtwin.
#
# Why not -T NAME per test: tests share state. "ascii version" notes that the server is 1.6 and
# "ascii quit" then leaves out "quit foo bar" (memcached 1.6 closes the connection on it without
# an error line, so the check only holds for older servers); run alone, "ascii quit" fails on
# memcached 1.6.18 too.
set -euo pipefail

# Tests that do not apply to memtwin, by exact name, with the reason. None today.
declare -A SKIP=()

die() {
  echo "memccapable.sh: FAIL: $*" >&2
  exit 1
}

binary=${1:-}
[[ -n $binary ]] || die "usage: memccapable.sh SERVER_BINARY [server flags...]"
shift
[[ -x $binary ]] || die "server binary '$binary' is missing or not executable"
command -v memccapable >/dev/null ||
  die "memccapable not found (install Debian's libmemcached-tools: tools/lib/packages.sh)"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
command -v stdbuf >/dev/null || die "stdbuf (coreutils) not found"

server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port can be taken between choosing it and the server's bind: try a few.
port=""
user_flags=()
[[ $(id -u) == 0 ]] && user_flags=(-u root)
for attempt in 1 2 3 4 5; do
  candidate=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  accepts "$candidate" && continue # someone is listening there already
  "$binary" -p "$candidate" -U 0 -l 127.0.0.1 "${user_flags[@]}" "$@" &
  server_pid=$!
  for _ in $(seq 100); do # up to 10 s
    kill -0 "$server_pid" 2>/dev/null || break
    if accepts "$candidate"; then
      port=$candidate
      break
    fi
    sleep 0.1
  done
  [[ -n $port ]] && break
  cleanup
  server_pid=""
  echo "memccapable.sh: server did not start on port $candidate (attempt $attempt)" >&2
done
[[ -n $port ]] || die "could not start $binary"
echo "== memccapable against $binary $* on 127.0.0.1:$port (pid $server_pid)"

# Unbuffered stdout: memccapable prints [pass] to stdout and [FAIL] to stderr, and the merged
# stream must keep them in order to tell which test a line belongs to.
mc() { timeout 60 stdbuf -o0 memccapable -t 5 -h 127.0.0.1 -p "$port" "$@"; }

# List the tests: with -P memccapable prints "<name>   [skip]" for each test answered
# "skip" and runs nothing.
answers=$(printf 'skip\n%.0s' $(seq 200))
listing=$(mc -P <<<"$answers" 2>&1) || die "memccapable -P failed: $listing"
mapfile -t tests < <(grep -oE '(ascii|binary) [a-z ]*[a-z] *\[skip\]' <<<"$listing" | sed 's/ *\[skip\]$//')
# memccapable 1.1.4 has 27 of each; fewer means the listing trick broke, not that tests went away.
((${#tests[@]} >= 54)) || die "expected at least 54 tests, memccapable listed ${#tests[@]}:
$listing"
for name in "${!SKIP[@]}"; do
  printf '%s\n' "${tests[@]}" | grep -qxF "$name" || die "SKIP names unknown test '$name'"
done

# One memccapable run over all the tests, in its order (see the top for why). Each -P prompt is
# answered "skip" for a test named in SKIP and "run" for the others.
answers=""
for name in "${tests[@]}"; do
  if [[ -n ${SKIP[$name]:-} ]]; then answers+=$'skip\n'; else answers+=$'run\n'; fi
done
rc=0
out=$(mc -v -P <<<"$answers" 2>&1) || rc=$?

passed=0 failed=0 skipped=0 failures=()
for name in "${tests[@]}"; do
  if [[ -n ${SKIP[$name]:-} ]]; then
    grep -qE "(^|\? )${name} +\[skip\]$" <<<"$out" || die "'$name' was not skipped:
$out"
    printf '%-40s[SKIPPED: %s]\n' "$name" "${SKIP[$name]}"
    skipped=$((skipped + 1))
  elif grep -qE "(^|\? )${name} +\[pass\]$" <<<"$out"; then
    printf '%-40s[pass]\n' "$name"
    passed=$((passed + 1))
  else
    printf '%-40s[FAIL]\n' "$name"
    failed=$((failed + 1))
    failures+=("$name")
  fi
done
# memccapable's own verdict must agree (it exits 1 when a test fails or the server goes away).
if ((failed > 0 || rc != 0)); then
  echo "---- memccapable -v output (exit $rc) ----"
  echo "$out"
  echo "----"
  ((failed > 0)) || die "memccapable exited $rc although every test printed [pass]"
fi

kill -0 "$server_pid" 2>/dev/null || die "the server died during the tests"
echo "memccapable: $passed passed, $failed failed, $skipped skipped"
if ((failed > 0)); then
  printf 'FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
