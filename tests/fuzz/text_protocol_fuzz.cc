// libFuzzer target for TextProtocol::Process, with the meta commands in mind, driven by
// protocol_fuzz_driver.h. Checked besides the driver's checks: the reply one Process call
// appends stays within what the requests it consumed can produce.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/text_protocol.h"
#include "tests/fuzz/protocol_fuzz_driver.h"

namespace {

using memtwin::fuzz::Check;

// The most a single request can answer without naming values byte by byte: "stats" and friends,
// or an "lru_crawler metadump" of the whole store (a line per item, at most a few times the
// bytes the item takes).
constexpr size_t kPerRequest = 64 * 1024 + 4 * memtwin::fuzz::kMemory;
// A retrieval names one value per two bytes of keys at most ("get a a a ...").
constexpr size_t kPerByte = memtwin::fuzz::kItemSizeMax + 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return memtwin::fuzz::FuzzProtocol<memtwin::server::TextProtocol>(
      data, size, [](std::string_view out, size_t consumed, int max_requests) {
        Check(out.size() <= consumed * kPerByte + max_requests * kPerRequest,
              "the reply is bounded by the requests consumed");
      });
}
