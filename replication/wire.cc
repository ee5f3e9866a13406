#include "replication/wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtwin::replication {
namespace {

constexpr char kMagic[4] = {'M', 'T', 'W', 'N'};
constexpr size_t kHelloSize = 4 + 2 + 8 + 2 + 8 + 4;
constexpr size_t kMutationFixedSize = 1 + 4 + 4 + 8 + 1 + 4;

template <typename T>
void Put(T v, std::string* out) {
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>(v >> (8 * i));
  out->append(buf, sizeof(T));
}

// Reads little-endian integers from a bounded payload; any read past the end fails.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    T r = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      r |= static_cast<T>(static_cast<T>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i));
    }
    pos_ += sizeof(T);
    *v = r;
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) {
    if (in_.size() - pos_ < n) return false;
    *v = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

// Exactly n bytes, so a frame always matches its declared length whatever the caller passed.
void PutFixed(std::string_view bytes, size_t n, std::string* out) {
  bytes = bytes.substr(0, n);
  out->append(bytes);
  out->append(n - bytes.size(), '\0');
}

void PutHeader(FrameType type, size_t payload, std::string* out) {
  Put<uint32_t>(static_cast<uint32_t>(payload + 1), out);
  Put<uint8_t>(static_cast<uint8_t>(type), out);
}

bool DecodeMutation(std::string_view payload, storage::Mutation* m, std::string* error) {
  Reader r(payload);
  uint8_t kind, key_len;
  uint32_t value_len;
  if (!r.Get(&kind) || !r.Get(&m->flags) || !r.Get(&m->exptime) || !r.Get(&m->version) ||
      !r.Get(&key_len) || !r.Get(&value_len) || !r.Bytes(key_len, &m->key) ||
      !r.Bytes(value_len, &m->value) || !r.done()) {
    *error = "malformed mutation";
    return false;
  }
  if (kind < static_cast<uint8_t>(storage::MutationKind::kSet) ||
      kind > static_cast<uint8_t>(storage::MutationKind::kFlushAll)) {
    *error = absl::StrCat("unknown mutation kind ", kind);
    return false;
  }
  m->kind = static_cast<storage::MutationKind>(kind);
  return true;
}

}  // namespace

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kMutation:
      return "MUTATION";
    case FrameType::kSnapshotBegin:
      return "SNAPSHOT_BEGIN";
    case FrameType::kSnapshotItem:
      return "SNAPSHOT_ITEM";
    case FrameType::kSnapshotEnd:
      return "SNAPSHOT_END";
    case FrameType::kHeartbeat:
      return "HEARTBEAT";
    case FrameType::kAck:
      return "ACK";
    case FrameType::kAuthChallenge:
      return "AUTH_CHALLENGE";
    case FrameType::kAuthResponse:
      return "AUTH_RESPONSE";
    case FrameType::kAuthProof:
      return "AUTH_PROOF";
  }
  return "unknown";
}

