// storage::Store — the cache: slab-allocated items, a striped hash index, per-class LRU eviction,
// memcached expiry and flush rules, last-writer-wins application of replicated mutations, and an
// incremental snapshot walk for bulk sync.
//
// Thread safety: every public method may be called from any number of threads at once. A key's
// operations serialize on its hash stripe; slab classes have their own locks, always taken after
// a stripe lock, never before one (eviction only try-locks stripes); the meta-protocol calls
// (MetaGet, the Delete and Delta requests, ItemsStep) keep that order. Visitors passed to Get and
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
#include <optional>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/arena.h"
#include "storage/clock.h"
#include "storage/hash_table.h"
#include "storage/item.h"
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
  LruSegment lru;           // where the item was in its class's LRU when read
  bool fetched_before;      // had a client read it before this access
  bool stale = false;       // invalidated: meta get reports X (see DeleteRequest::invalidate)
  bool binary_key = false;  // the key arrived base64-encoded (meta flag b)
};

struct StoreRequest {
  StoreMode mode = StoreMode::kSet;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  int64_t exptime = 0;  // client form, see AbsoluteExptime
  uint64_t cas = 0;     // kCas: must match; other modes: 0 = no check, else must match
  bool vivify = false;  // append/prepend create a missing item (meta mode N)
  // kCas only (meta set I): a cas older than the item's still stores, but the new value keeps
  // the old expiry and is marked stale, as memcached's CAS_STALE.
  bool invalidate = false;
  bool binary_key = false;  // remember that the key arrived base64-encoded (meta flag b)
  // Meta flag E: the new item's version, instead of the VersionClock's next one. It takes part in
  // last-writer-wins like any version, so a peer holding a newer version keeps its own value.
  std::optional<uint64_t> explicit_version = std::nullopt;
};

// Meta delete (md). Without `invalidate` it is Delete(key, cas).
struct DeleteRequest {
  std::string_view key;
  uint64_t cas = 0;  // 0 = no check
  // Flag I: keep the item, give it a new version, mark it stale and take back any recache token,
  // so that the next MetaGet wins it. Reported as a kSet (the stale mark itself stays local).
  bool invalidate = false;
  std::optional<uint32_t> exptime = std::nullopt;           // flag T with I: new absolute expiry
  std::optional<uint64_t> explicit_version = std::nullopt;  // flag E with I
};

struct DeltaRequest {
  std::string_view key;
  bool incr = true;
  uint64_t delta = 0;
  uint64_t cas = 0;  // 0 = no check
  // Meta arithmetic (ma). Expiry times are absolute (see AbsoluteExptime).
  // T: the item's expiry after a successful delta.
  std::optional<uint32_t> exptime = std::nullopt;
  // N and J: a miss creates the key holding `initial` (not deltaed), expiring at vivify_exptime.
  bool vivify = false;
  uint64_t initial = 0;
  uint32_t vivify_exptime = 0;
  std::optional<uint64_t> explicit_version = std::nullopt;  // E: the new version
};

// What Delta did, beyond its result.
struct DeltaOutcome {
  uint64_t value = 0;           // the new number (or `initial` when created)
  uint64_t version = 0;         // the item's version afterwards
  uint32_t exptime_before = 0;  // 0 when created
  uint32_t exptime = 0;         // afterwards
  bool created = false;         // vivified by this call
  bool missed = false;          // the key was not there (also when vivifying ran out of memory)
};

// Meta get (mg): a read that may also touch, vivify and hand out the recache token, all under
// the key's lock. Expiry times are absolute (see AbsoluteExptime).
struct MetaGetRequest {
  std::string_view key;
  bool bump = true;  // false (flag u): no LRU bump, not marked fetched
  // T: a hit's new expiry (and so a new version, as Touch).
  std::optional<uint32_t> touch = std::nullopt;
  // N: a miss creates an empty item expiring then, and this call wins its recache token.
  std::optional<uint32_t> vivify = std::nullopt;
  // R: a hit expiring before this wins the token, unless an earlier call already has it. The
  // expiry compared is the one after T when T came before R in the request.
  std::optional<uint32_t> recache = std::nullopt;
  bool recache_sees_touch = false;
  bool binary_key = false;                                  // for a vivified item (flag b)
  std::optional<uint64_t> explicit_version = std::nullopt;  // E: a vivified item's version
};

