// storage::Store, single-threaded behaviour: store modes, reads, versions, size limits, expiry,
// touch, delete, incr/decr, flush_all, stats and what reaches the MutationSink. memcached 1.6's
// behaviour (memcached.c: do_store_item, do_add_delta, realtime) is the reference.
#include "storage/store.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/item.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::Fetch;
using test::Fetched;
using test::kStart;
using test::Put;
using test::ValueOf;
using ::testing::ElementsAre;

constexpr uint32_t k30Days = 60 * 60 * 24 * 30;

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() { Reset(StorageOptions{}); }

  void Reset(const StorageOptions& options) {
    store_.reset();
    store_ = test::MakeStore(options, &clock_);
  }

  Store& store() { return *store_; }

  StoreResult Mode(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags = 0,
                   int64_t exptime = 0, uint64_t cas = 0, bool vivify = false,
                   uint64_t* version = nullptr) {
    return store_->Set({.mode = mode,
                        .key = key,
                        .value = value,
                        .flags = flags,
                        .exptime = exptime,
                        .cas = cas,
                        .vivify = vivify},
                       version);
  }

  DeltaResult Incr(std::string_view key, uint64_t delta, uint64_t* value = nullptr,
                   uint64_t cas = 0, uint64_t* version = nullptr) {
    uint64_t ignored = 0;
    return store_->Delta({.key = key, .incr = true, .delta = delta, .cas = cas},
                         value ? value : &ignored, version);
  }
  DeltaResult Decr(std::string_view key, uint64_t delta, uint64_t* value = nullptr,
                   uint64_t cas = 0, uint64_t* version = nullptr) {
    uint64_t ignored = 0;
    return store_->Delta({.key = key, .incr = false, .delta = delta, .cas = cas},
                         value ? value : &ignored, version);
  }

  uint64_t VersionOf(std::string_view key) { return Fetch(*store_, key).version; }

  ManualClock clock_{kStart};
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------------------------------------
// Store modes

TEST_F(StoreTest, SetThenGetReturnsValueFlagsAndVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "hello", 42, 0, &version), StoreResult::kStored);
  EXPECT_NE(version, 0u);
  Fetched f = Fetch(store(), "k");
  ASSERT_EQ(f.result, LookupResult::kHit);
  EXPECT_TRUE(f.visited);
  EXPECT_EQ(f.key, "k");
  EXPECT_EQ(f.value, "hello");
  EXPECT_EQ(f.flags, 42u);
  EXPECT_EQ(f.exptime, 0u);
  EXPECT_EQ(f.version, version);
  EXPECT_EQ(f.last_access, kStart);
  EXPECT_EQ(f.class_id, store().slab_classes().ClassFor(Item::TotalSize(1, 5)));
}

TEST_F(StoreTest, GetOfMissingKeyMissesWithoutCallingVisitor) {
  Fetched f = Fetch(store(), "nope");
  EXPECT_EQ(f.result, LookupResult::kMiss);
  EXPECT_FALSE(f.visited);
}

TEST_F(StoreTest, SetOverwritesValueAndFlags) {
  ASSERT_EQ(Put(store(), "k", "one", 1), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "k", "two-longer", 2), StoreResult::kStored);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.value, "two-longer");
  EXPECT_EQ(f.flags, 2u);
}

TEST_F(StoreTest, EmptyValueIsStoredAndReadBack) {
  ASSERT_EQ(Put(store(), "k", ""), StoreResult::kStored);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.result, LookupResult::kHit);
  EXPECT_EQ(f.value, "");
}

TEST_F(StoreTest, BinaryValueRoundTrips) {
  const std::string value("a\0b\r\nc\xff", 7);
  ASSERT_EQ(Put(store(), "bin", value), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "bin"), value);
}

TEST_F(StoreTest, FetchedBeforeIsSetFromTheSecondRead) {
  ASSERT_EQ(Put(store(), "k", "v"), StoreResult::kStored);
  EXPECT_FALSE(Fetch(store(), "k").fetched_before);
  EXPECT_TRUE(Fetch(store(), "k").fetched_before);
  ASSERT_EQ(Put(store(), "k", "v2"), StoreResult::kStored);
  EXPECT_FALSE(Fetch(store(), "k").fetched_before);
}

TEST_F(StoreTest, AddStoresOnlyWhenKeyIsMissing) {
  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "first"), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "second"), StoreResult::kNotStored);
  EXPECT_EQ(ValueOf(store(), "k"), "first");
}

TEST_F(StoreTest, AddSucceedsOverExpiredItem) {
  ASSERT_EQ(Put(store(), "k", "old", 0, 5), StoreResult::kStored);
  clock_.Advance(5);
  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "new"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "new");
}

TEST_F(StoreTest, ReplaceStoresOnlyWhenKeyExists) {
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "v"), StoreResult::kNotStored);
  EXPECT_EQ(ValueOf(store(), "k"), "kMiss");
  ASSERT_EQ(Put(store(), "k", "old", 3), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "new", 4), StoreResult::kStored);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.value, "new");
  EXPECT_EQ(f.flags, 4u);
}

TEST_F(StoreTest, ReplaceFailsOnExpiredItem) {
  ASSERT_EQ(Put(store(), "k", "old", 0, 5), StoreResult::kStored);
  clock_.Advance(5);
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "new"), StoreResult::kNotStored);
  EXPECT_NE(Fetch(store(), "k").result, LookupResult::kHit);
}

TEST_F(StoreTest, AppendAndPrependNeedAnExistingItem) {
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kPrepend, "k", "x"), StoreResult::kNotStored);
  EXPECT_EQ(ValueOf(store(), "k"), "kMiss");
}

TEST_F(StoreTest, AppendAndPrependConcatenate) {
  ASSERT_EQ(Put(store(), "k", "mid"), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "-end"), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kPrepend, "k", "start-"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "start-mid-end");
}

TEST_F(StoreTest, AppendKeepsFlagsAndExptimeOfOldItem) {
  ASSERT_EQ(Put(store(), "k", "v", 5, 100), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "+a", /*flags=*/9, /*exptime=*/0), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kPrepend, "k", "p+", /*flags=*/11, /*exptime=*/7),
            StoreResult::kStored);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.value, "p+v+a");
  EXPECT_EQ(f.flags, 5u);
  EXPECT_EQ(f.exptime, kStart + 100);
}

TEST_F(StoreTest, AppendGrowsItemIntoLargerClass) {
  const std::string big(5000, 'b');
  ASSERT_EQ(Put(store(), "k", "small"), StoreResult::kStored);
  const uint8_t small_class = Fetch(store(), "k").class_id;
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", big), StoreResult::kStored);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.value, "small" + big);
  EXPECT_GT(f.class_id, small_class);
}

