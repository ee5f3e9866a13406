// storage::Store memory management: pages handed out up to memory_limit, per-class LRU eviction
// (flat: least recently used first, reads bump at most once per interval, expired items reclaimed
// before live ones are evicted; segmented: memcached's HOT/WARM/COLD, JuggleLru, queued bumps and
// the LruMaintainer thread), -M (evict = false) refusing writes instead, and the limit moved at
// run time (SetMemoryLimit, the cache_memlimit command).
//
// The tests fill one slab class whose chunks are large (a handful per 1 MB page) in a store of
// two pages, so the capacity is known exactly: 2 * chunks_per_page.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/item.h"
#include "storage/lru_maintainer.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::Fetch;
using test::kPage;
using test::kStart;
using test::Put;
using test::ValueOf;
using ::testing::ElementsAre;

class StoreLruTest : public ::testing::Test {
 protected:
  void Make(bool evict, size_t pages = 2, uint32_t bump_interval = 60, bool segmented = false) {
    StorageOptions options;
    options.memory_limit = pages * kPage;
    options.evict = evict;
    options.lru_bump_interval_seconds = bump_interval;
    options.lru_segmented = segmented;
    store_ = test::MakeStore(options, &clock_);
    class_id_ = test::ClassWithAtMostPerPage(*store_, 10);
    per_page_ = store_->slab_classes().at(class_id_).chunks_per_page;
    ASSERT_GE(per_page_, 2u);
    capacity_ = pages * per_page_;
    value_len_ = test::ValueLenFilling(*store_, class_id_, Key(0).size());
  }

  // Keys of equal length so every item lands in class_id_.
  static std::string Key(size_t i) { return absl::StrFormat("key-%06d", i); }
  std::string Value(size_t i) const {
    std::string v = absl::StrFormat("value-%04d-", i);
    v.resize(value_len_, '.');
    return v;
  }
  bool HasOriginalValue(size_t i) {
    test::Fetched f = Fetch(*store_, Key(i));
    return f.result == LookupResult::kHit && f.value == Value(i);
  }

  // Stores Key(0) .. Key(capacity_ - 1); all fit without eviction.
  void Fill(int64_t exptime_for_first_half = 0) {
    for (size_t i = 0; i < capacity_; ++i) {
      const int64_t exptime = i < capacity_ / 2 ? exptime_for_first_half : 0;
      ASSERT_EQ(Put(*store_, Key(i), Value(i), 0, exptime), StoreResult::kStored) << i;
    }
    StoreStats s = store_->Stats();
    ASSERT_EQ(s.evictions, 0u);
    ASSERT_EQ(s.curr_items, capacity_);
    ASSERT_EQ(s.total_malloced, store_->Stats().limit_maxbytes);
  }

  // A new key in class_id_ whose stripe differs from all filled keys (eviction never takes a
  // victim from the stripe the writer holds).
  std::string NewKey(const std::string& prefix) {
    std::vector<std::string> avoid;
    for (size_t i = 0; i < capacity_; ++i) avoid.push_back(Key(i));
    std::string key = test::KeyAvoidingStripesOf(prefix, avoid, Key(0).size());
    EXPECT_EQ(key.size(), Key(0).size());
    EXPECT_EQ(store_->slab_classes().ClassFor(Item::TotalSize(key.size(), value_len_)), class_id_);
    return key;
  }

  ManualClock clock_{kStart};
  std::unique_ptr<Store> store_;
  int class_id_ = 0;
  size_t per_page_ = 0;
  size_t capacity_ = 0;
  size_t value_len_ = 0;
};

TEST_F(StoreLruTest, PagesAreTakenOnDemandUpToMemoryLimit) {
  Make(/*evict=*/true, /*pages=*/3);
  EXPECT_EQ(store_->Stats().total_malloced, 0u);
  for (size_t i = 0; i < 3 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
    const StoreStats s = store_->Stats();
    ASSERT_LE(s.total_malloced, 3 * kPage) << i;
    const SlabClassStats* c = test::FindClass(s, class_id_);
    ASSERT_NE(c, nullptr);
    // A page is taken only when the class has no free chunk left.
    EXPECT_EQ(c->total_pages, std::min<uint64_t>(3, (i + per_page_) / per_page_)) << i;
  }
  const StoreStats s = store_->Stats();
  EXPECT_EQ(s.total_malloced, 3 * kPage);
  EXPECT_EQ(s.limit_maxbytes, 3 * kPage);
  EXPECT_EQ(s.curr_items, capacity_);
  EXPECT_EQ(s.evictions, 2 * capacity_);
}

