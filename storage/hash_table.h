// The item index: a chained hash table of ItemRefs with power-of-two buckets and a fixed set of
// lock stripes. A key's stripe is chosen by the low bits of its hash, which are also the low bits
// of its bucket index at every table size, so one stripe lock covers a bucket before, during and
// after growth.
//
// Growth is incremental: when entries exceed 1.5 per bucket a table of twice the size is
// published and old buckets move over a few at a time (MigrateSome), each under its own stripe
// lock; readers look in the old or new table depending on how far the move has come. No call
// ever holds more than one stripe lock, and nothing stops all threads.
//
// Thread safety: Find/Insert/Remove/Replace need the caller to hold StripeFor(hash). The rest
// take the locks they need and must be called with no stripe lock held.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "storage/arena.h"
#include "storage/item.h"

namespace memtwin::storage {

class HashTable {
 public:
  static constexpr uint32_t kStripeBits = 12;
  static constexpr uint32_t kMaxPower = 32;

  // `initial_power` is raised to kStripeBits when smaller.
  HashTable(const Arena* arena, uint32_t initial_power);
  ~HashTable();
  HashTable(const HashTable&) = delete;
  HashTable& operator=(const HashTable&) = delete;

  static uint64_t Hash(std::string_view key);

  absl::Mutex& StripeFor(uint64_t hash) const { return stripes_[hash & kStripeMask]; }
  // Which stripe a hash maps to, so a caller can tell whether two keys share a lock.
  static uint32_t StripeIndex(uint64_t hash) { return static_cast<uint32_t>(hash & kStripeMask); }

  ItemRef Find(uint64_t hash, std::string_view key) const;
  // Whether `ref` is linked in hash's bucket: a check that a remembered ref still names an item
  // of this stripe (possibly another key reusing its chunk).
  bool Contains(uint64_t hash, ItemRef ref) const;
  void Insert(uint64_t hash, ItemRef ref);
  void Remove(uint64_t hash, ItemRef ref);
  void Replace(uint64_t hash, ItemRef old_ref, ItemRef new_ref);

  // Starts growth when the table is too full. Cheap when there is nothing to do.
  void MaybeGrow();
  // Moves up to `max_buckets` old buckets to the new table; returns how many it moved. Only one
  // thread migrates at a time; others return 0 at once.
  size_t MigrateSome(size_t max_buckets);
  bool growing() const;

  // Snapshot walk in reverse-binary cursor order (as Redis's SCAN): visits one bucket group under
  // its stripe lock, calling `visit` for every entry, and returns the next cursor; 0 means done.
  // Every entry present for the whole walk is visited exactly once, even across growth.
  uint64_t VisitGroup(uint64_t cursor, absl::FunctionRef<void(ItemRef)> visit) const;

  uint32_t power() const;
  size_t bytes() const;
  size_t entries() const { return entries_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint64_t kStripeMask = (uint64_t{1} << kStripeBits) - 1;

  // Immutable once published; kept until destruction so a reader never sees freed state.
  struct Tables {
    Tables(ItemRef* p, ItemRef* o, uint32_t pw) : primary(p), old(o), power(pw) {}
    ItemRef* const primary;
    ItemRef* const old;    // non-null while growing
    const uint32_t power;  // of primary
    // Old buckets below this index have moved to primary. Written under the moved bucket's
    // stripe lock, so a reader holding that stripe sees a consistent value. Per Tables (not per
    // table) so a reader that loaded an older Tables still reads the progress that goes with it.
    mutable std::atomic<uint64_t> migrated{0};
  };

  ItemRef* BucketFor(const Tables& t, uint64_t hash) const;
  static uint64_t NextCursor(uint64_t cursor, uint64_t mask);

  const Arena* const arena_;
  std::unique_ptr<absl::Mutex[]> stripes_;
  std::atomic<const Tables*> tables_;
  std::atomic<size_t> entries_{0};
  absl::Mutex grow_mu_;  // one grower/migrator at a time
  std::vector<std::unique_ptr<Tables>> all_tables_ ABSL_GUARDED_BY(grow_mu_);
};

}  // namespace memtwin::storage
