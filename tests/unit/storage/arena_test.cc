// storage::Arena: the alignment unit -m gives, the reservation beyond the limit, moving the
// limit (pages handed out up to it, usable once raised, kept once lowered) and the pages taken
// past it (a slab class's first page, as memcached allows).
#include "storage/arena.h"

#include <cstring>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace memtwin::storage {
namespace {

constexpr size_t kPage = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;

std::unique_ptr<Arena> MakeArena(size_t limit_bytes, bool preallocate = false) {
  auto arena = Arena::Create(kPage, limit_bytes, preallocate);
  EXPECT_TRUE(arena.ok()) << arena.status();
  return std::unique_ptr<Arena>(arena.ok() ? *arena : nullptr);
}

// Takes pages until the limit and writes to every one (a page that is not usable would fault).
std::vector<char*> TakeAll(Arena& arena) {
  std::vector<char*> pages;
  while (char* page = arena.TakePage()) {
    std::memset(page, 0xab, arena.page_size());
    pages.push_back(page);
  }
  return pages;
}

TEST(ArenaTest, HandsOutPagesInOrderUpToTheLimit) {
  auto arena = MakeArena(3 * kPage + 100);
  ASSERT_NE(arena, nullptr);
  EXPECT_EQ(arena->page_limit(), 3u);
  EXPECT_EQ(arena->limit_bytes(), 3 * kPage + 100);
  const std::vector<char*> pages = TakeAll(*arena);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[1], pages[0] + kPage);
  EXPECT_EQ(pages[2], pages[1] + kPage);
  EXPECT_EQ(arena->pages_taken(), 3u);
}

TEST(ArenaTest, AlignmentUnitFollowsTheStartingLimitOnly) {
  // 8 bytes reach 32 GiB less one unit: the reservation stops a page short of it.
  auto small = MakeArena(64 * kPage);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small->alignment(), 8u);
  EXPECT_EQ(small->reserved_pages(), 32 * 1024 - 1);
  auto largest8 = MakeArena(32 * kGiB - kPage);
  ASSERT_NE(largest8, nullptr);
  EXPECT_EQ(largest8->alignment(), 8u);
  // Past it the unit doubles, and so does the reach.
  auto larger = MakeArena(32 * kGiB);
  ASSERT_NE(larger, nullptr);
  EXPECT_EQ(larger->alignment(), 16u);
  EXPECT_EQ(larger->reserved_pages(), 64 * 1024 - 1);
  // Raising never changes the unit.
  ASSERT_TRUE(small->SetLimit(32 * kGiB - kPage).ok());
  EXPECT_EQ(small->alignment(), 8u);
}

TEST(ArenaTest, RefsNameTheLastUnitOfTheWholeReservation) {
  auto arena = MakeArena(2 * kPage);
  ASSERT_NE(arena, nullptr);
  ASSERT_TRUE(arena->SetLimit(arena->reserved_pages() * kPage).ok());
  char* first = arena->TakePage();
  ASSERT_NE(first, nullptr);
  const auto* last =
      reinterpret_cast<const Item*>(first + arena->reserved_pages() * kPage - arena->alignment());
  const ItemRef ref = arena->RefOf(last);
  EXPECT_NE(ref, kNoItem);
  EXPECT_EQ(arena->Get(ref), last);
  EXPECT_EQ(arena->RefOf(reinterpret_cast<const Item*>(first)), 1u);
}

TEST(ArenaTest, RaisedLimitMakesMorePagesUsable) {
  auto arena = MakeArena(2 * kPage);
  ASSERT_NE(arena, nullptr);
  ASSERT_EQ(TakeAll(*arena).size(), 2u);
  ASSERT_TRUE(arena->SetLimit(5 * kPage).ok());
  EXPECT_EQ(arena->page_limit(), 5u);
  EXPECT_EQ(arena->limit_bytes(), 5 * kPage);
  EXPECT_EQ(TakeAll(*arena).size(), 3u);
  EXPECT_EQ(arena->pages_taken(), 5u);
}

TEST(ArenaTest, LoweredLimitStopsTheHandOutAndKeepsTakenPages) {
  auto arena = MakeArena(4 * kPage);
  ASSERT_NE(arena, nullptr);
  const std::vector<char*> taken = TakeAll(*arena);
  ASSERT_EQ(taken.size(), 4u);
  ASSERT_TRUE(arena->SetLimit(2 * kPage).ok());
  EXPECT_EQ(arena->TakePage(), nullptr);
  EXPECT_EQ(arena->pages_taken(), 4u);
  for (char* page : taken) std::memset(page, 0xcd, kPage);  // still ours to use
  // Back up, past where it was: the pages already taken count against the new limit.
  ASSERT_TRUE(arena->SetLimit(6 * kPage).ok());
  EXPECT_EQ(TakeAll(*arena).size(), 2u);
  // Down below what was ever usable and up again maps nothing twice and loses nothing.
  ASSERT_TRUE(arena->SetLimit(kPage).ok());
  ASSERT_TRUE(arena->SetLimit(7 * kPage).ok());
  EXPECT_EQ(TakeAll(*arena).size(), 1u);
}

TEST(ArenaTest, LimitBeyondTheReservationIsRefusedAndChangesNothing) {
  auto arena = MakeArena(2 * kPage);
  ASSERT_NE(arena, nullptr);
  const absl::Status s = arena->SetLimit((arena->reserved_pages() + 1) * kPage);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_EQ(arena->page_limit(), 2u);
  EXPECT_EQ(arena->limit_bytes(), 2 * kPage);
  EXPECT_EQ(TakeAll(*arena).size(), 2u);
}

TEST(ArenaTest, PreallocatedArenaKeepsItsLimit) {
  auto arena = MakeArena(2 * kPage, /*preallocate=*/true);
  ASSERT_NE(arena, nullptr);
  EXPECT_EQ(arena->reserved_pages(), 2u);
  EXPECT_EQ(arena->SetLimit(4 * kPage).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(arena->SetLimit(kPage).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(arena->page_limit(), 2u);
  EXPECT_EQ(TakeAll(*arena).size(), 2u);
}

TEST(ArenaTest, PagesBeyondTheLimitAreMappedAndCountAgainstLaterRaises) {
  auto arena = MakeArena(2 * kPage);
  ASSERT_NE(arena, nullptr);
  const std::vector<char*> below = TakeAll(*arena);
  ASSERT_EQ(below.size(), 2u);
  char* beyond = arena->TakePageBeyondLimit();
  ASSERT_EQ(beyond, below[1] + kPage);
  std::memset(beyond, 0xef, kPage);  // usable: this faults if it was left PROT_NONE
  EXPECT_EQ(arena->pages_taken(), 3u);
  EXPECT_EQ(arena->page_limit(), 2u) << "the limit itself stays";
  EXPECT_EQ(arena->TakePage(), nullptr);
  // A raise to four pages leaves one more to hand out: the third is already taken.
  ASSERT_TRUE(arena->SetLimit(4 * kPage).ok());
  const std::vector<char*> after = TakeAll(*arena);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], beyond + kPage);
}

TEST(ArenaTest, PreallocatedArenaHasNothingBeyondItsLimit) {
  auto arena = MakeArena(2 * kPage, /*preallocate=*/true);
  ASSERT_NE(arena, nullptr);
  char* first = arena->TakePage();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(arena->TakePageBeyondLimit(), first + kPage);  // below the limit, it is a page
  EXPECT_EQ(arena->TakePage(), nullptr);
  EXPECT_EQ(arena->TakePageBeyondLimit(), nullptr);
}

}  // namespace
}  // namespace memtwin::storage