TEST_F(StoreLruTest, MixedClassesNeverAllocateBeyondMemoryLimit) {
  Make(/*evict=*/true, /*pages=*/3);
  const std::vector<size_t> sizes = {100, 10'000, 100'000};
  for (size_t i = 0; i < 600; ++i) {
    const std::string value(sizes[i % 3], 'x');
    ASSERT_EQ(Put(*store_, absl::StrCat("mixed-", i), value), StoreResult::kStored) << i;
    ASSERT_LE(store_->Stats().total_malloced, 3 * kPage) << i;
  }
  EXPECT_EQ(store_->Stats().total_malloced, 3 * kPage);
  EXPECT_EQ(Fetch(*store_, "mixed-599").value.size(), sizes[599 % 3]);
  EXPECT_EQ(Fetch(*store_, "mixed-598").value.size(), sizes[598 % 3]);
  EXPECT_EQ(Fetch(*store_, "mixed-597").value.size(), sizes[597 % 3]);
}

TEST_F(StoreLruTest, FullClassEvictsLeastRecentlyUsedFirst) {
  Make(/*evict=*/true);
  Fill();
  test::RecordingSink sink;
  store_->set_mutation_sink(&sink);
  const std::string k1 = NewKey("new-a-");
  ASSERT_EQ(Put(*store_, k1, Value(1000)), StoreResult::kStored);
  StoreStats s = store_->Stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.evicted_unfetched, 1u);
  EXPECT_EQ(s.curr_items, capacity_);
  EXPECT_EQ(s.total_malloced, 2 * kPage);
  const SlabClassStats* c = test::FindClass(s, class_id_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->evicted, 1u);
  EXPECT_EQ(c->used_chunks, capacity_);

  const std::string k2 = NewKey("new-b-");
  ASSERT_EQ(Put(*store_, k2, Value(1001)), StoreResult::kStored);
  EXPECT_EQ(store_->Stats().evictions, 2u);

  // Evictions are local memory management: only the two sets were reported.
  EXPECT_EQ(sink.size(), 2u);
  store_->set_mutation_sink(nullptr);

  EXPECT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kMiss);
  EXPECT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kMiss);
  for (size_t i = 2; i < capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
  EXPECT_EQ(ValueOf(*store_, k1), Value(1000));
  EXPECT_EQ(ValueOf(*store_, k2), Value(1001));
}

TEST_F(StoreLruTest, OverwriteMovesItemToHeadOfLru) {
  Make(/*evict=*/true);
  Fill();
  ASSERT_EQ(Put(*store_, Key(0), Value(0)), StoreResult::kStored);  // now most recent
  ASSERT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kStored);
  EXPECT_TRUE(HasOriginalValue(0));
  EXPECT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kMiss);
}

TEST_F(StoreLruTest, ReadAfterBumpIntervalKeepsItemOverUnreadOnes) {
  Make(/*evict=*/true, 2, /*bump_interval=*/60);
  Fill();
  clock_.Advance(61);
  ASSERT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kHit);  // bumped to the head
  ASSERT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kStored);
  EXPECT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kMiss);
  EXPECT_TRUE(HasOriginalValue(0));
  EXPECT_EQ(store_->Stats().evictions, 1u);
}

TEST_F(StoreLruTest, ReadWithZeroBumpIntervalKeepsItemOverUnreadOnes) {
  Make(/*evict=*/true, 2, /*bump_interval=*/0);
  Fill();
  clock_.Advance(1);
  ASSERT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kHit);
  ASSERT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kHit);
  ASSERT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kStored);
  EXPECT_EQ(Fetch(*store_, Key(2)).result, LookupResult::kMiss);
  EXPECT_TRUE(HasOriginalValue(0));
  EXPECT_TRUE(HasOriginalValue(1));
}

