// The LRU crawler: Store::StartCrawl/CrawlStep/EndCrawl (which items a crawl reclaims, what it
// tallies, a cursor that survives the items around it being unlinked) and the LruCrawler thread
// (a client's crawl, the schedule, tocrawl, memcached's wait rule, stopping part way).
#include "storage/lru_crawler.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::kStart;
using test::Put;
using test::ValueOf;

// Items with short keys and values all land in class 1.
constexpr int kClass = 1;

StorageOptions Options(bool segmented) {
  StorageOptions options;
  options.lru_segmented = segmented;
  return options;
}

// Runs a whole crawl of kClass, `per_step` items at a time.
CrawlTally CrawlAll(Store& store, size_t per_step = 3) {
  CrawlTally tally;
  if (!store.StartCrawl(kClass)) return tally;
  for (int steps = 0; store.CrawlStep(kClass, per_step, &tally); ++steps) {
    EXPECT_LT(steps, 100000) << "the crawl ends";
  }
  return tally;
}

// Polls `done` for up to ten seconds: the crawler works on its own thread.
bool Eventually(const std::function<bool()>& done) {
  for (int tries = 0; tries < 1000; ++tries) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(StoreCrawlTest, ReclaimsExpiredAndFlushedItemsAnywhereInTheLru) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(Options(/*segmented=*/false), &clock);
  ASSERT_EQ(Put(*store, "forever", "v"), StoreResult::kStored);
  ASSERT_EQ(Put(*store, "short", "v", 0, 10), StoreResult::kStored);
  ASSERT_EQ(Put(*store, "in-a-minute", "v", 0, 100), StoreResult::kStored);
  ASSERT_EQ(Put(*store, "in-two-hours", "v", 0, 7200), StoreResult::kStored);
  ASSERT_EQ(Put(*store, "newest", "v", 0, 20), StoreResult::kStored);
  clock.Advance(30);  // short and newest expired; in-a-minute has 70 s left
  const CrawlTally tally = CrawlAll(*store);
  EXPECT_EQ(tally.checked, 5u);
  EXPECT_EQ(tally.reclaimed, 2u);
  EXPECT_EQ(tally.no_expiry, 1u);
  EXPECT_EQ(tally.expiring_after_an_hour, 1u);
  EXPECT_EQ(tally.expiring_in_minute[1], 1u);
  const StoreStats stats = store->Stats();
  EXPECT_EQ(stats.curr_items, 3u);
  EXPECT_EQ(stats.crawler_reclaimed, 2u);
  EXPECT_EQ(stats.crawler_items_checked, 5u);
  EXPECT_EQ(stats.expired_unfetched, 2u);
  ASSERT_EQ(stats.classes.size(), 1u);
  EXPECT_EQ(stats.classes[0].crawler_reclaimed, 2u);
  EXPECT_EQ(stats.classes[0].crawler_items_checked, 5u);
  EXPECT_EQ(ValueOf(*store, "forever"), "v");
  EXPECT_EQ(ValueOf(*store, "short"), "kMiss");  // gone, not found expired

  // flush_all makes everything dead at once; the next crawl takes it all back.
  store->FlushAll(0);
  clock.Advance(1);
  EXPECT_EQ(CrawlAll(*store).reclaimed, 3u);
  EXPECT_EQ(store->Stats().curr_items, 0u);
  EXPECT_FALSE(store->StartCrawl(kClass)) << "nothing left to crawl";
}

