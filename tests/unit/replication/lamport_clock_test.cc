#include "replication/lamport_clock.h"

#include "gtest/gtest.h"

namespace memtwin::replication {
namespace {

TEST(LamportClockTest, VersionsCarryTheNodeIdAndIncrease) {
  LamportClock clock(7);
  const uint64_t a = clock.Next(), b = clock.Next();
  EXPECT_LT(a, b);
  EXPECT_EQ(a & LamportClock::kNodeMask, 7u);
  EXPECT_EQ(b & LamportClock::kNodeMask, 7u);
}

TEST(LamportClockTest, AWitnessedVersionOrdersBeforeTheNextLocalOne) {
  LamportClock a(1), b(2);
  for (int i = 0; i < 100; ++i) b.Next();
  const uint64_t remote = b.Next();
  a.Witness(remote);
  EXPECT_GT(a.Next(), remote);
  // Witnessing an older version never moves the clock back.
  const uint64_t before = a.Next();
  a.Witness(1);
  EXPECT_GT(a.Next(), before);
}

TEST(LamportClockTest, TwoNodesNeverMintTheSameVersion) {
  LamportClock a(1), b(2);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t va = a.Next(), vb = b.Next();
    EXPECT_NE(va, vb);
    a.Witness(vb);
    b.Witness(va);
  }
}

TEST(LamportClockTest, ANewNodeIdAppliesToLaterVersions) {
  LamportClock clock(5);
  const uint64_t before = clock.Next();
  clock.set_node_id(9);
  const uint64_t after = clock.Next();
  EXPECT_GT(after, before);
  EXPECT_EQ(after & LamportClock::kNodeMask, 9u);
}

}  // namespace
}  // namespace memtwin::replication