TEST_F(StoreLruTest, ReadWithinBumpIntervalDoesNotMoveItem) {
  Make(/*evict=*/true, 2, /*bump_interval=*/60);
  Fill();
  clock_.Advance(30);
  ASSERT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kHit);  // too soon to bump
  ASSERT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kStored);
  EXPECT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kMiss);
  EXPECT_TRUE(HasOriginalValue(1));
}

TEST_F(StoreLruTest, ExpiredItemsAreReclaimedBeforeLiveOnesAreEvicted) {
  Make(/*evict=*/true);
  Fill(/*exptime_for_first_half=*/10);  // the oldest half expires first
  clock_.Advance(10);
  const size_t expired = capacity_ / 2;
  std::vector<std::string> added;
  for (size_t i = 0; i < expired; ++i) {
    added.push_back(NewKey(absl::StrCat("n", i, "-")));
    ASSERT_EQ(Put(*store_, added.back(), Value(2000 + i)), StoreResult::kStored) << i;
  }
  const StoreStats s = store_->Stats();
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.reclaimed, expired);
  EXPECT_EQ(s.expired_unfetched, expired);
  EXPECT_EQ(s.curr_items, capacity_);
  for (size_t i = expired; i < capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
  for (size_t i = 0; i < expired; ++i) EXPECT_EQ(ValueOf(*store_, added[i]), Value(2000 + i));
}

TEST_F(StoreLruTest, FlushedItemsAreReclaimedBeforeLiveOnesAreEvicted) {
  Make(/*evict=*/true);
  Fill();
  store_->FlushAll(0);
  for (size_t i = 0; i < capacity_; ++i) {
    ASSERT_EQ(Put(*store_, NewKey(absl::StrCat("f", i, "-")), Value(i)), StoreResult::kStored);
  }
  EXPECT_EQ(store_->Stats().evictions, 0u);
}

TEST_F(StoreLruTest, WithoutEvictionFullStoreRefusesWritesAndKeepsItems) {
  Make(/*evict=*/false);
  Fill();
  test::RecordingSink sink;
  store_->set_mutation_sink(&sink);
  EXPECT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kOutOfMemory);
  EXPECT_EQ(test::Put(*store_, StoreMode::kAdd, NewKey("add-"), Value(2)),
            StoreResult::kOutOfMemory);
  StoreStats s = store_->Stats();
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.outofmemory, 2u);
  EXPECT_EQ(s.curr_items, capacity_);
  EXPECT_EQ(s.total_malloced, 2 * kPage);
  const SlabClassStats* c = test::FindClass(s, class_id_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->outofmemory, 2u);
  EXPECT_THAT(sink.Rendered(), ElementsAre());
  store_->set_mutation_sink(nullptr);
  for (size_t i = 0; i < capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
}

TEST_F(StoreLruTest, WithoutEvictionDeleteFreesRoomForNextWrite) {
  Make(/*evict=*/false);
  Fill();
  const std::string key = NewKey("new-");
  ASSERT_EQ(Put(*store_, key, Value(1)), StoreResult::kOutOfMemory);
  ASSERT_EQ(store_->Delete(Key(5)), DeleteResult::kDeleted);
  EXPECT_EQ(Put(*store_, key, Value(1)), StoreResult::kStored);
  EXPECT_EQ(ValueOf(*store_, key), Value(1));
  EXPECT_EQ(store_->Stats().evictions, 0u);
}

TEST_F(StoreLruTest, WithoutEvictionExpiredItemsAreStillReclaimed) {
  // memcached -M still reuses memory of expired items; only live ones are protected.
  Make(/*evict=*/false);
  Fill(/*exptime_for_first_half=*/10);
  clock_.Advance(10);
  EXPECT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kStored);
  EXPECT_EQ(store_->Stats().evictions, 0u);
  for (size_t i = capacity_ / 2; i < capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
}