// What MetaGet's visitor sees. `item` is the item after the call, except that fetched_before and
// last_access describe it before this access (memcached's h and l flags).
struct MetaGetView {
  ItemView item;
  uint32_t now = 0;              // the time the call ran at
  uint32_t exptime_before = 0;   // the expiry before a touch; 0 for a vivified item
  bool created = false;          // vivified by this call
  bool win_sent_before = false;  // an earlier call was handed the token (memcached's Z flag)
  bool won = false;              // this call was handed the recache token (W)
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
  uint32_t age = 0;  // seconds since COLD's tail was accessed (the whole LRU when flat)
  // The segmented LRU (memcached's names). Flat: every item is in COLD and nothing moves.
  uint64_t number_hot = 0;
  uint64_t number_warm = 0;
  uint64_t number_cold = 0;
  uint32_t age_hot = 0;
  uint32_t age_warm = 0;
  uint64_t evicted_active = 0;  // evicted although read twice (WARM was full or slow to take it)
  uint64_t moves_to_cold = 0;
  uint64_t moves_to_warm = 0;
  uint64_t moves_within_lru = 0;   // active WARM items sent back to WARM's head
  uint64_t direct_reclaims = 0;    // allocations that had to move items themselves first
  uint64_t crawler_reclaimed = 0;  // expired or flushed items the LRU crawler unlinked
  uint64_t crawler_items_checked = 0;
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
  uint64_t evicted_active = 0;  // the segmented LRU's counters, summed over the classes
  uint64_t moves_to_cold = 0;
  uint64_t moves_to_warm = 0;
  uint64_t moves_within_lru = 0;
  uint64_t direct_reclaims = 0;
  uint64_t crawler_reclaimed = 0;
  uint64_t crawler_items_checked = 0;
  uint64_t total_malloced = 0;  // bytes of pages handed to classes
  uint64_t limit_maxbytes = 0;  // the memory limit, as last set (see SetMemoryLimit)
  uint32_t hash_power_level = 0;
  uint64_t hash_bytes = 0;
  bool hash_is_expanding = false;
  uint64_t apply_applied = 0;
  uint64_t apply_skipped = 0;
  uint64_t apply_failed = 0;
  std::vector<SlabClassStats> classes;  // only classes that have pages
};

// What one crawl of a slab class (CrawlStep) saw of the items it did not reclaim, for the
// crawler's schedule: how soon they expire.
struct CrawlTally {
  uint64_t checked = 0;    // items looked at, reclaimed or not (tombstones are not counted)
  uint64_t reclaimed = 0;  // expired or flushed items unlinked
  uint64_t no_expiry = 0;  // live items that never expire
  uint64_t expiring_after_an_hour = 0;
  uint64_t expiring_in_minute[60] = {};  // live items by whole minutes left to live
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
  // A read that changes nothing: no LRU bump, no fetched mark (meta debug, memcached's
  // DONT_UPDATE).
  LookupResult Peek(std::string_view key, absl::FunctionRef<void(const ItemView&)> visit);
  // kHit also for an item this call vivified (view.created). Visits under the stripe lock.
  LookupResult MetaGet(const MetaGetRequest& request,
                       absl::FunctionRef<void(const MetaGetView&)> visit);
  DeleteResult Delete(std::string_view key, uint64_t cas = 0) {
    return Delete(DeleteRequest{.key = key, .cas = cas});
  }
  // kDeleted also when the item was only invalidated.
  DeleteResult Delete(const DeleteRequest& request);
  // incr wraps at 2^64; decr stops at 0. As memcached, an empty value is non-numeric before the
  // cas is compared, any other value after.
  DeltaResult Delta(const DeltaRequest& request, DeltaOutcome* outcome);
  // `value` gets the new number.
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
  // The same walk handing out live items only, with their metadata (lru_crawler metadump).
  bool ItemsStep(SnapshotCursor* cursor, size_t max_groups,
                 absl::FunctionRef<void(const ItemView&)> visit);

