// storage::Store, what the meta protocol needs: MetaGet (h/l from before the read, touch, vivify,
// recache tokens), invalidation through Delete and CAS-stale sets, Delta's vivify and expiry,
// client-chosen versions (meta E) and the ItemsStep walk. memcached 1.6.18's proto_text.c
// (process_mget_command, process_mdelete_command, process_marithmetic_command) and memcached.c
// (do_store_item's CAS_STALE) are the reference; every mutation must reach the sink once.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::Fetch;
using test::kStart;
using test::Put;
using ::testing::ElementsAre;

// A MetaGetView with owned strings.
struct MetaSeen {
  LookupResult result = LookupResult::kMiss;
  std::string value;
  uint32_t exptime = 0;
  uint32_t exptime_before = 0;
  uint32_t last_access = 0;
  uint64_t version = 0;
  bool fetched_before = false;
  bool stale = false;
  bool binary_key = false;
  bool created = false;
  bool win_sent_before = false;
  bool won = false;
};

class StoreMetaTest : public ::testing::Test {
 protected:
  StoreMetaTest() : store_(test::MakeStore(StorageOptions{}, &clock_)) {
    store_->set_mutation_sink(&sink_);
  }

  MetaSeen MetaGet(const MetaGetRequest& request) {
    MetaSeen seen;
    seen.result = store_->MetaGet(request, [&](const MetaGetView& v) {
      seen.value = std::string(v.item.value);
      seen.exptime = v.item.exptime;
      seen.exptime_before = v.exptime_before;
      seen.last_access = v.item.last_access;
      seen.version = v.item.version;
      seen.fetched_before = v.item.fetched_before;
      seen.stale = v.item.stale;
      seen.binary_key = v.item.binary_key;
      seen.created = v.created;
      seen.win_sent_before = v.win_sent_before;
      seen.won = v.won;
      EXPECT_EQ(v.now, clock_.Now());
    });
    return seen;
  }

  uint64_t PutVersion(std::string_view key, std::string_view value, int64_t exptime = 0) {
    uint64_t version = 0;
    EXPECT_EQ(Put(*store_, key, value, 0, exptime, &version), StoreResult::kStored);
    return version;
  }

  ManualClock clock_{kStart};
  std::unique_ptr<Store> store_;
  test::RecordingSink sink_;
};

// ---------------------------------------------------------------------------------------------
// MetaGet

TEST_F(StoreMetaTest, MetaGetReportsHitAndLastAccessFromBeforeTheRead) {
  PutVersion("k", "v");
  clock_.Advance(100);
  MetaSeen first = MetaGet({.key = "k"});
  EXPECT_EQ(first.result, LookupResult::kHit);
  EXPECT_EQ(first.value, "v");
  EXPECT_FALSE(first.fetched_before);
  EXPECT_EQ(first.last_access, kStart);
  MetaSeen second = MetaGet({.key = "k"});
  EXPECT_TRUE(second.fetched_before);
  EXPECT_EQ(second.last_access, kStart);  // a first read only marks the item fetched
  clock_.Advance(10);
  MetaSeen third = MetaGet({.key = "k"});
  EXPECT_EQ(third.last_access, kStart + 100);  // the second made it active, at that time
}

TEST_F(StoreMetaTest, MetaGetWithoutBumpLeavesItemUnfetchedAndUnbumped) {
  PutVersion("k", "v");
  clock_.Advance(100);
  MetaGet({.key = "k", .bump = false});
  MetaSeen seen = MetaGet({.key = "k", .bump = false});
  EXPECT_FALSE(seen.fetched_before);
  EXPECT_EQ(seen.last_access, kStart);
  EXPECT_FALSE(Fetch(*store_, "k").fetched_before);
}

TEST_F(StoreMetaTest, MetaGetMissLeavesStoreAndSinkAlone) {
  EXPECT_EQ(MetaGet({.key = "nope"}).result, LookupResult::kMiss);
  EXPECT_EQ(MetaGet({.key = ""}).result, LookupResult::kMiss);
  PutVersion("old", "v", 10);
  clock_.Advance(10);
  EXPECT_EQ(MetaGet({.key = "old"}).result, LookupResult::kExpired);
  EXPECT_THAT(sink_.Rendered(), ElementsAre("Set(old,v,0,1700000010)@1"));
}

