// The outgoing replication stream: a bounded ring of encoded MUTATION frames addressed by a
// monotonically increasing byte offset. Worker threads append (as the Store's MutationSink);
// the replication thread reads from its own offset. When a reader falls further behind than the
// ring holds, its next read says kTruncated and the link must resync in full: nothing is dropped
// silently and memory never grows past the capacity.
//
// Thread-safety: OnMutation may run on any thread (under a Store stripe lock, so it is short);
// Read, Enable and the accessors may run on any thread; one mutex guards the ring.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "storage/mutation.h"

namespace memtwin::replication {

class MutationLog final : public storage::MutationSink {
 public:
  // `wakeup` is called (from the appending thread) after an append, at most once per Arm().
  MutationLog(size_t capacity, std::function<void()> wakeup);
  MutationLog(const MutationLog&) = delete;
  MutationLog& operator=(const MutationLog&) = delete;

  void OnMutation(const storage::Mutation& m) override;

  // Logging costs a lock and a copy per write, so it only runs while a peer is linked; a new
  // link starts with a bulk sync that covers everything written before.
  void Enable(bool on) { enabled_.store(on, std::memory_order_release); }
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }

  enum class ReadResult { kOk, kTruncated };
  // Appends whole frames from *offset (up to about max_bytes) to `out` and advances *offset.
  // kTruncated: *offset was overwritten; the reader must resync.
  ReadResult Read(uint64_t* offset, size_t max_bytes, std::string* out);
  // Re-arms the wakeup; call before Read so an append racing with the read is not missed.
  void Arm() { armed_.store(true, std::memory_order_release); }

  uint64_t head() const;  // offset just past the newest frame
  uint64_t used() const;
  size_t capacity() const { return capacity_; }

 private:
  void CopyOut(uint64_t offset, size_t n, char* dst) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t FrameSizeAt(uint64_t offset) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  const std::function<void()> wakeup_;
  std::atomic<bool> enabled_{false};
  std::atomic<bool> armed_{true};
  mutable absl::Mutex mu_;
  std::unique_ptr<char[]> ring_;  // untouched until written: capacity costs no RSS up front
  uint64_t start_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t end_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace memtwin::replication
