// SlabClasses against memcached's own tables. The reference tables were captured from
// `memcached -vv` of memcached 1.6.18 (Debian 12), e.g.
//   memcached -vv -p 0 -U 0 -u root -f 1.1 -n 32
// memcached's item header is 48 bytes (sizeof(item) on x86-64), chunks align to 8, its largest
// chunk is half a 1 MB page (slab_chunk_max) and its pages stay 1 MB whatever -I says.
#include "storage/slab_classes.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "storage/item.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

constexpr uint32_t kMemcachedHeader = 48;
constexpr uint32_t kAlign = 8;
constexpr uint32_t kMemcachedChunkMax = 524288;
constexpr uint32_t kMemcachedPage = 1048576;

// "id:chunk/perslab" for every class, like the reference lists below.
std::string Render(const SlabClasses& classes) {
  std::vector<std::string> parts;
  for (int id = 1; id <= classes.count(); ++id) {
    parts.push_back(
        absl::StrCat(id, ":", classes.at(id).chunk_size, "/", classes.at(id).chunks_per_page));
  }
  return absl::StrJoin(parts, " ");
}

SlabClasses Memcached(uint32_t n, double f) {
  return SlabClasses(kMemcachedHeader + n, f, kMemcachedChunkMax, kMemcachedPage, kAlign);
}

TEST(SlabClassesTest, DefaultFactorMatchesMemcached) {
  // memcached -vv -n 48 -f 1.25
  EXPECT_EQ(Render(Memcached(48, 1.25)),
            "1:96/10922 2:120/8738 3:152/6898 4:192/5461 5:240/4369 6:304/3449 7:384/2730 "
            "8:480/2184 9:600/1747 10:752/1394 11:944/1110 12:1184/885 13:1480/708 14:1856/564 "
            "15:2320/451 16:2904/361 17:3632/288 18:4544/230 19:5680/184 20:7104/147 "
            "21:8880/118 22:11104/94 23:13880/75 24:17352/60 25:21696/48 26:27120/38 "
            "27:33904/30 28:42384/24 29:52984/19 30:66232/15 31:82792/12 32:103496/10 "
            "33:129376/8 34:161720/6 35:202152/5 36:252696/4 37:315872/3 38:394840/2 "
            "39:524288/2");
}

TEST(SlabClassesTest, FactorTwoWithMinimum100MatchesMemcached) {
  // memcached -vv -f 2 -n 100 -I 4m (memcached keeps 1 MB pages and 512 KB chunks with -I 4m).
  EXPECT_EQ(Render(Memcached(100, 2.0)),
            "1:152/6898 2:304/3449 3:608/1724 4:1216/862 5:2432/431 6:4864/215 7:9728/107 "
            "8:19456/53 9:38912/26 10:77824/13 11:155648/6 12:524288/2");
}

TEST(SlabClassesTest, SmallFactorStopsAtMemcachedsClassLimit) {
  // memcached -vv -f 1.1 -n 32: 62 grown classes, then the 63rd is the largest chunk even though
  // the growth had not reached it (MAX_NUMBER_OF_SLAB_CLASSES).
  const SlabClasses classes = Memcached(32, 1.1);
  EXPECT_EQ(classes.count(), SlabClasses::kMaxClasses);
  EXPECT_EQ(Render(classes),
            "1:80/13107 2:88/11915 3:96/10922 4:112/9362 5:128/8192 6:144/7281 7:160/6553 "
            "8:176/5957 9:200/5242 10:224/4681 11:248/4228 12:272/3855 13:304/3449 14:336/3120 "
            "15:376/2788 16:416/2520 17:464/2259 18:512/2048 19:568/1846 20:624/1680 "
            "21:688/1524 22:760/1379 23:840/1248 24:928/1129 25:1024/1024 26:1128/929 "
            "27:1240/845 28:1368/766 29:1504/697 30:1656/633 31:1824/574 32:2008/522 "
            "33:2208/474 34:2432/431 35:2680/391 36:2952/355 37:3248/322 38:3576/293 "
            "39:3936/266 40:4336/241 41:4776/219 42:5256/199 43:5784/181 44:6368/164 "
            "45:7008/149 46:7712/135 47:8488/123 48:9336/112 49:10272/102 50:11304/92 "
            "51:12440/84 52:13688/76 53:15056/69 54:16568/63 55:18224/57 56:20048/52 "
            "57:22056/47 58:24264/43 59:26696/39 60:29368/35 61:32304/32 62:35536/29 "
            "63:524288/2");
}

TEST(SlabClassesTest, ChunkSizesAreAlignedAndIncreasing) {
  for (const auto& [n, f] : std::vector<std::pair<uint32_t, double>>{
           {48, 1.25}, {100, 2.0}, {32, 1.1}, {1, 1.5}, {1000, 3.0}}) {
    SCOPED_TRACE(absl::StrCat("n=", n, " f=", f));
    const SlabClasses classes = Memcached(n, f);
    ASSERT_GE(classes.count(), 1);
    EXPECT_EQ(classes.page_size(), kMemcachedPage);
    for (int id = 1; id <= classes.count(); ++id) {
      EXPECT_EQ(classes.at(id).chunk_size % kAlign, 0u) << "class " << id;
      EXPECT_EQ(classes.at(id).chunks_per_page, kMemcachedPage / classes.at(id).chunk_size);
      if (id > 1) {
        EXPECT_GT(classes.at(id).chunk_size, classes.at(id - 1).chunk_size);
      }
    }
    EXPECT_EQ(classes.at(classes.count()).chunk_size, kMemcachedChunkMax);
  }
}

