// storage::Store::Apply — last-writer-wins application of replicated mutations (DESIGN.md §5.3):
// newer versions win, older and duplicate ones are skipped, deletes leave tombstones that block
// late older sets, flush_all carries a version, and two stores that exchange their mutation
// streams in any order end identical.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/item.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::Fetch;
using test::Fetched;
using test::kStart;
using test::Put;
using test::Recorded;
using test::ValueOf;
using ::testing::ElementsAre;

Mutation SetM(std::string_view key, std::string_view value, uint64_t version, uint32_t flags = 0,
              uint32_t exptime = 0) {
  Mutation m;
  m.kind = MutationKind::kSet;
  m.key = key;
  m.value = value;
  m.flags = flags;
  m.exptime = exptime;
  m.version = version;
  return m;
}

Mutation DeleteM(std::string_view key, uint64_t version, uint32_t until) {
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = key;
  m.exptime = until;
  m.version = version;
  return m;
}

Mutation FlushM(uint64_t version, uint32_t at = 0) {
  Mutation m;
  m.kind = MutationKind::kFlushAll;
  m.exptime = at;
  m.version = version;
  return m;
}

class StoreLwwTest : public ::testing::Test {
 protected:
  StoreLwwTest() { Reset(StorageOptions{}); }
  void Reset(const StorageOptions& options) {
    store_.reset();
    store_ = test::MakeStore(options, &clock_);
  }
  Store& store() { return *store_; }
  std::vector<std::string> Contents() { return test::RenderStore(*store_); }

  ManualClock clock_{kStart};
  std::unique_ptr<Store> store_;
};

TEST_F(StoreLwwTest, ReplicatedSetIsStoredWithItsVersionFlagsAndExptime) {
  EXPECT_EQ(store().Apply(SetM("k", "v", 500, 7, kStart + 100)), ApplyResult::kApplied);
  Fetched f = Fetch(store(), "k");
  ASSERT_EQ(f.result, LookupResult::kHit);
  EXPECT_EQ(f.value, "v");
  EXPECT_EQ(f.flags, 7u);
  EXPECT_EQ(f.exptime, kStart + 100);
  EXPECT_EQ(f.version, 500u);
  EXPECT_EQ(store().Stats().curr_items, 1u);
  EXPECT_THAT(Contents(), ElementsAre(absl::StrCat("Set(k,v,7,", kStart + 100, ")@500")));
  clock_.Advance(100);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kExpired);
}

