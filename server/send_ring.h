// Many socket sends in one system call, through an io_uring driven with the raw system calls (no
// liburing). A worker hands it the replies of one pass of its event loop. Every send carries
// MSG_DONTWAIT, so the kernel finishes all of them inside the one io_uring_enter (a full socket
// answers -EAGAIN instead of waiting) and the results read like write()'s. Where a system call
// costs a microsecond (this project's VMs), that is most of what a small reply costs.
// One ring per worker thread; not thread-safe.
#pragma once

#include <linux/io_uring.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace memtwin::server {

class SendRing {
 public:
  struct Send {
    int fd = -1;
    const char* data = nullptr;
    size_t size = 0;
    // Out: bytes sent, or -errno as the completion reported it; kNotSent if the kernel refused
    // the submission itself (then nothing was sent and write() must do it).
    int64_t result = kNotSent;
  };
  static constexpr int64_t kNotSent = INT64_MIN;

  // Null, with errno set, when the kernel offers no io_uring (older than 5.6, turned off with the
  // kernel.io_uring_disabled sysctl, or refused by a seccomp filter).
  static std::unique_ptr<SendRing> Create();
  ~SendRing();
  SendRing(const SendRing&) = delete;
  SendRing& operator=(const SendRing&) = delete;

  // Sends each, in batches of the ring's size, and fills in every result.
  void SendAll(std::span<Send> sends);

 private:
  SendRing() = default;
  // Submits `count` prepared entries and reaps their completions into `batch`.
  void SubmitAndReap(std::span<Send> batch, unsigned count);

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