TEST_F(StoreTest, AppendWithVivifyCreatesMissingItem) {
  EXPECT_EQ(Mode(StoreMode::kAppend, "a", "va", 7, 0, 0, /*vivify=*/true), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kPrepend, "p", "vp", 8, 0, 0, /*vivify=*/true), StoreResult::kStored);
  Fetched a = Fetch(store(), "a");
  EXPECT_EQ(a.value, "va");
  EXPECT_EQ(a.flags, 7u);
  EXPECT_EQ(ValueOf(store(), "p"), "vp");
  // On an existing item vivify is a plain append.
  EXPECT_EQ(Mode(StoreMode::kAppend, "a", "+", 0, 0, 0, /*vivify=*/true), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "a"), "va+");
}

TEST_F(StoreTest, AppendWithCasChecksVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "x", 0, 0, version + 1000), StoreResult::kExists);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "y", 0, 0, version), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "vy");
}

TEST_F(StoreTest, CasStoresOnlyWithMatchingVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v1", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "bad", 0, 0, version + 1), StoreResult::kExists);
  EXPECT_EQ(ValueOf(store(), "k"), "v1");
  uint64_t new_version = 0;
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "v2", 3, 0, version, false, &new_version),
            StoreResult::kStored);
  EXPECT_GT(new_version, version);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.value, "v2");
  EXPECT_EQ(f.flags, 3u);
  EXPECT_EQ(f.version, new_version);
  // The old version is now stale.
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "v3", 0, 0, version), StoreResult::kExists);
}

TEST_F(StoreTest, CasOnMissingKeyIsNotFound) {
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "v", 0, 0, 12345), StoreResult::kNotFound);
  EXPECT_EQ(ValueOf(store(), "k"), "kMiss");
}

TEST_F(StoreTest, CasOnExpiredKeyIsNotFound) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 10, &version), StoreResult::kStored);
  clock_.Advance(10);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "v2", 0, 0, version), StoreResult::kNotFound);
}

TEST_F(StoreTest, CasAfterDeleteIsNotFound) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "v2", 0, 0, version), StoreResult::kNotFound);
}

// Meta "ms" with a C token: memcached upgrades set (and replace) to cas mode.
TEST_F(StoreTest, SetWithCasBehavesLikeCas) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v1", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kSet, "k", "bad", 0, 0, version + 7), StoreResult::kExists);
  EXPECT_EQ(ValueOf(store(), "k"), "v1");
  EXPECT_EQ(Mode(StoreMode::kSet, "k", "v2", 0, 0, version), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "v2");
  EXPECT_EQ(Mode(StoreMode::kSet, "missing", "v", 0, 0, 99), StoreResult::kNotFound);
  EXPECT_EQ(ValueOf(store(), "missing"), "kMiss");
}

TEST_F(StoreTest, ReplaceWithMismatchedCasIsExists) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v1", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "bad", 0, 0, version + 1), StoreResult::kExists);
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "v2", 0, 0, version), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "v2");
}