TEST_F(StoreLruTest, WithoutEvictionOtherClassesStillWorkWhilePagesRemain) {
  Make(/*evict=*/false, /*pages=*/3);
  for (size_t i = 0; i < 2 * per_page_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored);
  }
  EXPECT_EQ(Put(*store_, "small", "value"), StoreResult::kStored);  // takes the third page
  EXPECT_EQ(Put(*store_, NewKey("new-"), Value(1)), StoreResult::kOutOfMemory);
  EXPECT_EQ(Put(*store_, "small2", "value"), StoreResult::kStored);  // its page has room
  EXPECT_EQ(store_->Stats().total_malloced, 3 * kPage);
}

TEST_F(StoreLruTest, EvictionOfOneClassLeavesOtherClassesAlone) {
  Make(/*evict=*/true, /*pages=*/3);
  ASSERT_EQ(Put(*store_, "small", "value"), StoreResult::kStored);  // one page for small items
  for (size_t i = 0; i < 3 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored);
  }
  EXPECT_EQ(ValueOf(*store_, "small"), "value");
  const StoreStats s = store_->Stats();
  EXPECT_EQ(test::FindClass(s, class_id_)->total_pages, 2u);
  EXPECT_EQ(test::FindClass(s, 1)->evicted, 0u);
}

TEST_F(StoreLruTest, RaisedLimitLetsTheStoreGrowBeyondTheOldLimitWithoutEvicting) {
  Make(/*evict=*/true, /*pages=*/2);
  Fill();
  ASSERT_TRUE(store_->SetMemoryLimit(4 * kPage).ok());
  EXPECT_EQ(store_->memory_limit(), 4 * kPage);
  for (size_t i = capacity_; i < 2 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  StoreStats s = store_->Stats();
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.curr_items, 2 * capacity_);
  EXPECT_EQ(s.total_malloced, 4 * kPage);
  EXPECT_EQ(s.limit_maxbytes, 4 * kPage);
  for (size_t i = 0; i < 2 * capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
  // The new limit holds in its turn.
  ASSERT_EQ(Put(*store_, Key(2 * capacity_), Value(0)), StoreResult::kStored);
  s = store_->Stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.total_malloced, 4 * kPage);
}

TEST_F(StoreLruTest, WithoutEvictionRaisedLimitTurnsOutOfMemoryIntoStored) {
  Make(/*evict=*/false, /*pages=*/2);
  Fill();
  const std::string key = NewKey("new-");
  ASSERT_EQ(Put(*store_, key, Value(1)), StoreResult::kOutOfMemory);
  ASSERT_TRUE(store_->SetMemoryLimit(3 * kPage).ok());
  EXPECT_EQ(Put(*store_, key, Value(1)), StoreResult::kStored);
  EXPECT_EQ(ValueOf(*store_, key), Value(1));
  EXPECT_EQ(store_->Stats().total_malloced, 3 * kPage);
}

