#include "storage/store.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"

namespace memtwin::storage {
namespace {

// Buckets moved per write while the hash table grows: enough that growth finishes long before
// the next one is due (the table doubles), small enough to be invisible in write latency.
constexpr size_t kMigrateBucketsPerWrite = 8;
// How many LRU tail items an allocation inspects for an expired one before evicting.
constexpr int kTailSearchDepth = 5;
// memcached's bound: an allocation moves at most this many items down the segmented LRU before
// giving up.
constexpr int kDirectReclaimAttempts = 10;
constexpr int kJuggleRoundsPerLock = 32;
// Queued LRU bumps per queue before readers make the moves themselves (memcached drops them).
constexpr size_t kBumpQueueLimit = 1024;
constexpr int64_t kNoStripe = -1;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// memcached's safe_strtoull on an item's data: strtoull's syntax (leading white space, an
// optional sign, digits) followed by white space or the end; a negative result is refused, so
// "-0" reads as 0 while "-5" is not a number. No digits at all is not a number either.
bool ParseCounter(std::string_view value, uint64_t* out) {
  size_t i = 0;
  while (i < value.size() && IsSpace(value[i])) ++i;
  bool negative = false;
  if (i < value.size() && (value[i] == '+' || value[i] == '-')) negative = value[i++] == '-';
  size_t end = i;
  while (end < value.size() && value[end] >= '0' && value[end] <= '9') ++end;
  if (end == i || (end < value.size() && !IsSpace(value[end]))) return false;
  uint64_t v;
  const auto [ptr, ec] = std::from_chars(value.data() + i, value.data() + end, v);
  if (ec != std::errc() || ptr != value.data() + end) return false;
  if (negative) v = ~v + 1;  // strtoull negates in unsigned arithmetic
  if (negative && static_cast<int64_t>(v) < 0) return false;
  *out = v;
  return true;
}

// What readers see of `it`.
ItemView ViewOf(const Item* it) {
  return ItemView{.key = it->key(),
                  .value = it->value(),
                  .flags = it->flags,
                  .exptime = it->exptime,
                  .last_access = it->time,
                  .version = it->version,
                  .class_id = it->class_id,
                  .lru = static_cast<LruSegment>(it->lru),
                  .fetched_before = it->has(kItemFetched),
                  .stale = it->has(kItemStale),
                  .binary_key = it->has(kItemKeyBinary)};
}

bool ValidKey(std::string_view key) { return !key.empty() && key.size() <= kMaxKeyLength; }

size_t FormatCounter(uint64_t v, char* buf) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

}  // namespace

uint32_t AbsoluteExptime(int64_t exptime, uint32_t now) {
  if (exptime == 0) return 0;
  if (exptime < 0) return 1;
  if (exptime > kMaxRelativeExptime) {
    if (exptime <= static_cast<int64_t>(now)) return 1;
    return exptime > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(exptime);
  }
  const int64_t t = exptime + now;
  return t > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(t);
}

const char* StoreResultName(StoreResult r) {
  switch (r) {
    case StoreResult::kStored:
      return "STORED";
    case StoreResult::kNotStored:
      return "NOT_STORED";
    case StoreResult::kExists:
      return "EXISTS";
    case StoreResult::kNotFound:
      return "NOT_FOUND";
    case StoreResult::kTooLarge:
      return "TOO_LARGE";
    case StoreResult::kOutOfMemory:
      return "OUT_OF_MEMORY";
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<Store>> Store::Create(const StorageOptions& options, Clock* clock,
                                                     VersionClock* versions) {
  if (options.growth_factor <= 1.0) {
    return absl::InvalidArgumentError("growth factor must be greater than 1.0");
  }
  if (options.item_size_max < 1024) {
    return absl::InvalidArgumentError("item size max must be at least 1k");
  }
  if (options.min_value_space == 0) {
    return absl::InvalidArgumentError("chunk size must be greater than 0");
  }
  const size_t page_size = std::max<size_t>(size_t{1} << 20, options.item_size_max);
  auto arena = Arena::Create(page_size, options.memory_limit, options.preallocate);
  if (!arena.ok()) return arena.status();
  return std::unique_ptr<Store>(new Store(options, clock, versions, *arena));
}

Store::Store(const StorageOptions& options, Clock* clock, VersionClock* versions, Arena* arena)
    : options_(options),
      clock_(clock),
      own_versions_(versions == nullptr ? new CounterVersionClock : nullptr),
      versions_(versions == nullptr ? own_versions_.get() : versions),
      arena_(arena),
      classes_(static_cast<uint32_t>(sizeof(Item) + options.min_value_space), options.growth_factor,
               static_cast<uint32_t>(arena->page_size()), static_cast<uint32_t>(arena->page_size()),
               arena->alignment()),
      table_(arena, options.hash_power_initial),
      class_state_(new ClassState[classes_.count() + 1]),
      bump_queues_(new BumpQueue[kBumpQueues]),
      lru_segmented_(options.lru_segmented),
      hot_lru_pct_(options.hot_lru_pct),
      warm_lru_pct_(options.warm_lru_pct),
      hot_max_factor_(options.hot_max_factor),
      warm_max_factor_(options.warm_max_factor) {}

Store::LruSettings Store::lru_settings() const {
  return LruSettings{.segmented = lru_segmented_.load(std::memory_order_relaxed),
                     .hot_lru_pct = hot_lru_pct_.load(std::memory_order_relaxed),
                     .warm_lru_pct = warm_lru_pct_.load(std::memory_order_relaxed),
                     .hot_max_factor = hot_max_factor_.load(std::memory_order_relaxed),
                     .warm_max_factor = warm_max_factor_.load(std::memory_order_relaxed)};
}

void Store::set_lru_settings(const LruSettings& settings) {
  lru_segmented_.store(settings.segmented, std::memory_order_relaxed);
  hot_lru_pct_.store(settings.hot_lru_pct, std::memory_order_relaxed);
  warm_lru_pct_.store(settings.warm_lru_pct, std::memory_order_relaxed);
  hot_max_factor_.store(settings.hot_max_factor, std::memory_order_relaxed);
  warm_max_factor_.store(settings.warm_max_factor, std::memory_order_relaxed);
}

Store::~Store() = default;

// ---------------------------------------------------------------------------------------------
// Allocation and eviction

Item* Store::Allocate(size_t total_size, int64_t held_stripe) {
  const int id = classes_.ClassFor(total_size);
  if (id == 0) return nullptr;
  ClassState& cls = class_state_[id];
  Item* chunk = nullptr;
  {
    absl::MutexLock lock(&cls.mu);
    // As memcached's do_item_alloc_pull: when COLD's tail offers nothing, a segmented LRU moves
    // items down from HOT (or WARM) itself rather than wait for the maintainer. (Flat, HOT and
    // WARM are empty, or draining after "lru mode flat".)
    for (int attempt = 0;; ++attempt) {
      chunk = TakeChunkLocked(id, cls);
      if (chunk != nullptr || EvictFromTailLocked(cls, held_stripe, &chunk)) break;
      const uint32_t now = clock_->Now();
      if (attempt == kDirectReclaimAttempts ||
          (PullTailLocked(cls, kLruHot, 0, 0, held_stripe, now) == 0 &&
           PullTailLocked(cls, kLruWarm, 0, 0, held_stripe, now) == 0)) {
        ++cls.outofmemory;
        return nullptr;
      }
      ++cls.direct_reclaims;
    }
    ++cls.used_chunks;
  }
  chunk->class_id = static_cast<uint8_t>(id);
  chunk->status = 0;
  chunk->lru = kLruCold;
  return chunk;
}

// A free chunk, the next uncarved one, or one from a new page; nullptr when memory is full.
Item* Store::TakeChunkLocked(int class_id, ClassState& cls) {
  if (cls.free_head != kNoItem) {
    Item* chunk = arena_->Get(cls.free_head);
    cls.free_head = chunk->hash_next;
    --cls.free_chunks;
    return chunk;
  }
  if (cls.carve_left == 0) {
    char* page = arena_->TakePage();
    // As memcached's do_slabs_newslab: a class without a page gets one past the limit, so a
    // size that comes after the memory is full is stored (and evicts within its page) instead
    // of being refused for as long as the server runs.
    if (page == nullptr && cls.total_pages == 0) page = arena_->TakePageBeyondLimit();
    if (page == nullptr) return nullptr;
    cls.carve_next = page;
    cls.carve_left = classes_.at(class_id).chunks_per_page;
    ++cls.total_pages;
  }
  Item* chunk = reinterpret_cast<Item*>(cls.carve_next);
  cls.carve_next += classes_.at(class_id).chunk_size;
  --cls.carve_left;
  return chunk;
}

bool Store::EvictFromTailLocked(ClassState& cls, int64_t held_stripe, Item** chunk) {
  const uint32_t now = clock_->Now();
  Item* victim = nullptr;
  uint64_t victim_hash = 0;
  bool victim_dead = false;
  absl::Mutex* victim_lock = nullptr;
  ItemRef ref = cls.lru[kLruCold].tail;
  for (int depth = 0; depth < kTailSearchDepth && ref != kNoItem; ++depth) {
    Item* it = arena_->Get(ref);
    ref = it->lru_prev;
    const uint64_t hash = HashTable::Hash(it->key());
    const int64_t stripe = HashTable::StripeIndex(hash);
    if (stripe == held_stripe) continue;
    if (victim_lock != nullptr && HashTable::StripeIndex(victim_hash) == stripe) continue;
    absl::Mutex* mu = &table_.StripeFor(hash);
    if (!mu->TryLock()) continue;
    const bool dead = IsDead(it, now);
    if (dead || (victim == nullptr && options_.evict)) {
      if (victim_lock != nullptr) victim_lock->Unlock();
      victim = it;
      victim_hash = hash;
      victim_dead = dead;
      victim_lock = mu;
      if (dead) break;
    } else {
      mu->Unlock();
    }
  }
  if (victim == nullptr) return false;
  if (victim_dead) {
    ++cls.reclaimed;
  } else {
    ++cls.evicted;
    if (victim->exptime != 0) ++cls.evicted_nonzero;
    if (!victim->has(kItemFetched)) ++cls.evicted_unfetched;
    if (victim->has(kItemActive)) ++cls.evicted_active;
    cls.evicted_time = now - victim->time;
  }
  // Unlink without returning the chunk to the free list: the caller reuses it.
  table_.Remove(victim_hash, arena_->RefOf(victim));
  ItemRef saved_free = cls.free_head;
  UnlinkLocked(victim_hash, victim, cls);
  // UnlinkLocked pushed the chunk on the free list; take it straight back.
  cls.free_head = saved_free;
  --cls.free_chunks;
  victim_lock->Unlock();
  *chunk = victim;
  return true;
}

int Store::PullTailLocked(ClassState& cls, LruSegment segment, uint64_t total_bytes,
                          uint32_t max_age, int64_t held_stripe, uint32_t now) {
  int done = 0;
  ItemRef ref = cls.lru[segment].tail;
  for (int depth = 0; depth < kTailSearchDepth && ref != kNoItem; ++depth) {
    Item* it = arena_->Get(ref);
    ref = it->lru_prev;
    const uint64_t hash = HashTable::Hash(it->key());
    if (HashTable::StripeIndex(hash) == held_stripe) continue;
    absl::Mutex* stripe = &table_.StripeFor(hash);
    if (!stripe->TryLock()) continue;
    if (IsDead(it, now)) {
      ++cls.reclaimed;
      table_.Remove(hash, arena_->RefOf(it));
      UnlinkLocked(hash, it, cls);
      stripe->Unlock();
      ++done;
      continue;  // a tail of expired items is reclaimed in one go
    }
    bool keep_looking = false;
    const bool active = it->has(kItemActive);
    if (segment == kLruCold) {
      if (active && lru_segmented_.load(std::memory_order_relaxed)) {
        it->status &= ~kItemActive;
        RemoveFromLruLocked(it, cls);
        PushLruHeadLocked(it, kLruWarm, cls);
        ++cls.moves_to_warm;
        ++done;
      }
    } else if (active) {
      // Read twice: HOT hands it to WARM, WARM keeps it (and looks further up its tail).
      it->status &= ~kItemActive;
      RemoveFromLruLocked(it, cls);
      PushLruHeadLocked(it, kLruWarm, cls);
      ++(segment == kLruWarm ? cls.moves_within_lru : cls.moves_to_warm);
      keep_looking = segment == kLruWarm;
      ++done;
    } else {
      const uint32_t pct =
          (segment == kLruHot ? hot_lru_pct_ : warm_lru_pct_).load(std::memory_order_relaxed);
      if (cls.lru[segment].bytes > total_bytes * pct / 100 || now - it->time > max_age) {
        RemoveFromLruLocked(it, cls);
        PushLruHeadLocked(it, kLruCold, cls);
        ++cls.moves_to_cold;
        ++done;
      }
    }
    stripe->Unlock();
    if (!keep_looking) break;
  }
  return done;
}

int Store::JuggleLru(int class_id) {
  ClassState& cls = class_state_[class_id];
  const uint32_t now = clock_->Now();
  uint64_t total_bytes = 0;
  uint32_t hot_age = 0;
  uint32_t warm_age = 0;
  // Flat: limits and ages of 0, so whatever is left in HOT and WARM drains into COLD.
  if (lru_segmented_.load(std::memory_order_relaxed)) {
    absl::MutexLock lock(&cls.mu);
    const ItemRef cold_tail = cls.lru[kLruCold].tail;
    const uint32_t cold_age = cold_tail != kNoItem ? now - arena_->Get(cold_tail)->time : 0;
    hot_age = static_cast<uint32_t>(cold_age * hot_max_factor_.load(std::memory_order_relaxed));
    warm_age = static_cast<uint32_t>(cold_age * warm_max_factor_.load(std::memory_order_relaxed));
    for (const LruList& list : cls.lru) total_bytes += list.bytes;
  }
  int rounds = 0;
  while (rounds < kJuggleRounds) {
    // The class lock is let go every few rounds so that allocations in the class get their
    // turns; taking it for every round made workers and this thread queue on it.
    absl::MutexLock lock(&cls.mu);
    for (const int end = std::min(rounds + kJuggleRoundsPerLock, kJuggleRounds); rounds < end;
         ++rounds) {
      int done = PullTailLocked(cls, kLruHot, total_bytes, hot_age, kNoStripe, now);
      if (done == 0) done = PullTailLocked(cls, kLruWarm, total_bytes, warm_age, kNoStripe, now);
      done += PullTailLocked(cls, kLruCold, total_bytes, 0, kNoStripe, now);
      if (done == 0) return rounds;
    }
  }
  return rounds;
}

bool Store::StartCrawl(int class_id) {
  ClassState& cls = class_state_[class_id];
  absl::MutexLock lock(&cls.mu);
  bool any = false;
  for (LruList& list : cls.lru) {
    list.crawl_next = list.tail;
    any |= list.tail != kNoItem;
  }
  cls.crawl_segment = any ? kLruHot : -1;
  return any;
}

void Store::EndCrawl(int class_id) {
  ClassState& cls = class_state_[class_id];
  absl::MutexLock lock(&cls.mu);
  for (LruList& list : cls.lru) list.crawl_next = kNoItem;
  cls.crawl_segment = -1;
}

bool Store::CrawlStep(int class_id, size_t max_items, CrawlTally* tally) {
  ClassState& cls = class_state_[class_id];
  const uint32_t now = clock_->Now();
  absl::MutexLock lock(&cls.mu);
  for (size_t looked = 0; looked < max_items;) {
    if (cls.crawl_segment < 0) return false;
    LruList& list = cls.lru[cls.crawl_segment];
    const ItemRef ref = list.crawl_next;
    if (ref == kNoItem) {
      if (++cls.crawl_segment == kLruSegments) cls.crawl_segment = -1;
      continue;
    }
    Item* it = arena_->Get(ref);
    list.crawl_next = it->lru_prev;
    ++looked;
    const uint64_t hash = HashTable::Hash(it->key());
    absl::Mutex* stripe = &table_.StripeFor(hash);
    // The class lock is held, so the stripe can only be tried (see the lock order); an item
    // whose key is in use right now is passed over, as memcached's crawler does.
    if (!stripe->TryLock()) continue;
    const bool tombstone = it->has(kItemTombstone);
    if (IsDead(it, now)) {
      table_.Remove(hash, ref);
      UnlinkLocked(hash, it, cls);
      if (!tombstone) {
        ++tally->reclaimed;
        ++cls.crawler_reclaimed;
      }
    } else if (!tombstone) {
      if (it->exptime == 0) {
        ++tally->no_expiry;
      } else if (it->exptime - now >= 3600) {
        ++tally->expiring_after_an_hour;
      } else {
        ++tally->expiring_in_minute[(it->exptime - now) / 60];
      }
    }
    stripe->Unlock();
    if (!tombstone) {
      ++tally->checked;
      ++cls.crawler_items_checked;
    }
  }
  return true;
}

void Store::FreeUnlinked(Item* it) {
  ClassState& cls = class_state_[it->class_id];
  absl::MutexLock lock(&cls.mu);
  it->hash_next = cls.free_head;
  cls.free_head = arena_->RefOf(it);
  ++cls.free_chunks;
  --cls.used_chunks;
}

Item* Store::NewItem(std::string_view key, size_t value_len, uint32_t flags, uint32_t exptime,
                     uint32_t now, int64_t held_stripe) {
  Item* it = Allocate(Item::TotalSize(key.size(), value_len), held_stripe);
  if (it == nullptr) return nullptr;
  it->key_len = static_cast<uint8_t>(key.size());
  it->value_len = static_cast<uint32_t>(value_len);
  std::memcpy(it->key_data(), key.data(), key.size());
  it->flags = flags;
  it->exptime = exptime;
  it->time = now;
  return it;
}

// ---------------------------------------------------------------------------------------------
// Index and LRU

void Store::Link(uint64_t hash, Item* it) {
  table_.Insert(hash, arena_->RefOf(it));
  ClassState& cls = class_state_[it->class_id];
  absl::MutexLock lock(&cls.mu);
  LinkLruLocked(it, cls);
}

void Store::LinkLruLocked(Item* it, ClassState& cls) {
  // Tombstones are never read: they start where eviction looks first.
  const bool hot = lru_segmented_.load(std::memory_order_relaxed) && !it->has(kItemTombstone);
  PushLruHeadLocked(it, hot ? kLruHot : kLruCold, cls);
  cls.mem_requested += it->total_size();
  if (it->has(kItemTombstone)) {
    ++cls.tombstones;
  } else {
    ++cls.items;
    cls.item_bytes += it->total_size();
    ++cls.total_items;
  }
}

void Store::Unlink(uint64_t hash, Item* it) {
  table_.Remove(hash, arena_->RefOf(it));
  ClassState& cls = class_state_[it->class_id];
  absl::MutexLock lock(&cls.mu);
  UnlinkLocked(hash, it, cls);
}

// Removes `it` (already out of the hash table) from its LRU and frees its chunk.
void Store::UnlinkLocked(uint64_t /*hash*/, Item* it, ClassState& cls) {
  RemoveFromLruLocked(it, cls);
  cls.mem_requested -= it->total_size();
  if (it->has(kItemTombstone)) {
    --cls.tombstones;
  } else {
    --cls.items;
    cls.item_bytes -= it->total_size();
    if (!it->has(kItemFetched) && it->exptime != 0 && it->exptime <= clock_->Now()) {
      ++cls.expired_unfetched;
    }
  }
  it->status = 0;
  it->hash_next = cls.free_head;
  cls.free_head = arena_->RefOf(it);
  ++cls.free_chunks;
  --cls.used_chunks;
}

void Store::ReplaceLinked(uint64_t hash, Item* old_it, Item* new_it) {
  table_.Replace(hash, arena_->RefOf(old_it), arena_->RefOf(new_it));
  {
    ClassState& cls = class_state_[old_it->class_id];
    absl::MutexLock lock(&cls.mu);
    UnlinkLocked(hash, old_it, cls);
  }
  ClassState& cls = class_state_[new_it->class_id];
  absl::MutexLock lock(&cls.mu);
  LinkLruLocked(new_it, cls);
}

void Store::PushLruHeadLocked(Item* it, LruSegment segment, ClassState& cls) {
  LruList& list = cls.lru[segment];
  const ItemRef ref = arena_->RefOf(it);
  it->lru = segment;
  it->lru_prev = kNoItem;
  it->lru_next = list.head;
  if (list.head != kNoItem) arena_->Get(list.head)->lru_prev = ref;
  list.head = ref;
  if (list.tail == kNoItem) list.tail = ref;
  list.bytes += it->total_size();
  if (!it->has(kItemTombstone)) ++list.items;
}

void Store::RemoveFromLruLocked(Item* it, ClassState& cls) {
  LruList& list = cls.lru[it->lru];
  if (list.crawl_next == arena_->RefOf(it)) list.crawl_next = it->lru_prev;
  if (it->lru_prev != kNoItem) {
    arena_->Get(it->lru_prev)->lru_next = it->lru_next;
  } else {
    list.head = it->lru_next;
  }
  if (it->lru_next != kNoItem) {
    arena_->Get(it->lru_next)->lru_prev = it->lru_prev;
  } else {
    list.tail = it->lru_prev;
  }
  list.bytes -= it->total_size();
  if (!it->has(kItemTombstone)) --list.items;
}

void Store::NoteRead(Item* it, uint64_t hash, uint32_t now) {
  // Marks are written only when they change: hot keys read from several cores stay in shared
  // cache lines.
  if (!lru_segmented_.load(std::memory_order_relaxed)) {
    if (!it->has(kItemFetched)) it->status |= kItemFetched;
    NoteAccess(it, now);
    return;
  }
  // As memcached: the first read marks an item fetched, the second active; active items stay
  // out of COLD while they keep being read (the maintainer clears the mark as it moves them).
  if (it->has(kItemActive)) return;
  if (!it->has(kItemFetched)) {
    it->status |= kItemFetched;
    return;
  }
  it->status |= kItemActive;
  if (it->lru == kLruCold) {
    BumpQueue& queue = bump_queues_[HashTable::StripeIndex(hash) % kBumpQueues];
    absl::MutexLock lock(&queue.mu);
    if (queue.pending.size() < kBumpQueueLimit) {
      queue.pending.push_back({hash, arena_->RefOf(it)});
      return;
    }
  }
  NoteAccess(it, now);
}

size_t Store::ProcessLruBumps() {
  size_t processed = 0;
  std::vector<PendingBump> batch;
  for (size_t q = 0; q < kBumpQueues; ++q) {
    {
      absl::MutexLock lock(&bump_queues_[q].mu);
      batch.swap(bump_queues_[q].pending);
    }
    const uint32_t now = clock_->Now();
    for (const PendingBump& bump : batch) {
      absl::MutexLock lock(&table_.StripeFor(bump.hash));
      // The item may be gone, and its chunk may hold another key by now; whatever is linked
      // there and active in COLD is due for WARM all the same.
      if (table_.Contains(bump.hash, bump.ref)) NoteAccess(arena_->Get(bump.ref), now);
    }
    processed += batch.size();
    batch.clear();
  }
  return processed;
}

void Store::NoteAccess(Item* it, uint32_t now) {
  ClassState& cls = class_state_[it->class_id];
  if (!lru_segmented_.load(std::memory_order_relaxed)) {
    if (now - it->time < options_.lru_bump_interval_seconds) return;
    absl::MutexLock lock(&cls.mu);
    it->time = now;
    RemoveFromLruLocked(it, cls);
    PushLruHeadLocked(it, kLruCold, cls);
    return;
  }
  if (it->time != now) it->time = now;
  // As memcached's do_item_update, the move is made here (a read only queues it: NoteRead).
  if (it->lru == kLruCold && it->has(kItemActive)) {
    absl::MutexLock lock(&cls.mu);
    it->status &= ~kItemActive;
    RemoveFromLruLocked(it, cls);
    PushLruHeadLocked(it, kLruWarm, cls);
    ++cls.moves_to_warm;
  }
}

Item* Store::FindEntry(uint64_t hash, std::string_view key) const {
  const ItemRef ref = table_.Find(hash, key);
  return ref == kNoItem ? nullptr : arena_->Get(ref);
}

bool Store::IsFlushed(const Item* it, uint32_t now) const {
  if (it->has(kItemClientVersion)) {
    // As memcached without CAS: an immediate flush spares what was stored in its own second.
    if (it->time < oldest_version_time_.load(std::memory_order_acquire)) return true;
  } else if (it->version < oldest_version_.load(std::memory_order_acquire)) {
    return true;
  }
  const uint32_t oldest_live = oldest_live_.load(std::memory_order_acquire);
  if (oldest_live == 0 || oldest_live > now) return false;
  // memcached judges a delayed flush by the item's last store or LRU bump time. When versions
  // carry the second they were made at (a replicated pair), judge by that instead: it is the
  // same on both nodes, while store and bump times are local.
  const uint32_t written = it->has(kItemClientVersion) ? 0 : versions_->SecondsOf(it->version);
  return (written != 0 ? written : it->time) <= oldest_live;
}

bool Store::IsDead(const Item* it, uint32_t now) const {
  if (it->exptime != 0 && it->exptime <= now) return true;
  return !it->has(kItemTombstone) && IsFlushed(it, now);
}

Item* Store::FindLive(uint64_t hash, std::string_view key, uint32_t now, LookupResult* why) {
  Item* it = FindEntry(hash, key);
  if (it == nullptr || it->has(kItemTombstone)) {
    if (it != nullptr && it->exptime <= now) Unlink(hash, it);
    *why = LookupResult::kMiss;
    return nullptr;
  }
  if (it->exptime != 0 && it->exptime <= now) {
    Unlink(hash, it);
    *why = LookupResult::kExpired;
    return nullptr;
  }
  if (IsFlushed(it, now)) {
    Unlink(hash, it);
    *why = LookupResult::kFlushed;
    return nullptr;
  }
  *why = LookupResult::kHit;
  return it;
}

void Store::Report(MutationKind kind, const Item* it) {
  MutationSink* sink = sink_.load(std::memory_order_acquire);
  if (sink == nullptr) return;
  Mutation m;
  m.kind = kind;
  m.key = it->key();
  if (kind == MutationKind::kSet) m.value = it->value();
  m.flags = it->flags;
  m.exptime = it->exptime;
  m.version = it->version;
  sink->OnMutation(m);
}

void Store::AssignVersion(Item* it, const std::optional<uint64_t>& explicit_version) {
  if (explicit_version.has_value()) {
    versions_->Witness(*explicit_version);
    it->version = *explicit_version;
    it->status |= kItemClientVersion;
  } else {
    it->version = versions_->Next();
    it->status &= ~kItemClientVersion;
  }
}

bool Store::LinkInPlaceOfEntry(uint64_t hash, std::string_view key, Item* fresh) {
  Item* entry = FindEntry(hash, key);
  if (entry != nullptr) {
    ReplaceLinked(hash, entry, fresh);
    return false;
  }
  Link(hash, fresh);
  return true;
}

void Store::AfterInsert() {
  table_.MaybeGrow();
  table_.MigrateSome(kMigrateBucketsPerWrite);
}

// ---------------------------------------------------------------------------------------------
// Client operations

StoreResult Store::Set(const StoreRequest& req, uint64_t* version) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(req.key);
  const int64_t stripe = HashTable::StripeIndex(hash);
  const bool combines = req.mode == StoreMode::kAppend || req.mode == StoreMode::kPrepend;
  StoreResult failure = StoreResult::kStored;
  Item* fresh = nullptr;
  if (!ValidKey(req.key) ||
      Item::TotalSize(req.key.size(), req.value.size()) > options_.item_size_max) {
    failure = StoreResult::kTooLarge;
  } else if (!combines) {
    // Fill the new item before taking the lock: copying a large value is the slow part.
    fresh = NewItem(req.key, req.value.size(), req.flags, AbsoluteExptime(req.exptime, now), now,
                    kNoStripe);
    if (fresh == nullptr) {
      failure = StoreResult::kOutOfMemory;
    } else {
      std::memcpy(fresh->value_data(), req.value.data(), req.value.size());
    }
  }

  StoreResult result = StoreResult::kNotStored;
  bool inserted = false;
  {
    absl::MutexLock lock(&table_.StripeFor(hash));
    LookupResult why;
    Item* old = ValidKey(req.key) ? FindLive(hash, req.key, now, &why) : nullptr;
    if (failure != StoreResult::kStored) {
      // memcached drops the old value when a set cannot store the new one, so a reader never
      // sees data the client meant to overwrite.
      if (old != nullptr && req.mode == StoreMode::kSet) {
        DeleteLocked(hash, old, versions_->Next(), stripe);
      }
      return failure;
    }
    const bool cas_given = req.cas != 0 || req.mode == StoreMode::kCas;
    const bool cas_ok = old != nullptr && (!cas_given || old->version == req.cas);
    bool store = false;
    switch (req.mode) {
      case StoreMode::kSet:
        store = cas_given ? cas_ok : true;
        result = old == nullptr ? StoreResult::kNotFound : StoreResult::kExists;
        break;
      case StoreMode::kAdd:
        store = old == nullptr;
        if (!store) {
          NoteAccess(old, now);  // memcached promotes the existing item on a failed add
          result = StoreResult::kNotStored;
        }
        break;
      case StoreMode::kReplace:
        store = cas_ok;
        result = old == nullptr ? StoreResult::kNotStored : StoreResult::kExists;
        break;
      case StoreMode::kCas:
        store = cas_ok;
        result = old == nullptr ? StoreResult::kNotFound : StoreResult::kExists;
        if (!store && old != nullptr && req.invalidate && req.cas != 0 && req.cas < old->version) {
          // memcached's CAS_STALE: the value is taken, but stays stale until a real update.
          store = true;
          fresh->exptime = old->exptime;
          fresh->status |= kItemStale | (old->status & kItemWinSent);
        }
        break;
      case StoreMode::kAppend:
      case StoreMode::kPrepend:
        if (old == nullptr) {
          store = req.vivify;
          result = StoreResult::kNotStored;
          if (store) {
            fresh = NewItem(req.key, req.value.size(), req.flags, AbsoluteExptime(req.exptime, now),
                            now, stripe);
            if (fresh == nullptr) return StoreResult::kOutOfMemory;
            std::memcpy(fresh->value_data(), req.value.data(), req.value.size());
          }
          break;
        }
        if (!cas_ok) {
          result = StoreResult::kExists;
          break;
        }
        // memcached answers NOT_STORED when the combined item is too large or finds no memory.
        if (Item::TotalSize(req.key.size(), old->value_len + req.value.size()) >
            options_.item_size_max) {
          return StoreResult::kNotStored;
        }
        fresh = NewItem(req.key, old->value_len + req.value.size(), old->flags, old->exptime, now,
                        stripe);
        if (fresh == nullptr) return StoreResult::kNotStored;
        if (req.mode == StoreMode::kAppend) {
          std::memcpy(fresh->value_data(), old->value_data(), old->value_len);
          std::memcpy(fresh->value_data() + old->value_len, req.value.data(), req.value.size());
        } else {
          std::memcpy(fresh->value_data(), req.value.data(), req.value.size());
          std::memcpy(fresh->value_data() + req.value.size(), old->value_data(), old->value_len);
        }
        store = true;
        break;
    }
    if (store) {
      if (req.binary_key) fresh->status |= kItemKeyBinary;
      AssignVersion(fresh, req.explicit_version);
      if (version != nullptr) *version = fresh->version;
      inserted = LinkInPlaceOfEntry(hash, req.key, fresh);  // in place of old or a tombstone
      Report(MutationKind::kSet, fresh);
      result = StoreResult::kStored;
      fresh = nullptr;
    }
  }
  if (fresh != nullptr) FreeUnlinked(fresh);
  if (inserted) AfterInsert();
  return result;
}

LookupResult Store::Get(std::string_view key, absl::FunctionRef<void(const ItemView&)> visit) {
  return Read(key, /*update=*/true, visit);
}

LookupResult Store::Peek(std::string_view key, absl::FunctionRef<void(const ItemView&)> visit) {
  return Read(key, /*update=*/false, visit);
}

LookupResult Store::Read(std::string_view key, bool update,
                         absl::FunctionRef<void(const ItemView&)> visit) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(key);
  absl::MutexLock lock(&table_.StripeFor(hash));
  LookupResult why;
  Item* it = FindLive(hash, key, now, &why);
  if (it == nullptr) return why;
  visit(ViewOf(it));
  if (update) NoteRead(it, hash, now);
  return LookupResult::kHit;
}

LookupResult Store::TouchInternal(std::string_view key, int64_t exptime,
                                  absl::FunctionRef<void(const ItemView&)>* visit) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(key);
  absl::MutexLock lock(&table_.StripeFor(hash));
  LookupResult why;
  Item* it = FindLive(hash, key, now, &why);
  if (it == nullptr) return why;
  it->exptime = AbsoluteExptime(exptime, now);
  AssignVersion(it, std::nullopt);
  if (visit != nullptr) {
    (*visit)(ViewOf(it));
    NoteRead(it, hash, now);
  } else {
    NoteAccess(it, now);
  }
  Report(MutationKind::kSet, it);
  return LookupResult::kHit;
}