TEST_F(StoreTest, StoreResultNamesAreDistinct) {
  const std::vector<StoreResult> all = {StoreResult::kStored,   StoreResult::kNotStored,
                                        StoreResult::kExists,   StoreResult::kNotFound,
                                        StoreResult::kTooLarge, StoreResult::kOutOfMemory};
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_NE(StoreResultName(all[i]), nullptr);
    for (size_t j = 0; j < i; ++j) {
      EXPECT_STRNE(StoreResultName(all[i]), StoreResultName(all[j]));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Versions

TEST_F(StoreTest, VersionsStrictlyIncreaseOnEveryMutation) {
  std::vector<uint64_t> versions;
  auto record = [&] {
    Fetched f = Fetch(store(), "k");
    ASSERT_EQ(f.result, LookupResult::kHit);
    versions.push_back(f.version);
  };
  ASSERT_EQ(Put(store(), "k", "1"), StoreResult::kStored);
  record();
  ASSERT_EQ(Put(store(), "k", "1"), StoreResult::kStored);  // same value, still a new version
  record();
  ASSERT_EQ(Mode(StoreMode::kReplace, "k", "2"), StoreResult::kStored);
  record();
  ASSERT_EQ(Mode(StoreMode::kAppend, "k", "3"), StoreResult::kStored);
  record();
  ASSERT_EQ(Mode(StoreMode::kPrepend, "k", "4"), StoreResult::kStored);
  record();
  ASSERT_EQ(Mode(StoreMode::kCas, "k", "5", 0, 0, versions.back()), StoreResult::kStored);
  record();
  ASSERT_EQ(Incr("k", 1), DeltaResult::kOk);
  record();
  ASSERT_EQ(Decr("k", 1), DeltaResult::kOk);
  record();
  ASSERT_EQ(store().Touch("k", 100), LookupResult::kHit);
  record();
  ASSERT_EQ(store().GetAndTouch("k", 200, [](const ItemView&) {}), LookupResult::kHit);
  record();
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  ASSERT_EQ(Mode(StoreMode::kAdd, "k", "6"), StoreResult::kStored);
  record();
  for (size_t i = 1; i < versions.size(); ++i) {
    EXPECT_GT(versions[i], versions[i - 1]) << "after mutation #" << i;
  }
}

TEST_F(StoreTest, VersionsAreUniqueAcrossKeys) {
  uint64_t a = 0, b = 0, c = 0;
  ASSERT_EQ(Put(store(), "a", "v", 0, 0, &a), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", "v", 0, 0, &b), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "c", "v", 0, 0, &c), StoreResult::kStored);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(StoreTest, ReadsDoNotChangeVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  clock_.Advance(120);  // past the LRU bump interval: a read bumps but must not re-version
  EXPECT_EQ(VersionOf("k"), version);
  EXPECT_EQ(VersionOf("k"), version);
}

TEST_F(StoreTest, FailedStoresDoNotChangeVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "x", 0, 0, version + 1), StoreResult::kExists);
  EXPECT_EQ(store().Delete("k", version + 1), DeleteResult::kExists);
  EXPECT_EQ(Incr("k", 1), DeltaResult::kNonNumeric);
  EXPECT_EQ(VersionOf("k"), version);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
}

TEST_F(StoreTest, InjectedVersionClockSuppliesVersions) {
  test::LamportVersionClock versions(7);
  store_.reset();
  store_ = test::MakeStore(StorageOptions{}, &clock_, &versions);
  uint64_t v1 = 0, v2 = 0;
  ASSERT_EQ(Put(store(), "a", "v", 0, 0, &v1), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", "v", 0, 0, &v2), StoreResult::kStored);
  EXPECT_EQ(v1 & 0xff, 7u);
  EXPECT_EQ(v2 & 0xff, 7u);
  EXPECT_GT(v2, v1);
  EXPECT_EQ(VersionOf("b"), v2);
  store_.reset();  // before `versions` goes away
}

// ---------------------------------------------------------------------------------------------
// Size limits

TEST_F(StoreTest, ItemExactlyAtItemSizeMaxIsStored) {
  const size_t max = store().item_size_max();
  const std::string value(max - Item::TotalSize(3, 0), 'v');
  EXPECT_EQ(Put(store(), "key", value), StoreResult::kStored);
  Fetched f = Fetch(store(), "key");
  ASSERT_EQ(f.result, LookupResult::kHit);
  EXPECT_EQ(f.value.size(), value.size());
}

TEST_F(StoreTest, ItemOneByteOverItemSizeMaxIsTooLarge) {
  const size_t max = store().item_size_max();
  // Header (40) + key + value counts, so a value of max - 40 - key + 1 is one byte too many.
  const std::string value(max - Item::TotalSize(3, 0) + 1, 'v');
  EXPECT_EQ(Put(store(), "key", value), StoreResult::kTooLarge);
  EXPECT_EQ(ValueOf(store(), "key"), "kMiss");
  EXPECT_EQ(Put(store(), "key", std::string(4u << 20, 'v')), StoreResult::kTooLarge);
}

TEST_F(StoreTest, KeyLongerThan250IsTooLarge) {
  const std::string key250(kMaxKeyLength, 'k');
  const std::string key251(kMaxKeyLength + 1, 'k');
  EXPECT_EQ(Put(store(), key250, "v"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), key250), "v");
  EXPECT_EQ(Put(store(), key251, "v"), StoreResult::kTooLarge);
  EXPECT_EQ(Mode(StoreMode::kAdd, key251, "v"), StoreResult::kTooLarge);
}

TEST_F(StoreTest, TooLargeSetRemovesOldValue) {
  // memcached: "Avoid stale data persisting in cache because we failed alloc."
  ASSERT_EQ(Put(store(), "k", "old"), StoreResult::kStored);
  const std::string huge(store().item_size_max(), 'x');
  EXPECT_EQ(Put(store(), "k", huge), StoreResult::kTooLarge);
  EXPECT_EQ(ValueOf(store(), "k"), "kMiss");
  EXPECT_EQ(store().Stats().curr_items, 0u);
}

TEST_F(StoreTest, AppendBeyondItemSizeMaxIsNotStoredAndKeepsOldValue) {
  // memcached allocates the combined item in do_store_item; when that fails: NOT_STORED.
  const std::string half(store().item_size_max() / 2, 'h');
  ASSERT_EQ(Put(store(), "k", half), StoreResult::kStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", half), StoreResult::kNotStored);
  EXPECT_EQ(Fetch(store(), "k").value.size(), half.size());
}

TEST_F(StoreTest, LargerItemSizeMaxAcceptsMultiMegabyteItems) {
  StorageOptions options;
  options.item_size_max = 4u << 20;
  Reset(options);
  const std::string value(3u << 20, 'z');
  EXPECT_EQ(Put(store(), "big", value), StoreResult::kStored);
  EXPECT_EQ(Fetch(store(), "big").value.size(), value.size());
  EXPECT_EQ(Put(store(), "bigger", std::string(4u << 20, 'z')), StoreResult::kTooLarge);
}

// ---------------------------------------------------------------------------------------------
// Expiry

TEST(AbsoluteExptimeTest, ZeroMeansNever) { EXPECT_EQ(AbsoluteExptime(0, kStart), 0u); }

TEST(AbsoluteExptimeTest, NegativeIsAlreadyExpired) {
  for (int64_t e : {int64_t{-1}, int64_t{-1000}, std::numeric_limits<int64_t>::min()}) {
    const uint32_t abs = AbsoluteExptime(e, kStart);
    EXPECT_NE(abs, 0u) << e;
    EXPECT_LE(abs, kStart) << e;
  }
}

TEST(AbsoluteExptimeTest, UpToThirtyDaysIsRelative) {
  EXPECT_EQ(kMaxRelativeExptime, int64_t{k30Days});
  EXPECT_EQ(AbsoluteExptime(1, kStart), kStart + 1);
  EXPECT_EQ(AbsoluteExptime(10, kStart), kStart + 10);
  EXPECT_EQ(AbsoluteExptime(k30Days, kStart), kStart + k30Days);
}

TEST(AbsoluteExptimeTest, AboveThirtyDaysIsAbsolute) {
  EXPECT_EQ(AbsoluteExptime(kStart + 100, kStart), kStart + 100);
  EXPECT_EQ(AbsoluteExptime(int64_t{kStart} + k30Days + 1, kStart), kStart + k30Days + 1);
}

TEST(AbsoluteExptimeTest, AbsoluteTimeInThePastIsExpired) {
  // 30 days + 1 second is an absolute time in January 1970.
  for (int64_t e : {int64_t{k30Days} + 1, int64_t{kStart} - 1, int64_t{kStart}}) {
    const uint32_t abs = AbsoluteExptime(e, kStart);
    EXPECT_NE(abs, 0u) << e;
    EXPECT_LE(abs, kStart) << e;
  }
}

TEST_F(StoreTest, ItemExpiresExactlyAtItsExptime) {
  ASSERT_EQ(Put(store(), "k", "v", 0, 10), StoreResult::kStored);
  EXPECT_EQ(Fetch(store(), "k").exptime, kStart + 10);
  clock_.Advance(9);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
  clock_.Advance(1);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kExpired);
  // The expired read reclaimed it.
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
}

TEST_F(StoreTest, ZeroExptimeNeverExpires) {
  ASSERT_EQ(Put(store(), "k", "v", 0, 0), StoreResult::kStored);
  clock_.Advance(10 * k30Days);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
}

TEST_F(StoreTest, NegativeExptimeIsNeverVisible) {
  EXPECT_EQ(Put(store(), "k", "v", 0, -1), StoreResult::kStored);
  EXPECT_NE(Fetch(store(), "k").result, LookupResult::kHit);
}

TEST_F(StoreTest, ThirtyDaysIsRelativeAndOneMoreIsAbsolute) {
  ASSERT_EQ(Put(store(), "rel", "v", 0, k30Days), StoreResult::kStored);
  EXPECT_EQ(Fetch(store(), "rel").exptime, kStart + k30Days);
  ASSERT_EQ(Put(store(), "abs", "v", 0, int64_t{k30Days} + 1), StoreResult::kStored);
  EXPECT_NE(Fetch(store(), "abs").result, LookupResult::kHit);
}

TEST_F(StoreTest, AbsoluteExptimeInFutureExpiresThen) {
  ASSERT_EQ(Put(store(), "k", "v", 0, int64_t{kStart} + 1000), StoreResult::kStored);
  EXPECT_EQ(Fetch(store(), "k").exptime, kStart + 1000);
  clock_.Set(kStart + 999);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kHit);
  clock_.Set(kStart + 1000);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kExpired);
}

