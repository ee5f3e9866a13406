// Counters for memcached's "stats": one ThreadStats per worker thread, written only by its owner
// (relaxed atomics so a reader can sum them without stopping anyone), summed by Sum() on read.
#pragma once

#include <atomic>
#include <cstdint>

#include "storage/item.h"

namespace memtwin::server {

// Adds the counters' names once: the table drives the struct, Sum() and the "stats" output.
#define MEMTWIN_THREAD_COUNTERS(X) \
  X(get_cmds)                      \
  X(get_hits)                      \
  X(get_misses)                    \
  X(get_expired)                   \
  X(get_flushed)                   \
  X(set_cmds)                      \
  X(flush_cmds)                    \
  X(touch_cmds)                    \
  X(touch_hits)                    \
  X(touch_misses)                  \
  X(delete_hits)                   \
  X(delete_misses)                 \
  X(incr_hits)                     \
  X(incr_misses)                   \
  X(decr_hits)                     \
  X(decr_misses)                   \
  X(cas_hits)                      \
  X(cas_misses)                    \
  X(cas_badval)                    \
  X(meta_cmds)                     \
  X(bytes_read)                    \
  X(bytes_written)                 \
  X(conn_yields)

struct Counters {
#define MEMTWIN_DECLARE_COUNTER(name) uint64_t name = 0;
  MEMTWIN_THREAD_COUNTERS(MEMTWIN_DECLARE_COUNTER)
#undef MEMTWIN_DECLARE_COUNTER
};

class ThreadStats {
 public:
#define MEMTWIN_DECLARE_ATOMIC(name) std::atomic<uint64_t> name{0};
  MEMTWIN_THREAD_COUNTERS(MEMTWIN_DECLARE_ATOMIC)
#undef MEMTWIN_DECLARE_ATOMIC

  // Only the owning thread writes, so a relaxed load+store is enough and avoids a locked add.
  static void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // memcached's hits_to_hot/warm/cold of "stats items": get hits by slab class and by where in
  // the class's LRU the item was.
  static constexpr int kClassIds = 256;
  std::atomic<uint64_t> lru_hits[kClassIds][storage::kLruSegments] = {};
  void AddLruHit(uint8_t class_id, storage::LruSegment segment) {
    Add(lru_hits[class_id][segment]);
  }

  void AddTo(Counters* sum) const {
#define MEMTWIN_SUM_COUNTER(name) sum->name += name.load(std::memory_order_relaxed);
    MEMTWIN_THREAD_COUNTERS(MEMTWIN_SUM_COUNTER)
#undef MEMTWIN_SUM_COUNTER
  }

  void Reset() {
#define MEMTWIN_RESET_COUNTER(name) name.store(0, std::memory_order_relaxed);
    MEMTWIN_THREAD_COUNTERS(MEMTWIN_RESET_COUNTER)
#undef MEMTWIN_RESET_COUNTER
    for (auto& by_segment : lru_hits) {
      for (auto& hits : by_segment) hits.store(0, std::memory_order_relaxed);
    }
  }
};

}  // namespace memtwin::server