TEST_F(StoreMetaTest, MetaGetTouchSetsExpiryAndNewVersionAndReportsOnce) {
  const uint64_t v1 = PutVersion("k", "v", 100);
  sink_.Take();
  MetaSeen seen = MetaGet({.key = "k", .touch = kStart + 500});
  EXPECT_EQ(seen.exptime_before, kStart + 100);
  EXPECT_EQ(seen.exptime, kStart + 500);
  EXPECT_GT(seen.version, v1);
  EXPECT_EQ(Fetch(*store_, "k").exptime, kStart + 500);
  EXPECT_THAT(sink_.Rendered(),
              ElementsAre("Set(k,v,0,1700000500)@" + std::to_string(seen.version)));
}

TEST_F(StoreMetaTest, MetaGetVivifyCreatesEmptyItemThatWinsOnce) {
  MetaSeen first = MetaGet({.key = "k", .vivify = kStart + 30});
  EXPECT_EQ(first.result, LookupResult::kHit);
  EXPECT_TRUE(first.created);
  EXPECT_TRUE(first.won);
  EXPECT_FALSE(first.win_sent_before);
  EXPECT_EQ(first.value, "");
  EXPECT_EQ(first.exptime, kStart + 30);
  EXPECT_EQ(first.exptime_before, 0u);
  MetaSeen second = MetaGet({.key = "k", .vivify = kStart + 30});
  EXPECT_FALSE(second.created);
  EXPECT_FALSE(second.won);
  EXPECT_TRUE(second.win_sent_before);
  EXPECT_TRUE(second.fetched_before);  // the creating read counts, as memcached's bump
  EXPECT_THAT(sink_.Rendered(), ElementsAre("Set(k,,0,1700000030)@1"));
}

TEST_F(StoreMetaTest, MetaGetVivifyReplacesTombstoneAndKeepsBinaryKeyMark) {
  PutVersion("k", "v");
  EXPECT_EQ(store_->Delete("k"), DeleteResult::kDeleted);
  MetaSeen seen = MetaGet({.key = "k", .vivify = 0, .binary_key = true});
  EXPECT_TRUE(seen.created);
  EXPECT_TRUE(seen.binary_key);
  EXPECT_EQ(store_->Stats().tombstones, 0u);
  EXPECT_EQ(store_->Stats().curr_items, 1u);
}

TEST_F(StoreMetaTest, MetaGetRecacheWinsOnlyBelowThresholdAndOnlyOnce) {
  PutVersion("k", "v", 100);
  EXPECT_FALSE(MetaGet({.key = "k", .recache = kStart + 30}).won);
  MetaSeen won = MetaGet({.key = "k", .recache = kStart + 200});
  EXPECT_TRUE(won.won);
  EXPECT_FALSE(won.win_sent_before);
  MetaSeen later = MetaGet({.key = "k", .recache = kStart + 200});
  EXPECT_FALSE(later.won);
  EXPECT_TRUE(later.win_sent_before);
  PutVersion("forever", "v");
  EXPECT_FALSE(MetaGet({.key = "forever", .recache = kStart + 200}).won);
}

TEST_F(StoreMetaTest, MetaGetRecacheComparesTouchedExpiryOnlyWhenTouchCameFirst) {
  PutVersion("a", "v", 100);
  PutVersion("b", "v", 100);
  EXPECT_FALSE(MetaGet({.key = "a", .touch = kStart + 10, .recache = kStart + 30}).won);
  EXPECT_TRUE(
      MetaGet(
          {.key = "b", .touch = kStart + 10, .recache = kStart + 30, .recache_sees_touch = true})
          .won);
}

TEST_F(StoreMetaTest, MetaGetVivifyWithExplicitVersionUsesIt) {
  MetaSeen seen = MetaGet({.key = "k", .vivify = 0, .explicit_version = 777});
  EXPECT_EQ(seen.version, 777u);
  EXPECT_GT(PutVersion("other", "v"), 777u);
}

// ---------------------------------------------------------------------------------------------
// Invalidation