TEST_F(StoreTest, AbsoluteExptimeInPastIsExpiredAtOnce) {
  EXPECT_EQ(Put(store(), "k", "v", 0, int64_t{kStart} - 1), StoreResult::kStored);
  EXPECT_NE(Fetch(store(), "k").result, LookupResult::kHit);
}

// ---------------------------------------------------------------------------------------------
// Touch and get-and-touch

TEST_F(StoreTest, TouchSetsNewExpiryAndNewVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 9, 10, &version), StoreResult::kStored);
  EXPECT_EQ(store().Touch("k", 100), LookupResult::kHit);
  Fetched f = Fetch(store(), "k");
  EXPECT_EQ(f.exptime, kStart + 100);
  EXPECT_EQ(f.value, "v");
  EXPECT_EQ(f.flags, 9u);
  EXPECT_GT(f.version, version);
  clock_.Advance(50);  // past the original expiry
  EXPECT_EQ(ValueOf(store(), "k"), "v");
  clock_.Advance(50);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kExpired);
}

TEST_F(StoreTest, TouchWithZeroRemovesExpiry) {
  ASSERT_EQ(Put(store(), "k", "v", 0, 10), StoreResult::kStored);
  EXPECT_EQ(store().Touch("k", 0), LookupResult::kHit);
  EXPECT_EQ(Fetch(store(), "k").exptime, 0u);
  clock_.Advance(1000);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
}

TEST_F(StoreTest, TouchWithNegativeExptimeExpiresItem) {
  ASSERT_EQ(Put(store(), "k", "v"), StoreResult::kStored);
  EXPECT_EQ(store().Touch("k", -1), LookupResult::kHit);
  EXPECT_NE(Fetch(store(), "k").result, LookupResult::kHit);
}

TEST_F(StoreTest, TouchOnMissingOrExpiredKeyMisses) {
  EXPECT_EQ(store().Touch("nope", 10), LookupResult::kMiss);
  ASSERT_EQ(Put(store(), "k", "v", 0, 5), StoreResult::kStored);
  clock_.Advance(5);
  EXPECT_EQ(store().Touch("k", 100), LookupResult::kExpired);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
}

TEST_F(StoreTest, GetAndTouchReturnsValueWithNewExpiryAndVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "value", 4, 10, &version), StoreResult::kStored);
  Fetched seen;
  EXPECT_EQ(store().GetAndTouch("k", 300, [&](const ItemView& v) { test::CopyView(v, &seen); }),
            LookupResult::kHit);
  EXPECT_EQ(seen.value, "value");
  EXPECT_EQ(seen.flags, 4u);
  EXPECT_EQ(seen.exptime, kStart + 300);
  EXPECT_GT(seen.version, version);
  Fetched after = Fetch(store(), "k");
  EXPECT_EQ(after.version, seen.version);  // a gats CAS works for a following cas
  EXPECT_EQ(after.exptime, kStart + 300);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "next", 0, 0, seen.version), StoreResult::kStored);
}

TEST_F(StoreTest, GetAndTouchOnExpiredItemReportsExpired) {
  ASSERT_EQ(Put(store(), "k", "v", 0, 5), StoreResult::kStored);
  clock_.Advance(5);
  bool visited = false;
  EXPECT_EQ(store().GetAndTouch("k", 100, [&](const ItemView&) { visited = true; }),
            LookupResult::kExpired);
  EXPECT_FALSE(visited);
  EXPECT_EQ(store().GetAndTouch("nope", 100, [&](const ItemView&) { visited = true; }),
            LookupResult::kMiss);
  EXPECT_FALSE(visited);
}

// ---------------------------------------------------------------------------------------------
// Delete

TEST_F(StoreTest, DeleteRemovesItem) {
  ASSERT_EQ(Put(store(), "k", "v"), StoreResult::kStored);
  EXPECT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kMiss);
  EXPECT_EQ(store().Delete("k"), DeleteResult::kNotFound);
  EXPECT_EQ(store().Stats().curr_items, 0u);
}

TEST_F(StoreTest, DeleteOfMissingOrExpiredKeyIsNotFound) {
  EXPECT_EQ(store().Delete("nope"), DeleteResult::kNotFound);
  ASSERT_EQ(Put(store(), "k", "v", 0, 5), StoreResult::kStored);
  clock_.Advance(5);
  EXPECT_EQ(store().Delete("k"), DeleteResult::kNotFound);
}

TEST_F(StoreTest, DeleteWithCasChecksVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  EXPECT_EQ(store().Delete("k", version + 1), DeleteResult::kExists);
  EXPECT_EQ(ValueOf(store(), "k"), "v");
  EXPECT_EQ(store().Delete("k", version), DeleteResult::kDeleted);
  EXPECT_EQ(ValueOf(store(), "k"), "kMiss");
}

TEST_F(StoreTest, SetAfterDeleteIsVisible) {
  ASSERT_EQ(Put(store(), "k", "v1"), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "v2"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "k"), "v2");
  EXPECT_EQ(store().Stats().curr_items, 1u);
}

