// Store::FlushState: a bulk sync carries the flush_all state so that a flush one node took while
// the pair was apart still invalidates the other node's older items.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"

namespace memtwin::storage {
namespace {

constexpr uint32_t kStart = 1'700'000'000;

class FlushStateTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> NewStore(VersionClock* versions) {
    StorageOptions options;
    options.memory_limit = 4u << 20;
    return Store::Create(options, &clock_, versions).value();
  }
  static bool Has(Store& s, std::string_view key) {
    return s.Get(key, [](const ItemView&) {}) == LookupResult::kHit;
  }
  ManualClock clock_{kStart};
  CounterVersionClock versions_a_, versions_b_;
};

TEST_F(FlushStateTest, NothingToCarryWithoutAFlush) {
  auto a = NewStore(&versions_a_);
  EXPECT_TRUE(a->FlushState().empty());
}

TEST_F(FlushStateTest, AnImmediateFlushInvalidatesThePeersOlderItemsOnly) {
  auto a = NewStore(&versions_a_);
  auto b = NewStore(&versions_b_);
  ASSERT_EQ(b->Set({.key = "old", .value = "v"}), StoreResult::kStored);
  // a's clock runs ahead, as it would after more writes; its flush is newer than b's item.
  for (int i = 0; i < 10; ++i) a->Set({.key = "x", .value = "v"});
  a->FlushAll(0);
  const std::vector<Mutation> flushes = a->FlushState();
  ASSERT_EQ(flushes.size(), 1u);
  EXPECT_EQ(flushes[0].kind, MutationKind::kFlushAll);
  EXPECT_EQ(flushes[0].exptime, 0u);
  for (const Mutation& m : flushes) EXPECT_EQ(b->Apply(m), ApplyResult::kApplied);
  EXPECT_FALSE(Has(*b, "old"));
  ASSERT_EQ(b->Set({.key = "new", .value = "v"}), StoreResult::kStored);
  EXPECT_TRUE(Has(*b, "new"));
}

TEST_F(FlushStateTest, APendingDelayedFlushTravelsWithItsTime) {
  auto a = NewStore(&versions_a_);
  auto b = NewStore(&versions_b_);
  ASSERT_EQ(b->Set({.key = "k", .value = "v"}), StoreResult::kStored);
  a->FlushAll(100);
  const std::vector<Mutation> flushes = a->FlushState();
  ASSERT_EQ(flushes.size(), 1u);
  EXPECT_EQ(flushes[0].exptime, kStart + 100);
  for (const Mutation& m : flushes) b->Apply(m);
  EXPECT_TRUE(Has(*b, "k"));
  clock_.Advance(100);
  EXPECT_FALSE(Has(*b, "k"));
  // Once the delayed flush has happened it is no longer pending.
  EXPECT_TRUE(a->FlushState().empty());
}

}  // namespace
}  // namespace memtwin::storage