LookupResult Store::GetAndTouch(std::string_view key, int64_t exptime,
                                absl::FunctionRef<void(const ItemView&)> visit) {
  return TouchInternal(key, exptime, &visit);
}

LookupResult Store::Touch(std::string_view key, int64_t exptime) {
  return TouchInternal(key, exptime, nullptr);
}

LookupResult Store::MetaGet(const MetaGetRequest& req,
                            absl::FunctionRef<void(const MetaGetView&)> visit) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(req.key);
  const int64_t stripe = HashTable::StripeIndex(hash);
  bool inserted = false;
  {
    absl::MutexLock lock(&table_.StripeFor(hash));
    LookupResult why = LookupResult::kMiss;
    Item* it = ValidKey(req.key) ? FindLive(hash, req.key, now, &why) : nullptr;
    MetaGetView view;
    view.now = now;
    bool touched = false;
    if (it != nullptr) {
      view.item = ViewOf(it);  // fetched_before and last_access as they were
      view.exptime_before = it->exptime;
      view.win_sent_before = it->has(kItemWinSent);
      if (req.touch.has_value()) {
        it->exptime = *req.touch;
        AssignVersion(it, std::nullopt);
        touched = true;
      }
      const uint32_t recache_exptime = req.recache_sees_touch ? it->exptime : view.exptime_before;
      if (req.recache.has_value() && !view.win_sent_before && recache_exptime != 0 &&
          recache_exptime < *req.recache) {
        view.won = true;
      }
    } else {
      if (!req.vivify.has_value() || !ValidKey(req.key)) return why;
      it = NewItem(req.key, 0, 0, *req.vivify, now, stripe);
      if (it == nullptr) return why;
      if (req.binary_key) it->status |= kItemKeyBinary;
      AssignVersion(it, req.explicit_version);
      inserted = LinkInPlaceOfEntry(hash, req.key, it);
      Report(MutationKind::kSet, it);
      view.item = ViewOf(it);
      view.created = true;
      view.won = true;
    }
    // A stale item hands its token to the first reader after the invalidation.
    if (it->has(kItemStale) && !view.win_sent_before) view.won = true;
    if (view.won) it->status |= kItemWinSent;
    const ItemView before = view.item;
    view.item = ViewOf(it);
    view.item.fetched_before = before.fetched_before;
    view.item.last_access = before.last_access;
    visit(view);
    if (req.bump) NoteRead(it, hash, now);
    if (touched) Report(MutationKind::kSet, it);
  }
  if (inserted) AfterInsert();
  return LookupResult::kHit;
}