  // Background upkeep, called periodically by the server: advances hash table growth.
  void Maintain();

  // memcached's lru_maintainer_juggle for one slab class (1..slab_classes().count()): reclaims
  // expired items from the tails and moves items between HOT, WARM and COLD until the segments
  // are within their limits. Returns how many rounds moved or reclaimed something (0 = nothing
  // to do; kJuggleRounds when it stopped at that bound with work left). Safe to call
  // concurrently with everything else; LruMaintainer calls it.
  static constexpr int kJuggleRounds = 500;  // memcached's bound
  int JuggleLru(int class_id);
  // Moves the items that reads found active in COLD to WARM (memcached's asynchronous LRU
  // bumps: readers only queue them, so a read never waits for a class lock). Returns how many
  // were queued. LruMaintainer calls it; without one, queues that fill up are moved by readers.
  size_t ProcessLruBumps();

  // memcached's LRU crawler, for one slab class (1..slab_classes().count()): StartCrawl puts a
  // cursor on the tail of each of its LRU segments; every CrawlStep then looks at up to
  // `max_items` more items toward the heads (HOT, then WARM, then COLD), unlinking the expired
  // and flushed ones (and expired tombstones, uncounted) and tallying the rest, under the class
  // lock for the whole step. Items that move while the crawl is under way are seen again or
  // not at all; every item that stays put is seen once. Returns false once the crawl is over
  // (StartCrawl: when the class holds nothing). EndCrawl drops an unfinished crawl. One crawl
  // per class at a time (the crawler's thread); everything else may run concurrently.
  bool StartCrawl(int class_id);
  bool CrawlStep(int class_id, size_t max_items, CrawlTally* tally);
  void EndCrawl(int class_id);

  // memcached's cache_memlimit: from now on pages are handed out up to `bytes` (as if started
  // with that -m). Raising lets classes grow again; lowering stops their growth (pages in use
  // stay, eviction takes over). Fails with preallocated pages (-L, as memcached) and beyond the
  // reach of the item refs (see Arena), changing nothing.
  absl::Status SetMemoryLimit(size_t bytes) { return arena_->SetLimit(bytes); }
  size_t memory_limit() const { return arena_->limit_bytes(); }

  StoreStats Stats() const;
  // memcached's "stats sizes": live item count per 32-byte size bucket, by a full walk.
  std::vector<std::pair<uint32_t, uint64_t>> SizeHistogram();

  // The flush_all state as mutations (none, one or two kFlushAll), so a bulk sync can carry a
  // flush the peer missed while the pair was apart.
  std::vector<Mutation> FlushState() const;

  // The segmented LRU's settings, which memcached's "lru tune" and "lru mode" change at run
  // time (StorageOptions gives the initial ones). Turning segmentation off leaves items in HOT
  // and WARM until JuggleLru drains them into COLD. Validating the values is the caller's job.
  struct LruSettings {
    bool segmented;
    uint32_t hot_lru_pct;
    uint32_t warm_lru_pct;
    double hot_max_factor;
    double warm_max_factor;
  };
  LruSettings lru_settings() const;
  void set_lru_settings(const LruSettings& settings);

  const SlabClasses& slab_classes() const { return classes_; }
  uint32_t Now() const { return clock_->Now(); }
  size_t item_size_max() const { return options_.item_size_max; }

