// storage::LruCrawler — memcached's LRU crawler: a thread that walks whole slab classes (not
// just the tails the LRU maintainer looks at) and unlinks expired and flushed items, so their
// memory and curr_items come back without waiting for a client to read them or for eviction.
//
// Crawls are asked for by a client ("lru_crawler crawl 1,3" → Crawl) or, with `autocrawl`,
// scheduled by the crawler itself as memcached's maintainer schedules them: it looks once a
// second, crawls a class at start and then again when its last crawl predicts that at least 1%
// of its items with an expiry will have expired (the wait moves a minute at a time, from 5 s up
// to an hour). It sleeps `sleep_micros` after every 1,000 items it looks at, and looks at no more
// than `tocrawl` items of a class per crawl (0: all).
//
// Usage:
//   LruCrawler crawler(store, /*autocrawl=*/true, /*sleep_micros=*/100, /*tocrawl=*/0);
//   crawler.Enable();                     // the thread runs from here
//   crawler.Crawl(classes);               // classes[id] for id 1..63
//   // Disable() or destroying it stops the thread
#pragma once

#include <atomic>
#include <bitset>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace memtwin::storage {

class LruCrawler {
 public:
  // memcached's MAX_NUMBER_OF_SLAB_CLASSES: class ids a client may name are 1..63.
  static constexpr int kMaxClassId = 63;
  using ClassSet = std::bitset<kMaxClassId + 1>;

  LruCrawler(Store* store, bool autocrawl, uint32_t sleep_micros, uint32_t tocrawl);
  ~LruCrawler();
  LruCrawler(const LruCrawler&) = delete;
  LruCrawler& operator=(const LruCrawler&) = delete;

  // Starts the thread; false when it already runs (memcached: "failed to start").
  bool Enable();
  // Stops the thread, dropping a crawl under way. Fine when it does not run.
  void Disable();
  bool enabled() const;

  enum class CrawlStart { kStarted, kBusy, kDisabled };
  // Crawls the named classes (ids beyond the store's classes hold nothing and are skipped).
  // kBusy while a crawl that a client asked for is under way, or one the schedule started (which
  // then stays off for a minute, as memcached does, so the client's turn comes).
  CrawlStart Crawl(const ClassSet& classes);

  // memcached's rule for how long a class waits before its next scheduled crawl (the crawl is
  // due that many seconds plus 5 after this one): find the minute by which more than 1% of the
  // items that can expire will have expired, and move the wait a minute toward it; when nothing
  // expires within the hour, wait a minute longer. At most an hour.
  static uint32_t NextCrawlWait(uint32_t wait, const CrawlTally& tally);

  bool running() const { return running_.load(std::memory_order_relaxed); }
  uint64_t starts() const { return starts_.load(std::memory_order_relaxed); }
  uint32_t sleep_micros() const { return sleep_micros_.load(std::memory_order_relaxed); }
  void set_sleep_micros(uint32_t micros) { sleep_micros_.store(micros, std::memory_order_relaxed); }
  uint32_t tocrawl() const { return tocrawl_.load(std::memory_order_relaxed); }
  void set_tocrawl(uint32_t items) { tocrawl_.store(items, std::memory_order_relaxed); }

 private:
  void Run();
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Crawls every class in `classes`, unless told to stop part way.
  void CrawlClasses(const ClassSet& classes, bool scheduled) ABSL_LOCKS_EXCLUDED(mu_);
  // The schedule: which classes are due now (and their next check if they hold nothing).
  ClassSet DueClasses(uint32_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const bool autocrawl_;
  const int class_count_;
  std::atomic<uint32_t> sleep_micros_;
  std::atomic<uint32_t> tocrawl_;
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> starts_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  ClassSet requested_ ABSL_GUARDED_BY(mu_);  // a client's crawl, waiting for the thread
  uint32_t schedule_blocked_until_ ABSL_GUARDED_BY(mu_) = 0;
  mutable absl::Mutex enable_mu_;                   // taken before mu_
  std::thread thread_ ABSL_GUARDED_BY(enable_mu_);  // joinable while enabled

  // Per class, touched by the crawler's thread only: when to crawl next, and the wait that set
  // it (memcached's next_crawls and next_crawl_wait).
  std::vector<uint32_t> next_crawl_;
  std::vector<uint32_t> crawl_wait_;
};

}  // namespace memtwin::storage
