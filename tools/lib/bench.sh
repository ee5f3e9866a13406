# Sourced by the benchmark scripts in tools/bench, from the repository root: builds memtwin and
# the load generator in $BUILD (default build-release, a Release build) and sets MEMTWIN,
# LOADGEN and user_args (-u root when run as root, which memtwin and memcached both insist on),
# plus free_port/wait_port (ports.sh) and readers of the load generator's summary line.
BUILD="${BUILD:-build-release}"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target memtwin loadgen >/dev/null
MEMTWIN="$BUILD/server/memtwin"
LOADGEN="$BUILD/tools/loadgen/loadgen"
user_args=()
[[ "$(id -u)" == 0 ]] && user_args=(-u root)
source tools/lib/ports.sh

ops_of() { sed -E 's/.*ops_per_sec=([0-9]+).*/\1/' <<<"$1"; }
p99_of() { sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
