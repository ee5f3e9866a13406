#include "storage/lru_maintainer.h"

#include <pthread.h>

#include <algorithm>
#include <vector>

namespace memtwin::storage {
namespace {

// memcached's MIN_LRU_MAINTAINER_SLEEP and MAX_LRU_MAINTAINER_SLEEP.
constexpr int64_t kMinSleepMicros = 1000;
constexpr int64_t kMaxSleepMicros = 1000000;

}  // namespace

LruMaintainer::LruMaintainer(Store* store) : store_(store), thread_([this] { Run(); }) {}

LruMaintainer::~LruMaintainer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void LruMaintainer::Run() {
  pthread_setname_np(pthread_self(), "lru-maintainer");
  const int classes = store_->slab_classes().count();
  // Per class: microseconds until its next juggle, and the back-off that set it.
  std::vector<int64_t> next(classes + 1, 0);
  std::vector<int64_t> backoff(classes + 1, 0);
  int64_t sleep_micros = kMinSleepMicros;
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Microseconds(sleep_micros))) {
    // Not measured: a zero sleep counts as the minimum, as in memcached.
    const int64_t slept = std::max(sleep_micros, kMinSleepMicros);
    sleep_micros = kMaxSleepMicros;
    juggles_.fetch_add(1, std::memory_order_relaxed);
    for (int id = 1; id <= classes; ++id) {
      next[id] = std::max<int64_t>(next[id] - slept, 0);
      if (next[id] == 0) {
        const int rounds = store_->JuggleLru(id);
        if (rounds == 0) {
          backoff[id] = backoff[id] == 0 ? kMinSleepMicros
                                         : std::min(backoff[id] + backoff[id] / 8, kMaxSleepMicros);
        } else {
          // memcached halves the back-off down to no sleep at all, and then, under a steady
          // stream of writes, juggles a handful of items per pass as fast as it can loop. We
          // come back at once only when the juggle stopped at its bound with work left; else
          // after the minimum sleep, when a millisecond's worth of moves has gathered.
          backoff[id] = rounds == Store::kJuggleRounds ? 0 : kMinSleepMicros;
        }
        next[id] = backoff[id];
      }
      sleep_micros = std::min(sleep_micros, next[id]);
    }
    // As memcached: while reads keep queueing bumps, come back within the minimum sleep.
    if (store_->ProcessLruBumps() > 0) sleep_micros = std::min(sleep_micros, kMinSleepMicros);
  }
}

}  // namespace memtwin::storage
