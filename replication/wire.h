// The replication link's wire format: length-framed binary messages, all integers little-endian.
//
//   frame    := length:u32 type:u8 payload        length = 1 + payload size, <= max frame
//   HELLO    := magic:"MTWN" version:u16 instance:u64 node:u16 clock:u64 flags:u32
//   MUTATION := kind:u8 flags:u32 exptime:u32 version:u64 key_len:u8 value_len:u32 key value
//   SNAPSHOT_BEGIN, SNAPSHOT_END := (empty)
//   SNAPSHOT_ITEM := same payload as MUTATION
//   HEARTBEAT := unix_ms:u64
//   ACK      := applied:u64     bytes of MUTATION frames received and applied on this link
//   AUTH_CHALLENGE := nonce:32 bytes               the dialler's fresh nonce
//   AUTH_RESPONSE  := nonce:32 bytes mac:32 bytes  the acceptor's fresh nonce and its proof
//   AUTH_PROOF     := mac:32 bytes                 the dialler's proof
//
// With a shared secret (--repl-secret-file) the dialler opens with AUTH_CHALLENGE, the acceptor
// answers AUTH_RESPONSE, the dialler checks it and sends AUTH_PROOF (link_auth.h has the MACs);
// nothing else may be sent or accepted before that. Then the dialling side sends HELLO; the
// accepting side answers with its HELLO only if it takes the link (else it closes the
// connection). Then both sides send SNAPSHOT_BEGIN, their items, SNAPSHOT_END, and MUTATIONs as
// they happen, interleaved.
//
// Decoding never trusts a length: every field is bounds-checked, and a frame that is too large,
// truncated inside its declared length, of unknown type or with a bad field is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/mutation.h"

namespace memtwin::replication {

inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr uint32_t kFrameHeaderSize = 5;
inline constexpr size_t kAuthNonceSize = 32;
inline constexpr size_t kAuthMacSize = 32;  // HMAC-SHA256

enum class FrameType : uint8_t {
  kHello = 1,
  kMutation = 2,
  kSnapshotBegin = 3,
  kSnapshotItem = 4,
  kSnapshotEnd = 5,
  kHeartbeat = 6,
  kAck = 7,
  kAuthChallenge = 8,
  kAuthResponse = 9,
  kAuthProof = 10,
};

// "HELLO", "AUTH_CHALLENGE", ... for log lines.
const char* FrameTypeName(FrameType type);

struct Hello {
  uint16_t protocol_version = kProtocolVersion;
  uint64_t instance_id = 0;  // random per process: tells a node that it reached itself
  uint16_t node_id = 0;      // low bits of every version this node makes
  uint64_t clock = 0;        // the sender's version counter (version >> node bits)
  uint32_t flags = 0;
};

// One decoded frame. Views point into the input buffer.
struct Frame {
  FrameType type = FrameType::kHeartbeat;
  Hello hello;                 // kHello
  storage::Mutation mutation;  // kMutation, kSnapshotItem
  uint64_t number = 0;         // kHeartbeat (unix ms), kAck (applied bytes)
  std::string_view nonce;      // kAuthChallenge, kAuthResponse: kAuthNonceSize bytes
  std::string_view mac;        // kAuthResponse, kAuthProof: kAuthMacSize bytes
  size_t size = 0;             // whole frame, header included
};

enum class DecodeStatus { kNeedMore, kOk, kError };

// Decodes the frame at the front of `in`. On kError, *error says what was wrong.
DecodeStatus DecodeFrame(std::string_view in, uint32_t max_frame, Frame* frame, std::string* error);

void AppendHello(const Hello& hello, std::string* out);
void AppendMutation(FrameType type, const storage::Mutation& m, std::string* out);
size_t MutationFrameSize(const storage::Mutation& m);
void AppendEmpty(FrameType type, std::string* out);
void AppendNumber(FrameType type, uint64_t number, std::string* out);
// `nonce` and `mac` are cut or zero-padded to kAuthNonceSize and kAuthMacSize bytes.
void AppendAuthChallenge(std::string_view nonce, std::string* out);
void AppendAuthResponse(std::string_view nonce, std::string_view mac, std::string* out);
void AppendAuthProof(std::string_view mac, std::string* out);

}  // namespace memtwin::replication