TEST_F(StoreLruTest, LoweredLimitStopsGrowthAndEvictsInstead) {
  Make(/*evict=*/true, /*pages=*/4);
  for (size_t i = 0; i < per_page_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  ASSERT_EQ(store_->Stats().total_malloced, kPage);
  ASSERT_TRUE(store_->SetMemoryLimit(2 * kPage).ok());
  for (size_t i = per_page_; i < 4 * per_page_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  const StoreStats s = store_->Stats();
  EXPECT_EQ(s.total_malloced, 2 * kPage);
  EXPECT_EQ(s.limit_maxbytes, 2 * kPage);
  EXPECT_EQ(s.curr_items, 2 * per_page_);
  EXPECT_EQ(s.evictions, 2 * per_page_);
}

TEST_F(StoreLruTest, LimitLoweredBelowWhatIsInUseKeepsThosePages) {
  Make(/*evict=*/true, /*pages=*/4);
  Fill();
  ASSERT_TRUE(store_->SetMemoryLimit(2 * kPage).ok());
  // As memcached without slab reassignment: nothing is given back, nothing more is taken.
  for (size_t i = capacity_; i < 2 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  StoreStats s = store_->Stats();
  EXPECT_EQ(s.total_malloced, 4 * kPage);
  EXPECT_EQ(s.limit_maxbytes, 2 * kPage);
  EXPECT_EQ(s.curr_items, capacity_);
  EXPECT_EQ(s.evictions, capacity_);
  // Another class has no page: as in memcached, it takes its first one past the limit.
  EXPECT_EQ(Put(*store_, "small", "value"), StoreResult::kStored);
  EXPECT_EQ(store_->Stats().total_malloced, 5 * kPage);
  // Raised again, the pages in use count against the new limit.
  ASSERT_TRUE(store_->SetMemoryLimit(6 * kPage).ok());
  EXPECT_EQ(Put(*store_, "bigger", std::string(5000, 'v')), StoreResult::kStored);
  s = store_->Stats();
  EXPECT_EQ(s.total_malloced, 6 * kPage);
  EXPECT_EQ(s.limit_maxbytes, 6 * kPage);
}

TEST(StoreMemoryLimitTest, LimitIsReportedAsGivenAndPagesRoundDown) {
  ManualClock clock(kStart);
  StorageOptions options;
  options.memory_limit = 8 * kPage;
  auto store = test::MakeStore(options, &clock);
  EXPECT_EQ(store->memory_limit(), 8 * kPage);
  ASSERT_TRUE(store->SetMemoryLimit(3 * kPage + 12345).ok());
  EXPECT_EQ(store->memory_limit(), 3 * kPage + 12345);
  EXPECT_EQ(store->Stats().limit_maxbytes, 3 * kPage + 12345);
  // A limit under one page still leaves one, as -m does.
  ASSERT_TRUE(store->SetMemoryLimit(1).ok());
  EXPECT_EQ(store->Stats().limit_maxbytes, 1u);
  EXPECT_EQ(Put(*store, "k", "v"), StoreResult::kStored);
  EXPECT_EQ(store->Stats().total_malloced, kPage);
}

// memcached's do_slabs_newslab: a class that has no page yet takes one even when the limit is
// reached, so that a value size that shows up after the memory is full is stored, evicting
// within that page, rather than refused for as long as the server runs. One page only.
TEST_F(StoreLruTest, AClassWithoutAPageTakesItsFirstOnePastTheLimit) {
  Make(/*evict=*/true);
  Fill();
  ASSERT_EQ(store_->Stats().total_malloced, 2 * kPage);
  // 100-byte values: thousands to a page, where the filled class holds ten at most.
  const std::string small(100, 's');
  const int small_class = store_->slab_classes().ClassFor(Item::TotalSize(8, small.size()));
  ASSERT_NE(small_class, class_id_);
  const size_t per_page = store_->slab_classes().at(small_class).chunks_per_page;
  const size_t count = per_page + per_page / 2;
  for (size_t i = 0; i < count; ++i) {
    ASSERT_EQ(Put(*store_, absl::StrFormat("sm%06d", i), small), StoreResult::kStored) << i;
  }
  const StoreStats s = store_->Stats();
  EXPECT_EQ(s.total_malloced, 3 * kPage);
  const SlabClassStats* c = test::FindClass(s, small_class);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->total_pages, 1u);
  EXPECT_EQ(c->items, per_page);
  EXPECT_EQ(c->evicted, count - per_page);
  EXPECT_EQ(ValueOf(*store_, absl::StrFormat("sm%06d", count - 1)), small);
  EXPECT_EQ(s.curr_items, capacity_ + per_page) << "the filled class lost nothing";
}

TEST_F(StoreLruTest, WithoutEvictionAClassStillGetsItsFirstPage) {
  Make(/*evict=*/false);
  Fill();
  const std::string small(100, 's');
  const int small_class = store_->slab_classes().ClassFor(Item::TotalSize(8, small.size()));
  size_t stored = 0;
  while (Put(*store_, absl::StrFormat("sm%06d", stored), small) == StoreResult::kStored) ++stored;
  EXPECT_EQ(stored, store_->slab_classes().at(small_class).chunks_per_page);
  EXPECT_EQ(store_->Stats().total_malloced, 3 * kPage);
}

TEST(StoreMemoryLimitTest, PreallocatedPagesKeepTheirLimit) {
  ManualClock clock(kStart);
  StorageOptions options;
  options.memory_limit = 2 * kPage;
  options.preallocate = true;
  auto store = test::MakeStore(options, &clock);
  EXPECT_EQ(store->SetMemoryLimit(4 * kPage).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->SetMemoryLimit(kPage).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Stats().limit_maxbytes, 2 * kPage);
}

TEST(StoreMemoryLimitTest, LimitCannotRiseBeyondWhatItemRefsReach) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(StorageOptions{}, &clock);
  // 8-byte units: 32 GiB less the last page.
  EXPECT_EQ(store->SetMemoryLimit(size_t{32} << 30).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->Stats().limit_maxbytes, StorageOptions{}.memory_limit);
  EXPECT_TRUE(store->SetMemoryLimit((size_t{32} << 30) - kPage).ok());
}

// ---------------------------------------------------------------------------------------------
// The segmented LRU (memcached's default, lru_segmented): HOT, WARM and COLD per class.

class StoreSegmentedLruTest : public StoreLruTest {
 protected:
  void MakeSegmented(bool evict = true) { Make(evict, 2, 60, /*segmented=*/true); }
  SlabClassStats Class() {
    const StoreStats s = store_->Stats();
    const SlabClassStats* c = test::FindClass(s, class_id_);
    return c != nullptr ? *c : SlabClassStats{};
  }
  void JuggleUntilDone() {
    for (int i = 0; i < 1000 && store_->JuggleLru(class_id_) > 0; ++i) {
    }
  }
  // Reads Key(i) twice: fetched, then active.
  void ReadTwice(size_t i) {
    ASSERT_EQ(Fetch(*store_, Key(i)).result, LookupResult::kHit);
    ASSERT_EQ(Fetch(*store_, Key(i)).result, LookupResult::kHit);
  }
  // Fills the class and lets a juggle drain HOT into COLD (the items are a second old, older
  // than HOT's age limit while COLD is empty).
  void FillIntoCold() {
    Fill();
    clock_.Advance(1);
    JuggleUntilDone();
    ASSERT_EQ(Class().number_cold, capacity_);
  }
};

TEST_F(StoreSegmentedLruTest, NewItemsEnterHotWhichTheJuggleKeepsWithinItsShareOfTheBytes) {
  MakeSegmented();
  Fill();
  EXPECT_EQ(Class().number_hot, capacity_);
  EXPECT_EQ(Class().number_cold, 0u);
  JuggleUntilDone();  // same second: only the size limit applies
  const size_t item_size = Item::TotalSize(Key(0).size(), value_len_);
  const size_t hot_limit_items = capacity_ * item_size * 20 / 100 / item_size;
  const SlabClassStats c = Class();
  EXPECT_EQ(c.number_hot, hot_limit_items);
  EXPECT_EQ(c.number_cold, capacity_ - hot_limit_items);
  EXPECT_EQ(c.moves_to_cold, capacity_ - hot_limit_items);
  EXPECT_EQ(store_->JuggleLru(class_id_), 0);  // nothing left to do
}

TEST_F(StoreSegmentedLruTest, HotItemsOlderThanColdsAgeLimitDrainToCold) {
  MakeSegmented();
  FillIntoCold();
  EXPECT_EQ(Class().number_hot, 0u);
  EXPECT_EQ(Class().moves_to_cold, capacity_);
  EXPECT_EQ(Class().age, 1u);  // COLD's tail was stored a second ago
}

TEST_F(StoreSegmentedLruTest, ItemReadTwiceInHotMovesToWarmAndSurvivesAScan) {
  MakeSegmented();
  FillIntoCold();
  // Key(0) stored again: in HOT, read twice. WARM keeps items younger than twice COLD's age.
  ASSERT_EQ(store_->Delete(Key(0)), DeleteResult::kDeleted);
  ASSERT_EQ(Put(*store_, Key(0), Value(0)), StoreResult::kStored);
  ReadTwice(0);
  ASSERT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kHit);  // once: fetched, not active
  JuggleUntilDone();
  SlabClassStats c = Class();
  EXPECT_EQ(c.number_warm, 1u);
  EXPECT_EQ(c.moves_to_warm, 1u);
  EXPECT_EQ(c.number_hot, 0u);
  // A scan of as many new keys as the class holds: eviction takes COLD and then HOT, never WARM.
  for (size_t i = capacity_; i < 2 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  EXPECT_TRUE(HasOriginalValue(0));
  EXPECT_EQ(Fetch(*store_, Key(1)).result, LookupResult::kMiss);
  EXPECT_EQ(store_->Stats().evictions, capacity_);
}

TEST_F(StoreSegmentedLruTest, FlatLruLosesTheSameItemToTheSameScan) {
  Make(/*evict=*/true, 2, /*bump_interval=*/0);
  Fill();
  clock_.Advance(1);
  ReadTwice(0);
  for (size_t i = capacity_; i < 2 * capacity_; ++i) {
    ASSERT_EQ(Put(*store_, Key(i), Value(i)), StoreResult::kStored) << i;
  }
  EXPECT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kMiss);
}

