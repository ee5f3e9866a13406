// The pair's version clock: a Lamport clock whose values carry the node id in their low 16 bits,
// so a version (the CAS clients see) is unique across both nodes and grows with every write a
// node makes or receives. Thread-safe (one atomic word).
#pragma once

#include <atomic>
#include <cstdint>

#include "storage/clock.h"

namespace memtwin::replication {

class LamportClock final : public storage::VersionClock {
 public:
  static constexpr int kNodeBits = 16;
  static constexpr uint64_t kNodeMask = (uint64_t{1} << kNodeBits) - 1;

  explicit LamportClock(uint16_t node_id) : node_id_(node_id) {}

  uint64_t Next() override;
  void Witness(uint64_t version) override;

  uint16_t node_id() const { return node_id_.load(std::memory_order_relaxed); }
  // Used when the handshake finds both nodes drew the same id: later versions use the new one.
  void set_node_id(uint16_t id) { node_id_.store(id, std::memory_order_relaxed); }
  uint64_t counter() const { return counter_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint16_t> node_id_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace memtwin::replication
