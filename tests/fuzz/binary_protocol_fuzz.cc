// libFuzzer target for BinaryProtocol::Process: arbitrary bytes are fed to one connection's
// binary protocol over a small Store, in chunks and with a request limit chosen by the input's
// first two bytes, the way a Connection feeds it (unconsumed bytes are offered again with the next
// chunk) while a manual clock ticks. Checked: nothing crashes (ASan, UBSan), Process never
// consumes more than it was given, what it appends is whole reply packets (magic 0x81, a body as
// long as the header says and no shorter than its extras and key), and their total stays within
// what the requests it may handle can produce.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/binary_protocol.h"
#include "server/config.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "storage/clock.h"
#include "storage/options.h"
#include "storage/store.h"

namespace {

using memtwin::server::BinaryProtocol;
using memtwin::server::Config;
using memtwin::server::ServerContext;
using memtwin::server::ThreadStats;
namespace binary = memtwin::server::binary;

constexpr size_t kItemSizeMax = 1024;        // the smallest -I memtwin accepts
constexpr size_t kMemory = size_t{1} << 20;  // one slab page
// The most one request can answer: STAT's groups (a few KB, one packet per line), or a value
// with its key, flags and header.
constexpr size_t kPerRequest = 64 * 1024;

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

// `out` is a sequence of whole reply packets.
void CheckReplies(std::string_view out) {
  while (!out.empty()) {
    binary::Header header;
    Check(binary::ParseHeader(out, &header), "a reply is at least a header");
    Check(header.magic == binary::kResponseMagic, "a reply has the response magic");
    Check(header.body_length >= size_t{header.extras_length} + header.key_length,
          "a reply's body holds its extras and key");
    Check(out.size() - binary::kHeaderSize >= header.body_length, "a reply's body is whole");
    out.remove_prefix(binary::kHeaderSize + header.body_length);
  }
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
  BinaryProtocol protocol(&context, &stats);

  std::string buffer;
  std::string out;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    buffer.append(input.substr(pos, chunk));
    clock.Advance(1);
    for (int rounds = 0;; ++rounds) {
      Check(rounds < 1 << 20, "a yield loop ends");
      size_t consumed = 0;
      const BinaryProtocol::After after = protocol.Process(buffer, &out, &consumed, max_requests);
      Check(consumed <= buffer.size(), "consumed no more than given");
      Check(out.size() <= max_requests * kPerRequest, "the reply is bounded by the requests");
      CheckReplies(out);
      buffer.erase(0, consumed);
      out.clear();  // what a Connection would have written out
      if (after == BinaryProtocol::After::kClose) return 0;
      if (after != BinaryProtocol::After::kYield) break;
    }
  }
  return 0;
}