Item* Store::PlaceTombstone(uint64_t hash, std::string_view key, Item* existing, uint64_t version,
                            uint32_t until, int64_t stripe) {
  Item* tomb = NewItem(key, 0, 0, until, clock_->Now(), stripe);
  if (tomb == nullptr) return nullptr;
  tomb->version = version;
  tomb->status = kItemTombstone;
  if (existing != nullptr) {
    ReplaceLinked(hash, existing, tomb);
  } else {
    Link(hash, tomb);
  }
  return tomb;
}

void Store::DeleteLocked(uint64_t hash, Item* it, uint64_t version, int64_t stripe) {
  const uint32_t until = clock_->Now() + options_.tombstone_ttl_seconds;
  Item* tomb = nullptr;
  if (options_.tombstone_ttl_seconds > 0) {
    tomb = PlaceTombstone(hash, it->key(), it, version, until, stripe);
  }
  if (tomb != nullptr) {
    Report(MutationKind::kDelete, tomb);
    return;
  }
  // No tombstone (off, or no memory for one): the delete still happens, it just cannot fence
  // off a late, older replicated set.
  it->exptime = until;
  it->version = version;
  Report(MutationKind::kDelete, it);
  Unlink(hash, it);
}

DeleteResult Store::Delete(const DeleteRequest& req) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(req.key);
  absl::MutexLock lock(&table_.StripeFor(hash));
  LookupResult why;
  Item* it = FindLive(hash, req.key, now, &why);
  if (it == nullptr) return DeleteResult::kNotFound;
  if (req.cas != 0 && it->version != req.cas) return DeleteResult::kExists;
  if (req.invalidate) {
    if (req.exptime.has_value()) it->exptime = *req.exptime;
    it->status = static_cast<uint8_t>((it->status | kItemStale) & ~kItemWinSent);
    AssignVersion(it, req.explicit_version);
    Report(MutationKind::kSet, it);
    return DeleteResult::kDeleted;
  }
  DeleteLocked(hash, it, versions_->Next(), HashTable::StripeIndex(hash));
  return DeleteResult::kDeleted;
}