TEST_F(StoreMetaTest, InvalidateMarksStaleWithNewVersionAndHandsTokenToNextReader) {
  const uint64_t v1 = PutVersion("k", "v", 100);
  EXPECT_TRUE(MetaGet({.key = "k", .recache = kStart + 200}).won);  // token out
  sink_.Take();
  EXPECT_EQ(store_->Delete({.key = "k", .invalidate = true, .exptime = kStart + 30}),
            DeleteResult::kDeleted);
  MetaSeen first = MetaGet({.key = "k"});
  EXPECT_TRUE(first.stale);
  EXPECT_TRUE(first.won);  // the invalidation took the earlier token back
  EXPECT_FALSE(first.win_sent_before);
  EXPECT_EQ(first.exptime, kStart + 30);
  EXPECT_GT(first.version, v1);
  EXPECT_EQ(first.value, "v");
  MetaSeen second = MetaGet({.key = "k"});
  EXPECT_TRUE(second.stale);
  EXPECT_FALSE(second.won);
  EXPECT_TRUE(second.win_sent_before);
  EXPECT_THAT(sink_.Rendered(),
              ElementsAre("Set(k,v,0,1700000030)@" + std::to_string(first.version)));
}

TEST_F(StoreMetaTest, InvalidateChecksCasAndMissingKey) {
  const uint64_t v1 = PutVersion("k", "v");
  EXPECT_EQ(store_->Delete({.key = "k", .cas = v1 + 1, .invalidate = true}), DeleteResult::kExists);
  EXPECT_EQ(store_->Delete({.key = "nope", .invalidate = true}), DeleteResult::kNotFound);
  EXPECT_FALSE(MetaGet({.key = "k"}).stale);
  EXPECT_EQ(store_->Delete({.key = "k", .cas = v1, .invalidate = true, .explicit_version = 5}),
            DeleteResult::kDeleted);
  EXPECT_EQ(Fetch(*store_, "k").version, 5u);
}

TEST_F(StoreMetaTest, CasWithInvalidateStoresOlderCasAsStaleKeepingExpiry) {
  PutVersion("pad", "x");
  const uint64_t v1 = PutVersion("k", "v", 100);
  EXPECT_EQ(
      store_->Set(
          {.mode = StoreMode::kCas, .key = "k", .value = "new", .cas = 0, .invalidate = true}),
      StoreResult::kExists);  // no cas at all is never "older"
  EXPECT_EQ(store_->Set({.mode = StoreMode::kCas,
                         .key = "k",
                         .value = "new",
                         .exptime = 500,
                         .cas = v1 + 1000,
                         .invalidate = true}),
            StoreResult::kExists);  // newer than the item's: a plain mismatch
  uint64_t v2 = 0;
  EXPECT_EQ(store_->Set({.mode = StoreMode::kCas,
                         .key = "k",
                         .value = "new",
                         .exptime = 500,
                         .cas = v1 - 1,
                         .invalidate = true},
                        &v2),
            StoreResult::kStored);
  MetaSeen seen = MetaGet({.key = "k"});
  EXPECT_EQ(seen.value, "new");
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.won);
  EXPECT_EQ(seen.exptime, kStart + 100);
  EXPECT_EQ(seen.version, v2);
  // A matching cas is an ordinary store: not stale, its own expiry.
  EXPECT_EQ(store_->Set({.mode = StoreMode::kCas,
                         .key = "k",
                         .value = "fresh",
                         .exptime = 500,
                         .cas = v2,
                         .invalidate = true}),
            StoreResult::kStored);
  MetaSeen after = MetaGet({.key = "k"});
  EXPECT_FALSE(after.stale);
  EXPECT_EQ(after.exptime, kStart + 500);
}

// ---------------------------------------------------------------------------------------------
// Client-chosen versions

TEST_F(StoreMetaTest, ExplicitVersionIsTheCasAndLaterVersionsOrderAfterIt) {
  uint64_t version = 0;
  EXPECT_EQ(store_->Set({.key = "k", .value = "v", .explicit_version = 1000}, &version),
            StoreResult::kStored);
  EXPECT_EQ(version, 1000u);
  EXPECT_EQ(Fetch(*store_, "k").version, 1000u);
  EXPECT_GT(PutVersion("other", "v"), 1000u);
  EXPECT_THAT(sink_.Rendered()[0], "Set(k,v,0,0)@1000");
}

TEST_F(StoreMetaTest, ExplicitVersionItemIsJudgedByStoreTimeOnFlush) {
  PutVersion("a", "1");
  PutVersion("b", "2");
  store_->FlushAll(0);  // oldest version now above every small number
  ASSERT_EQ(store_->Set({.key = "low", .value = "v", .explicit_version = 1}), StoreResult::kStored);
  EXPECT_EQ(test::ValueOf(*store_, "low"), "v");  // stored in the flush's own second
  clock_.Advance(5);
  store_->FlushAll(0);
  EXPECT_EQ(test::ValueOf(*store_, "low"), "kFlushed");
}

