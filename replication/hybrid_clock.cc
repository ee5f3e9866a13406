#include "replication/hybrid_clock.h"

#include <algorithm>

namespace memtwin::replication {

uint64_t HybridClock::Next() {
  const uint32_t now = wall_->Now();
  const uint64_t floor = now > kEpoch ? uint64_t{now - kEpoch} << kLogicalBits : 0;
  uint64_t counter = counter_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = std::max(counter + 1, floor);
  } while (!counter_.compare_exchange_weak(counter, next, std::memory_order_relaxed));
  return (next << kNodeBits) | node_id();
}

void HybridClock::Witness(uint64_t version) {
  const uint64_t seen = version >> kNodeBits;
  uint64_t counter = counter_.load(std::memory_order_relaxed);
  while (counter < seen &&
         !counter_.compare_exchange_weak(counter, seen, std::memory_order_relaxed)) {
  }
}

uint32_t HybridClock::SecondsOf(uint64_t version) const {
  const uint64_t seconds = version >> (kNodeBits + kLogicalBits);
  return seconds == 0 ? 0 : static_cast<uint32_t>(seconds + kEpoch);
}

}  // namespace memtwin::replication
