// memcached's binary protocol, for clients that still speak it (memjs, libmemcached with
// MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, spymemcached's binary connections). memcached deprecated it
// in 1.6 but still serves it, and so does memtwin: a connection whose first byte is 0x80 speaks it
// for the rest of its life (-B auto, memcached's default). Replies are memcached 1.6's, byte for
// byte; see binary_protocol.cc for the few places where malformed input is handled differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_protocol.h"

namespace memtwin::server {

namespace binary {

inline constexpr uint8_t kRequestMagic = 0x80;
inline constexpr uint8_t kResponseMagic = 0x81;
inline constexpr size_t kHeaderSize = 24;

enum class Opcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum class Status : uint16_t {
  kSuccess = 0x00,
  kKeyNotFound = 0x01,
  kKeyExists = 0x02,
  kTooLarge = 0x03,
  kInvalidArguments = 0x04,
  kNotStored = 0x05,
  kNonNumeric = 0x06,
  kAuthError = 0x20,
  kUnknownCommand = 0x81,
  kOutOfMemory = 0x82,
};

// A request header with its numbers in host order, except `opaque`, which a reply echoes as the
// client's four bytes.
struct Header {
  uint8_t magic = 0;
  uint8_t opcode = 0;
  uint16_t key_length = 0;
  uint8_t extras_length = 0;
  uint8_t data_type = 0;
  uint16_t vbucket = 0;
  uint32_t body_length = 0;
  uint32_t opaque = 0;
  uint64_t cas = 0;
};

// Decodes the header at the front of `in`; false while fewer than kHeaderSize bytes are there.
bool ParseHeader(std::string_view in, Header* header);

// Appends a reply header answering `request` (its opcode and opaque).
void AppendResponseHeader(std::string* out, const Header& request, Status status,
                          uint8_t extras_length, uint16_t key_length, uint32_t body_length,
                          uint64_t cas);

// memcached's text for an error status ("Not found", "Data exists for key.", ...).
std::string_view ErrorText(Status status);

}  // namespace binary

class BinaryProtocol {
 public:
  using After = TextProtocol::After;

  BinaryProtocol(ServerContext* context, ThreadStats* stats);

  // TextProtocol::Process's contract: handles every complete request at the front of `in`, at
  // most `max_requests`, appending the replies to `out` and setting *consumed.
  After Process(std::string_view in, std::string* out, size_t* consumed, int max_requests);

 private:
  using Step = RequestStep;

  Step Handle(std::string_view in, std::string* out, size_t* used);
  bool HasCompleteRequest(std::string_view in) const;
  void Stats(const binary::Header& header, std::string_view group, std::string* out);

  ServerContext* const context_;
  ThreadStats* const stats_;
  // STAT is answered by running the text protocol's "stats" and re-framing its lines, so both
  // protocols report the same numbers from one implementation.
  TextProtocol text_;
  // Body bytes still to discard after a request that was answered from its header alone (a value
  // too large to store, an unknown command).
  uint64_t swallow_ = 0;
};

}  // namespace memtwin::server
