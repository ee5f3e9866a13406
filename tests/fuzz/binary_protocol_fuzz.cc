// libFuzzer target for BinaryProtocol::Process, driven by protocol_fuzz_driver.h. Checked besides
// the driver's checks: what one Process call appends is whole reply packets (magic 0x81, a body
// as long as the header says and no shorter than its extras and key), and their total stays
// within what the requests it may handle can produce.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/binary_protocol.h"
#include "tests/fuzz/protocol_fuzz_driver.h"

namespace {

namespace binary = memtwin::server::binary;
using memtwin::fuzz::Check;

// The most one request can answer: STAT's groups (a few KB, one packet per line), or a value
// with its key, flags and header.
constexpr size_t kPerRequest = 64 * 1024;

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
  return memtwin::fuzz::FuzzProtocol<memtwin::server::BinaryProtocol>(
      data, size, [](std::string_view out, size_t /*consumed*/, int max_requests) {
        Check(out.size() <= max_requests * kPerRequest, "the reply is bounded by the requests");
        CheckReplies(out);
      });
}