DecodeStatus DecodeFrame(std::string_view in, uint32_t max_frame, Frame* frame,
                         std::string* error) {
  if (in.size() < kFrameHeaderSize) return DecodeStatus::kNeedMore;
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i)
    length |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  if (length == 0 || length > max_frame) {
    *error = absl::StrCat("frame length ", length, " out of range");
    return DecodeStatus::kError;
  }
  if (in.size() - 4 < length) return DecodeStatus::kNeedMore;
  const uint8_t type = static_cast<uint8_t>(in[4]);
  const std::string_view payload = in.substr(kFrameHeaderSize, length - 1);
  frame->size = 4 + static_cast<size_t>(length);
  Reader r(payload);
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello: {
      std::string_view magic;
      Hello& h = frame->hello;
      if (!r.Bytes(4, &magic) || std::memcmp(magic.data(), kMagic, 4) != 0) {
        *error = "bad magic in HELLO";
        return DecodeStatus::kError;
      }
      if (!r.Get(&h.protocol_version) || !r.Get(&h.instance_id) || !r.Get(&h.node_id) ||
          !r.Get(&h.clock) || !r.Get(&h.flags)) {
        *error = "truncated HELLO";
        return DecodeStatus::kError;
      }
      break;
    }
    case FrameType::kMutation:
    case FrameType::kSnapshotItem:
      if (!DecodeMutation(payload, &frame->mutation, error)) return DecodeStatus::kError;
      break;
    case FrameType::kSnapshotBegin:
    case FrameType::kSnapshotEnd:
      if (!payload.empty()) {
        *error = "unexpected payload";
        return DecodeStatus::kError;
      }
      break;
    case FrameType::kHeartbeat:
    case FrameType::kAck:
      if (!r.Get(&frame->number) || !r.done()) {
        *error = "malformed heartbeat or ack";
        return DecodeStatus::kError;
      }
      break;
    case FrameType::kAuthChallenge:
      if (!r.Bytes(kAuthNonceSize, &frame->nonce) || !r.done()) {
        *error = "malformed AUTH_CHALLENGE";
        return DecodeStatus::kError;
      }
      break;
    case FrameType::kAuthResponse:
      if (!r.Bytes(kAuthNonceSize, &frame->nonce) || !r.Bytes(kAuthMacSize, &frame->mac) ||
          !r.done()) {
        *error = "malformed AUTH_RESPONSE";
        return DecodeStatus::kError;
      }
      break;
    case FrameType::kAuthProof:
      if (!r.Bytes(kAuthMacSize, &frame->mac) || !r.done()) {
        *error = "malformed AUTH_PROOF";
        return DecodeStatus::kError;
      }
      break;
    default:
      *error = absl::StrCat("unknown frame type ", type);
      return DecodeStatus::kError;
  }
  frame->type = static_cast<FrameType>(type);
  return DecodeStatus::kOk;
}

void AppendHello(const Hello& hello, std::string* out) {
  PutHeader(FrameType::kHello, kHelloSize, out);
  out->append(kMagic, 4);
  Put(hello.protocol_version, out);
  Put(hello.instance_id, out);
  Put(hello.node_id, out);
  Put(hello.clock, out);
  Put(hello.flags, out);
}

size_t MutationFrameSize(const storage::Mutation& m) {
  return kFrameHeaderSize + kMutationFixedSize + m.key.size() + m.value.size();
}

void AppendMutation(FrameType type, const storage::Mutation& m, std::string* out) {
  PutHeader(type, kMutationFixedSize + m.key.size() + m.value.size(), out);
  Put(static_cast<uint8_t>(m.kind), out);
  Put(m.flags, out);
  Put(m.exptime, out);
  Put(m.version, out);
  Put(static_cast<uint8_t>(m.key.size()), out);
  Put(static_cast<uint32_t>(m.value.size()), out);
  out->append(m.key);
  out->append(m.value);
}

void AppendEmpty(FrameType type, std::string* out) { PutHeader(type, 0, out); }

void AppendNumber(FrameType type, uint64_t number, std::string* out) {
  PutHeader(type, 8, out);
  Put(number, out);
}

void AppendAuthChallenge(std::string_view nonce, std::string* out) {
  PutHeader(FrameType::kAuthChallenge, kAuthNonceSize, out);
  PutFixed(nonce, kAuthNonceSize, out);
}

void AppendAuthResponse(std::string_view nonce, std::string_view mac, std::string* out) {
  PutHeader(FrameType::kAuthResponse, kAuthNonceSize + kAuthMacSize, out);
  PutFixed(nonce, kAuthNonceSize, out);
  PutFixed(mac, kAuthMacSize, out);
}

void AppendAuthProof(std::string_view mac, std::string* out) {
  PutHeader(FrameType::kAuthProof, kAuthMacSize, out);
  PutFixed(mac, kAuthMacSize, out);
}

}  // namespace memtwin::replication