TEST_F(StoreLwwTest, NewerReplicatedSetWins) {
  ASSERT_EQ(store().Apply(SetM("k", "old", 100)), ApplyResult::kApplied);
  EXPECT_EQ(store().Apply(SetM("k", "new", 200)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "new");
  EXPECT_EQ(Fetch(store(), "k").version, 200u);
}

TEST_F(StoreLwwTest, OlderAndDuplicateReplicatedSetsAreSkipped) {
  ASSERT_EQ(store().Apply(SetM("k", "v200", 200)), ApplyResult::kApplied);
  EXPECT_EQ(store().Apply(SetM("k", "v100", 100)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(store().Apply(SetM("k", "dup", 200)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(ValueOf(store(), "k"), "v200");
  const StoreStats s = store().Stats();
  EXPECT_EQ(s.apply_applied, 1u);
  EXPECT_EQ(s.apply_skipped, 2u);
  EXPECT_EQ(s.apply_failed, 0u);
  EXPECT_EQ(s.curr_items, 1u);
}

TEST_F(StoreLwwTest, ReplicatedSetOlderThanLocalWriteIsSkipped) {
  uint64_t local = 0;
  ASSERT_EQ(Put(store(), "k", "first"), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "k", "local", 0, 0, &local), StoreResult::kStored);
  ASSERT_GE(local, 2u);
  EXPECT_EQ(store().Apply(SetM("k", "peer", local - 1)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(ValueOf(store(), "k"), "local");
  EXPECT_EQ(store().Apply(SetM("k", "peer", local + 1)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "peer");
}

TEST_F(StoreLwwTest, OutOfOrderDeliveryConverges) {
  const std::vector<std::vector<int>> orders = {{1, 2, 3}, {1, 3, 2}, {2, 1, 3},
                                                {2, 3, 1}, {3, 1, 2}, {3, 2, 1}};
  std::vector<std::string> first;
  for (const auto& order : orders) {
    Reset(StorageOptions{});
    for (int v : order) {
      store().Apply(SetM("k", absl::StrCat("v", v), 100 * v, v, 0));
      store().Apply(SetM(absl::StrCat("k", v), "x", 100 * v));
    }
    const std::vector<std::string> contents = Contents();
    if (first.empty()) first = contents;
    EXPECT_EQ(contents, first) << ::testing::PrintToString(order);
  }
  EXPECT_THAT(first, ElementsAre("Set(k,v3,3,0)@300", "Set(k1,x,0,0)@100", "Set(k2,x,0,0)@200",
                                 "Set(k3,x,0,0)@300"));
}

TEST_F(StoreLwwTest, ReplicatedDeleteLeavesTombstoneThatBlocksOlderSet) {
  ASSERT_EQ(store().Apply(SetM("k", "v", 100)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(DeleteM("k", 200, kStart + 60)), ApplyResult::kApplied);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
  // A set written before the delete arrives late: it must not resurrect the key.
  EXPECT_EQ(store().Apply(SetM("k", "late", 150)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
  EXPECT_THAT(Contents(), ElementsAre(absl::StrCat("Delete(k,", kStart + 60, ")@200")));
  // A newer set replaces the tombstone.
  EXPECT_EQ(store().Apply(SetM("k", "newer", 250)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "newer");
  EXPECT_EQ(store().Stats().tombstones, 0u);
}

TEST_F(StoreLwwTest, ReplicatedDeleteBeforeItsSetStillBlocksTheSet) {
  EXPECT_EQ(store().Apply(DeleteM("k", 200, kStart + 60)), ApplyResult::kApplied);
  EXPECT_EQ(store().Apply(SetM("k", "late", 100)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
  EXPECT_EQ(store().Stats().tombstones, 1u);
}

TEST_F(StoreLwwTest, OlderReplicatedDeleteIsSkipped) {
  ASSERT_EQ(store().Apply(SetM("k", "v", 300)), ApplyResult::kApplied);
  EXPECT_EQ(store().Apply(DeleteM("k", 200, kStart + 60)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
}

TEST_F(StoreLwwTest, TombstoneIsInvisibleAndNotCountedAsItem) {
  ASSERT_EQ(store().Apply(SetM("a", "v", 100)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("b", "v", 101)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(DeleteM("a", 200, kStart + 60)), ApplyResult::kApplied);
  StoreStats s = store().Stats();
  EXPECT_EQ(s.curr_items, 1u);
  EXPECT_EQ(s.tombstones, 1u);
  bool visited = false;
  EXPECT_EQ(store().Get("a", [&](const ItemView&) { visited = true; }), LookupResult::kMiss);
  EXPECT_FALSE(visited);
  EXPECT_EQ(store().Touch("a", 10), LookupResult::kMiss);
  EXPECT_EQ(store().Delete("a"), DeleteResult::kNotFound);
  EXPECT_EQ(test::Put(store(), StoreMode::kReplace, "a", "x"), StoreResult::kNotStored);
  EXPECT_EQ(test::Put(store(), StoreMode::kAppend, "a", "x"), StoreResult::kNotStored);
  uint64_t value = 0;
  EXPECT_EQ(store().Delta({.key = "a", .incr = true, .delta = 1}, &value), DeltaResult::kNotFound);
  using P = std::pair<uint32_t, uint64_t>;
  EXPECT_THAT(store().SizeHistogram(), ElementsAre(P{64, 1}));
  // A local add over the tombstone works and orders after the delete it saw.
  uint64_t version = 0;
  ASSERT_EQ(store().Set({.mode = StoreMode::kAdd, .key = "a", .value = "new"}, &version),
            StoreResult::kStored);
  EXPECT_GT(version, 200u);
  s = store().Stats();
  EXPECT_EQ(s.curr_items, 2u);
  EXPECT_EQ(s.tombstones, 0u);
}

TEST_F(StoreLwwTest, TombstoneStopsBlockingAfterTombstoneTtl) {
  StorageOptions options;
  options.tombstone_ttl_seconds = 30;
  Reset(options);
  ASSERT_EQ(Put(store(), "k", "v"), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  clock_.Advance(29);
  EXPECT_EQ(store().Apply(SetM("k", "late", 1)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
  clock_.Advance(2);  // past kStart + 30
  EXPECT_EQ(store().Apply(SetM("k", "late", 1)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "late");
}

TEST_F(StoreLwwTest, ReplicatedTombstoneLastsUntilItsExptime) {
  ASSERT_EQ(store().Apply(DeleteM("k", 200, kStart + 10)), ApplyResult::kApplied);
  clock_.Advance(9);
  EXPECT_EQ(store().Apply(SetM("k", "late", 100)), ApplyResult::kSkippedOlder);
  clock_.Advance(2);
  EXPECT_EQ(store().Apply(SetM("k", "late", 100)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "late");
}

TEST_F(StoreLwwTest, LocalDeleteTombstoneBlocksOlderReplicatedSet) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  // The peer's concurrent set was ordered before our delete.
  EXPECT_EQ(store().Apply(SetM("k", "peer", version)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(store().Apply(SetM("k", "peer", version + 1)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
}

TEST_F(StoreLwwTest, ExpiredItemCountsAsAbsentSoAnOlderReplicatedSetApplies) {
  // Whether an expired item was reclaimed yet must not change the outcome: dead entries are
  // treated as absent, on both nodes alike.
  ASSERT_EQ(store().Apply(SetM("k", "v", 100, 0, kStart + 5)), ApplyResult::kApplied);
  clock_.Advance(6);
  EXPECT_EQ(store().Apply(SetM("k", "older", 50)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "older");
  EXPECT_EQ(store().Apply(SetM("k", "stale", 40)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(store().Apply(SetM("k", "newer", 150)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "newer");
}

TEST_F(StoreLwwTest, ReplicatedFlushAllInvalidatesOlderItemsOnly) {
  ASSERT_EQ(store().Apply(SetM("old1", "v", 100)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("old2", "v", 150)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("new", "v", 300)), ApplyResult::kApplied);  // arrived first
  EXPECT_EQ(store().Apply(FlushM(200)), ApplyResult::kApplied);
  EXPECT_EQ(Fetch(store(), "old1").result, LookupResult::kFlushed);
  EXPECT_EQ(Fetch(store(), "old2").result, LookupResult::kFlushed);
  EXPECT_EQ(ValueOf(store(), "new"), "v");
  // Late sets the flush covers stay out; newer ones go in.
  EXPECT_EQ(store().Apply(SetM("late", "v", 180)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "late").result, LookupResult::kMiss);
  EXPECT_EQ(store().Apply(SetM("after", "v", 250)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "after"), "v");
  EXPECT_THAT(Contents(), ElementsAre("Set(after,v,0,0)@250", "Set(new,v,0,0)@300"));
}

TEST_F(StoreLwwTest, ReplicatedFlushAllInvalidatesOlderLocalItems) {
  uint64_t local = 0;
  ASSERT_EQ(Put(store(), "local", "v", 0, 0, &local), StoreResult::kStored);
  ASSERT_EQ(store().Apply(FlushM(local + 10)), ApplyResult::kApplied);
  EXPECT_EQ(Fetch(store(), "local").result, LookupResult::kFlushed);
  // The flush's version was witnessed: a local write after it is not covered.
  ASSERT_EQ(Put(store(), "after", "v", 0, 0, &local), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "after"), "v");
}

TEST_F(StoreLwwTest, LateOlderFlushAllLeavesNewerItemsAlone) {
  ASSERT_EQ(store().Apply(FlushM(500)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("k", "v", 600)), ApplyResult::kApplied);
  const ApplyResult older = store().Apply(FlushM(400));
  EXPECT_TRUE(older == ApplyResult::kSkippedOlder || older == ApplyResult::kApplied)
      << ApplyResultName(older);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
}

// The mutation carries the flush time the origin computed (now + delay); like a local delayed
// flush_all it acts one second before that, as memcached does (see store_test.cc).
TEST_F(StoreLwwTest, DelayedReplicatedFlushAllActsLikeLocalDelayedFlush) {
  ASSERT_EQ(store().Apply(SetM("k", "v", 100)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(FlushM(200, kStart + 10)), ApplyResult::kApplied);
  clock_.Advance(8);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
  clock_.Advance(1);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kFlushed);
  clock_.Advance(1);
  EXPECT_EQ(store().Apply(SetM("k", "again", 300)), ApplyResult::kApplied);
  EXPECT_EQ(ValueOf(store(), "k"), "again");
}

TEST_F(StoreLwwTest, ApplyWitnessesVersionSoNextLocalWriteIsNewer) {
  ASSERT_EQ(store().Apply(SetM("peer", "v", 1'000'000)), ApplyResult::kApplied);
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "local", "v", 0, 0, &version), StoreResult::kStored);
  EXPECT_GT(version, 1'000'000u);
  EXPECT_EQ(store().Apply(SetM("local", "older", 5)), ApplyResult::kSkippedOlder);
  ASSERT_EQ(store().Apply(SetM("x", "v", 2'000'000)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("x", "dup", 2'000'000)), ApplyResult::kSkippedOlder);
  ASSERT_EQ(Put(store(), "local", "v2", 0, 0, &version), StoreResult::kStored);
  EXPECT_GT(version, 2'000'000u);
}

TEST_F(StoreLwwTest, CasFromReplicatedItemWorksLocally) {
  ASSERT_EQ(store().Apply(SetM("k", "v", 777)), ApplyResult::kApplied);
  EXPECT_EQ(test::Put(store(), StoreMode::kCas, "k", "mine", 776), StoreResult::kExists);
  EXPECT_EQ(test::Put(store(), StoreMode::kCas, "k", "mine", 777), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "mine");
}

TEST_F(StoreLwwTest, ApplyRejectsMalformedMutations) {
  const std::string long_key(kMaxKeyLength + 1, 'k');
  EXPECT_EQ(store().Apply(SetM(long_key, "v", 100)), ApplyResult::kInvalid);
  EXPECT_EQ(store().Apply(DeleteM(long_key, 100, kStart + 60)), ApplyResult::kInvalid);
  const std::string huge(store().item_size_max(), 'x');
  EXPECT_EQ(store().Apply(SetM("k", huge, 100)), ApplyResult::kInvalid);
  EXPECT_EQ(store().Stats().curr_items, 0u);
  EXPECT_THAT(Contents(), ElementsAre());
  // A valid one still goes in.
  EXPECT_EQ(store().Apply(SetM(std::string(kMaxKeyLength, 'k'), "v", 100)), ApplyResult::kApplied);
}

TEST_F(StoreLwwTest, ApplyIntoFullStoreWithoutEvictionIsOutOfMemory) {
  StorageOptions options;
  options.memory_limit = 2 * test::kPage;
  options.evict = false;
  Reset(options);
  const int cls = test::ClassWithAtMostPerPage(store(), 10);
  const size_t value_len = test::ValueLenFilling(store(), cls, 6);
  const std::string value(value_len, 'v');
  size_t stored = 0;
  for (; stored < 1000; ++stored) {
    if (Put(store(), absl::StrCat("k", 10000 + stored), value) != StoreResult::kStored) break;
  }
  ASSERT_EQ(stored, 2 * store().slab_classes().at(cls).chunks_per_page);
  const StoreStats before = store().Stats();
  EXPECT_EQ(store().Apply(SetM("peer01", value, 1'000'000)), ApplyResult::kOutOfMemory);
  const StoreStats after = store().Stats();
  EXPECT_EQ(after.apply_failed, before.apply_failed + 1);
  EXPECT_EQ(after.evictions, 0u);
  EXPECT_EQ(after.curr_items, stored);
  EXPECT_EQ(Fetch(store(), "peer01").result, LookupResult::kMiss);
}

// Under memory pressure the chunk for a replicated set may come from evicting the LRU tail. When
// that tail is the key's own newer item or tombstone, the older set must still lose: a node may
// drop a key (eviction) but must never serve a value older than one it already had.
class StoreLwwEvictionTest : public StoreLwwTest {
 protected:
  // One 1 MB page whose smallest class holds 10 chunks, so small items and tombstones share it.
  void MakeTinyStore() {
    StorageOptions options;
    options.memory_limit = test::kPage;
    options.min_value_space = 100'000;
    Reset(options);
    ASSERT_EQ(store().slab_classes().at(1).chunks_per_page, 10u);
  }
  // Fills the rest of class 1 with local items; `k` (stored first) is now the LRU tail.
  void FillBehind() {
    for (int i = 0; i < 9; ++i) {
      ASSERT_EQ(Put(store(), absl::StrCat("filler", i), "f"), StoreResult::kStored) << i;
    }
    ASSERT_EQ(store().Stats().evictions, 0u);
  }
};

TEST_F(StoreLwwEvictionTest, OlderReplicatedSetNeverReplacesNewerItemItsAllocationEvicts) {
  MakeTinyStore();
  ASSERT_EQ(store().Apply(SetM("k", "newest", 1'000'000)), ApplyResult::kApplied);
  FillBehind();
  EXPECT_EQ(store().Apply(SetM("k", "older", 500)), ApplyResult::kSkippedOlder);
  EXPECT_NE(ValueOf(store(), "k"), "older");
}

TEST_F(StoreLwwEvictionTest,
       OlderReplicatedSetNeverResurrectsKeyWhoseTombstoneItsAllocationEvicts) {
  MakeTinyStore();
  ASSERT_EQ(store().Apply(DeleteM("k", 1'000'000, kStart + 60)), ApplyResult::kApplied);
  FillBehind();
  EXPECT_EQ(store().Apply(SetM("k", "older", 500)), ApplyResult::kSkippedOlder);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
}

TEST_F(StoreLwwTest, AppliedItemsCountInStats) {
  ASSERT_EQ(store().Apply(SetM("a", "12345", 100)), ApplyResult::kApplied);
  ASSERT_EQ(store().Apply(SetM("b", "12345", 101)), ApplyResult::kApplied);
  const StoreStats s = store().Stats();
  EXPECT_EQ(s.curr_items, 2u);
  EXPECT_EQ(s.bytes, 2 * Item::TotalSize(1, 5));
  EXPECT_EQ(s.apply_applied, 2u);
}

// ---------------------------------------------------------------------------------------------
// Two (or three) stores exchanging their mutation streams.

// Random client traffic on a small key space: every mode, deltas, touches, deletes.
void RandomClientOps(Store& store, std::mt19937& rng, int ops, std::string_view tag,
                     bool with_flush) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  for (int i = 0; i < ops; ++i) {
    const std::string key = absl::StrCat("k", pick(12));
    const std::string num = absl::StrCat("n", pick(4));
    const std::string value = absl::StrCat(std::string(tag), i);
    const uint32_t flags = static_cast<uint32_t>(pick(4));
    const int64_t exptime = pick(3) == 0 ? 1000 : 0;
    uint64_t out = 0;
    switch (pick(12)) {
      case 0:
      case 1:
        store.Set({.key = key, .value = value, .flags = flags, .exptime = exptime});
        break;
      case 2:
        store.Set({.mode = StoreMode::kAdd, .key = key, .value = value, .flags = flags});
        break;
      case 3:
        store.Set({.mode = StoreMode::kReplace, .key = key, .value = value});
        break;
      case 4:
        store.Set({.mode = StoreMode::kAppend, .key = key, .value = "+a"});
        break;
      case 5:
        store.Set({.mode = StoreMode::kPrepend, .key = key, .value = "p+", .vivify = true});
        break;
      case 6: {
        const Fetched f = Fetch(store, key);
        if (f.result == LookupResult::kHit) {
          store.Set({.mode = StoreMode::kCas, .key = key, .value = value, .cas = f.version});
        }
        break;
      }
      case 7:
        store.Delete(key);
        break;
      case 8:
        store.Touch(key, pick(2) == 0 ? 0 : 2000);
        break;
      case 9:
        store.GetAndTouch(key, 3000, [](const ItemView&) {});
        break;
      case 10:
        if (pick(3) == 0) {
          store.Set({.key = num, .value = absl::StrCat(pick(200))});
        } else {
          store.Delta({.key = num, .incr = pick(2) == 0, .delta = uint64_t(pick(150))}, &out);
        }
        break;
      case 11:
        if (with_flush && pick(40) == 0) {
          store.FlushAll(0);
        } else {
          store.Delete(num);
        }
        break;
    }
  }
}

struct Node {
  Node(uint8_t id, Clock* clock) : versions(id) {
    store = test::MakeStore(StorageOptions{}, clock, &versions);
    store->set_mutation_sink(&sink);
  }
  ~Node() {
    store->set_mutation_sink(nullptr);
    store.reset();
  }
  test::LamportVersionClock versions;
  test::RecordingSink sink;
  std::unique_ptr<Store> store;
};

void ApplyAll(Store& store, const std::vector<Recorded>& log) {
  for (const Recorded& r : log) {
    const ApplyResult result = store.Apply(r.view());
    EXPECT_TRUE(result == ApplyResult::kApplied || result == ApplyResult::kSkippedOlder)
        << Render(r) << " -> " << ApplyResultName(result);
  }
}

std::vector<std::string> LiveOnly(std::vector<std::string> rendered) {
  rendered.erase(std::remove_if(rendered.begin(), rendered.end(),
                                [](const std::string& s) { return !s.starts_with("Set("); }),
                 rendered.end());
  return rendered;
}

// Rounds of client traffic on both nodes; after each round a random part of each side's pending
// stream crosses the link (A -> B in order, B -> A shuffled), the rest waits for a later round.
void RunPair(uint32_t seed, bool with_flush, std::vector<std::string>* a_contents,
             std::vector<std::string>* b_contents, std::vector<std::string>* c_contents) {
  ManualClock clock(kStart);
  Node a(1, &clock), b(2, &clock), c(3, &clock);
  std::mt19937 rng(seed);
  std::vector<Recorded> a_pending, b_pending, all;
  for (int round = 0; round < 8; ++round) {
    RandomClientOps(*a.store, rng, 60, absl::StrCat("a", round, "-"), with_flush);
    RandomClientOps(*b.store, rng, 60, absl::StrCat("b", round, "-"), with_flush);
    for (Recorded& r : a.sink.Take()) a_pending.push_back(std::move(r));
    for (Recorded& r : b.sink.Take()) b_pending.push_back(std::move(r));
    // A -> B: an in-order prefix.
    const size_t a_send = round == 7 ? a_pending.size() : rng() % (a_pending.size() + 1);
    std::vector<Recorded> a_batch(a_pending.begin(), a_pending.begin() + a_send);
    a_pending.erase(a_pending.begin(), a_pending.begin() + a_send);
    ApplyAll(*b.store, a_batch);
    // B -> A: a random subset, shuffled.
    std::shuffle(b_pending.begin(), b_pending.end(), rng);
    const size_t b_send = round == 7 ? b_pending.size() : rng() % (b_pending.size() + 1);
    std::vector<Recorded> b_batch(b_pending.begin(), b_pending.begin() + b_send);
    b_pending.erase(b_pending.begin(), b_pending.begin() + b_send);
    ApplyAll(*a.store, b_batch);
    all.insert(all.end(), a_batch.begin(), a_batch.end());
    all.insert(all.end(), b_batch.begin(), b_batch.end());
  }
  EXPECT_THAT(a_pending, ElementsAre());
  EXPECT_THAT(b_pending, ElementsAre());
  EXPECT_EQ(a.sink.size(), 0u) << "Apply must not feed the sink";
  EXPECT_EQ(b.sink.size(), 0u) << "Apply must not feed the sink";
  // A third node that only ever heard the two streams, fully shuffled, and everything twice.
  std::shuffle(all.begin(), all.end(), rng);
  ApplyAll(*c.store, all);
  std::shuffle(all.begin(), all.end(), rng);
  ApplyAll(*c.store, all);
  *a_contents = test::RenderStore(*a.store);
  *b_contents = test::RenderStore(*b.store);
  *c_contents = test::RenderStore(*c.store);
  if (!with_flush) {  // flushed items count until they are reclaimed, as in memcached
    EXPECT_EQ(a.store->Stats().curr_items, LiveOnly(*a_contents).size());
    EXPECT_EQ(b.store->Stats().curr_items, LiveOnly(*b_contents).size());
    EXPECT_EQ(c.store->Stats().curr_items, LiveOnly(*c_contents).size());
  }
}

TEST(StoreConvergenceTest, TwoStoresFedEachOthersStreamsInDifferentOrdersEndIdentical) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::vector<std::string> a, b, c;
    RunPair(seed, /*with_flush=*/false, &a, &b, &c);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
    if (HasFailure()) break;
  }
}

TEST(StoreConvergenceTest, StoresWithFlushAllInTheirStreamsEndWithIdenticalItems) {
  // Only live items are compared: a tombstone older than a flush is dead either way, and whether
  // a node still holds one depends on the order the delete and the flush arrived in.
  for (uint32_t seed = 100; seed < 120; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    std::vector<std::string> a, b, c;
    RunPair(seed, /*with_flush=*/true, &a, &b, &c);
    EXPECT_EQ(LiveOnly(a), LiveOnly(b));
    EXPECT_EQ(LiveOnly(a), LiveOnly(c));
    if (HasFailure()) break;
  }
}

TEST(StoreConvergenceTest, ReapplyingOwnStreamChangesNothing) {
  ManualClock clock(kStart);
  Node a(1, &clock);
  std::mt19937 rng(7);
  RandomClientOps(*a.store, rng, 300, "a-", /*with_flush=*/false);
  const std::vector<std::string> before = test::RenderStore(*a.store);
  const std::vector<Recorded> log = a.sink.Take();
  for (const Recorded& r : log) {
    EXPECT_EQ(a.store->Apply(r.view()), ApplyResult::kSkippedOlder) << Render(r);
  }
  EXPECT_EQ(test::RenderStore(*a.store), before);
}

}  // namespace
}  // namespace memtwin::storage
