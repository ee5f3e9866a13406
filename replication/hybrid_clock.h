// The pair's version clock, a hybrid logical clock: every version (the CAS clients see) is
//
//   version = counter << 8 | node_id        counter = seconds_since_2025 << 24 | logical
//
// so versions are unique across the two nodes (node id), grow with every write a node makes or
// receives (Lamport: Witness), and tell, to the second, when the write was made by the writer's
// wall clock. That last part lets a delayed flush_all reach the same verdict on both nodes.
// Thread-safe (one atomic word).
#pragma once

#include <atomic>
#include <cstdint>

#include "storage/clock.h"

namespace memtwin::replication {

class HybridClock final : public storage::VersionClock {
 public:
  static constexpr int kNodeBits = 8;
  static constexpr uint64_t kNodeMask = (uint64_t{1} << kNodeBits) - 1;
  static constexpr int kLogicalBits = 24;  // 16M writes per second before the clock runs ahead
  // 2025-01-01T00:00:00Z. Counting from here keeps versions below 2^63 (clients that hold a
  // CAS in a signed 64-bit integer) for decades.
  static constexpr uint32_t kEpoch = 1735689600;

  HybridClock(const storage::Clock* wall, uint8_t node_id) : wall_(wall), node_id_(node_id) {}

  uint64_t Next() override;
  void Witness(uint64_t version) override;
  uint32_t SecondsOf(uint64_t version) const override;

  uint8_t node_id() const { return node_id_.load(std::memory_order_relaxed); }
  // Used when the handshake finds both nodes drew the same id: later versions use the new one.
  void set_node_id(uint8_t id) { node_id_.store(id, std::memory_order_relaxed); }
  uint64_t counter() const { return counter_.load(std::memory_order_relaxed); }

 private:
  const storage::Clock* const wall_;
  std::atomic<uint8_t> node_id_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace memtwin::replication
