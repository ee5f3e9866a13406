#include "storage/clock.h"

#include <time.h>

namespace memtwin::storage {

uint32_t SystemClock::Now() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

void CounterVersionClock::Witness(uint64_t version) {
  uint64_t last = last_.load(std::memory_order_relaxed);
  while (last < version && !last_.compare_exchange_weak(last, version, std::memory_order_relaxed)) {
  }
}

}  // namespace memtwin::storage
