# shellcheck shell=bash
# Sourced by tools/*.sh: installs the Debian packages memtwin builds and tests with, only those
# that are missing. Fails loudly when it cannot install; nothing is silently skipped.
MEMTWIN_PACKAGES=(  # openssl: the CLI makes the test certificates
  g++ cmake make pkg-config git clang-format python3
  libevent-dev libssl-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  memcached netcat-openbsd libmemcached-dev libmemcached-tools python3-pymemcache
  clang-14 libfuzzer-14-dev llvm-14
  openssl haproxy nutcracker nodejs
)
# Packages wanted only for a command they provide: installed when the command is missing.
# NodeSource's nodejs ships npm itself and conflicts with Debian's npm package.
declare -A MEMTWIN_COMMAND_PACKAGES=([npm]=npm)

ensure_packages() {
  local missing=() p
  for p in "${MEMTWIN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  for p in "${!MEMTWIN_COMMAND_PACKAGES[@]}"; do
    command -v "$p" >/dev/null || missing+=("${MEMTWIN_COMMAND_PACKAGES[$p]}")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "== installing missing packages: ${missing[*]}"
  local sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}
