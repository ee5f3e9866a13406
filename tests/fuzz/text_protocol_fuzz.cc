// libFuzzer target for TextProtocol::Process, with the meta commands in mind: arbitrary bytes
// are fed to one connection's protocol over a small Store, in chunks and with a request limit
// chosen by the input's first two bytes, the way a Connection feeds it (unconsumed bytes are
// offered again with the next chunk) while a manual clock ticks. Checked: nothing crashes
// (ASan, UBSan), Process never consumes more than it was given, and the reply it appends stays
// within what the consumed requests can produce.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "server/config.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_protocol.h"
#include "storage/clock.h"
#include "storage/options.h"
#include "storage/store.h"

namespace {

using memtwin::server::Config;
using memtwin::server::ServerContext;
using memtwin::server::TextProtocol;
using memtwin::server::ThreadStats;

constexpr size_t kItemSizeMax = 1024;        // the smallest -I memtwin accepts
constexpr size_t kMemory = size_t{1} << 20;  // one slab page
// The most a single request can answer without naming values byte by byte: "stats" and friends,
// or an "lru_crawler metadump" of the whole store (a line per item, at most a few times the
// bytes the item takes).
constexpr size_t kPerRequest = 64 * 1024 + 4 * kMemory;
// A retrieval names one value per two bytes of keys at most ("get a a a ...").
constexpr size_t kPerByte = kItemSizeMax + 64;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "check failed: %s\n", what);
  std::abort();
}

Config MakeConfig() {
  Config config;
  config.storage.memory_limit = kMemory;
  config.storage.item_size_max = kItemSizeMax;
  config.storage.hash_power_initial = 10;
  config.threads = 1;
  return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int max_requests = 1 + data[0] % 16;
  const size_t chunk = data[1] % 8 == 0 ? size : 1 + data[1] % 64;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  static const Config config = MakeConfig();
  memtwin::storage::ManualClock clock(1700000000);
  auto store = memtwin::storage::Store::Create(config.storage, &clock);
  Check(store.ok(), "store");
  ThreadStats stats;
  ServerContext context;
  context.store = store->get();
  context.config = &config;
  context.start_time = clock.Now();
  context.thread_stats = {&stats};
  context.request_shutdown = [] {};
  TextProtocol protocol(&context, &stats);

  std::string buffer;
  std::string out;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    buffer.append(input.substr(pos, chunk));
    clock.Advance(1);
    for (int rounds = 0;; ++rounds) {
      Check(rounds < 1 << 20, "a yield loop ends");
      size_t consumed = 0;
      const size_t before = out.size();
      const TextProtocol::After after = protocol.Process(buffer, &out, &consumed, max_requests);
      Check(consumed <= buffer.size(), "consumed no more than given");
      Check(out.size() - before <= consumed * kPerByte + max_requests * kPerRequest,
            "the reply is bounded by the requests consumed");
      buffer.erase(0, consumed);
      out.clear();  // what a Connection would have written out
      if (after == TextProtocol::After::kClose) return 0;
      if (after != TextProtocol::After::kYield) break;
    }
  }
  return 0;
}
