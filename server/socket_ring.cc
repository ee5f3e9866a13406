#include "server/socket_ring.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace memtwin::server {
namespace {

// More ready connections than this in one pass take several system calls.
constexpr unsigned kEntries = 256;

int Setup(unsigned entries, io_uring_params* params) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, params));
}

int Enter(int fd, unsigned to_submit, unsigned min_complete) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete,
                                  IORING_ENTER_GETEVENTS, nullptr, 0));
}

template <typename T>
T* At(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

std::unique_ptr<SocketRing> SocketRing::Create() {
  io_uring_params params{};
  // Only the worker that made the ring submits to it, and it never needs completions delivered
  // by interrupting it: both let the kernel skip work.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  int fd = Setup(kEntries, &params);
  if (fd < 0 && errno == EINVAL) {  // kernels before 6.0 know neither flag
    params = {};
    fd = Setup(kEntries, &params);
  }
  if (fd < 0) return nullptr;
  std::unique_ptr<SocketRing> ring(new SocketRing());
  ring->fd_ = fd;
  // IORING_FEAT_FAST_POLL came with 5.7, after IORING_OP_SEND and _RECV (5.6); one mapping for both
  // rings came with 5.4.
  if ((params.features & IORING_FEAT_SINGLE_MMAP) == 0 ||
      (params.features & IORING_FEAT_FAST_POLL) == 0) {
    errno = ENOSYS;
    return nullptr;
  }
  ring->rings_size_ = std::max(params.sq_off.array + params.sq_entries * sizeof(unsigned),
                               params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe));
  void* rings = mmap(nullptr, ring->rings_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                     fd, IORING_OFF_SQ_RING);
  if (rings == MAP_FAILED) return nullptr;
  ring->rings_ = rings;
  ring->sqes_size_ = params.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, ring->sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    fd, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return nullptr;
  ring->sqes_ = static_cast<io_uring_sqe*>(sqes);
  ring->entries_ = params.sq_entries;
  ring->sq_tail_ = At<unsigned>(rings, params.sq_off.tail);
  ring->sq_mask_ = *At<unsigned>(rings, params.sq_off.ring_mask);
  ring->cq_head_ = At<unsigned>(rings, params.cq_off.head);
  ring->cq_tail_ = At<unsigned>(rings, params.cq_off.tail);
  ring->cq_mask_ = *At<unsigned>(rings, params.cq_off.ring_mask);
  ring->cqes_ = At<io_uring_cqe>(rings, params.cq_off.cqes);
  // Submission slot i always holds entry i.
  unsigned* array = At<unsigned>(rings, params.sq_off.array);
  for (unsigned i = 0; i < params.sq_entries; ++i) array[i] = i;
  return ring;
}

SocketRing::~SocketRing() {
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (rings_ != nullptr) munmap(rings_, rings_size_);
  if (fd_ >= 0) close(fd_);
}

void SocketRing::RunAll(std::span<Transfer> transfers, uint8_t opcode) {
  for (size_t start = 0; start < transfers.size(); start += entries_) {
    const std::span<Transfer> batch =
        transfers.subspan(start, std::min<size_t>(entries_, transfers.size() - start));
    const unsigned tail = *sq_tail_;  // only this thread moves it
    for (size_t i = 0; i < batch.size(); ++i) {
      io_uring_sqe& sqe = sqes_[(tail + i) & sq_mask_];
      sqe = io_uring_sqe{};
      sqe.opcode = opcode;
      sqe.fd = batch[i].fd;
      sqe.addr = reinterpret_cast<uintptr_t>(batch[i].data);
      sqe.len = static_cast<uint32_t>(std::min<size_t>(batch[i].size, INT_MAX));
      sqe.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
      sqe.user_data = i;
      batch[i].result = kNotDone;
    }
    __atomic_store_n(sq_tail_, tail + static_cast<unsigned>(batch.size()), __ATOMIC_RELEASE);
    SubmitAndReap(batch, static_cast<unsigned>(batch.size()));
  }
}

void SocketRing::SubmitAndReap(std::span<Transfer> batch, unsigned count) {
  unsigned unsubmitted = count;
  unsigned completed = 0;
  while (completed < count) {
    const int submitted = Enter(fd_, unsubmitted, count - completed);
    if (submitted < 0) {
      if (errno == EINTR) continue;
      // Nothing was taken in this call: take the entries back so a later call does not send
      // them behind the caller's back. They keep kNotDone. Those taken before still complete.
      __atomic_store_n(sq_tail_, *sq_tail_ - unsubmitted, __ATOMIC_RELEASE);
      count -= unsubmitted;
      unsubmitted = 0;
    } else {
      unsubmitted -= static_cast<unsigned>(submitted);
    }
    unsigned head = *cq_head_;
    const unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    for (; head != tail; ++head) {
      const io_uring_cqe& cqe = cqes_[head & cq_mask_];
      batch[cqe.user_data].result = cqe.res;
      ++completed;
    }
    __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
  }
}

}  // namespace memtwin::server