TEST(StoreCrawlTest, CrawlsEverySegmentOfTheSegmentedLru) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(Options(/*segmented=*/true), &clock);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(Put(*store, absl::StrCat("k", i), "v", 0, i % 2 == 0 ? 5 : 0), StoreResult::kStored);
  }
  // Spread the items over HOT, WARM and COLD: read some twice, and let the juggle move them.
  for (int i = 0; i < 30; i += 3) {
    ASSERT_EQ(ValueOf(*store, absl::StrCat("k", i)), "v");
    ASSERT_EQ(ValueOf(*store, absl::StrCat("k", i)), "v");
  }
  store->JuggleLru(kClass);
  const SlabClassStats before = store->Stats().classes[0];
  ASSERT_GT(before.number_hot, 0u);
  ASSERT_GT(before.number_warm, 0u);
  ASSERT_GT(before.number_cold, 0u);
  clock.Advance(6);
  const CrawlTally tally = CrawlAll(*store, /*per_step=*/4);
  EXPECT_EQ(tally.checked, 30u);
  EXPECT_EQ(tally.reclaimed, 15u);
  EXPECT_EQ(store->Stats().curr_items, 15u);
}

TEST(StoreCrawlTest, CursorSurvivesTheItemsAheadOfItBeingUnlinked) {
  ManualClock clock(kStart);
  StorageOptions options = Options(/*segmented=*/false);
  options.tombstone_ttl_seconds = 0;  // a delete unlinks the item at once
  auto store = test::MakeStore(options, &clock);
  // Flat LRU, tail first: a, b, c, d, e.
  for (const char* key : {"a", "b", "c", "d", "e"}) {
    ASSERT_EQ(Put(*store, key, "v", 0, 100), StoreResult::kStored);
  }
  ASSERT_TRUE(store->StartCrawl(kClass));
  CrawlTally tally;
  ASSERT_TRUE(store->CrawlStep(kClass, 1, &tally));  // looked at a; the cursor is on b
  ASSERT_EQ(store->Delete("b"), DeleteResult::kDeleted);
  ASSERT_EQ(store->Delete("c"), DeleteResult::kDeleted);
  // A new item may take b's chunk; it goes to the head, ahead of the crawl.
  ASSERT_EQ(Put(*store, "f", "v", 0, 100), StoreResult::kStored);
  while (store->CrawlStep(kClass, 1, &tally)) {
  }
  EXPECT_EQ(tally.checked, 4u);  // a, d, e and f: never b or c, nothing twice
  EXPECT_EQ(tally.reclaimed, 0u);
  EXPECT_EQ(store->Stats().curr_items, 4u);

  // EndCrawl drops a crawl part way; unlinking items afterwards is not the crawl's business.
  ASSERT_TRUE(store->StartCrawl(kClass));
  ASSERT_TRUE(store->CrawlStep(kClass, 1, &tally));
  store->EndCrawl(kClass);
  ASSERT_EQ(store->Delete("d"), DeleteResult::kDeleted);
  EXPECT_FALSE(store->CrawlStep(kClass, 1, &tally));
  EXPECT_EQ(ValueOf(*store, "e"), "v");
}

TEST(StoreCrawlTest, ExpiredTombstonesAreReclaimedUncounted) {
  ManualClock clock(kStart);
  StorageOptions options = Options(/*segmented=*/false);
  options.tombstone_ttl_seconds = 60;
  auto store = test::MakeStore(options, &clock);
  ASSERT_EQ(Put(*store, "gone", "v"), StoreResult::kStored);
  ASSERT_EQ(Put(*store, "kept", "v"), StoreResult::kStored);
  ASSERT_EQ(store->Delete("gone"), DeleteResult::kDeleted);
  ASSERT_EQ(store->Stats().tombstones, 1u);
  EXPECT_EQ(CrawlAll(*store).checked, 1u) << "a live tombstone is left alone";
  EXPECT_EQ(store->Stats().tombstones, 1u);
  clock.Advance(61);
  const CrawlTally tally = CrawlAll(*store);
  EXPECT_EQ(tally.checked, 1u);
  EXPECT_EQ(tally.reclaimed, 0u);
  EXPECT_EQ(store->Stats().tombstones, 0u);
  EXPECT_EQ(store->Stats().crawler_reclaimed, 0u);
}

