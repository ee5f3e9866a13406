#include "storage/lru_crawler.h"

#include <pthread.h>

#include <algorithm>

namespace memtwin::storage {
namespace {

// memcached's crawls_persleep: items looked at between two sleeps.
constexpr uint64_t kItemsPerSleep = 1000;
// Items looked at per hold of a class lock: allocations in the class wait at most this long.
constexpr size_t kItemsPerStep = 16;
// The schedule (memcached's lru_maintainer_crawler_check): looked at once a second; a class is
// not crawled again sooner than this after it was due, nor waits longer than an hour.
constexpr absl::Duration kScheduleTick = absl::Seconds(1);
constexpr uint32_t kMinRetrySeconds = 5;
constexpr uint32_t kMaxWaitSeconds = 60 * 60;
constexpr uint32_t kWaitStepSeconds = 60;
// A client's crawl refused as busy keeps the schedule from starting one for this long.
constexpr uint32_t kClientTurnSeconds = 60;

}  // namespace

LruCrawler::LruCrawler(Store* store, bool autocrawl, uint32_t sleep_micros, uint32_t tocrawl)
    : store_(store),
      autocrawl_(autocrawl),
      class_count_(std::min(store->slab_classes().count(), kMaxClassId)),
      sleep_micros_(sleep_micros),
      tocrawl_(tocrawl),
      next_crawl_(class_count_ + 1, 0),
      crawl_wait_(class_count_ + 1, 0) {}

LruCrawler::~LruCrawler() { Disable(); }

bool LruCrawler::Enable() {
  absl::MutexLock enable_lock(&enable_mu_);
  if (thread_.joinable()) return false;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Run(); });
  // Named here rather than by the thread, so it has its name by the time "enable" answers.
  pthread_setname_np(thread_.native_handle(), "lru-crawler");
  return true;
}

void LruCrawler::Disable() {
  absl::MutexLock enable_lock(&enable_mu_);
  if (!thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    requested_.reset();
  }
  thread_.join();
  running_.store(false, std::memory_order_relaxed);
}

bool LruCrawler::enabled() const {
  absl::MutexLock enable_lock(&enable_mu_);
  return thread_.joinable();
}

LruCrawler::CrawlStart LruCrawler::Crawl(const ClassSet& classes) {
  absl::MutexLock enable_lock(&enable_mu_);
  if (!thread_.joinable()) return CrawlStart::kDisabled;
  absl::MutexLock lock(&mu_);
  if (requested_.any() || running()) {
    schedule_blocked_until_ = store_->Now() + kClientTurnSeconds;
    return CrawlStart::kBusy;
  }
  requested_ = classes;
  running_.store(true, std::memory_order_relaxed);  // from now, as memcached's stat says
  starts_.fetch_add(1, std::memory_order_relaxed);
  return CrawlStart::kStarted;
}

void LruCrawler::Run() {
  absl::MutexLock lock(&mu_);
  const absl::Condition woken(this, &LruCrawler::HasWork);
  while (!stopping_) {
    ClassSet todo = requested_;
    const bool scheduled = todo.none();
    if (scheduled && autocrawl_) todo = DueClasses(store_->Now());
    if (todo.none()) {
      if (autocrawl_) {
        mu_.AwaitWithTimeout(woken, kScheduleTick);
      } else {
        mu_.Await(woken);
      }
      continue;
    }
    requested_.reset();
    running_.store(true, std::memory_order_relaxed);
    mu_.Unlock();
    CrawlClasses(todo, scheduled);
    mu_.Lock();
    running_.store(false, std::memory_order_relaxed);
  }
}

bool LruCrawler::HasWork() const { return stopping_ || requested_.any(); }

void LruCrawler::CrawlClasses(const ClassSet& classes, bool scheduled) {
  uint64_t since_sleep = 0;
  bool counted = !scheduled;  // a client's crawl was counted when it was asked for
  for (int id = 1; id <= class_count_; ++id) {
    if (!classes[id] || !store_->StartCrawl(id)) continue;
    if (!counted) {
      starts_.fetch_add(1, std::memory_order_relaxed);
      counted = true;
    }
    const uint64_t limit = tocrawl();
    CrawlTally tally;
    bool more = true;
    while (more && (limit == 0 || tally.checked < limit)) {
      const uint64_t before = tally.checked;
      more = store_->CrawlStep(id, kItemsPerStep, &tally);
      since_sleep += std::max<uint64_t>(tally.checked - before, 1);
      if (since_sleep < kItemsPerSleep) continue;
      since_sleep = 0;
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Microseconds(sleep_micros()))) {
        store_->EndCrawl(id);
        return;
      }
    }
    if (more) store_->EndCrawl(id);  // stopped at tocrawl
    if (scheduled) {
      crawl_wait_[id] = NextCrawlWait(crawl_wait_[id], tally);
      next_crawl_[id] = store_->Now() + crawl_wait_[id] + kMinRetrySeconds;
    }
  }
}

LruCrawler::ClassSet LruCrawler::DueClasses(uint32_t now) {
  ClassSet due;
  if (now < schedule_blocked_until_) return due;
  for (int id = 1; id <= class_count_; ++id) {
    if (now < next_crawl_[id]) continue;
    due[id] = true;
    // Until the crawl reschedules it: a class that holds nothing is looked at again this soon.
    next_crawl_[id] = now + kMinRetrySeconds;
  }
  return due;
}

uint32_t LruCrawler::NextCrawlWait(uint32_t wait, const CrawlTally& tally) {
  const uint64_t live = tally.checked - tally.reclaimed;
  const uint64_t can_expire = live - std::min(live, tally.no_expiry);
  const uint64_t low_watermark = can_expire / 100 + 1;
  uint64_t expiring = 0;
  for (uint32_t minute = 0; minute < 60; ++minute) {
    expiring += tally.expiring_in_minute[minute];
    if (expiring > low_watermark) {
      if (wait < minute * 60) {
        wait += kWaitStepSeconds;
      } else if (wait >= kWaitStepSeconds) {
        wait -= kWaitStepSeconds;
      }
      break;
    }
  }
  if (expiring == 0) wait += kWaitStepSeconds;
  return std::min(wait, kMaxWaitSeconds);
}

}  // namespace memtwin::storage
