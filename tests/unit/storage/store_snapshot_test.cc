// storage::Store::SnapshotStep — the incremental walk behind bulk sync. Items present for the
// whole walk are handed out exactly once, in a quiet store, across hash table growth, and while
// other threads write.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::kStart;
using test::Put;
using test::Recorded;
using ::testing::ElementsAre;

std::string BaseKey(size_t i) { return absl::StrFormat("base-%07d", i); }
std::string BaseValue(size_t i) { return absl::StrCat("b", i); }

// Index of a "base-NNNNNNN" key, or -1.
int64_t BaseIndex(std::string_view key) {
  if (!key.starts_with("base-")) return -1;
  uint64_t i = 0;
  return test::ParseU64(key.substr(5), &i) ? static_cast<int64_t>(i) : -1;
}

class StoreSnapshotTest : public ::testing::Test {
 protected:
  void Make(uint32_t hash_power_initial = 16) {
    StorageOptions options;
    options.hash_power_initial = hash_power_initial;
    store_ = test::MakeStore(options, &clock_);
  }

  // Loads base keys [0, n), letting the table grow, and finishes any growth in progress.
  void LoadBase(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(Put(*store_, BaseKey(i), BaseValue(i)), StoreResult::kStored) << i;
      if (i % 4096 == 0) store_->Maintain();
    }
    SettleGrowth();
  }

  void SettleGrowth() {
    for (int i = 0; i < 1'000'000 && store_->Stats().hash_is_expanding; ++i) store_->Maintain();
    ASSERT_FALSE(store_->Stats().hash_is_expanding);
  }

  ManualClock clock_{kStart};
  std::unique_ptr<Store> store_;
};