 private:
  struct LruList {
    ItemRef head = kNoItem;  // most recently linked
    ItemRef tail = kNoItem;
    uint64_t items = 0;  // tombstones excluded
    uint64_t bytes = 0;  // everything linked, as memcached's sizes_bytes
    // The next item a crawl of this list looks at (kNoItem: none, or no crawl). Unlinking that
    // item moves the cursor to its neighbour toward the head, so it never names a free chunk.
    ItemRef crawl_next = kNoItem;
  };
  // Defined here rather than in store.cc because the lock annotations below name its mutex.
  // One slab class's chunks, LRU and counters. Padded so neighbouring classes' locks do not share
  // a cache line.
  struct alignas(64) ClassState {
    absl::Mutex mu;
    ItemRef free_head ABSL_GUARDED_BY(mu) = kNoItem;
    char* carve_next ABSL_GUARDED_BY(mu) = nullptr;  // untouched rest of the newest page
    uint32_t carve_left ABSL_GUARDED_BY(mu) = 0;
    LruList lru[kLruSegments] ABSL_GUARDED_BY(mu);
    uint64_t total_pages ABSL_GUARDED_BY(mu) = 0;
    uint64_t used_chunks ABSL_GUARDED_BY(mu) = 0;
    uint64_t free_chunks ABSL_GUARDED_BY(mu) = 0;
    uint64_t items ABSL_GUARDED_BY(mu) = 0;
    uint64_t tombstones ABSL_GUARDED_BY(mu) = 0;
    uint64_t mem_requested ABSL_GUARDED_BY(mu) = 0;
    uint64_t item_bytes ABSL_GUARDED_BY(mu) = 0;  // live items only, memcached's "bytes"
    uint64_t total_items ABSL_GUARDED_BY(mu) = 0;
    uint64_t evicted ABSL_GUARDED_BY(mu) = 0;
    uint64_t evicted_nonzero ABSL_GUARDED_BY(mu) = 0;
    uint32_t evicted_time ABSL_GUARDED_BY(mu) = 0;
    uint64_t evicted_unfetched ABSL_GUARDED_BY(mu) = 0;
    uint64_t expired_unfetched ABSL_GUARDED_BY(mu) = 0;
    uint64_t reclaimed ABSL_GUARDED_BY(mu) = 0;
    uint64_t outofmemory ABSL_GUARDED_BY(mu) = 0;
    uint64_t evicted_active ABSL_GUARDED_BY(mu) = 0;
    uint64_t moves_to_cold ABSL_GUARDED_BY(mu) = 0;
    uint64_t moves_to_warm ABSL_GUARDED_BY(mu) = 0;
    uint64_t moves_within_lru ABSL_GUARDED_BY(mu) = 0;
    uint64_t direct_reclaims ABSL_GUARDED_BY(mu) = 0;
    uint64_t crawler_reclaimed ABSL_GUARDED_BY(mu) = 0;
    uint64_t crawler_items_checked ABSL_GUARDED_BY(mu) = 0;
    int crawl_segment ABSL_GUARDED_BY(mu) = -1;  // the list a crawl is in; -1: no crawl
  };

  Store(const StorageOptions& options, Clock* clock, VersionClock* versions, Arena* arena);

