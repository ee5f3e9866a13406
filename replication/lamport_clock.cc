#include "replication/lamport_clock.h"

namespace memtwin::replication {

uint64_t LamportClock::Next() {
  const uint64_t counter = counter_.fetch_add(1, std::memory_order_relaxed) + 1;
  return (counter << kNodeBits) | node_id();
}

void LamportClock::Witness(uint64_t version) {
  const uint64_t seen = version >> kNodeBits;
  uint64_t counter = counter_.load(std::memory_order_relaxed);
  while (counter < seen &&
         !counter_.compare_exchange_weak(counter, seen, std::memory_order_relaxed)) {
  }
}

}  // namespace memtwin::replication