// memcached's lru_maintainer_crawler_check, by its numbers.
TEST(LruCrawlerTest, NextCrawlWaitFollowsMemcachedsRule) {
  CrawlTally nothing_expires;
  nothing_expires.checked = 100;
  nothing_expires.no_expiry = 100;
  EXPECT_EQ(LruCrawler::NextCrawlWait(0, nothing_expires), 60u);
  EXPECT_EQ(LruCrawler::NextCrawlWait(3590, nothing_expires), 3600u) << "an hour at most";

  // 1,000 items that can expire: more than 11 must expire by a minute for it to count.
  CrawlTally soon;
  soon.checked = 1000;
  soon.expiring_in_minute[0] = 5;
  soon.expiring_in_minute[10] = 7;  // 12 by minute 10
  EXPECT_EQ(LruCrawler::NextCrawlWait(0, soon), 60u) << "toward 600 s, a minute at a time";
  EXPECT_EQ(LruCrawler::NextCrawlWait(600, soon), 540u);
  EXPECT_EQ(LruCrawler::NextCrawlWait(30, soon), 90u);

  CrawlTally few;  // some expire within the hour, but not 1%: the wait stays
  few.checked = 1000;
  few.expiring_in_minute[3] = 2;
  EXPECT_EQ(LruCrawler::NextCrawlWait(120, few), 120u);
}

class LruCrawlerThreadTest : public ::testing::Test {
 protected:
  LruCrawlerThreadTest() : clock_(kStart), store_(test::MakeStore(Options(false), &clock_)) {}

  // `expiring` items that live 10 s behind one that never expires, then 11 s pass.
  void FillAndExpire(int expiring) {
    ASSERT_EQ(Put(*store_, "keep", "v"), StoreResult::kStored);
    for (int i = 0; i < expiring; ++i) {
      ASSERT_EQ(Put(*store_, absl::StrCat("short", i), "v", 0, 10), StoreResult::kStored);
    }
    clock_.Advance(11);
  }

  ManualClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(LruCrawlerThreadTest, ClientCrawlReclaimsAndCountsAStart) {
  FillAndExpire(100);
  LruCrawler crawler(store_.get(), /*autocrawl=*/false, /*sleep_micros=*/0, /*tocrawl=*/0);
  EXPECT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(kClass)), LruCrawler::CrawlStart::kDisabled);
  ASSERT_TRUE(crawler.Enable());
  EXPECT_FALSE(crawler.Enable());
  EXPECT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(2)), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return !crawler.running(); }));
  EXPECT_EQ(store_->Stats().crawler_items_checked, 0u) << "class 2 holds nothing";
  EXPECT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(kClass)), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return store_->Stats().crawler_items_checked == 101; }));
  EXPECT_EQ(store_->Stats().crawler_reclaimed, 100u);
  EXPECT_EQ(store_->Stats().curr_items, 1u);
  EXPECT_EQ(crawler.starts(), 2u);
}

TEST_F(LruCrawlerThreadTest, TocrawlBoundsTheItemsLookedAtPerClass) {
  FillAndExpire(100);
  LruCrawler crawler(store_.get(), /*autocrawl=*/false, /*sleep_micros=*/0, /*tocrawl=*/10);
  ASSERT_TRUE(crawler.Enable());
  ASSERT_EQ(crawler.Crawl(LruCrawler::ClassSet().set()), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return store_->Stats().crawler_items_checked >= 10; }));
  ASSERT_TRUE(Eventually([&] { return !crawler.running(); }));
  // Steps look at a handful of items each, so the bound is passed by less than one step.
  EXPECT_LT(store_->Stats().crawler_items_checked, 10u + 16u);
  crawler.set_tocrawl(0);
  ASSERT_EQ(crawler.Crawl(LruCrawler::ClassSet().set()), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return store_->Stats().curr_items == 1; }));
}

TEST_F(LruCrawlerThreadTest, ScheduleCrawlsAClassThatHoldsItems) {
  FillAndExpire(50);
  LruCrawler crawler(store_.get(), /*autocrawl=*/true, /*sleep_micros=*/100, /*tocrawl=*/0);
  ASSERT_TRUE(crawler.Enable());
  ASSERT_TRUE(Eventually([&] { return store_->Stats().crawler_reclaimed == 50; }));
  EXPECT_EQ(store_->Stats().curr_items, 1u);
  EXPECT_EQ(crawler.starts(), 1u);
  // The class holds one item that never expires: its next crawl is a minute and 5 s away.
  clock_.Advance(64);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(crawler.starts(), 1u);
  clock_.Advance(2);
  ASSERT_TRUE(Eventually([&] { return crawler.starts() == 2; }));
}