TEST_F(StoreSegmentedLruTest, ReadsMakingAColdItemActiveAreQueuedAndMovedToWarm) {
  MakeSegmented();
  FillIntoCold();
  ReadTwice(3);
  EXPECT_EQ(Class().number_warm, 0u);  // a read never takes the class lock for this
  EXPECT_EQ(store_->ProcessLruBumps(), 1u);
  SlabClassStats c = Class();
  EXPECT_EQ(c.number_warm, 1u);
  EXPECT_EQ(c.number_cold, capacity_ - 1);
  EXPECT_EQ(c.moves_to_warm, 1u);
  EXPECT_EQ(store_->ProcessLruBumps(), 0u);
  ReadTwice(3);  // already in WARM: nothing is queued
  EXPECT_EQ(store_->ProcessLruBumps(), 0u);
}

TEST_F(StoreSegmentedLruTest, QueuedBumpOfAnItemDeletedMeanwhileMovesNothing) {
  MakeSegmented();
  FillIntoCold();
  ReadTwice(3);
  ASSERT_EQ(store_->Delete(Key(3)), DeleteResult::kDeleted);
  // Its chunk may go to the next write; that item is new and not active, so it stays in HOT.
  ASSERT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kStored);
  EXPECT_EQ(store_->ProcessLruBumps(), 1u);
  const SlabClassStats c = Class();
  EXPECT_EQ(c.number_warm, 0u);
  EXPECT_EQ(c.moves_to_warm, 0u);
  EXPECT_EQ(c.number_hot, 1u);
  EXPECT_TRUE(HasOriginalValue(capacity_));
}

