// Many socket reads or writes in one system call, through an io_uring driven with the raw system
// calls (no liburing). A worker hands it the reads, then the replies, of one pass of its event
// loop. Every operation carries MSG_DONTWAIT, so the kernel finishes all of them inside the one
// io_uring_enter (an empty or full socket answers -EAGAIN instead of waiting) and the results
// read like read()'s and write()'s. Where a system call costs a microsecond (this project's VMs),
// that is much of what a small request costs.
// One ring per worker thread; not thread-safe.
#pragma once

#include <linux/io_uring.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace memtwin::server {

class SocketRing {
 public:
  struct Transfer {
    int fd = -1;
    char* data = nullptr;  // sent from or received into
    size_t size = 0;
    // Out: bytes moved, or -errno as the completion reported it; kNotDone if the kernel refused
    // the submission itself (then nothing moved and read() or write() must do it).
    int64_t result = kNotDone;
  };
  static constexpr int64_t kNotDone = INT64_MIN;

  // Null, with errno set, when the kernel offers no io_uring (older than 5.6, turned off with the
  // kernel.io_uring_disabled sysctl, or refused by a seccomp filter).
  static std::unique_ptr<SocketRing> Create();
  ~SocketRing();
  SocketRing(const SocketRing&) = delete;
  SocketRing& operator=(const SocketRing&) = delete;

  // Each in batches of the ring's size, filling in every result. Two transfers on one socket
  // may run in either order; the worker has at most one per connection.
  void SendAll(std::span<Transfer> sends) { RunAll(sends, IORING_OP_SEND); }
  void ReceiveAll(std::span<Transfer> receives) { RunAll(receives, IORING_OP_RECV); }

 private:
  SocketRing() = default;
  void RunAll(std::span<Transfer> transfers, uint8_t opcode);
  // Submits `count` prepared entries and reaps their completions into `batch`.
  void SubmitAndReap(std::span<Transfer> batch, unsigned count);

  int fd_ = -1;
  void* rings_ = nullptr;  // the SQ and CQ rings share one mapping (IORING_FEAT_SINGLE_MMAP)
  size_t rings_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned entries_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
};

}  // namespace memtwin::server
