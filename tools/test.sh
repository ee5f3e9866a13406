#!/usr/bin/env bash
# Builds memtwin and runs the whole test suite twice: a Release build, then an ASan+UBSan build;
# then runs each libFuzzer target in tests/fuzz for FUZZ_SECONDS (default 30) from its seed
# corpus, built with clang-14 in build-fuzz. Installs the Debian packages it needs when they are
# missing. Exits non-zero on any failure, a fuzzer's crash included.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib/packages.sh
ensure_packages

JOBS="${JOBS:-2}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TARGETS=(text_parser_fuzz text_protocol_fuzz binary_protocol_fuzz)

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

# New inputs go to build-fuzz/corpus/<target> (kept between runs); the committed seeds in
# tests/fuzz/corpus/<target> are only read. A crash, leak, timeout or failed check leaves its
# input in build-fuzz/ and makes the fuzzer exit non-zero.
echo "== fuzz: configure and build (clang-14, libFuzzer, ASan+UBSan)"
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMEMTWIN_FUZZ=ON -DMEMTWIN_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS" --target "${FUZZ_TARGETS[@]}"
for target in "${FUZZ_TARGETS[@]}"; do
  echo "== fuzz: $target for ${FUZZ_SECONDS}s"
  mkdir -p "build-fuzz/corpus/$target"
  "build-fuzz/tests/fuzz/$target" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -dict="tests/fuzz/$target.dict" -artifact_prefix=build-fuzz/ \
    "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target"
done
echo "== all tests passed"