TEST_F(StoreSegmentedLruTest, ActiveWarmItemGoesBackToWarmsHead) {
  MakeSegmented();
  FillIntoCold();
  ReadTwice(0);
  ASSERT_EQ(store_->ProcessLruBumps(), 1u);
  ASSERT_EQ(Class().number_warm, 1u);
  // In WARM, one more read is enough to be active again (it was fetched long ago).
  ASSERT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kHit);
  JuggleUntilDone();
  const SlabClassStats c = Class();
  EXPECT_EQ(c.moves_within_lru, 1u);
  EXPECT_EQ(c.number_warm, 1u);
}

TEST_F(StoreSegmentedLruTest, JuggleReclaimsExpiredItemsFromTheTails) {
  MakeSegmented();
  Fill(/*exptime_for_first_half=*/10);
  clock_.Advance(11);
  JuggleUntilDone();
  const SlabClassStats c = Class();
  EXPECT_EQ(c.reclaimed, capacity_ / 2);
  EXPECT_EQ(c.expired_unfetched, capacity_ / 2);
  EXPECT_EQ(store_->Stats().curr_items, capacity_ - capacity_ / 2);
}

TEST_F(StoreSegmentedLruTest, FullClassWithoutAMaintainerMovesHotItemsDownItself) {
  MakeSegmented();
  Fill();  // everything in HOT, COLD empty: nothing to evict until HOT's tail moves down
  ASSERT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kStored);
  const SlabClassStats c = Class();
  EXPECT_EQ(c.direct_reclaims, 1u);
  EXPECT_EQ(c.evicted, 1u);
  EXPECT_EQ(c.outofmemory, 0u);
  EXPECT_EQ(Fetch(*store_, Key(0)).result, LookupResult::kMiss);  // HOT's tail, the oldest
  EXPECT_TRUE(HasOriginalValue(1));
}

