// The in-memory layout of one cached item: a 40-byte header followed by the key and the value,
// in one slab chunk. Items refer to each other by 32-bit ItemRef (see Arena), not pointers, which
// is what keeps the header at 40 bytes where memcached's is 48 plus an 8-byte CAS.
//
// Fields are guarded by the lock of the item's hash stripe, except lru_prev/lru_next, which the
// owning slab class's lock guards, and lru, which changes only under both locks (so either one
// is enough to read it). key_len, value_len and class_id never change while linked.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace memtwin::storage {

using ItemRef = uint32_t;  // 0 = none
inline constexpr ItemRef kNoItem = 0;

enum ItemStatus : uint8_t {
  kItemFetched = 1 << 1,    // read by a client since it was stored
  kItemTombstone = 1 << 2,  // a delete marker for last-writer-wins: invisible to clients
  // Meta-protocol marks (memcached's ITEM_STALE, ITEM_TOKEN_SENT, ITEM_KEY_BINARY). Local to
  // this node: they do not travel with a Mutation.
  kItemStale = 1 << 3,      // invalidated (meta delete I, or meta set I with an older CAS)
  kItemWinSent = 1 << 4,    // a meta get was handed the recache token (its W flag)
  kItemKeyBinary = 1 << 5,  // the key arrived base64-encoded (meta flag b)
  // The version was chosen by the client (meta flag E), so it says nothing about when the item
  // was written: flush_all judges such an item by its store time instead.
  kItemClientVersion = 1 << 6,
  // Read again after its first read (memcached's ITEM_ACTIVE): the segmented LRU moves it toward
  // WARM instead of letting it fall to COLD.
  kItemActive = 1 << 7,
};

// The segments of memcached's segmented LRU: new items enter HOT, items read twice are kept in
// WARM, everything else drains to COLD, whose tail is evicted. With the LRU flat, every item is
// in COLD.
enum LruSegment : uint8_t { kLruHot = 0, kLruWarm = 1, kLruCold = 2 };
inline constexpr int kLruSegments = 3;

struct Item {
  ItemRef hash_next;  // chain in a hash bucket; free-list link while the chunk is free
  ItemRef lru_prev;   // toward the head (most recently used)
  ItemRef lru_next;   // toward the tail
  uint32_t exptime;   // absolute unix seconds, 0 = never
  uint32_t time;      // last store or LRU bump, unix seconds
  uint32_t flags;     // client flags
  uint64_t version;   // the CAS value
  uint32_t value_len;
  uint8_t key_len;
  uint8_t class_id;
  uint8_t status;
  uint8_t lru;  // LruSegment

  char* key_data() { return reinterpret_cast<char*>(this + 1); }
  const char* key_data() const { return reinterpret_cast<const char*>(this + 1); }
  char* value_data() { return key_data() + key_len; }
  const char* value_data() const { return key_data() + key_len; }
  std::string_view key() const { return {key_data(), key_len}; }
  std::string_view value() const { return {value_data(), value_len}; }
  size_t total_size() const { return TotalSize(key_len, value_len); }
  bool has(ItemStatus s) const { return (status & s) != 0; }

  static constexpr size_t TotalSize(size_t key_len, size_t value_len) {
    return sizeof(Item) + key_len + value_len;
  }
};

static_assert(sizeof(Item) == 40, "the item header is a measured goal; keep it at 40 bytes");

}  // namespace memtwin::storage
