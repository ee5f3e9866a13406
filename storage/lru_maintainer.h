// storage::LruMaintainer — memcached's LRU maintainer thread. It juggles each slab class's LRU
// (Store::JuggleLru): every millisecond while a class has items to move or reclaim (at once when
// a juggle ends at its bound), backing off to once a second while it has none, each class on its
// own schedule.
//
// Usage:
//   LruMaintainer maintainer(store.get());  // running from here
//   ... maintainer.juggles() ...            // memcached's lru_maintainer_juggles
//   // destroying it stops the thread
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace memtwin::storage {

class LruMaintainer {
 public:
  explicit LruMaintainer(Store* store);
  ~LruMaintainer();
  LruMaintainer(const LruMaintainer&) = delete;
  LruMaintainer& operator=(const LruMaintainer&) = delete;

  // Passes over the slab classes so far.
  uint64_t juggles() const { return juggles_.load(std::memory_order_relaxed); }

 private:
  void Run();

  Store* const store_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> juggles_{0};
  std::thread thread_;
};

}  // namespace memtwin::storage
