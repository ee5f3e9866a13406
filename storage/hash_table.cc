#include "storage/hash_table.h"

#include <cstdlib>

#include "absl/hash/hash.h"

namespace memtwin::storage {
namespace {

ItemRef* NewBuckets(uint32_t power) {
  // calloc of a large array maps zero pages lazily, so growth does not touch the whole table.
  void* p = std::calloc(size_t{1} << power, sizeof(ItemRef));
  if (p == nullptr) std::abort();
  return static_cast<ItemRef*>(p);
}

uint64_t ReverseBits(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
  v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((v & 0x0F0F0F0F0F0F0F0Full) << 4);
  return __builtin_bswap64(v);
}

}  // namespace

HashTable::HashTable(const Arena* arena, uint32_t initial_power)
    : arena_(arena), stripes_(new absl::Mutex[size_t{1} << kStripeBits]) {
  uint32_t power = initial_power < kStripeBits ? kStripeBits : initial_power;
  if (power > kMaxPower) power = kMaxPower;
  auto t = std::make_unique<Tables>(NewBuckets(power), nullptr, power);
  tables_.store(t.get(), std::memory_order_release);
  absl::MutexLock lock(&grow_mu_);
  all_tables_.push_back(std::move(t));
}

HashTable::~HashTable() {
  const Tables* t = tables_.load(std::memory_order_acquire);
  std::free(t->primary);
  std::free(t->old);
}

uint64_t HashTable::Hash(std::string_view key) { return absl::Hash<std::string_view>{}(key); }

ItemRef* HashTable::BucketFor(const Tables& t, uint64_t hash) const {
  if (t.old != nullptr) {
    const uint64_t old_bucket = hash & ((uint64_t{1} << (t.power - 1)) - 1);
    if (old_bucket >= t.migrated.load(std::memory_order_acquire)) return &t.old[old_bucket];
  }
  return &t.primary[hash & ((uint64_t{1} << t.power) - 1)];
}

ItemRef HashTable::Find(uint64_t hash, std::string_view key) const {
  const Tables* t = tables_.load(std::memory_order_acquire);
  for (ItemRef ref = *BucketFor(*t, hash); ref != kNoItem;) {
    const Item* it = arena_->Get(ref);
    if (it->key_len == key.size() && std::memcmp(it->key_data(), key.data(), key.size()) == 0) {
      return ref;
    }
    ref = it->hash_next;
  }
  return kNoItem;
}

bool HashTable::Contains(uint64_t hash, ItemRef ref) const {
  const Tables* t = tables_.load(std::memory_order_acquire);
  for (ItemRef r = *BucketFor(*t, hash); r != kNoItem; r = arena_->Get(r)->hash_next) {
    if (r == ref) return true;
  }
  return false;
}

void HashTable::Insert(uint64_t hash, ItemRef ref) {
  const Tables* t = tables_.load(std::memory_order_acquire);
  ItemRef* bucket = BucketFor(*t, hash);
  arena_->Get(ref)->hash_next = *bucket;
  *bucket = ref;
  entries_.fetch_add(1, std::memory_order_relaxed);
}

void HashTable::Remove(uint64_t hash, ItemRef ref) {
  const Tables* t = tables_.load(std::memory_order_acquire);
  ItemRef* link = BucketFor(*t, hash);
  while (*link != ref) link = &arena_->Get(*link)->hash_next;
  *link = arena_->Get(ref)->hash_next;
  entries_.fetch_sub(1, std::memory_order_relaxed);
}

void HashTable::Replace(uint64_t hash, ItemRef old_ref, ItemRef new_ref) {
  const Tables* t = tables_.load(std::memory_order_acquire);
  ItemRef* link = BucketFor(*t, hash);
  while (*link != old_ref) link = &arena_->Get(*link)->hash_next;
  arena_->Get(new_ref)->hash_next = arena_->Get(old_ref)->hash_next;
  *link = new_ref;
}

void HashTable::MaybeGrow() {
  const Tables* t = tables_.load(std::memory_order_acquire);
  if (t->old != nullptr || t->power >= kMaxPower) return;
  const size_t buckets = size_t{1} << t->power;
  if (entries() <= buckets + buckets / 2) return;
  if (!grow_mu_.TryLock()) return;
  t = tables_.load(std::memory_order_acquire);
  if (t->old == nullptr && entries() > buckets + buckets / 2) {
    auto next = std::make_unique<Tables>(NewBuckets(t->power + 1), t->primary, t->power + 1);
    tables_.store(next.get(), std::memory_order_release);
    all_tables_.push_back(std::move(next));
  }
  grow_mu_.Unlock();
}

size_t HashTable::MigrateSome(size_t max_buckets) {
  const Tables* t = tables_.load(std::memory_order_acquire);
  if (t->old == nullptr) return 0;
  if (!grow_mu_.TryLock()) return 0;
  t = tables_.load(std::memory_order_acquire);
  size_t moved = 0;
  if (t->old != nullptr) {
    const uint64_t old_size = uint64_t{1} << (t->power - 1);
    const uint64_t new_mask = (uint64_t{1} << t->power) - 1;
    uint64_t b = t->migrated.load(std::memory_order_relaxed);
    for (; moved < max_buckets && b < old_size; ++moved, ++b) {
      absl::MutexLock lock(&stripes_[b & kStripeMask]);
      ItemRef ref = t->old[b];
      while (ref != kNoItem) {
        Item* it = arena_->Get(ref);
        const ItemRef next = it->hash_next;
        ItemRef* bucket = &t->primary[Hash(it->key()) & new_mask];
        it->hash_next = *bucket;
        *bucket = ref;
        ref = next;
      }
      t->old[b] = kNoItem;
      t->migrated.store(b + 1, std::memory_order_release);
    }
    if (b == old_size) {
      // Every old bucket is empty and marked moved, so no reader can reach the old array.
      auto done = std::make_unique<Tables>(t->primary, nullptr, t->power);
      tables_.store(done.get(), std::memory_order_release);
      all_tables_.push_back(std::move(done));
      std::free(t->old);
    }
  }
  grow_mu_.Unlock();
  return moved;
}

bool HashTable::growing() const { return tables_.load(std::memory_order_acquire)->old != nullptr; }

uint32_t HashTable::power() const { return tables_.load(std::memory_order_acquire)->power; }

size_t HashTable::bytes() const {
  const Tables* t = tables_.load(std::memory_order_acquire);
  size_t b = (size_t{1} << t->power) * sizeof(ItemRef);
  if (t->old != nullptr) b += (size_t{1} << (t->power - 1)) * sizeof(ItemRef);
  return b;
}

uint64_t HashTable::NextCursor(uint64_t cursor, uint64_t mask) {
  cursor |= ~mask;
  cursor = ReverseBits(cursor);
  ++cursor;
  return ReverseBits(cursor);
}

uint64_t HashTable::VisitGroup(uint64_t cursor, absl::FunctionRef<void(ItemRef)> visit) const {
  absl::MutexLock lock(&stripes_[cursor & kStripeMask]);
  const Tables* t = tables_.load(std::memory_order_acquire);
  const auto visit_chain = [&](ItemRef ref) {
    while (ref != kNoItem) {
      const ItemRef next = arena_->Get(ref)->hash_next;  // `visit` may unlink ref
      visit(ref);
      ref = next;
    }
  };
  if (t->old != nullptr) {
    // Walk at the smaller size: an old bucket, or both primary buckets it split into.
    const uint64_t small_mask = (uint64_t{1} << (t->power - 1)) - 1;
    const uint64_t b = cursor & small_mask;
    if (b >= t->migrated.load(std::memory_order_acquire)) {
      visit_chain(t->old[b]);
    } else {
      visit_chain(t->primary[b]);
      visit_chain(t->primary[b + small_mask + 1]);
    }
    return NextCursor(cursor, small_mask);
  }
  const uint64_t mask = (uint64_t{1} << t->power) - 1;
  visit_chain(t->primary[cursor & mask]);
  return NextCursor(cursor, mask);
}

}  // namespace memtwin::storage