DeltaResult Store::Delta(const DeltaRequest& req, uint64_t* value, uint64_t* version) {
  DeltaOutcome outcome;
  const DeltaResult r = Delta(req, &outcome);
  *value = outcome.value;
  if (version != nullptr && r == DeltaResult::kOk) *version = outcome.version;
  return r;
}

DeltaResult Store::Delta(const DeltaRequest& req, DeltaOutcome* out) {
  const uint32_t now = clock_->Now();
  const uint64_t hash = HashTable::Hash(req.key);
  const int64_t stripe = HashTable::StripeIndex(hash);
  char digits[24];
  bool inserted = false;
  {
    absl::MutexLock lock(&table_.StripeFor(hash));
    LookupResult why;
    Item* it = ValidKey(req.key) ? FindLive(hash, req.key, now, &why) : nullptr;
    if (it == nullptr) {
      out->missed = true;
      if (!req.vivify || !ValidKey(req.key)) return DeltaResult::kNotFound;
      // memcached's meta arithmetic stores the initial value itself, undelta'd.
      const size_t len = FormatCounter(req.initial, digits);
      Item* fresh = NewItem(req.key, len, 0, req.vivify_exptime, now, stripe);
      if (fresh == nullptr) return DeltaResult::kOutOfMemory;
      std::memcpy(fresh->value_data(), digits, len);
      AssignVersion(fresh, req.explicit_version);
      inserted = LinkInPlaceOfEntry(hash, req.key, fresh);
      Report(MutationKind::kSet, fresh);
      out->value = req.initial;
      out->version = fresh->version;
      out->exptime = fresh->exptime;
      out->created = true;
    } else {
      if (it->value_len == 0) return DeltaResult::kNonNumeric;
      if (req.cas != 0 && it->version != req.cas) return DeltaResult::kExists;
      uint64_t n;
      if (!ParseCounter(it->value(), &n)) return DeltaResult::kNonNumeric;
      if (req.incr) {
        n += req.delta;
      } else {
        n = req.delta > n ? 0 : n - req.delta;
      }
      const size_t len = FormatCounter(n, digits);
      Item* target = it;
      if (len <= it->value_len) {
        // memcached rewrites in place and pads with spaces when the number got shorter.
        std::memcpy(it->value_data(), digits, len);
        std::memset(it->value_data() + len, ' ', it->value_len - len);
        NoteAccess(it, now);
      } else {
        Item* fresh = NewItem(it->key(), len, it->flags, it->exptime, now, stripe);
        if (fresh == nullptr) return DeltaResult::kOutOfMemory;
        std::memcpy(fresh->value_data(), digits, len);
        fresh->status = it->status & (kItemFetched | kItemKeyBinary);
        ReplaceLinked(hash, it, fresh);
        target = fresh;
      }
      out->exptime_before = target->exptime;
      if (req.exptime.has_value()) target->exptime = *req.exptime;
      AssignVersion(target, req.explicit_version);
      Report(MutationKind::kSet, target);
      out->value = n;
      out->version = target->version;
      out->exptime = target->exptime;
    }
  }
  if (inserted) AfterInsert();
  return DeltaResult::kOk;
}