TEST_F(StoreSnapshotTest, EmptyStoreWalkFinishesWithoutVisiting) {
  Make();
  SnapshotCursor cursor;
  size_t visited = 0;
  size_t calls = 0;
  while (calls < 100'000 &&
         store_->SnapshotStep(&cursor, 1024, [&](const Mutation&) { ++visited; })) {
    ++calls;
  }
  EXPECT_LT(calls, 100'000u);
  EXPECT_EQ(visited, 0u);
  EXPECT_TRUE(cursor.done);
  // A finished cursor stays finished.
  EXPECT_FALSE(store_->SnapshotStep(&cursor, 1024, [&](const Mutation&) { ++visited; }));
  EXPECT_EQ(visited, 0u);
}

TEST_F(StoreSnapshotTest, QuietStoreWalkMatchesStoreContentsExactly) {
  Make();
  test::RecordingSink sink;
  store_->set_mutation_sink(&sink);
  for (int i = 0; i < 3000; ++i) {
    const std::string key = absl::StrCat("key", i);
    ASSERT_EQ(Put(*store_, key, absl::StrCat("value", i), i % 7, i % 3 == 0 ? 0 : 1000 + i),
              StoreResult::kStored);
    if (i % 5 == 0) {
      ASSERT_EQ(Put(*store_, key, absl::StrCat("again", i)), StoreResult::kStored);
    }
    if (i % 11 == 0) {
      ASSERT_EQ(store_->Delete(key), DeleteResult::kDeleted);
    }
  }
  store_->set_mutation_sink(nullptr);
  // The expected state: the last mutation reported for each key.
  std::map<std::string, std::string> last;
  for (const Recorded& r : sink.log()) last[r.key] = test::Render(r);
  std::vector<std::string> expected;
  for (const auto& [key, rendered] : last) expected.push_back(rendered);
  std::sort(expected.begin(), expected.end());

  EXPECT_EQ(test::RenderStore(*store_), expected);
  // Same result in small steps and in one big one.
  std::vector<std::string> one_group_steps;
  test::WalkAll(
      *store_, [&](const Mutation& m) { one_group_steps.push_back(test::Render(m)); },
      /*max_groups=*/1);
  std::sort(one_group_steps.begin(), one_group_steps.end());
  EXPECT_EQ(one_group_steps, expected);
  std::vector<std::string> huge_steps;
  test::WalkAll(
      *store_, [&](const Mutation& m) { huge_steps.push_back(test::Render(m)); },
      /*max_groups=*/size_t{1} << 30);
  std::sort(huge_steps.begin(), huge_steps.end());
  EXPECT_EQ(huge_steps, expected);
}

TEST_F(StoreSnapshotTest, WalkSkipsExpiredAndFlushedItems) {
  Make();
  ASSERT_EQ(Put(*store_, "short", "v", 0, 10), StoreResult::kStored);
  ASSERT_EQ(Put(*store_, "flushed", "v"), StoreResult::kStored);
  store_->FlushAll(0);
  uint64_t version = 0;
  ASSERT_EQ(Put(*store_, "live", "v", 3, 0, &version), StoreResult::kStored);
  clock_.Advance(10);
  EXPECT_THAT(test::RenderStore(*store_), ElementsAre(absl::StrCat("Set(live,v,3,0)@", version)));
}

TEST_F(StoreSnapshotTest, WalkVisitsEveryItemOnceWhileTableGrowsUnderIt) {
  Make(/*hash_power_initial=*/12);
  constexpr size_t kBase = 200'000;
  LoadBase(kBase);
  const uint32_t power_at_start = store_->Stats().hash_power_level;
  ASSERT_GT(power_at_start, 16u) << "200k items should have grown the table past 2^16 buckets";

  std::vector<uint32_t> seen(kBase, 0);
  size_t wrong_values = 0, others = 0;
  auto visit = [&](const Mutation& m) {
    const int64_t i = BaseIndex(m.key);
    if (i < 0) {
      ++others;
      return;
    }
    ASSERT_LT(static_cast<size_t>(i), kBase);
    ++seen[i];
    if (m.kind != MutationKind::kSet || m.value != BaseValue(i)) ++wrong_values;
  };
  constexpr size_t kGroups = 16;
  const size_t expected_steps = (size_t{1} << power_at_start) / kGroups;
  SnapshotCursor cursor;
  size_t steps = 0;
  bool grew = false;
  for (; steps < 10 * expected_steps; ++steps) {
    if (!store_->SnapshotStep(&cursor, kGroups, visit)) break;
    if (steps == expected_steps / 4) {
      // A quarter of the way through, double the item count: the table must grow again.
      for (size_t i = 0; i < kBase; ++i) {
        ASSERT_EQ(Put(*store_, absl::StrFormat("more-%07d", i), "m"), StoreResult::kStored);
      }
      grew = true;
    }
    store_->Maintain();  // migrate a little between steps
  }
  ASSERT_TRUE(grew);
  EXPECT_LT(steps, 10 * expected_steps) << "walk did not finish";
  EXPECT_GT(store_->Stats().hash_power_level, power_at_start);
  size_t missing = 0, duplicated = 0;
  for (size_t i = 0; i < kBase; ++i) {
    missing += seen[i] == 0;
    duplicated += seen[i] > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(wrong_values, 0u);
  EXPECT_LE(others, kBase);
}

TEST_F(StoreSnapshotTest, WalkVisitsUntouchedItemsOnceUnderConcurrentWrites) {
  Make(/*hash_power_initial=*/12);
  constexpr size_t kBase = 50'000;
  LoadBase(kBase);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writer_ops{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (uint64_t n = 0; n < 400'000 && !stop.load(std::memory_order_relaxed); ++n) {
        const std::string hot = absl::StrCat("hot-", t, "-", n % 997);
        switch (n % 5) {
          case 0:
          case 1:
            Put(*store_, hot, absl::StrCat("h", n));
            break;
          case 2:
            store_->Delete(hot);
            break;
          case 3:  // new keys keep the table growing during the walk
            Put(*store_, absl::StrCat("new-", t, "-", n), "n");
            break;
          case 4:
            if (t == 0) store_->Maintain();
            store_->Get(BaseKey(n % kBase), [](const ItemView&) {});
            break;
        }
        writer_ops.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Let the writers get going before the walk starts (bounded, no sleeping).
  for (int i = 0; i < 50'000'000 && writer_ops.load() < 1000; ++i) std::this_thread::yield();

  std::vector<uint32_t> seen(kBase, 0);
  size_t wrong_values = 0, malformed = 0;
  test::WalkAll(
      *store_,
      [&](const Mutation& m) {
        const int64_t i = BaseIndex(m.key);
        if (i >= 0) {
          ++seen[i];
          if (m.kind != MutationKind::kSet || m.value != BaseValue(i)) ++wrong_values;
          return;
        }
        const bool ok = (m.key.starts_with("hot-") &&
                         (m.kind == MutationKind::kDelete || m.value.starts_with("h"))) ||
                        (m.key.starts_with("new-") && m.value == "n");
        if (!ok) ++malformed;
      },
      /*max_groups=*/8);
  stop = true;
  for (auto& w : writers) w.join();

  size_t missing = 0, duplicated = 0;
  for (size_t i = 0; i < kBase; ++i) {
    missing += seen[i] == 0;
    duplicated += seen[i] > 1;
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(wrong_values, 0u);
  EXPECT_EQ(malformed, 0u);
  EXPECT_GT(writer_ops.load(), 0u);
}

TEST_F(StoreSnapshotTest, TombstonesAreHandedOutAsDeletes) {
  Make();
  ASSERT_EQ(Put(*store_, "gone", "v"), StoreResult::kStored);
  test::RecordingSink sink;
  store_->set_mutation_sink(&sink);
  ASSERT_EQ(store_->Delete("gone"), DeleteResult::kDeleted);
  store_->set_mutation_sink(nullptr);
  const std::vector<Recorded> log = sink.log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(test::RenderStore(*store_), ElementsAre(test::Render(log[0])));
}

}  // namespace
}  // namespace memtwin::storage