TEST_F(LruCrawlerThreadTest, DisableStopsACrawlPartWayAndCrawlsResumeAfterEnable) {
  FillAndExpire(5000);
  // A second's sleep after every 1,000 items: Disable must not wait for it.
  LruCrawler crawler(store_.get(), /*autocrawl=*/false, /*sleep_micros=*/1000000, /*tocrawl=*/0);
  ASSERT_TRUE(crawler.Enable());
  ASSERT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(kClass)), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return store_->Stats().crawler_items_checked >= 1000; }));
  EXPECT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(kClass)), LruCrawler::CrawlStart::kBusy);
  crawler.Disable();
  EXPECT_FALSE(crawler.enabled());
  EXPECT_FALSE(crawler.running());
  const uint64_t checked = store_->Stats().crawler_items_checked;
  EXPECT_LT(checked, 5001u);
  crawler.set_sleep_micros(0);
  ASSERT_TRUE(crawler.Enable());
  ASSERT_EQ(crawler.Crawl(LruCrawler::ClassSet().set(kClass)), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return store_->Stats().curr_items == 1; }));
  EXPECT_EQ(store_->Stats().crawler_reclaimed, 5000u);
}

// Writers, deleters, readers and a moving clock against a crawler asked to crawl over and over
// and the LRU maintainer: afterwards the counts agree with what a reader can see, and one more
// crawl leaves only live items.
TEST(LruCrawlerStressTest, CrawlsDuringWritesKeepTheCountsConsistent) {
  ManualClock clock(kStart);
  StorageOptions options = Options(/*segmented=*/true);
  options.memory_limit = 4u << 20;  // small enough that eviction joins in
  auto store = test::MakeStore(options, &clock);
  LruCrawler crawler(store.get(), /*autocrawl=*/false, /*sleep_micros=*/0, /*tocrawl=*/0);
  ASSERT_TRUE(crawler.Enable());
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done.load()) {
      clock.Advance(1);
      crawler.Crawl(LruCrawler::ClassSet().set());  // kBusy while one runs
      store->JuggleLru(kClass);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  constexpr int kKeys = 5000;
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      uint32_t x = 12345 + t;
      for (int i = 0; i < 60000; ++i) {
        x = x * 1103515245 + 12345;
        const std::string key = absl::StrCat("key", (x >> 8) % kKeys);
        switch ((x >> 4) % 4) {
          case 0:
          case 1:
            store->Set({.key = key, .value = "value", .exptime = (x >> 12) % 4});
            break;
          case 2:
            store->Delete(key);
            break;
          case 3:
            store->Get(key, [](const ItemView&) {});
            break;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  done = true;
  ticker.join();
  clock.Advance(10);  // every item with an expiry is dead now
  ASSERT_TRUE(Eventually([&] { return !crawler.running(); }));
  ASSERT_EQ(crawler.Crawl(LruCrawler::ClassSet().set()), LruCrawler::CrawlStart::kStarted);
  ASSERT_TRUE(Eventually([&] { return !crawler.running(); }));
  // Counted before reading: a read would reclaim whatever dead item the crawl left.
  const StoreStats stats = store->Stats();
  uint64_t visible = 0;
  for (int k = 0; k < kKeys; ++k) {
    visible += ValueOf(*store, absl::StrCat("key", k)) == "value";
  }
  EXPECT_EQ(stats.curr_items, visible);
  EXPECT_GT(stats.crawler_reclaimed, 0u);
  EXPECT_GT(stats.crawler_items_checked, stats.crawler_reclaimed);
}

}  // namespace
}  // namespace memtwin::storage