TEST_F(StoreTest, ReplaceAndAppendAfterDeleteAreNotStored) {
  ASSERT_EQ(Put(store(), "k", "v1"), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  EXPECT_EQ(Mode(StoreMode::kReplace, "k", "v2"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "k", "v2"), StoreResult::kNotStored);
  EXPECT_EQ(store().Touch("k", 10), LookupResult::kMiss);
  EXPECT_EQ(Incr("k", 1), DeltaResult::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// incr / decr

TEST_F(StoreTest, IncrAndDecrChangeNumber) {
  ASSERT_EQ(Put(store(), "n", "10"), StoreResult::kStored);
  uint64_t value = 0;
  EXPECT_EQ(Incr("n", 5, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 15u);
  EXPECT_EQ(ValueOf(store(), "n"), "15");
  EXPECT_EQ(Decr("n", 3, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 12u);
  EXPECT_EQ(ValueOf(store(), "n"), "12");
}

TEST_F(StoreTest, DeltaOnMissingKeyIsNotFound) {
  EXPECT_EQ(Incr("n", 1), DeltaResult::kNotFound);
  EXPECT_EQ(Decr("n", 1), DeltaResult::kNotFound);
  EXPECT_EQ(ValueOf(store(), "n"), "kMiss");
}

TEST_F(StoreTest, IncrWrapsAt2To64) {
  ASSERT_EQ(Put(store(), "n", "18446744073709551615"), StoreResult::kStored);
  uint64_t value = 1;
  EXPECT_EQ(Incr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 0u);
  // memcached rewrites in place and pads the shorter number with spaces.
  EXPECT_EQ(ValueOf(store(), "n"), std::string("0").append(19, ' '));
  ASSERT_EQ(Put(store(), "m", "18446744073709551610"), StoreResult::kStored);
  EXPECT_EQ(Incr("m", 10, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 4u);
}

TEST_F(StoreTest, DecrStopsAtZero) {
  ASSERT_EQ(Put(store(), "n", "5"), StoreResult::kStored);
  uint64_t value = 1;
  EXPECT_EQ(Decr("n", 10, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 0u);
  EXPECT_EQ(ValueOf(store(), "n"), "0");
  EXPECT_EQ(Decr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 0u);
}

TEST_F(StoreTest, DeltaOnNonNumericValueFails) {
  for (const char* bad : {"abc", "12abc", "", "-5", "x1", "18446744073709551616", "1.5"}) {
    SCOPED_TRACE(absl::StrCat("value \"", bad, "\""));
    ASSERT_EQ(Put(store(), "n", bad), StoreResult::kStored);
    EXPECT_EQ(Incr("n", 1), DeltaResult::kNonNumeric);
    EXPECT_EQ(Decr("n", 1), DeltaResult::kNonNumeric);
    EXPECT_EQ(ValueOf(store(), "n"), bad);
  }
}

// memcached's safe_strtoull: strtoull, then white space or the end must follow the digits.
// Results captured from memcached 1.6.18 ("set k 0 0 N", "incr k 1", "get k").
TEST_F(StoreTest, DeltaParsesNumbersLikeMemcached) {
  struct Case {
    const char* stored;
    const char* after_incr;  // nullptr: non-numeric
  };
  for (const Case& c : {Case{" 7", "8 "}, Case{"12 34", "13   "}, Case{"007", "8  "},
                        Case{"5\t", "6 "}, Case{"0x10", nullptr}, Case{"   ", nullptr}}) {
    SCOPED_TRACE(absl::StrCat("value \"", c.stored, "\""));
    ASSERT_EQ(Put(store(), "n", c.stored), StoreResult::kStored);
    if (c.after_incr == nullptr) {
      EXPECT_EQ(Incr("n", 1), DeltaResult::kNonNumeric);
      EXPECT_EQ(ValueOf(store(), "n"), c.stored);
    } else {
      EXPECT_EQ(Incr("n", 1), DeltaResult::kOk);
      EXPECT_EQ(ValueOf(store(), "n"), c.after_incr);
    }
  }
}

// strtoull also takes a sign: memcached 1.6.18 answers "incr" on "+5" with 6 and on "-0" with 1
// (only a negative number that wraps is refused, see DeltaOnNonNumericValueFails' "-5").
TEST_F(StoreTest, DeltaAcceptsSignedFormsStrtoullAccepts) {
  ASSERT_EQ(Put(store(), "n", "+5"), StoreResult::kStored);
  uint64_t value = 0;
  EXPECT_EQ(Incr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 6u);
  EXPECT_EQ(ValueOf(store(), "n"), "6 ");
  ASSERT_EQ(Put(store(), "m", "-0"), StoreResult::kStored);
  EXPECT_EQ(Incr("m", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 1u);
}

TEST_F(StoreTest, DecrThatShrinksNumberPadsWithSpacesInPlace) {
  ASSERT_EQ(Put(store(), "n", "100"), StoreResult::kStored);
  uint64_t value = 0;
  EXPECT_EQ(Decr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 99u);
  EXPECT_EQ(ValueOf(store(), "n"), "99 ");  // memcached's quirk: length stays 3
  EXPECT_EQ(Decr("n", 90, &value), DeltaResult::kOk);
  EXPECT_EQ(ValueOf(store(), "n"), "9  ");
}

TEST_F(StoreTest, IncrThatGrowsNumberLengthensValue) {
  ASSERT_EQ(Put(store(), "n", "99"), StoreResult::kStored);
  uint64_t value = 0;
  EXPECT_EQ(Incr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 100u);
  EXPECT_EQ(ValueOf(store(), "n"), "100");
}

TEST_F(StoreTest, IncrOnValueWithTrailingSpacesWorks) {
  ASSERT_EQ(Put(store(), "n", "100"), StoreResult::kStored);
  ASSERT_EQ(Decr("n", 1), DeltaResult::kOk);  // "99 "
  uint64_t value = 0;
  EXPECT_EQ(Incr("n", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 100u);
  EXPECT_EQ(ValueOf(store(), "n"), "100");
  ASSERT_EQ(Put(store(), "m", "7   "), StoreResult::kStored);
  EXPECT_EQ(Incr("m", 1, &value), DeltaResult::kOk);
  EXPECT_EQ(value, 8u);
  EXPECT_EQ(ValueOf(store(), "m"), "8   ");
}

TEST_F(StoreTest, DeltaKeepsFlagsAndExptime) {
  ASSERT_EQ(Put(store(), "n", "1", 77, 500), StoreResult::kStored);
  ASSERT_EQ(Incr("n", 1), DeltaResult::kOk);
  ASSERT_EQ(Incr("n", 1000), DeltaResult::kOk);  // grows: a new item
  Fetched f = Fetch(store(), "n");
  EXPECT_EQ(f.value, "1002");
  EXPECT_EQ(f.flags, 77u);
  EXPECT_EQ(f.exptime, kStart + 500);
}

TEST_F(StoreTest, DeltaReturnsNewVersion) {
  uint64_t before = 0;
  ASSERT_EQ(Put(store(), "n", "1", 0, 0, &before), StoreResult::kStored);
  uint64_t value = 0, version = 0;
  ASSERT_EQ(Incr("n", 1, &value, 0, &version), DeltaResult::kOk);
  EXPECT_GT(version, before);
  EXPECT_EQ(VersionOf("n"), version);
  ASSERT_EQ(Incr("n", 100, &value, 0, &version), DeltaResult::kOk);  // grows: a new item
  EXPECT_EQ(VersionOf("n"), version);
}

TEST_F(StoreTest, DeltaWithCasChecksVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "n", "5", 0, 0, &version), StoreResult::kStored);
  uint64_t value = 0;
  EXPECT_EQ(Incr("n", 1, &value, version + 1), DeltaResult::kExists);
  EXPECT_EQ(ValueOf(store(), "n"), "5");
  uint64_t new_version = 0;
  EXPECT_EQ(Incr("n", 1, &value, version, &new_version), DeltaResult::kOk);
  EXPECT_EQ(value, 6u);
  EXPECT_EQ(Decr("n", 1, &value, version), DeltaResult::kExists);
  EXPECT_EQ(Decr("n", 1, &value, new_version), DeltaResult::kOk);
  EXPECT_EQ(value, 5u);
}

TEST_F(StoreTest, DeltaOnExpiredItemIsNotFound) {
  ASSERT_EQ(Put(store(), "n", "5", 0, 10), StoreResult::kStored);
  clock_.Advance(10);
  EXPECT_EQ(Incr("n", 1), DeltaResult::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// flush_all

TEST_F(StoreTest, FlushAllNowInvalidatesExistingItemsButNotLaterOnes) {
  ASSERT_EQ(Put(store(), "a", "1"), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", "2"), StoreResult::kStored);
  store().FlushAll(0);
  // Same second: versions, not times, tell which items the flush covers.
  ASSERT_EQ(Put(store(), "c", "3"), StoreResult::kStored);
  EXPECT_EQ(Fetch(store(), "a").result, LookupResult::kFlushed);
  EXPECT_EQ(Fetch(store(), "a").result, LookupResult::kMiss);
  EXPECT_EQ(ValueOf(store(), "b"), "kFlushed");
  EXPECT_EQ(ValueOf(store(), "c"), "3");
  EXPECT_EQ(Mode(StoreMode::kAdd, "a", "new"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "a"), "new");
  EXPECT_EQ(Mode(StoreMode::kReplace, "b", "x"), StoreResult::kNotStored);
}

TEST_F(StoreTest, FlushAllWithNegativeDelayActsNow) {
  ASSERT_EQ(Put(store(), "a", "1"), StoreResult::kStored);
  store().FlushAll(-5);
  EXPECT_EQ(Fetch(store(), "a").result, LookupResult::kFlushed);
}

TEST_F(StoreTest, FlushedItemsAreInvisibleToEveryOperation) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "a", "1", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", "1"), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "c", "1"), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "d", "1"), StoreResult::kStored);
  store().FlushAll(0);
  EXPECT_NE(store().Touch("a", 10), LookupResult::kHit);
  EXPECT_EQ(Incr("b", 1), DeltaResult::kNotFound);
  EXPECT_EQ(store().Delete("c"), DeleteResult::kNotFound);
  EXPECT_EQ(Mode(StoreMode::kCas, "d", "x", 0, 0, version), StoreResult::kNotFound);
}

// memcached sets oldest_live = realtime(delay) - 1 and treats an item as flushed once
// oldest_live <= now and item time <= oldest_live (proto_text.c, items.c item_is_flushed). So
// "flush_all 10" at T takes effect at T + 9, for items last stored at or before T + 9. Checked
// against memcached 1.6.18: after "flush_all 3" an item disappears about 2 s later.
TEST_F(StoreTest, DelayedFlushAllInvalidatesOlderItemsOneSecondBeforeDelayLikeMemcached) {
  ASSERT_EQ(Put(store(), "early", "1"), StoreResult::kStored);
  store().FlushAll(10);
  clock_.Advance(5);
  ASSERT_EQ(Put(store(), "middle", "2"), StoreResult::kStored);
  clock_.Advance(3);  // now + 8: nothing flushed yet
  ASSERT_EQ(Put(store(), "late", "3"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "early"), "1");
  EXPECT_EQ(ValueOf(store(), "middle"), "2");
  EXPECT_EQ(ValueOf(store(), "late"), "3");
  clock_.Advance(1);  // now + 9: everything stored up to this second is gone
  EXPECT_EQ(Fetch(store(), "early").result, LookupResult::kFlushed);
  EXPECT_EQ(Fetch(store(), "middle").result, LookupResult::kFlushed);
  EXPECT_EQ(Fetch(store(), "late").result, LookupResult::kFlushed);
  clock_.Advance(1);  // now + 10
  ASSERT_EQ(Put(store(), "after", "4"), StoreResult::kStored);
  EXPECT_EQ(ValueOf(store(), "after"), "4");
  clock_.Advance(100);
  EXPECT_EQ(ValueOf(store(), "after"), "4");
}

// memcached: a later "flush_all 0" replaces a pending delayed flush (oldest_live = now - 1), so
// items stored after it survive the earlier flush's time. Checked against memcached 1.6.18.
TEST_F(StoreTest, ImmediateFlushAllReplacesPendingDelayedFlush) {
  ASSERT_EQ(Put(store(), "before", "1"), StoreResult::kStored);
  store().FlushAll(10);
  store().FlushAll(0);
  EXPECT_EQ(Fetch(store(), "before").result, LookupResult::kFlushed);
  clock_.Advance(1);
  ASSERT_EQ(Put(store(), "after", "2"), StoreResult::kStored);
  clock_.Advance(20);  // well past the cancelled flush time
  EXPECT_EQ(ValueOf(store(), "after"), "2");
}

// ---------------------------------------------------------------------------------------------
// Stats

TEST_F(StoreTest, StatsCountItemsBytesAndClasses) {
  StoreStats empty = store().Stats();
  EXPECT_EQ(empty.curr_items, 0u);
  EXPECT_EQ(empty.total_items, 0u);
  EXPECT_EQ(empty.bytes, 0u);
  EXPECT_EQ(empty.total_malloced, 0u);
  EXPECT_EQ(empty.limit_maxbytes, StorageOptions{}.memory_limit);
  EXPECT_EQ(empty.hash_power_level, StorageOptions{}.hash_power_initial);
  EXPECT_EQ(empty.hash_bytes, (size_t{1} << StorageOptions{}.hash_power_initial) * sizeof(ItemRef));
  EXPECT_THAT(empty.classes, ElementsAre());

  const std::string small(10, 's');
  const std::string large(1000, 'l');
  ASSERT_EQ(Put(store(), "a", small), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", small), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "c", small), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "L", large), StoreResult::kStored);
  const size_t small_total = Item::TotalSize(1, small.size());  // 51
  const size_t large_total = Item::TotalSize(1, large.size());  // 1041
  const int small_class = store().slab_classes().ClassFor(small_total);
  const int large_class = store().slab_classes().ClassFor(large_total);
  ASSERT_EQ(small_class, 1);
  ASSERT_NE(large_class, small_class);

  StoreStats s = store().Stats();
  EXPECT_EQ(s.curr_items, 4u);
  EXPECT_EQ(s.total_items, 4u);
  EXPECT_EQ(s.bytes, 3 * small_total + large_total);
  EXPECT_EQ(s.total_malloced, 2 * test::kPage);
  EXPECT_EQ(s.evictions, 0u);
  ASSERT_EQ(s.classes.size(), 2u);
  const SlabClassStats* sc = test::FindClass(s, small_class);
  ASSERT_NE(sc, nullptr);
  EXPECT_EQ(sc->chunk_size, 88u);
  EXPECT_EQ(sc->chunks_per_page, test::kPage / 88);
  EXPECT_EQ(sc->total_pages, 1u);
  EXPECT_EQ(sc->total_chunks, test::kPage / 88);
  EXPECT_EQ(sc->used_chunks, 3u);
  EXPECT_EQ(sc->mem_requested, 3 * small_total);
  EXPECT_EQ(sc->items, 3u);
  const SlabClassStats* lc = test::FindClass(s, large_class);
  ASSERT_NE(lc, nullptr);
  EXPECT_EQ(lc->total_pages, 1u);
  EXPECT_EQ(lc->used_chunks, 1u);
  EXPECT_EQ(lc->mem_requested, large_total);
  EXPECT_EQ(lc->items, 1u);

  // Overwrite counts as a new item stored; curr_items does not move.
  ASSERT_EQ(Put(store(), "a", small), StoreResult::kStored);
  s = store().Stats();
  EXPECT_EQ(s.curr_items, 4u);
  EXPECT_EQ(s.total_items, 5u);
  EXPECT_EQ(test::FindClass(s, small_class)->used_chunks, 3u);
  EXPECT_EQ(s.bytes, 3 * small_total + large_total);

  ASSERT_EQ(store().Delete("L"), DeleteResult::kDeleted);
  s = store().Stats();
  EXPECT_EQ(s.curr_items, 3u);
  EXPECT_EQ(s.total_items, 5u);
  EXPECT_EQ(s.bytes, 3 * small_total);
  EXPECT_EQ(test::FindClass(s, large_class)->items, 0u);
  EXPECT_EQ(test::FindClass(s, large_class)->used_chunks, 0u);
}

TEST_F(StoreTest, LocalDeleteLeavesTombstoneNotCountedAsItem) {
  ASSERT_EQ(Put(store(), "a", "v"), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "b", "v"), StoreResult::kStored);
  ASSERT_EQ(store().Delete("a"), DeleteResult::kDeleted);
  StoreStats s = store().Stats();
  EXPECT_EQ(s.curr_items, 1u);
  EXPECT_EQ(s.tombstones, 1u);
  const SlabClassStats* c = test::FindClass(s, 1);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->items, 1u);
  EXPECT_EQ(c->tombstones, 1u);
}

TEST_F(StoreTest, SizeHistogramBucketsItemsBy32Bytes) {
  // Like memcached's "stats sizes": sizes round up to a multiple of 32.
  ASSERT_EQ(Put(store(), "a", std::string(5, 'x')), StoreResult::kStored);   // 46 -> 64
  ASSERT_EQ(Put(store(), "b", std::string(5, 'x')), StoreResult::kStored);   // 46 -> 64
  ASSERT_EQ(Put(store(), "c", std::string(23, 'x')), StoreResult::kStored);  // 64 -> 64
  ASSERT_EQ(Put(store(), "d", std::string(59, 'x')), StoreResult::kStored);  // 100 -> 128
  ASSERT_EQ(Put(store(), "e", std::string(5, 'x')), StoreResult::kStored);
  ASSERT_EQ(store().Delete("e"), DeleteResult::kDeleted);
  using P = std::pair<uint32_t, uint64_t>;
  EXPECT_THAT(store().SizeHistogram(), ElementsAre(P{64, 3}, P{128, 1}));
}

TEST(StoreCreateTest, RejectsGrowthFactorNotAboveOne) {
  ManualClock clock(kStart);
  StorageOptions options;
  options.growth_factor = 1.0;
  EXPECT_FALSE(Store::Create(options, &clock).ok());
}

// ---------------------------------------------------------------------------------------------
// MutationSink

class StoreSinkTest : public StoreTest {
 protected:
  StoreSinkTest() { store_->set_mutation_sink(&sink_); }
  ~StoreSinkTest() override { store_->set_mutation_sink(nullptr); }

  std::vector<test::Recorded> Take() { return sink_.Take(); }

  test::RecordingSink sink_;
};

TEST_F(StoreSinkTest, SetIsReportedWithAbsoluteExptimeAndVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 12, 100, &version), StoreResult::kStored);
  std::vector<test::Recorded> log = Take();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].kind, MutationKind::kSet);
  EXPECT_EQ(log[0].key, "k");
  EXPECT_EQ(log[0].value, "v");
  EXPECT_EQ(log[0].flags, 12u);
  EXPECT_EQ(log[0].exptime, kStart + 100);
  EXPECT_EQ(log[0].version, version);
}

TEST_F(StoreSinkTest, EverySuccessfulModeIsReportedAsResultingState) {
  ASSERT_EQ(Put(store(), "k", "b", 3, 50), StoreResult::kStored);
  ASSERT_EQ(Mode(StoreMode::kAppend, "k", "c"), StoreResult::kStored);
  ASSERT_EQ(Mode(StoreMode::kPrepend, "k", "a"), StoreResult::kStored);
  ASSERT_EQ(Mode(StoreMode::kReplace, "k", "r", 4, 60), StoreResult::kStored);
  ASSERT_EQ(Mode(StoreMode::kCas, "k", "c", 5, 0, VersionOf("k")), StoreResult::kStored);
  ASSERT_EQ(Mode(StoreMode::kAdd, "n", "100", 6), StoreResult::kStored);
  ASSERT_EQ(Decr("n", 1), DeltaResult::kOk);
  ASSERT_EQ(Incr("n", 901), DeltaResult::kOk);
  std::vector<test::Recorded> log = Take();
  std::vector<std::string> rendered;
  std::vector<uint64_t> versions;
  for (const auto& r : log) {
    rendered.push_back(Render(r));
    versions.push_back(r.version);
  }
  const std::string e50 = absl::StrCat(kStart + 50), e60 = absl::StrCat(kStart + 60);
  ASSERT_EQ(log.size(), 8u) << ::testing::PrintToString(rendered);
  EXPECT_EQ(rendered[0], absl::StrCat("Set(k,b,3,", e50, ")@", versions[0]));
  EXPECT_EQ(rendered[1], absl::StrCat("Set(k,bc,3,", e50, ")@", versions[1]));
  EXPECT_EQ(rendered[2], absl::StrCat("Set(k,abc,3,", e50, ")@", versions[2]));
  EXPECT_EQ(rendered[3], absl::StrCat("Set(k,r,4,", e60, ")@", versions[3]));
  EXPECT_EQ(rendered[4], absl::StrCat("Set(k,c,5,0)@", versions[4]));
  EXPECT_EQ(rendered[5], absl::StrCat("Set(n,100,6,0)@", versions[5]));
  EXPECT_EQ(rendered[6], absl::StrCat("Set(n,99 ,6,0)@", versions[6]));
  EXPECT_EQ(rendered[7], absl::StrCat("Set(n,1000,6,0)@", versions[7]));
  for (size_t i = 1; i < versions.size(); ++i) EXPECT_GT(versions[i], versions[i - 1]);
  EXPECT_EQ(versions[4], VersionOf("k"));
  EXPECT_EQ(versions[7], VersionOf("n"));
}

TEST_F(StoreSinkTest, TouchAndGetAndTouchAreReportedAsSetWithNewExpiry) {
  ASSERT_EQ(Put(store(), "k", "v", 2, 10), StoreResult::kStored);
  ASSERT_EQ(store().Touch("k", 100), LookupResult::kHit);
  const uint64_t touched = VersionOf("k");
  ASSERT_EQ(store().GetAndTouch("k", 0, [](const ItemView&) {}), LookupResult::kHit);
  const uint64_t gat = VersionOf("k");
  std::vector<test::Recorded> log = Take();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(Render(log[1]), absl::StrCat("Set(k,v,2,", kStart + 100, ")@", touched));
  EXPECT_EQ(Render(log[2]), absl::StrCat("Set(k,v,2,0)@", gat));
}

TEST_F(StoreSinkTest, DeleteIsReportedWithTombstoneExpiryAndNewVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(store().Delete("k"), DeleteResult::kDeleted);
  std::vector<test::Recorded> log = Take();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].kind, MutationKind::kDelete);
  EXPECT_EQ(log[1].key, "k");
  EXPECT_GT(log[1].version, version);
  EXPECT_EQ(log[1].exptime, kStart + StorageOptions{}.tombstone_ttl_seconds);
  // A later write orders after the delete.
  uint64_t after = 0;
  ASSERT_EQ(Put(store(), "k", "v2", 0, 0, &after), StoreResult::kStored);
  EXPECT_GT(after, log[1].version);
}

TEST_F(StoreSinkTest, FlushAllIsReportedWithItsTimeAndVersion) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  store().FlushAll(0);
  store().FlushAll(30);
  std::vector<test::Recorded> log = Take();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[1].kind, MutationKind::kFlushAll);
  EXPECT_EQ(log[1].key, "");
  EXPECT_EQ(log[1].exptime, 0u);
  EXPECT_GT(log[1].version, version);
  EXPECT_EQ(log[2].kind, MutationKind::kFlushAll);
  EXPECT_EQ(log[2].exptime, kStart + 30);
  EXPECT_GT(log[2].version, log[1].version);
}

