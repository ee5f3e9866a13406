// storage::Store under concurrent use: bounded multi-thread runs of mixed operations, then
// invariants — every value read is one some thread wrote for that key, curr_items matches what
// is visible, gets+cas increments and incr never lose an update, and an evicting store stays
// within its memory limit.
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/clock.h"
#include "storage/item.h"
#include "storage/mutation.h"
#include "storage/options.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

namespace memtwin::storage {
namespace {

using test::Fetch;
using test::Fetched;
using test::kStart;

constexpr int kThreads = 4;
constexpr int kKeys = 1000;

std::string KeyName(int k) { return absl::StrCat("key:", k); }

// Values say who wrote them: "<thread>:<seq>:<key>", optionally padded.
std::string ValueFor(int thread, int seq, int key, size_t pad = 0) {
  std::string v = absl::StrCat(thread, ":", seq, ":", key);
  if (pad > v.size()) v.resize(pad, '.');
  return v;
}

// True when `value` is one ValueFor could have produced for `key`.
bool WrittenFor(std::string_view value, int key) {
  const size_t dots = value.find('.');
  if (dots != std::string_view::npos) {
    if (value.find_first_not_of('.', dots) != std::string_view::npos) return false;
    value = value.substr(0, dots);
  }
  const size_t first = value.find(':');
  const size_t second = first == std::string_view::npos ? first : value.find(':', first + 1);
  if (second == std::string_view::npos) return false;
  uint64_t thread = 0, seq = 0, k = 0;
  return test::ParseU64(value.substr(0, first), &thread) &&
         test::ParseU64(value.substr(first + 1, second - first - 1), &seq) &&
         test::ParseU64(value.substr(second + 1), &k) && thread < kThreads &&
         k == static_cast<uint64_t>(key);
}

// Collects the first few problems from any thread.
class Problems {
 public:
  void Add(std::string what) {
    absl::MutexLock lock(&mu_);
    ++count_;
    if (samples_.size() < 10) samples_.push_back(std::move(what));
  }
  size_t count() const {
    absl::MutexLock lock(&mu_);
    return count_;
  }
  std::string Summary() const {
    absl::MutexLock lock(&mu_);
    return ::testing::PrintToString(samples_);
  }

 private:
  mutable absl::Mutex mu_;
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> samples_ ABSL_GUARDED_BY(mu_);
};

template <typename Fn>
void RunThreads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
  for (auto& th : threads) th.join();
}

// Visible keys (and checks each value) after a run.
size_t CountVisible(Store& store, Problems* problems) {
  size_t visible = 0;
  for (int k = 0; k < kKeys; ++k) {
    Fetched f = Fetch(store, KeyName(k));
    if (f.result != LookupResult::kHit) continue;
    ++visible;
    if (!WrittenFor(f.value, k)) problems->Add(absl::StrCat("final ", KeyName(k), "=", f.value));
  }
  return visible;
}

TEST(StoreStressTest, MixedOperationsKeepValuesAndCountsConsistent) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(StorageOptions{}, &clock);
  Problems problems;
  std::atomic<uint64_t> hits{0};

  RunThreads(kThreads, [&](int t) {
    std::mt19937 rng(1234 + t);
    for (int i = 0; i < 20'000; ++i) {
      const int k = static_cast<int>(rng() % kKeys);
      const std::string key = KeyName(k);
      const std::string value = ValueFor(t, i, k);
      auto check = [&](const ItemView& v) {
        if (v.key != key) problems.Add(absl::StrCat("key ", std::string(v.key), " for ", key));
        if (!WrittenFor(v.value, k)) problems.Add(absl::StrCat(key, "=", std::string(v.value)));
      };
      switch (rng() % 10) {
        case 0:
        case 1:
        case 2:
          if (store->Get(key, check) == LookupResult::kHit) ++hits;
          break;
        case 3:
        case 4:
          if (store->Set({.key = key, .value = value, .flags = uint32_t(t)}) !=
              StoreResult::kStored) {
            problems.Add(absl::StrCat("set ", key, " failed"));
          }
          break;
        case 5:
          store->Set({.mode = StoreMode::kAdd, .key = key, .value = value});
          break;
        case 6:
          store->Set({.mode = StoreMode::kReplace, .key = key, .value = value});
          break;
        case 7:
          store->Delete(key);
          break;
        case 8: {
          uint64_t version = 0;
          if (store->Get(key, [&](const ItemView& v) {
                check(v);
                version = v.version;
              }) == LookupResult::kHit) {
            const StoreResult r =
                store->Set({.mode = StoreMode::kCas, .key = key, .value = value, .cas = version});
            if (r != StoreResult::kStored && r != StoreResult::kExists &&
                r != StoreResult::kNotFound) {
              problems.Add(absl::StrCat("cas ", key, " -> ", StoreResultName(r)));
            }
          }
          break;
        }
        case 9:
          if (rng() % 2 == 0) {
            store->Touch(key, 1000);
          } else {
            store->GetAndTouch(key, 0, check);
          }
          break;
      }
    }
  });

  EXPECT_EQ(problems.count(), 0u) << problems.Summary();
  const size_t visible = CountVisible(*store, &problems);
  EXPECT_EQ(problems.count(), 0u) << problems.Summary();
  EXPECT_GT(hits.load(), 0u);
  const StoreStats s = store->Stats();
  EXPECT_EQ(s.curr_items, visible);
  EXPECT_EQ(s.evictions, 0u);
  // The snapshot agrees with Get about what is there.
  size_t walked = 0;
  std::set<std::string> walked_keys;
  test::WalkAll(*store, [&](const Mutation& m) {
    if (m.kind != MutationKind::kSet) return;
    ++walked;
    walked_keys.insert(std::string(m.key));
  });
  EXPECT_EQ(walked, visible);
  EXPECT_EQ(walked_keys.size(), visible);
}