void Store::RaiseOldestVersion(uint64_t version, uint32_t now) {
  uint64_t v = oldest_version_.load(std::memory_order_relaxed);
  while (v < version && !oldest_version_.compare_exchange_weak(v, version)) {
  }
  oldest_version_time_.store(now, std::memory_order_release);
}

void Store::FlushAll(int64_t delay) {
  const uint32_t now = clock_->Now();
  const uint64_t version = versions_->Next();
  uint32_t flush_at = 0;
  if (delay > 0) {
    flush_at = AbsoluteExptime(delay, now);
    // As memcached: items last stored at or before flush_at - 1 die once that time has come.
    oldest_live_.store(flush_at - 1, std::memory_order_release);
    oldest_live_version_.store(version, std::memory_order_release);
  }
  if (flush_at == 0) {
    // As memcached: an immediate flush replaces a pending delayed one.
    oldest_live_.store(0, std::memory_order_release);
    oldest_live_version_.store(version, std::memory_order_release);
  }
  if (flush_at == 0 || flush_at - 1 <= now) RaiseOldestVersion(version, now);
  MutationSink* sink = sink_.load(std::memory_order_acquire);
  if (sink != nullptr) {
    Mutation m;
    m.kind = MutationKind::kFlushAll;
    m.exptime = flush_at;
    m.version = version;
    sink->OnMutation(m);
  }
}

