// storage::Store — the cache: slab-allocated items, a striped hash index, per-class LRU eviction,
// memcached expiry and flush rules, last-writer-wins application of replicated mutations, and an
// incremental snapshot walk for bulk sync.
//
// Thread safety: every public method may be called from any number of threads at once. A key's
// operations serialize on its hash stripe; slab classes have their own locks, always taken after
// a stripe lock, never before one (eviction only try-locks stripes). Visitors passed to Get and
// friends run under the stripe lock and must not call back into the Store.
//
// Usage:
//   ManualClock clock(1700000000);
//   auto store = Store::Create(StorageOptions{}, &clock).value();
//   store->Set({.key = "k", .value = "v"});
//   store->Get("k", [](const ItemView& item) { ... });
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/arena.h"
#include "storage/clock.h"
#include "storage/hash_table.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/slab_classes.h"

namespace memtwin::storage {

inline constexpr size_t kMaxKeyLength = 250;
// memcached's REALTIME_MAXDELTA: larger expiry values are absolute unix times.
inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// memcached's rules: 0 never; negative already expired; <= 30 days relative; else absolute.
// Returns absolute unix seconds, 0 for never, and a time in the past for "already expired".
uint32_t AbsoluteExptime(int64_t exptime, uint32_t now);

enum class StoreMode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

enum class StoreResult : uint8_t {
  kStored,
  kNotStored,    // add on an existing key; replace/append/prepend on a missing one
  kExists,       // cas mismatch
  kNotFound,     // cas on a missing key
  kTooLarge,     // item larger than -I (or key longer than kMaxKeyLength)
  kOutOfMemory,  // no chunk could be found (always the case with -M and a full class)
};

enum class LookupResult : uint8_t {
  kHit,
  kMiss,
  kExpired,  // was there but its time had passed (now reclaimed)
  kFlushed,  // was there but a flush_all invalidated it (now reclaimed)
};

enum class DeleteResult : uint8_t { kDeleted, kNotFound, kExists };

enum class DeltaResult : uint8_t { kOk, kNotFound, kNonNumeric, kExists, kOutOfMemory };

enum class ApplyResult : uint8_t {
  kApplied,
  kSkippedOlder,  // last-writer-wins kept what was here (or a flush already covers it)
  kOutOfMemory,
  kInvalid,  // malformed: bad key or too large
};

const char* StoreResultName(StoreResult r);

// What a reader sees of an item. Views are valid only inside the visitor.
struct ItemView {
  std::string_view key;
  std::string_view value;
  uint32_t flags;
  uint32_t exptime;      // absolute, 0 = never
  uint32_t last_access;  // unix seconds of the last store or LRU bump
  uint64_t version;      // the CAS value
  uint8_t class_id;
  bool fetched_before;  // had a client read it before this access
};

struct StoreRequest {
  StoreMode mode = StoreMode::kSet;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  int64_t exptime = 0;  // client form, see AbsoluteExptime
  uint64_t cas = 0;     // kCas: must match; other modes: 0 = no check, else must match
  bool vivify = false;  // append/prepend create a missing item (meta mode N)
};

struct DeltaRequest {
  std::string_view key;
  bool incr = true;
  uint64_t delta = 0;
  uint64_t cas = 0;  // 0 = no check
};

struct SlabClassStats {
  int id = 0;
  uint32_t chunk_size = 0;
  uint32_t chunks_per_page = 0;
  uint64_t total_pages = 0;
  uint64_t total_chunks = 0;
  uint64_t used_chunks = 0;
  uint64_t free_chunks = 0;
  uint64_t free_chunks_end = 0;
  uint64_t mem_requested = 0;  // bytes of linked items (header + key + value)
  uint64_t items = 0;          // live items, tombstones excluded
  uint64_t tombstones = 0;
  uint64_t total_items = 0;
  uint64_t evicted = 0;
  uint64_t evicted_nonzero = 0;
  uint32_t evicted_time = 0;  // seconds since the last evicted item was accessed
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t outofmemory = 0;
  uint32_t age = 0;  // seconds since the LRU tail was accessed
};

struct StoreStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;
  uint64_t tombstones = 0;
  uint64_t evictions = 0;
  uint64_t reclaimed = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t outofmemory = 0;
  uint64_t total_malloced = 0;  // bytes of pages handed to classes
  uint64_t limit_maxbytes = 0;
  uint32_t hash_power_level = 0;
  uint64_t hash_bytes = 0;
  bool hash_is_expanding = false;
  uint64_t apply_applied = 0;
  uint64_t apply_skipped = 0;
  uint64_t apply_failed = 0;
  std::vector<SlabClassStats> classes;  // only classes that have pages
};

// Position of a snapshot walk. Start with a default-constructed one.
struct SnapshotCursor {
  uint64_t position = 0;
  bool done = false;
};

