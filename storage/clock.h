// Time and version sources injected into storage::Store.
// Clock gives wall-clock seconds (expiry, LRU ages); VersionClock hands out the 64-bit versions
// that clients see as CAS values. Both are called concurrently from many threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace memtwin::storage {

// Unix time in whole seconds. Expiry and LRU decisions read it, so tests inject a ManualClock
// and expire items without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint32_t Now() const = 0;
};

// CLOCK_REALTIME_COARSE: a vDSO read with no syscall, plenty for second resolution.
class SystemClock final : public Clock {
 public:
  uint32_t Now() const override;
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint32_t start) : now_(start) {}
  uint32_t Now() const override { return now_.load(std::memory_order_relaxed); }
  void Advance(uint32_t seconds) { now_.fetch_add(seconds, std::memory_order_relaxed); }
  void Set(uint32_t now) { now_.store(now, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> now_;
};

// Source of item versions. Next() must return a value greater than every value it returned or
// witnessed before; Witness() tells it about a version created elsewhere (a replicated write) so
// later local versions order after it. Replication supplies a hybrid logical clock with node-id
// bits.
class VersionClock {
 public:
  virtual ~VersionClock() = default;
  virtual uint64_t Next() = 0;
  virtual void Witness(uint64_t version) = 0;
  // The unix second a version was made at, when versions carry it (replication's hybrid clock
  // does); 0 when they do not. A delayed flush_all judges items by it where it can, so that
  // nodes that share versions reach the same verdict.
  virtual uint32_t SecondsOf(uint64_t /*version*/) const { return 0; }
};

// The default for a standalone store: a plain counter starting at 1.
class CounterVersionClock final : public VersionClock {
 public:
  uint64_t Next() override { return last_.fetch_add(1, std::memory_order_relaxed) + 1; }
  void Witness(uint64_t version) override;

 private:
  std::atomic<uint64_t> last_{0};
};

}  // namespace memtwin::storage