  // Allocation. `held_stripe` is the stripe the caller holds (or -1); eviction skips victims in
  // it rather than try-locking a mutex this thread owns.
  Item* Allocate(size_t total_size, int64_t held_stripe);
  Item* TakeChunkLocked(int class_id, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  void FreeUnlinked(Item* it);
  bool EvictFromTailLocked(ClassState& cls, int64_t held_stripe, Item** chunk)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  // memcached's lru_pull_tail without eviction: looks at up to kTailSearchDepth items from the
  // tail of `segment`, reclaims the dead ones and moves the first one that should move (HOT and
  // WARM: when active, over `total_bytes`' share or older than `max_age`; COLD: when active).
  // Returns how many items it reclaimed or moved.
  int PullTailLocked(ClassState& cls, LruSegment segment, uint64_t total_bytes, uint32_t max_age,
                     int64_t held_stripe, uint32_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);

  // Index and LRU. All need the key's stripe lock.
  void Link(uint64_t hash, Item* it);
  void Unlink(uint64_t hash, Item* it);
  void UnlinkLocked(uint64_t hash, Item* it, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  void ReplaceLinked(uint64_t hash, Item* old_it, Item* new_it);
  void LinkLruLocked(Item* it, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  // The LRU list operations under both. Accounting of items and bytes follows the item.
  void PushLruHeadLocked(Item* it, LruSegment segment, ClassState& cls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  void RemoveFromLruLocked(Item* it, ClassState& cls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cls.mu);
  // A client read `it` (memcached's do_item_bump): the fetched and active marks, and the moves
  // they call for. Needs the stripe lock of `hash`.
  void NoteRead(Item* it, uint64_t hash, uint32_t now);
  // A client used `it` without reading it (memcached's do_item_update): flat, a move to the head
  // at most every lru_bump_interval_seconds; segmented, a new access time, and an active item in
  // COLD goes to WARM.
  void NoteAccess(Item* it, uint32_t now);

  // The key's entry (live, dead or tombstone), or nullptr.
  Item* FindEntry(uint64_t hash, std::string_view key) const;
  // The key's live item; dead items are unlinked, tombstones ignored. `why` explains a miss.
  Item* FindLive(uint64_t hash, std::string_view key, uint32_t now, LookupResult* why);
  bool IsFlushed(const Item* it, uint32_t now) const;
  bool IsDead(const Item* it, uint32_t now) const;
  // flush_all's immediate part: items with a smaller version are invalid from `now` on.
  void RaiseOldestVersion(uint64_t version, uint32_t now);

  // Replaces the live item `it` with a tombstone of `version` (or just unlinks it when
  // tombstones are off). Needs the stripe lock.
  void DeleteLocked(uint64_t hash, Item* it, uint64_t version, int64_t stripe);
  // Puts a tombstone for `key` where `existing` (may be null) was. Needs the stripe lock.
  Item* PlaceTombstone(uint64_t hash, std::string_view key, Item* existing, uint64_t version,
                       uint32_t until, int64_t stripe);

  // Get (update: mark fetched, bump) and Peek (not).
  LookupResult Read(std::string_view key, bool update,
                    absl::FunctionRef<void(const ItemView&)> visit);
  // A chunk for `key` and `value_len` value bytes, with the key, flags, expiry and store time
  // filled in; the caller writes the value. nullptr when no memory can be found.
  Item* NewItem(std::string_view key, size_t value_len, uint32_t flags, uint32_t exptime,
                uint32_t now, int64_t held_stripe);
  // Gives `it` the client's version (meta E; the clock witnesses it) or the clock's next one.
  void AssignVersion(Item* it, const std::optional<uint64_t>& explicit_version);
  // Links `fresh` for `key` in place of whatever entry is there (a tombstone, say); true when
  // nothing was, so the caller runs AfterInsert once the stripe is released.
  bool LinkInPlaceOfEntry(uint64_t hash, std::string_view key, Item* fresh);
  // The walk shared by SnapshotStep and ItemsStep: every entry that is not dead.
  bool WalkStep(SnapshotCursor* cursor, size_t max_groups,
                absl::FunctionRef<void(const Item*)> visit);
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
  // When oldest_version_ last rose: items with a client-chosen version (kItemClientVersion)
  // stored before this second count as flushed.
  std::atomic<uint32_t> oldest_version_time_{0};

  // Reads that made a COLD item active, waiting for ProcessLruBumps. Sharded by stripe so
  // readers of different keys rarely share a queue lock; taken after a stripe lock.
  struct PendingBump {
    uint64_t hash;
    ItemRef ref;
  };
  struct alignas(64) BumpQueue {
    absl::Mutex mu;
    std::vector<PendingBump> pending ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kBumpQueues = 16;
  std::unique_ptr<BumpQueue[]> bump_queues_;

  // LruSettings, read without a lock on every read and juggle.
  std::atomic<bool> lru_segmented_;
  std::atomic<uint32_t> hot_lru_pct_;
  std::atomic<uint32_t> warm_lru_pct_;
  std::atomic<double> hot_max_factor_;
  std::atomic<double> warm_max_factor_;

  std::atomic<uint64_t> apply_applied_{0};
  std::atomic<uint64_t> apply_skipped_{0};
  std::atomic<uint64_t> apply_failed_{0};
};

}  // namespace memtwin::storage