// ---------------------------------------------------------------------------------------------
// Replication

ApplyResult Store::Apply(const Mutation& m) {
  const uint32_t now = clock_->Now();
  versions_->Witness(m.version);
  if (m.kind == MutationKind::kFlushAll) {
    if (m.exptime != 0 && m.exptime - 1 > now) {
      uint64_t prev = oldest_live_version_.load(std::memory_order_acquire);
      if (m.version <= prev) {
        apply_skipped_.fetch_add(1, std::memory_order_relaxed);
        return ApplyResult::kSkippedOlder;
      }
      oldest_live_.store(m.exptime - 1, std::memory_order_release);
      oldest_live_version_.store(m.version, std::memory_order_release);
    } else {
      if (m.exptime == 0 && m.version > oldest_live_version_.load(std::memory_order_acquire)) {
        oldest_live_.store(0, std::memory_order_release);
        oldest_live_version_.store(m.version, std::memory_order_release);
      }
      RaiseOldestVersion(m.version, now);
    }
    apply_applied_.fetch_add(1, std::memory_order_relaxed);
    return ApplyResult::kApplied;
  }
  if (!ValidKey(m.key) || (m.kind != MutationKind::kSet && m.kind != MutationKind::kDelete) ||
      Item::TotalSize(m.key.size(), m.value.size()) > options_.item_size_max) {
    apply_failed_.fetch_add(1, std::memory_order_relaxed);
    return ApplyResult::kInvalid;
  }
  if (m.version < oldest_version_.load(std::memory_order_acquire)) {
    apply_skipped_.fetch_add(1, std::memory_order_relaxed);
    return ApplyResult::kSkippedOlder;
  }
  const uint64_t hash = HashTable::Hash(m.key);
  const int64_t stripe = HashTable::StripeIndex(hash);
  ApplyResult result = ApplyResult::kApplied;
  bool inserted = false;
  {
    absl::MutexLock lock(&table_.StripeFor(hash));
    Item* existing = FindEntry(hash, m.key);
    // A dead entry (expired item or tombstone, flushed item) counts as absent: whether it was
    // reclaimed yet must not decide the outcome, or the two nodes could disagree.
    if (existing != nullptr && IsDead(existing, now)) {
      Unlink(hash, existing);
      existing = nullptr;
    }
    if (existing != nullptr && existing->version >= m.version) {
      result = ApplyResult::kSkippedOlder;
    } else if (m.kind == MutationKind::kSet) {
      // Allocated with the stripe held, so eviction cannot take this key's own entry and let
      // an older write in behind it.
      Item* fresh = NewItem(m.key, m.value.size(), m.flags, m.exptime, now, stripe);
      if (fresh == nullptr) {
        result = ApplyResult::kOutOfMemory;
      } else {
        std::memcpy(fresh->value_data(), m.value.data(), m.value.size());
        fresh->version = m.version;
        if (existing != nullptr) {
          ReplaceLinked(hash, existing, fresh);
        } else {
          Link(hash, fresh);
          inserted = true;
        }
      }
    } else if (options_.tombstone_ttl_seconds == 0) {
      if (existing != nullptr) Unlink(hash, existing);
    } else {
      const uint32_t until = m.exptime != 0 ? m.exptime : now + options_.tombstone_ttl_seconds;
      if (PlaceTombstone(hash, m.key, existing, m.version, until, stripe) == nullptr) {
        if (existing != nullptr) Unlink(hash, existing);
        result = ApplyResult::kOutOfMemory;
      } else {
        inserted = existing == nullptr;
      }
    }
  }
  if (inserted) AfterInsert();
  switch (result) {
    case ApplyResult::kApplied:
      apply_applied_.fetch_add(1, std::memory_order_relaxed);
      break;
    case ApplyResult::kSkippedOlder:
      apply_skipped_.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      apply_failed_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  return result;
}

bool Store::WalkStep(SnapshotCursor* cursor, size_t max_groups,
                     absl::FunctionRef<void(const Item*)> visit) {
  if (cursor->done) return false;
  const uint32_t now = clock_->Now();
  for (size_t i = 0; i < max_groups; ++i) {
    cursor->position = table_.VisitGroup(cursor->position, [&](ItemRef ref) {
      const Item* it = arena_->Get(ref);
      if (!IsDead(it, now)) visit(it);
    });
    if (cursor->position == 0) {
      cursor->done = true;
      return false;
    }
  }
  return true;
}

bool Store::ItemsStep(SnapshotCursor* cursor, size_t max_groups,
                      absl::FunctionRef<void(const ItemView&)> visit) {
  return WalkStep(cursor, max_groups, [&](const Item* it) {
    if (!it->has(kItemTombstone)) visit(ViewOf(it));
  });
}

bool Store::SnapshotStep(SnapshotCursor* cursor, size_t max_groups,
                         absl::FunctionRef<void(const Mutation&)> visit) {
  return WalkStep(cursor, max_groups, [&](const Item* it) {
    Mutation m;
    m.kind = it->has(kItemTombstone) ? MutationKind::kDelete : MutationKind::kSet;
    m.key = it->key();
    if (m.kind == MutationKind::kSet) m.value = it->value();
    m.flags = it->flags;
    m.exptime = it->exptime;
    m.version = it->version;
    visit(m);
  });
}

std::vector<Mutation> Store::FlushState() const {
  std::vector<Mutation> flushes;
  Mutation m;
  m.kind = MutationKind::kFlushAll;
  m.version = oldest_version_.load(std::memory_order_acquire);
  if (m.version != 0) flushes.push_back(m);
  const uint32_t oldest_live = oldest_live_.load(std::memory_order_acquire);
  if (oldest_live != 0 && oldest_live > clock_->Now()) {
    m.exptime = oldest_live + 1;
    m.version = oldest_live_version_.load(std::memory_order_acquire);
    flushes.push_back(m);
  }
  return flushes;
}

void Store::Maintain() {
  table_.MaybeGrow();
  while (table_.MigrateSome(1024) > 0) {
  }
}

StoreStats Store::Stats() const {
  StoreStats s;
  const uint32_t now = clock_->Now();
  for (int id = 1; id <= classes_.count(); ++id) {
    ClassState& cls = class_state_[id];
    absl::MutexLock lock(&cls.mu);
    s.curr_items += cls.items;
    s.total_items += cls.total_items;
    s.bytes += cls.item_bytes;
    s.tombstones += cls.tombstones;
    s.evictions += cls.evicted;
    s.reclaimed += cls.reclaimed;
    s.expired_unfetched += cls.expired_unfetched;
    s.evicted_unfetched += cls.evicted_unfetched;
    s.outofmemory += cls.outofmemory;
    s.evicted_active += cls.evicted_active;
    s.moves_to_cold += cls.moves_to_cold;
    s.moves_to_warm += cls.moves_to_warm;
    s.moves_within_lru += cls.moves_within_lru;
    s.direct_reclaims += cls.direct_reclaims;
    s.crawler_reclaimed += cls.crawler_reclaimed;
    s.crawler_items_checked += cls.crawler_items_checked;
    if (cls.total_pages == 0) continue;
    SlabClassStats c;
    c.id = id;
    c.chunk_size = classes_.at(id).chunk_size;
    c.chunks_per_page = classes_.at(id).chunks_per_page;
    c.total_pages = cls.total_pages;
    c.total_chunks = cls.total_pages * c.chunks_per_page;
    c.used_chunks = cls.used_chunks;
    c.free_chunks = cls.free_chunks + cls.carve_left;
    c.free_chunks_end = cls.carve_left;
    c.mem_requested = cls.mem_requested;
    c.items = cls.items;
    c.tombstones = cls.tombstones;
    c.total_items = cls.total_items;
    c.evicted = cls.evicted;
    c.evicted_nonzero = cls.evicted_nonzero;
    c.evicted_time = cls.evicted_time;
    c.evicted_unfetched = cls.evicted_unfetched;
    c.expired_unfetched = cls.expired_unfetched;
    c.reclaimed = cls.reclaimed;
    c.outofmemory = cls.outofmemory;
    const auto tail_age = [&](LruSegment segment) -> uint32_t {
      const ItemRef tail = cls.lru[segment].tail;
      return tail != kNoItem ? now - arena_->Get(tail)->time : 0;
    };
    c.age = tail_age(kLruCold);
    c.age_hot = tail_age(kLruHot);
    c.age_warm = tail_age(kLruWarm);
    c.number_hot = cls.lru[kLruHot].items;
    c.number_warm = cls.lru[kLruWarm].items;
    c.number_cold = cls.lru[kLruCold].items;
    c.evicted_active = cls.evicted_active;
    c.moves_to_cold = cls.moves_to_cold;
    c.moves_to_warm = cls.moves_to_warm;
    c.moves_within_lru = cls.moves_within_lru;
    c.direct_reclaims = cls.direct_reclaims;
    c.crawler_reclaimed = cls.crawler_reclaimed;
    c.crawler_items_checked = cls.crawler_items_checked;
    s.classes.push_back(c);
  }
  s.total_malloced = arena_->pages_taken() * arena_->page_size();
  s.limit_maxbytes = arena_->limit_bytes();
  s.hash_power_level = table_.power();
  s.hash_bytes = table_.bytes();
  s.hash_is_expanding = table_.growing();
  s.apply_applied = apply_applied_.load(std::memory_order_relaxed);
  s.apply_skipped = apply_skipped_.load(std::memory_order_relaxed);
  s.apply_failed = apply_failed_.load(std::memory_order_relaxed);
  return s;
}

std::vector<std::pair<uint32_t, uint64_t>> Store::SizeHistogram() {
  std::map<uint32_t, uint64_t> buckets;
  SnapshotCursor cursor;
  while (SnapshotStep(&cursor, 256, [&](const Mutation& m) {
    if (m.kind != MutationKind::kSet) return;
    const size_t size = Item::TotalSize(m.key.size(), m.value.size());
    ++buckets[static_cast<uint32_t>((size + 31) / 32 * 32)];
  })) {
  }
  return {buckets.begin(), buckets.end()};
}

}  // namespace memtwin::storage
