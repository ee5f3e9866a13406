#include "replication/mutation_log.h"

#include <cstring>

#include "replication/wire.h"

namespace memtwin::replication {

MutationLog::MutationLog(size_t capacity, std::function<void()> wakeup)
    : capacity_(capacity), wakeup_(std::move(wakeup)), ring_(new char[capacity]) {}

void MutationLog::CopyOut(uint64_t offset, size_t n, char* dst) const {
  const size_t at = offset % capacity_;
  const size_t first = std::min(n, capacity_ - at);
  std::memcpy(dst, ring_.get() + at, first);
  std::memcpy(dst + first, ring_.get(), n - first);
}

uint32_t MutationLog::FrameSizeAt(uint64_t offset) const {
  unsigned char len[4];
  CopyOut(offset, 4, reinterpret_cast<char*>(len));
  return 4 + (len[0] | (len[1] << 8) | (len[2] << 16) | (uint32_t{len[3]} << 24));
}

void MutationLog::OnMutation(const storage::Mutation& m) {
  if (!enabled()) return;
  thread_local std::string frame;
  frame.clear();
  AppendMutation(FrameType::kMutation, m, &frame);
  {
    absl::MutexLock lock(&mu_);
    if (frame.size() > capacity_) {
      // Cannot hold it at all: every reader is now behind and resyncs, which carries it.
      start_ = end_ = end_ + frame.size();
    } else {
      while (end_ - start_ + frame.size() > capacity_) start_ += FrameSizeAt(start_);
      const size_t at = end_ % capacity_;
      const size_t first = std::min(frame.size(), capacity_ - at);
      std::memcpy(ring_.get() + at, frame.data(), first);
      std::memcpy(ring_.get(), frame.data() + first, frame.size() - first);
      end_ += frame.size();
    }
  }
  // Load before exchanging: while the reader is busy the flag stays false, and worker threads
  // then only read this cache line instead of taking turns writing it.
  if (armed_.load(std::memory_order_acquire) && armed_.exchange(false, std::memory_order_acq_rel) &&
      wakeup_) {
    wakeup_();
  }
}

MutationLog::ReadResult MutationLog::Read(uint64_t* offset, size_t max_bytes, std::string* out) {
  absl::MutexLock lock(&mu_);
  if (*offset < start_) return ReadResult::kTruncated;
  uint64_t stop = *offset;
  // Whole frames only, and at least one so a frame larger than max_bytes still moves.
  while (stop < end_ && (stop == *offset || stop - *offset < max_bytes)) stop += FrameSizeAt(stop);
  const size_t n = static_cast<size_t>(stop - *offset);
  const size_t old = out->size();
  out->resize(old + n);
  CopyOut(*offset, n, out->data() + old);
  *offset = stop;
  return ReadResult::kOk;
}

uint64_t MutationLog::head() const {
  absl::MutexLock lock(&mu_);
  return end_;
}

uint64_t MutationLog::used() const {
  absl::MutexLock lock(&mu_);
  return end_ - start_;
}

}  // namespace memtwin::replication
