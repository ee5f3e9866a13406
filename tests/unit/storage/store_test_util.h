// Helpers shared by the storage::Store unit tests: store construction with a fake clock, reading
// an item into an owned struct, a sink that records mutations, a Lamport version clock with node
// bits (as replication supplies), and rendering a whole store as sorted strings.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/store.h"

namespace memtwin::storage {

// Debian's Abseil 20220623 has its own absl::string_view, distinct from std::string_view, so the
// tests pass std::string (not std::string_view) to Abseil string functions.

// gtest prints these by name instead of as raw bytes.
inline const char* LookupResultName(LookupResult r) {
  switch (r) {
    case LookupResult::kHit:
      return "kHit";
    case LookupResult::kMiss:
      return "kMiss";
    case LookupResult::kExpired:
      return "kExpired";
    case LookupResult::kFlushed:
      return "kFlushed";
  }
  return "?";
}
inline const char* DeleteResultName(DeleteResult r) {
  switch (r) {
    case DeleteResult::kDeleted:
      return "kDeleted";
    case DeleteResult::kNotFound:
      return "kNotFound";
    case DeleteResult::kExists:
      return "kExists";
  }
  return "?";
}
inline const char* DeltaResultName(DeltaResult r) {
  switch (r) {
    case DeltaResult::kOk:
      return "kOk";
    case DeltaResult::kNotFound:
      return "kNotFound";
    case DeltaResult::kNonNumeric:
      return "kNonNumeric";
    case DeltaResult::kExists:
      return "kExists";
    case DeltaResult::kOutOfMemory:
      return "kOutOfMemory";
  }
  return "?";
}
inline const char* ApplyResultName(ApplyResult r) {
  switch (r) {
    case ApplyResult::kApplied:
      return "kApplied";
    case ApplyResult::kSkippedOlder:
      return "kSkippedOlder";
    case ApplyResult::kOutOfMemory:
      return "kOutOfMemory";
    case ApplyResult::kInvalid:
      return "kInvalid";
  }
  return "?";
}
inline void PrintTo(StoreResult r, std::ostream* os) { *os << StoreResultName(r); }
inline void PrintTo(LookupResult r, std::ostream* os) { *os << LookupResultName(r); }
inline void PrintTo(DeleteResult r, std::ostream* os) { *os << DeleteResultName(r); }
inline void PrintTo(DeltaResult r, std::ostream* os) { *os << DeltaResultName(r); }
inline void PrintTo(ApplyResult r, std::ostream* os) { *os << ApplyResultName(r); }
inline void PrintTo(MutationKind k, std::ostream* os) { *os << MutationKindName(k); }

namespace test {

// Any fixed "now" well past 30 days, so relative and absolute expiry differ.
inline constexpr uint32_t kStart = 1'700'000'000;
inline constexpr size_t kPage = size_t{1} << 20;

inline std::unique_ptr<Store> MakeStore(const StorageOptions& options, Clock* clock,
                                        VersionClock* versions = nullptr) {
  auto store = Store::Create(options, clock, versions);
  if (!store.ok()) {
    ADD_FAILURE() << "Store::Create: " << store.status();
    std::abort();
  }
  return std::move(store).value();
}

// An item as Get saw it, copied out of the visitor.
struct Fetched {
  LookupResult result = LookupResult::kMiss;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint32_t exptime = 0;
  uint32_t last_access = 0;
  uint64_t version = 0;
  uint8_t class_id = 0;
  bool fetched_before = false;
  bool visited = false;
};

inline void CopyView(const ItemView& v, Fetched* out) {
  out->key = std::string(v.key);
  out->value = std::string(v.value);
  out->flags = v.flags;
  out->exptime = v.exptime;
  out->last_access = v.last_access;
  out->version = v.version;
  out->class_id = v.class_id;
  out->fetched_before = v.fetched_before;
  out->visited = true;
}

inline Fetched Fetch(Store& store, std::string_view key) {
  Fetched f;
  f.result = store.Get(key, [&](const ItemView& v) { CopyView(v, &f); });
  return f;
}

// The value, or the name of the miss ("kMiss", "kExpired", "kFlushed").
inline std::string ValueOf(Store& store, std::string_view key) {
  Fetched f = Fetch(store, key);
  if (f.result != LookupResult::kHit) return LookupResultName(f.result);
  return f.value;
}

inline StoreResult Put(Store& store, std::string_view key, std::string_view value,
                       uint32_t flags = 0, int64_t exptime = 0, uint64_t* version = nullptr) {
  return store.Set({.key = key, .value = value, .flags = flags, .exptime = exptime}, version);
}

inline StoreResult Put(Store& store, StoreMode mode, std::string_view key, std::string_view value,
                       uint64_t cas = 0) {
  return store.Set({.mode = mode, .key = key, .value = value, .cas = cas});
}

// A mutation with owned storage.
struct Recorded {
  MutationKind kind = MutationKind::kSet;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint32_t exptime = 0;
  uint64_t version = 0;

