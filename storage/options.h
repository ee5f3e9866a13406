// Storage configuration, filled by the server from memcached's flags and passed to Store by value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtwin::storage {

struct StorageOptions {
  size_t memory_limit = 64u << 20;          // -m, bytes of slab pages
  size_t item_size_max = 1u << 20;          // -I, largest item (header + key + value)
  size_t min_value_space = 48;              // -n, value bytes in the smallest chunk
  double growth_factor = 1.25;              // -f, must be > 1.0
  bool evict = true;                        // false with -M: refuse writes instead
  bool preallocate = false;                 // -L
  uint32_t hash_power_initial = 16;         // like memcached's hashpower_init
  uint32_t tombstone_ttl_seconds = 60;      // how long a delete blocks an older replicated set
  uint32_t lru_bump_interval_seconds = 60;  // flat LRU: a read moves an item at most this often
  // memcached's segmented LRU (HOT/WARM/COLD, -o lru_segmented). The sizes and ages below are
  // enforced by Store::JuggleLru, which an LruMaintainer thread calls; eviction works without it.
  bool lru_segmented = true;
  uint32_t hot_lru_pct = 20;     // HOT holds at most this share of a class's bytes
  uint32_t warm_lru_pct = 40;    // and WARM this share
  double hot_max_factor = 0.2;   // HOT items older than this times COLD's tail age go to COLD
  double warm_max_factor = 2.0;  // WARM's limit, the same way
};

}  // namespace memtwin::storage