class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Create(const StorageOptions& options, Clock* clock,
                                                       VersionClock* versions = nullptr);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Every later successful local mutation goes to `sink` (nullptr stops reporting).
  void set_mutation_sink(MutationSink* sink) { sink_.store(sink, std::memory_order_release); }

  StoreResult Set(const StoreRequest& request, uint64_t* version = nullptr);

  LookupResult Get(std::string_view key, absl::FunctionRef<void(const ItemView&)> visit);
  // Get that also sets a new expiry (and a new version, so the peer can order it).
  LookupResult GetAndTouch(std::string_view key, int64_t exptime,
                           absl::FunctionRef<void(const ItemView&)> visit);
  LookupResult Touch(std::string_view key, int64_t exptime);
  DeleteResult Delete(std::string_view key, uint64_t cas = 0);
  // incr wraps at 2^64; decr stops at 0. `value` gets the new number.
  DeltaResult Delta(const DeltaRequest& request, uint64_t* value, uint64_t* version = nullptr);
  // delay <= 0: every item stored so far becomes invalid now. Otherwise, as memcached: once
  // now + delay - 1 is reached, items last stored or bumped at or before it become invalid
  // (memcached's oldest_live is one second early, and so are we).
  void FlushAll(int64_t delay);

  // Last-writer-wins: applies `m` iff its version is newer than what the key holds (a live item
  // or an unexpired tombstone; dead entries count as absent) and no applied flush covers it.
  // Not reported to the sink.
  ApplyResult Apply(const Mutation& m);

  // Visits up to `max_groups` bucket groups, handing every live item (as kSet) and tombstone (as
  // kDelete) to `visit` under that group's lock. Returns false once the walk is complete. Items
  // present for the whole walk are visited exactly once; concurrent writes may or may not be.
  bool SnapshotStep(SnapshotCursor* cursor, size_t max_groups,
                    absl::FunctionRef<void(const Mutation&)> visit);

  // Background upkeep, called periodically by the server: advances hash table growth.
  void Maintain();

  StoreStats Stats() const;
  // memcached's "stats sizes": live item count per 32-byte size bucket, by a full walk.
  std::vector<std::pair<uint32_t, uint64_t>> SizeHistogram();

  // The flush_all state as mutations (none, one or two kFlushAll), so a bulk sync can carry a
  // flush the peer missed while the pair was apart.
  std::vector<Mutation> FlushState() const;

  const SlabClasses& slab_classes() const { return classes_; }
  uint32_t Now() const { return clock_->Now(); }
  size_t item_size_max() const { return options_.item_size_max; }

 private:
  struct ClassState;

  Store(const StorageOptions& options, Clock* clock, VersionClock* versions, Arena* arena);

  // Allocation. `held_stripe` is the stripe the caller holds (or -1); eviction skips victims in
  // it rather than try-locking a mutex this thread owns.
  Item* Allocate(size_t total_size, int64_t held_stripe);
  void FreeUnlinked(Item* it);
  bool EvictFromTailLocked(ClassState& cls, int64_t held_stripe, Item** chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);

  // Index and LRU. All need the key's stripe lock.
  void Link(uint64_t hash, Item* it);
  void Unlink(uint64_t hash, Item* it);
  void UnlinkLocked(uint64_t hash, Item* it, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  void ReplaceLinked(uint64_t hash, Item* old_it, Item* new_it);
  void LinkLruLocked(Item* it, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  void BumpIfDue(Item* it, uint32_t now);

  // The key's entry (live, dead or tombstone), or nullptr.
  Item* FindEntry(uint64_t hash, std::string_view key) const;
  // The key's live item; dead items are unlinked, tombstones ignored. `why` explains a miss.
  Item* FindLive(uint64_t hash, std::string_view key, uint32_t now, LookupResult* why);
  bool IsFlushed(const Item* it, uint32_t now) const;
  bool IsDead(const Item* it, uint32_t now) const;

  // Replaces the live item `it` with a tombstone of `version` (or just unlinks it when
  // tombstones are off). Needs the stripe lock.
  void DeleteLocked(uint64_t hash, Item* it, uint64_t version, int64_t stripe);
  // Puts a tombstone for `key` where `existing` (may be null) was. Needs the stripe lock.
  Item* PlaceTombstone(uint64_t hash, std::string_view key, Item* existing, uint64_t version,
                       uint32_t until, int64_t stripe);

  Item* NewItem(size_t key_len, size_t value_len, int64_t held_stripe);
  void Report(MutationKind kind, const Item* it);
  LookupResult TouchInternal(std::string_view key, int64_t exptime,
                             absl::FunctionRef<void(const ItemView&)>* visit);
  void AfterInsert();

  const StorageOptions options_;
  Clock* const clock_;
  std::unique_ptr<VersionClock> own_versions_;
  VersionClock* const versions_;
  std::unique_ptr<Arena> arena_;
  SlabClasses classes_;
  HashTable table_;
  std::unique_ptr<ClassState[]> class_state_;
  std::atomic<MutationSink*> sink_{nullptr};

  // flush_all state, memcached's oldest_cas / oldest_live: items with a smaller version, or last
  // stored at or before oldest_live once that time has come, are invalid.
  std::atomic<uint64_t> oldest_version_{0};
  std::atomic<uint32_t> oldest_live_{0};
  std::atomic<uint64_t> oldest_live_version_{0};

  std::atomic<uint64_t> apply_applied_{0};
  std::atomic<uint64_t> apply_skipped_{0};
  std::atomic<uint64_t> apply_failed_{0};
};

}  // namespace memtwin::storage