TEST_F(StoreMetaTest, ClockVersionClearsClientVersionMark) {
  ASSERT_EQ(store_->Set({.key = "k", .value = "v", .explicit_version = 1}), StoreResult::kStored);
  ASSERT_EQ(store_->Touch("k", 0), LookupResult::kHit);  // now a clock version
  clock_.Advance(5);
  PutVersion("x", "y");
  store_->FlushAll(0);
  EXPECT_EQ(test::ValueOf(*store_, "k"), "kFlushed");
}

// ---------------------------------------------------------------------------------------------
// Delta for meta arithmetic

TEST_F(StoreMetaTest, DeltaVivifyStoresInitialValueUndeltaed) {
  DeltaOutcome out;
  EXPECT_EQ(
      store_->Delta(
          {.key = "n", .delta = 5, .vivify = true, .initial = 42, .vivify_exptime = kStart + 60},
          &out),
      DeltaResult::kOk);
  EXPECT_TRUE(out.created);
  EXPECT_TRUE(out.missed);
  EXPECT_EQ(out.value, 42u);
  EXPECT_EQ(out.exptime, kStart + 60);
  EXPECT_EQ(test::ValueOf(*store_, "n"), "42");
  DeltaOutcome again;
  EXPECT_EQ(store_->Delta({.key = "n", .delta = 5, .vivify = true, .initial = 42}, &again),
            DeltaResult::kOk);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.value, 47u);
  EXPECT_THAT(sink_.Rendered(),
              ElementsAre("Set(n,42,0,1700000060)@1", "Set(n,47,0,1700000060)@2"));
}

TEST_F(StoreMetaTest, DeltaWithoutVivifyMissesAndSetsExptimeOnSuccess) {
  DeltaOutcome out;
  EXPECT_EQ(store_->Delta({.key = "n"}, &out), DeltaResult::kNotFound);
  EXPECT_TRUE(out.missed);
  PutVersion("n", "9", 100);
  EXPECT_EQ(store_->Delta({.key = "n", .delta = 1, .exptime = kStart + 7}, &out), DeltaResult::kOk);
  EXPECT_EQ(out.value, 10u);
  EXPECT_EQ(out.exptime_before, kStart + 100);
  EXPECT_EQ(out.exptime, kStart + 7);
  EXPECT_EQ(Fetch(*store_, "n").exptime, kStart + 7);
  EXPECT_EQ(store_->Delta({.key = "n", .delta = 1, .explicit_version = 99}, &out),
            DeltaResult::kOk);
  EXPECT_EQ(out.version, 99u);
}

TEST_F(StoreMetaTest, DeltaOnEmptyValueIsNonNumericBeforeCasCheck) {
  const uint64_t v = PutVersion("e", "");
  uint64_t value = 0;
  EXPECT_EQ(store_->Delta({.key = "e", .delta = 1, .cas = v + 1}, &value),
            DeltaResult::kNonNumeric);
  PutVersion("x", "abc");
  EXPECT_EQ(store_->Delta({.key = "x", .delta = 1, .cas = 12345}, &value), DeltaResult::kExists);
}

// ---------------------------------------------------------------------------------------------
// ItemsStep

TEST_F(StoreMetaTest, ItemsStepVisitsLiveItemsOnlyWithTheirMetadata) {
  PutVersion("live", "v");
  PutVersion("gone", "v");
  PutVersion("short", "v", 10);
  EXPECT_EQ(store_->Delete("gone"), DeleteResult::kDeleted);
  Fetch(*store_, "live");
  clock_.Advance(20);
  std::vector<std::string> seen;
  SnapshotCursor cursor;
  for (int i = 0;
       i < 1 << 20 && store_->ItemsStep(&cursor, 16,
                                        [&](const ItemView& v) {
                                          seen.push_back(std::string(v.key) +
                                                         (v.fetched_before ? " fetched" : "") +
                                                         " cls" + std::to_string(v.class_id));
                                        });
       ++i) {
  }
  EXPECT_TRUE(cursor.done);
  EXPECT_THAT(seen, ElementsAre("live fetched cls1"));
}

TEST_F(StoreMetaTest, ItemsStepOnEmptyStoreVisitsNothing) {
  std::vector<std::string> seen;
  SnapshotCursor cursor;
  while (store_->ItemsStep(&cursor, 1 << 16,
                           [&](const ItemView& v) { seen.push_back(std::string(v.key)); })) {
  }
  EXPECT_TRUE(seen.empty());
}

}  // namespace
}  // namespace memtwin::storage
