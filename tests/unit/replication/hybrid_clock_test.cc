#include "replication/hybrid_clock.h"

#include "gtest/gtest.h"
#include "storage/clock.h"

namespace memtwin::replication {
namespace {

constexpr uint32_t kNow = 1'800'000'000;

TEST(HybridClockTest, VersionsCarryTheNodeIdAndIncrease) {
  storage::ManualClock wall(kNow);
  HybridClock clock(&wall, 7);
  const uint64_t a = clock.Next(), b = clock.Next();
  EXPECT_LT(a, b);
  EXPECT_EQ(a & HybridClock::kNodeMask, 7u);
  EXPECT_EQ(b & HybridClock::kNodeMask, 7u);
}

TEST(HybridClockTest, VersionsTellTheSecondTheyWereMadeAt) {
  storage::ManualClock wall(kNow);
  HybridClock clock(&wall, 1);
  EXPECT_EQ(clock.SecondsOf(clock.Next()), kNow);
  wall.Advance(5);
  EXPECT_EQ(clock.SecondsOf(clock.Next()), kNow + 5);
  EXPECT_EQ(clock.SecondsOf(0), 0u);
}

TEST(HybridClockTest, VersionsStayBelowTwoToTheSixtyThreeForDecades) {
  storage::ManualClock wall(HybridClock::kEpoch + 60u * 365 * 24 * 3600);
  HybridClock clock(&wall, 255);
  EXPECT_LT(clock.Next(), uint64_t{1} << 63);
}

TEST(HybridClockTest, AWitnessedVersionOrdersBeforeTheNextLocalOneEvenFromAFastClock) {
  storage::ManualClock slow(kNow), fast(kNow + 100);
  HybridClock a(&slow, 1), b(&fast, 2);
  const uint64_t remote = b.Next();
  a.Witness(remote);
  const uint64_t local = a.Next();
  EXPECT_GT(local, remote);
  // Witnessing an older version never moves the clock back.
  a.Witness(1);
  EXPECT_GT(a.Next(), local);
}

TEST(HybridClockTest, TwoNodesNeverMintTheSameVersion) {
  storage::ManualClock wall(kNow);
  HybridClock a(&wall, 1), b(&wall, 2);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t va = a.Next(), vb = b.Next();
    EXPECT_NE(va, vb);
    a.Witness(vb);
    b.Witness(va);
  }
}

TEST(HybridClockTest, ANewNodeIdAppliesToLaterVersions) {
  storage::ManualClock wall(kNow);
  HybridClock clock(&wall, 5);
  const uint64_t before = clock.Next();
  clock.set_node_id(9);
  const uint64_t after = clock.Next();
  EXPECT_GT(after, before);
  EXPECT_EQ(after & HybridClock::kNodeMask, 9u);
}

}  // namespace
}  // namespace memtwin::replication
