// Whether this kernel lets the process make an io_uring, asked with the bare system call rather
// than through server/socket_ring.h, so that the tests of SocketRing and of the server's use of it
// fail when those break instead of skipping. Shared by the unit and the integration tests.
#pragma once

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtwin::testing {

inline bool KernelOffersIoUring() {
  io_uring_params params{};
  const long fd = syscall(__NR_io_uring_setup, 4, &params);
  if (fd < 0) return false;
  close(static_cast<int>(fd));
  return true;
}

}  // namespace memtwin::testing