TEST(SlabClassesTest, ClassForPicksSmallestClassThatFits) {
  const SlabClasses classes = Memcached(48, 1.25);
  EXPECT_EQ(classes.ClassFor(0), 1);
  EXPECT_EQ(classes.ClassFor(1), 1);
  EXPECT_EQ(classes.ClassFor(96), 1);
  EXPECT_EQ(classes.ClassFor(97), 2);
  EXPECT_EQ(classes.ClassFor(120), 2);
  EXPECT_EQ(classes.ClassFor(121), 3);
  EXPECT_EQ(classes.ClassFor(394840), 38);
  EXPECT_EQ(classes.ClassFor(394841), 39);
  EXPECT_EQ(classes.ClassFor(524288), 39);
  for (int id = 1; id <= classes.count(); ++id) {
    const uint32_t size = classes.at(id).chunk_size;
    EXPECT_EQ(classes.ClassFor(size), id);
    if (id > 1) {
      EXPECT_EQ(classes.ClassFor(classes.at(id - 1).chunk_size + 1), id);
    }
  }
}

TEST(SlabClassesTest, ClassForReturnsZeroAboveLargestChunk) {
  const SlabClasses classes = Memcached(48, 1.25);
  EXPECT_EQ(classes.ClassFor(524289), 0);
  EXPECT_EQ(classes.ClassFor(size_t{1} << 30), 0);
  EXPECT_EQ(classes.ClassFor(~size_t{0}), 0);
}

// The Store builds its table from its own 40-byte header and lets the largest class be a whole
// page (DESIGN.md §4: pages of 1 MB, raised to -I when -I is larger).
TEST(StoreSlabClassesTest, StoreTableStartsAtItemHeaderPlusMinimumAndEndsAtPage) {
  static_assert(sizeof(Item) == 40);
  ManualClock clock(test::kStart);
  auto store = test::MakeStore(StorageOptions{}, &clock);
  const SlabClasses& classes = store->slab_classes();
  ASSERT_GE(classes.count(), 2);
  EXPECT_EQ(classes.at(1).chunk_size, 88u);
  EXPECT_EQ(classes.at(1).chunks_per_page, 1048576u / 88);
  EXPECT_EQ(classes.page_size(), 1048576u);
  EXPECT_EQ(classes.at(classes.count()).chunk_size, 1048576u);
  EXPECT_EQ(classes.at(classes.count()).chunks_per_page, 1u);
  // The same algorithm as memcached, fed with our header and a page-sized largest chunk.
  EXPECT_EQ(Render(classes), Render(SlabClasses(88, 1.25, 1048576, 1048576, 8)));
}

TEST(StoreSlabClassesTest, LargeItemSizeMaxRaisesPageAndLastClass) {
  ManualClock clock(test::kStart);
  StorageOptions options;
  options.item_size_max = 4u << 20;  // -I 4m
  auto store = test::MakeStore(options, &clock);
  const SlabClasses& classes = store->slab_classes();
  EXPECT_EQ(classes.at(1).chunk_size, 88u);
  EXPECT_EQ(classes.page_size(), 4u << 20);
  EXPECT_EQ(classes.at(classes.count()).chunk_size, 4u << 20);
  EXPECT_EQ(store->item_size_max(), 4u << 20);
}

TEST(StoreSlabClassesTest, MinimumAndFactorOptionsShapeStoreTable) {
  ManualClock clock(test::kStart);
  StorageOptions options;
  options.min_value_space = 100;  // -n 100
  options.growth_factor = 2.0;    // -f 2
  auto store = test::MakeStore(options, &clock);
  EXPECT_EQ(Render(store->slab_classes()), Render(SlabClasses(140, 2.0, 1048576, 1048576, 8)));
  EXPECT_EQ(store->slab_classes().at(1).chunk_size, 144u);
}

TEST(StoreSlabClassesTest, SmallItemSizeMaxKeepsOneMegabytePages) {
  ManualClock clock(test::kStart);
  StorageOptions options;
  options.item_size_max = 512u << 10;  // -I 512k
  auto store = test::MakeStore(options, &clock);
  EXPECT_EQ(store->slab_classes().page_size(), 1048576u);
  uint64_t version = 0;
  const std::string too_big(options.item_size_max - Item::TotalSize(1, 0) + 1, 'x');
  EXPECT_EQ(test::Put(*store, "k", too_big, 0, 0, &version), StoreResult::kTooLarge);
  EXPECT_EQ(test::Put(*store, "k", too_big.substr(1)), StoreResult::kStored);
}

}  // namespace
}  // namespace memtwin::storage
