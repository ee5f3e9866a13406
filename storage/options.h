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
  uint32_t lru_bump_interval_seconds = 60;  // an item moves to the LRU head at most this often
};

}  // namespace memtwin::storage