  static Recorded From(const Mutation& m) {
    return {m.kind, std::string(m.key), std::string(m.value), m.flags, m.exptime, m.version};
  }
  Mutation view() const {
    Mutation m;
    m.kind = kind;
    m.key = key;
    m.value = value;
    m.flags = flags;
    m.exptime = exptime;
    m.version = version;
    return m;
  }
};

// leveldb-style rendering: "Set(k,v,flags,exptime)@version", "Delete(k,until)@version",
// "FlushAll(at)@version".
inline std::string Render(const Mutation& m) {
  switch (m.kind) {
    case MutationKind::kSet:
      return absl::StrCat("Set(", std::string(m.key), ",", std::string(m.value), ",", m.flags, ",",
                          m.exptime, ")@", m.version);
    case MutationKind::kDelete:
      return absl::StrCat("Delete(", std::string(m.key), ",", m.exptime, ")@", m.version);
    case MutationKind::kFlushAll:
      return absl::StrCat("FlushAll(", m.exptime, ")@", m.version);
  }
  return "Unknown";
}
inline std::string Render(const Recorded& r) { return Render(r.view()); }

class RecordingSink final : public MutationSink {
 public:
  void OnMutation(const Mutation& m) override {
    absl::MutexLock lock(&mu_);
    log_.push_back(Recorded::From(m));
  }
  std::vector<Recorded> Take() {
    absl::MutexLock lock(&mu_);
    std::vector<Recorded> out;
    out.swap(log_);
    return out;
  }
  std::vector<Recorded> log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  std::vector<std::string> Rendered() const {
    std::vector<std::string> out;
    for (const Recorded& r : log()) out.push_back(Render(r));
    return out;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return log_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Recorded> log_ ABSL_GUARDED_BY(mu_);
};

// What replication supplies: a Lamport counter with the node id in the low 8 bits, so versions
// are unique across nodes and a witnessed version orders every later local one after it.
class LamportVersionClock final : public VersionClock {
 public:
  explicit LamportVersionClock(uint8_t node) : node_(node) {}
  uint64_t Next() override {
    absl::MutexLock lock(&mu_);
    return (++counter_ << 8) | node_;
  }
  void Witness(uint64_t version) override {
    absl::MutexLock lock(&mu_);
    counter_ = std::max(counter_, version >> 8);
  }

 private:
  const uint8_t node_;
  absl::Mutex mu_;
  uint64_t counter_ ABSL_GUARDED_BY(mu_) = 0;
};

// Runs a snapshot walk to the end (bounded), calling `visit` for every mutation it hands out.
inline size_t WalkAll(Store& store, absl::FunctionRef<void(const Mutation&)> visit,
                      size_t max_groups = 64) {
  SnapshotCursor cursor;
  size_t steps = 0;
  for (; steps < (size_t{1} << 26); ++steps) {
    if (!store.SnapshotStep(&cursor, max_groups, visit)) break;
  }
  EXPECT_LT(steps, size_t{1} << 26) << "snapshot walk did not finish";
  return steps + 1;
}

// The whole store (live items and tombstones) as sorted strings, for comparing two stores.
inline std::vector<std::string> RenderStore(Store& store) {
  std::vector<std::string> out;
  WalkAll(store, [&](const Mutation& m) { out.push_back(Render(m)); });
  std::sort(out.begin(), out.end());
  return out;
}

// A whole decimal uint64 (no sign, no spaces), like absl::SimpleAtoi but on std::string_view.
inline bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

inline uint32_t StripeOf(std::string_view key) {
  return HashTable::StripeIndex(HashTable::Hash(key));
}

// A key "<prefix><n>", padded with '_' to `length` when shorter, whose hash stripe differs from
// every key in `avoid`, so that eviction triggered while its stripe is held can reach all of them
// (eviction skips the held stripe).
inline std::string KeyAvoidingStripesOf(std::string_view prefix,
                                        const std::vector<std::string>& avoid, size_t length = 0) {
  for (int n = 0;; ++n) {
    std::string key = absl::StrCat(std::string(prefix), n);
    if (key.size() < length) key.resize(length, '_');
    bool clash = false;
    for (const std::string& a : avoid) clash = clash || StripeOf(a) == StripeOf(key);
    if (!clash) return key;
  }
}

// Slab class sizing for eviction tests: the first class with at most `max_per_page` chunks per
// page, and the value length that makes an item with a `key_len` key fill one of its chunks.
inline int ClassWithAtMostPerPage(const Store& store, uint32_t max_per_page) {
  const SlabClasses& classes = store.slab_classes();
  for (int id = 1; id <= classes.count(); ++id) {
    if (classes.at(id).chunks_per_page <= max_per_page) return id;
  }
  return classes.count();
}
inline size_t ValueLenFilling(const Store& store, int class_id, size_t key_len) {
  return store.slab_classes().at(class_id).chunk_size - Item::TotalSize(key_len, 0);
}

inline const SlabClassStats* FindClass(const StoreStats& stats, int id) {
  for (const SlabClassStats& c : stats.classes) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

}  // namespace test
}  // namespace memtwin::storage