TEST(StoreStressTest, ConcurrentGetsAndCasIncrementsNeverLoseAnUpdate) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(StorageOptions{}, &clock);
  ASSERT_EQ(test::Put(*store, "counter", "0"), StoreResult::kStored);
  std::atomic<uint64_t> successes{0};
  std::atomic<uint64_t> conflicts{0};
  Problems problems;

  RunThreads(kThreads, [&](int) {
    for (int attempt = 0; attempt < 5000; ++attempt) {
      uint64_t n = 0, version = 0;
      bool parsed = false;
      if (store->Get("counter",
                     [&](const ItemView& v) {
                       parsed = test::ParseU64(v.value, &n);
                       version = v.version;
                     }) != LookupResult::kHit ||
          !parsed) {
        problems.Add("counter unreadable");
        continue;
      }
      const std::string next = absl::StrCat(n + 1);
      const StoreResult r =
          store->Set({.mode = StoreMode::kCas, .key = "counter", .value = next, .cas = version});
      if (r == StoreResult::kStored) {
        ++successes;
      } else if (r == StoreResult::kExists) {
        ++conflicts;
      } else {
        problems.Add(absl::StrCat("cas -> ", StoreResultName(r)));
      }
    }
  });

  EXPECT_EQ(problems.count(), 0u) << problems.Summary();
  EXPECT_GT(successes.load(), 0u);
  EXPECT_EQ(successes + conflicts, uint64_t{kThreads} * 5000);
  EXPECT_EQ(test::ValueOf(*store, "counter"), absl::StrCat(successes.load()));
}

TEST(StoreStressTest, ConcurrentIncrAndDecrSumExactly) {
  ManualClock clock(kStart);
  auto store = test::MakeStore(StorageOptions{}, &clock);
  ASSERT_EQ(test::Put(*store, "up", "0"), StoreResult::kStored);
  ASSERT_EQ(test::Put(*store, "down", "1000000"), StoreResult::kStored);
  std::atomic<uint64_t> failures{0};
  RunThreads(kThreads, [&](int) {
    for (int i = 0; i < 10'000; ++i) {
      uint64_t value = 0;
      if (store->Delta({.key = "up", .incr = true, .delta = 1}, &value) != DeltaResult::kOk) {
        ++failures;
      }
      if (store->Delta({.key = "down", .incr = false, .delta = 3}, &value) != DeltaResult::kOk) {
        ++failures;
      }
    }
  });
  EXPECT_EQ(failures.load(), 0u);
  // Shrinking numbers are padded with spaces in place (memcached), so trim before parsing.
  auto number = [&](const char* key) {
    std::string v = test::ValueOf(*store, key);
    v.erase(v.find_last_not_of(' ') + 1);
    uint64_t n = 0;
    EXPECT_TRUE(test::ParseU64(v, &n)) << key << "=" << v;
    return n;
  };
  const uint64_t up = number("up");
  const uint64_t down = number("down");
  EXPECT_EQ(up, uint64_t{kThreads} * 10'000);
  EXPECT_EQ(down, 1'000'000 - 3 * uint64_t{kThreads} * 10'000);
}

TEST(StoreStressTest, EvictingStoreStaysWithinLimitUnderConcurrentWrites) {
  ManualClock clock(kStart);
  StorageOptions options;
  options.memory_limit = 4 * test::kPage;
  auto store = test::MakeStore(options, &clock);
  constexpr size_t kValue = 20'000;  // about 50 items per page: constant eviction
  Problems problems;
  std::atomic<uint64_t> stored{0}, out_of_memory{0};
  // Every writer stores into the same class first, so pages go there before anyone races.
  ASSERT_EQ(test::Put(*store, KeyName(0), ValueFor(0, 0, 0, kValue)), StoreResult::kStored);

  RunThreads(kThreads, [&](int t) {
    std::mt19937 rng(99 + t);
    for (int i = 0; i < 5000; ++i) {
      const int k = static_cast<int>(rng() % kKeys);
      const std::string key = KeyName(k);
      if (rng() % 3 == 0) {
        store->Get(key, [&](const ItemView& v) {
          if (!WrittenFor(v.value, k))
            problems.Add(absl::StrCat(key, "=", std::string(v.value.substr(0, 40))));
        });
        continue;
      }
      const StoreResult r = store->Set({.key = key, .value = ValueFor(t, i, k, kValue)});
      if (r == StoreResult::kStored) {
        ++stored;
      } else if (r == StoreResult::kOutOfMemory) {
        ++out_of_memory;  // every candidate victim was locked by another writer
      } else {
        problems.Add(absl::StrCat("set ", key, " -> ", StoreResultName(r)));
      }
    }
  });

  EXPECT_EQ(problems.count(), 0u) << problems.Summary();
  const size_t visible = CountVisible(*store, &problems);
  EXPECT_EQ(problems.count(), 0u) << problems.Summary();
  const StoreStats s = store->Stats();
  EXPECT_LE(s.total_malloced, options.memory_limit);
  EXPECT_EQ(s.curr_items, visible);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(stored.load(), 10 * out_of_memory.load()) << "eviction should almost always succeed";
  const int smallest_class = store->slab_classes().ClassFor(Item::TotalSize(5, kValue));
  EXPECT_LE(visible, size_t{4} * store->slab_classes().at(smallest_class).chunks_per_page);
}

}  // namespace
}  // namespace memtwin::storage