TEST_F(StoreSegmentedLruTest, EvictingAnItemStillWaitingForItsBumpCountsAsEvictedActive) {
  MakeSegmented();
  FillIntoCold();
  ReadTwice(0);  // COLD's tail, queued for WARM
  ASSERT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kStored);
  const SlabClassStats c = Class();
  EXPECT_EQ(c.evicted, 1u);
  EXPECT_EQ(c.evicted_active, 1u);
}

TEST_F(StoreSegmentedLruTest, WithoutEvictionFullStoreRefusesWritesAndKeepsItems) {
  MakeSegmented(/*evict=*/false);
  Fill();
  EXPECT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kOutOfMemory);
  EXPECT_EQ(Class().outofmemory, 1u);
  for (size_t i = 0; i < capacity_; ++i) EXPECT_TRUE(HasOriginalValue(i)) << i;
}

TEST_F(StoreSegmentedLruTest, SwitchedToFlatTheJuggleDrainsHotAndWarmIntoCold) {
  MakeSegmented();
  FillIntoCold();
  ReadTwice(0);
  ASSERT_EQ(store_->ProcessLruBumps(), 1u);
  ASSERT_EQ(store_->Delete(Key(1)), DeleteResult::kDeleted);
  ASSERT_EQ(Put(*store_, Key(1), Value(1)), StoreResult::kStored);
  ASSERT_EQ(Class().number_warm, 1u);
  ASSERT_EQ(Class().number_hot, 1u);
  Store::LruSettings flat = store_->lru_settings();
  flat.segmented = false;
  store_->set_lru_settings(flat);
  JuggleUntilDone();
  EXPECT_EQ(Class().number_hot, 0u);
  EXPECT_EQ(Class().number_warm, 0u);
  EXPECT_EQ(Class().number_cold, capacity_);
  // New items go straight to COLD, and a full class evicts from there.
  ASSERT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kStored);
  EXPECT_EQ(Class().number_hot, 0u);
  EXPECT_EQ(Class().evicted, 1u);
}

TEST_F(StoreSegmentedLruTest, SwitchedToFlatAFullClassStillEvictsBeforeTheJuggle) {
  MakeSegmented();
  Fill();  // all in HOT
  Store::LruSettings flat = store_->lru_settings();
  flat.segmented = false;
  store_->set_lru_settings(flat);
  // COLD is empty and nothing has drained HOT yet: the allocation moves HOT's tail down itself.
  ASSERT_EQ(Put(*store_, Key(capacity_), Value(capacity_)), StoreResult::kStored);
  EXPECT_EQ(Class().evicted, 1u);
  EXPECT_EQ(Class().outofmemory, 0u);
}

TEST_F(StoreSegmentedLruTest, TunedSharesApplyToTheNextJuggle) {
  MakeSegmented();
  Fill();
  Store::LruSettings tuned = store_->lru_settings();
  tuned.hot_lru_pct = 50;
  store_->set_lru_settings(tuned);
  JuggleUntilDone();  // same second: only the size limit applies
  const size_t item_size = Item::TotalSize(Key(0).size(), value_len_);
  EXPECT_EQ(Class().number_hot, capacity_ * item_size * 50 / 100 / item_size);
}

TEST_F(StoreSegmentedLruTest, MaintainerThreadJugglesAndProcessesBumpsUntilDestroyed) {
  MakeSegmented();
  Fill();
  clock_.Advance(1);
  auto maintainer = std::make_unique<LruMaintainer>(store_.get());
  const auto wait_for = [&](auto done) {
    for (int i = 0; i < 500 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };
  EXPECT_TRUE(wait_for([&] { return Class().number_hot == 0; }));
  ReadTwice(5);
  EXPECT_TRUE(wait_for([&] { return Class().number_warm == 1; }));
  EXPECT_GT(maintainer->juggles(), 0u);
  maintainer.reset();  // joins
  const uint64_t moves = Class().moves_to_warm;
  ReadTwice(6);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Class().moves_to_warm, moves);  // nobody processes the queue any more
}

}  // namespace
}  // namespace memtwin::storage