// The one failed store that changes state: a set too large to store drops the old value (see
// TooLargeSetRemovesOldValue), and the peer must drop it too.
TEST_F(StoreSinkTest, TooLargeSetThatDropsOldValueIsReportedAsDelete) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "old", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "k", std::string(store().item_size_max(), 'x')), StoreResult::kTooLarge);
  std::vector<test::Recorded> log = Take();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].kind, MutationKind::kDelete);
  EXPECT_EQ(log[1].key, "k");
  EXPECT_GT(log[1].version, version);
  // No old value, nothing to drop, nothing to report.
  ASSERT_EQ(Put(store(), "fresh", std::string(store().item_size_max(), 'x')),
            StoreResult::kTooLarge);
  EXPECT_EQ(sink_.size(), 0u);
}

TEST_F(StoreSinkTest, FailedMutationsAndReadsAreNotReported) {
  uint64_t version = 0;
  ASSERT_EQ(Put(store(), "k", "v", 0, 0, &version), StoreResult::kStored);
  ASSERT_EQ(Put(store(), "e", "v", 0, 5), StoreResult::kStored);
  ASSERT_EQ(Take().size(), 2u);

  EXPECT_EQ(Mode(StoreMode::kAdd, "k", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kReplace, "missing", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kAppend, "missing", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kPrepend, "missing", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Mode(StoreMode::kCas, "k", "x", 0, 0, version + 1), StoreResult::kExists);
  EXPECT_EQ(Mode(StoreMode::kCas, "missing", "x", 0, 0, version), StoreResult::kNotFound);
  EXPECT_EQ(Put(store(), std::string(kMaxKeyLength + 1, 'k'), "x"), StoreResult::kTooLarge);
  EXPECT_EQ(store().Delete("missing"), DeleteResult::kNotFound);
  EXPECT_EQ(store().Delete("k", version + 1), DeleteResult::kExists);
  EXPECT_EQ(Incr("missing", 1), DeltaResult::kNotFound);
  EXPECT_EQ(Incr("k", 1), DeltaResult::kNonNumeric);
  EXPECT_EQ(Incr("k", 1, nullptr, version + 1), DeltaResult::kExists);
  EXPECT_EQ(store().Touch("missing", 10), LookupResult::kMiss);
  EXPECT_EQ(store().GetAndTouch("missing", 10, [](const ItemView&) {}), LookupResult::kMiss);
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kHit);
  EXPECT_EQ(Fetch(store(), "missing").result, LookupResult::kMiss);
  clock_.Advance(120);  // reads now bump the LRU: still not a mutation
  EXPECT_EQ(Fetch(store(), "k").result, LookupResult::kHit);
  // Expiry is not a mutation either: each node expires items on its own clock.
  EXPECT_EQ(Fetch(store(), "e").result, LookupResult::kExpired);
  EXPECT_EQ(store().Touch("e", 10), LookupResult::kMiss);
  SnapshotCursor cursor;
  while (store().SnapshotStep(&cursor, 1024, [](const Mutation&) {})) {
  }
  store().Maintain();
  (void)store().Stats();
  (void)store().SizeHistogram();
  EXPECT_THAT(sink_.Rendered(), ElementsAre());
}

TEST_F(StoreSinkTest, AppliedMutationsAreNotReported) {
  Mutation m;
  m.key = "k";
  m.value = "from-peer";
  m.version = 1000;
  ASSERT_EQ(store().Apply(m), ApplyResult::kApplied);
  Mutation d;
  d.kind = MutationKind::kDelete;
  d.key = "k";
  d.version = 1001;
  d.exptime = kStart + 60;
  ASSERT_EQ(store().Apply(d), ApplyResult::kApplied);
  Mutation f;
  f.kind = MutationKind::kFlushAll;
  f.version = 1002;
  ASSERT_EQ(store().Apply(f), ApplyResult::kApplied);
  EXPECT_THAT(sink_.Rendered(), ElementsAre());
}

TEST_F(StoreSinkTest, ClearedSinkReceivesNothing) {
  store().set_mutation_sink(nullptr);
  ASSERT_EQ(Put(store(), "k", "v"), StoreResult::kStored);
  EXPECT_EQ(sink_.size(), 0u);
}

}  // namespace
}  // namespace memtwin::storage
