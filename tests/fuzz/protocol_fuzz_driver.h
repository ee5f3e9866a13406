// The harness both protocol fuzz targets share: arbitrary bytes are fed to one connection's
// protocol over a small Store (1 MB, -I 1k), in chunks and with a request limit chosen by the
// input's first two bytes, the way a Connection feeds it (unconsumed bytes are offered again with
// the next chunk) while a manual clock ticks. Checked here: nothing crashes (ASan, UBSan), a
// yield loop ends, and Process never consumes more than it was given; each target adds its own
// checks of what one Process call appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/config.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_protocol.h"
#include "storage/clock.h"
#include "storage/lru_crawler.h"
#include "storage/store.h"

namespace memtwin::fuzz {

inline constexpr size_t kItemSizeMax = 1024;        // the smallest -I memtwin accepts
inline constexpr size_t kMemory = size_t{1} << 20;  // one slab page

inline void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "check failed: %s\n", what);
  std::abort();
}

// Runs `data` through a fresh Protocol (TextProtocol or BinaryProtocol); after each Process call,
// check_output(appended, consumed, max_requests) judges what that call appended.
template <typename Protocol, typename CheckOutput>
int FuzzProtocol(const uint8_t* data, size_t size, CheckOutput&& check_output) {
  if (size < 2) return 0;
  const int max_requests = 1 + data[0] % 16;
  const size_t chunk = data[1] % 8 == 0 ? size : 1 + data[1] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  static const server::Config config = [] {
    server::Config c;
    c.storage.memory_limit = kMemory;
    c.storage.item_size_max = kItemSizeMax;
    c.storage.hash_power_initial = 10;
    c.threads = 1;
    return c;
  }();
  storage::ManualClock clock(1700000000);
  auto store = storage::Store::Create(config.storage, &clock);
  Check(store.ok(), "store");
  // Enabled, as in a server, for inputs that speak to it (crawl, metadump); starting a thread for
  // every input would cost two thirds of the fuzzer's speed. It crawls only when asked.
  storage::LruCrawler crawler(store->get(), /*autocrawl=*/false, config.lru_crawler_sleep,
                              config.lru_crawler_tocrawl);
  if (input.find("lru_crawler") != std::string_view::npos) crawler.Enable();
  server::ThreadStats stats;
  server::ServerContext context;
  context.store = store->get();
  context.lru_crawler = &crawler;
  context.config = &config;
  context.start_time = clock.Now();
  context.thread_stats = {&stats};
  context.request_shutdown = [] {};
  Protocol protocol(&context, &stats);

  std::string buffer;
  std::string out;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    buffer.append(input.substr(pos, chunk));
    clock.Advance(1);
    for (int rounds = 0;; ++rounds) {
      Check(rounds < 1 << 20, "a yield loop ends");
      size_t consumed = 0;
      const server::TextProtocol::After after =
          protocol.Process(buffer, &out, &consumed, max_requests);
      Check(consumed <= buffer.size(), "consumed no more than given");
      check_output(std::string_view(out), consumed, max_requests);
      buffer.erase(0, consumed);
      out.clear();  // what a Connection would have written out
      if (after == server::TextProtocol::After::kClose) return 0;
      if (after != server::TextProtocol::After::kYield) break;
    }
  }
  return 0;
}

}  // namespace memtwin::fuzz
