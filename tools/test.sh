#!/usr/bin/env bash
# Builds memtwin and runs the whole test suite twice: a Release build, then an ASan+UBSan build.
# Installs the Debian packages it needs when they are missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/packages.sh
ensure_packages

JOBS="${JOBS:-2}"

echo "== clang-format check"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find storage server replication tests tools -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${sources[@]}"

build_and_test() {
  local name="$1"
  shift
  echo "== $name: configure and build"
  cmake -S . -B "build-$name" "$@" >/dev/null
  cmake --build "build-$name" -j"$JOBS"
  echo "== $name: ctest"
  (cd "build-$name" && ctest --output-on-failure --timeout 300 -j"$JOBS")
}

build_and_test release -DCMAKE_BUILD_TYPE=Release
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  build_and_test asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMTWIN_SANITIZE=ON \
  -DMEMTWIN_BUILD_BENCH=OFF
echo "== all tests passed"
