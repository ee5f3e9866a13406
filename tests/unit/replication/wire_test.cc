#include "replication/wire.h"

#include <string>

#include "gtest/gtest.h"

namespace memtwin::replication {
namespace {

constexpr uint32_t kMaxFrame = 1 << 20;

storage::Mutation SetOf(std::string_view key, std::string_view value, uint64_t version) {
  storage::Mutation m;
  m.kind = storage::MutationKind::kSet;
  m.key = key;
  m.value = value;
  m.flags = 0xdeadbeef;
  m.exptime = 1700000123;
  m.version = version;
  return m;
}

TEST(WireTest, MutationRoundTripsWithEveryField) {
  std::string buf;
  AppendMutation(FrameType::kMutation, SetOf("key", std::string("v\0\r\n", 4), 1ull << 40), &buf);
  EXPECT_EQ(buf.size(), MutationFrameSize(SetOf("key", std::string(4, 'x'), 1)));
  Frame f;
  std::string error;
  ASSERT_EQ(DecodeFrame(buf, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.type, FrameType::kMutation);
  EXPECT_EQ(f.size, buf.size());
  EXPECT_EQ(f.mutation.kind, storage::MutationKind::kSet);
  EXPECT_EQ(f.mutation.key, "key");
  EXPECT_EQ(f.mutation.value, std::string("v\0\r\n", 4));
  EXPECT_EQ(f.mutation.flags, 0xdeadbeefu);
  EXPECT_EQ(f.mutation.exptime, 1700000123u);
  EXPECT_EQ(f.mutation.version, 1ull << 40);
}

TEST(WireTest, HelloRoundTrips) {
  std::string buf;
  AppendHello({kProtocolVersion, 0x0123456789abcdefull, 77, 12345, 9}, &buf);
  Frame f;
  std::string error;
  ASSERT_EQ(DecodeFrame(buf, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.type, FrameType::kHello);
  EXPECT_EQ(f.hello.protocol_version, kProtocolVersion);
  EXPECT_EQ(f.hello.instance_id, 0x0123456789abcdefull);
  EXPECT_EQ(f.hello.node_id, 77);
  EXPECT_EQ(f.hello.clock, 12345u);
  EXPECT_EQ(f.hello.flags, 9u);
}

TEST(WireTest, EveryPrefixOfAFrameNeedsMore) {
  std::string buf;
  AppendMutation(FrameType::kSnapshotItem, SetOf("k", "value", 5), &buf);
  Frame f;
  std::string error;
  for (size_t n = 0; n < buf.size(); ++n) {
    EXPECT_EQ(DecodeFrame(std::string_view(buf).substr(0, n), kMaxFrame, &f, &error),
              DecodeStatus::kNeedMore)
        << n;
  }
}

TEST(WireTest, NumbersAndEmptyFramesRoundTrip) {
  std::string buf;
  AppendNumber(FrameType::kAck, 987654321, &buf);
  AppendEmpty(FrameType::kSnapshotEnd, &buf);
  Frame f;
  std::string error;
  ASSERT_EQ(DecodeFrame(buf, kMaxFrame, &f, &error), DecodeStatus::kOk);
  EXPECT_EQ(f.type, FrameType::kAck);
  EXPECT_EQ(f.number, 987654321u);
  ASSERT_EQ(DecodeFrame(std::string_view(buf).substr(f.size), kMaxFrame, &f, &error),
            DecodeStatus::kOk);
  EXPECT_EQ(f.type, FrameType::kSnapshotEnd);
}

DecodeStatus DecodeBytes(const std::string& bytes, std::string* error) {
  Frame f;
  return DecodeFrame(bytes, kMaxFrame, &f, error);
}

TEST(WireTest, OversizedZeroAndUnknownFramesAreErrors) {
  std::string error;
  EXPECT_EQ(DecodeBytes(std::string("\xff\xff\xff\xff\x02", 5), &error), DecodeStatus::kError);
  EXPECT_EQ(DecodeBytes(std::string("\x00\x00\x00\x00\x02", 5), &error), DecodeStatus::kError);
  EXPECT_EQ(DecodeBytes(std::string("\x01\x00\x00\x00\x63", 5), &error), DecodeStatus::kError);
  EXPECT_NE(error, "");
}

TEST(WireTest, FieldsThatOverrunTheirFrameAreErrors) {
  std::string buf;
  AppendMutation(FrameType::kMutation, SetOf("key", "value", 1), &buf);
  // Claim a longer value than the frame holds: value_len is the last fixed field.
  std::string bad = buf;
  bad[5 + 1 + 4 + 4 + 8 + 1] = 100;
  std::string error;
  EXPECT_EQ(DecodeBytes(bad, &error), DecodeStatus::kError);
  // Trailing bytes inside a frame are an error too.
  std::string trailing = buf;
  trailing[0] = static_cast<char>(trailing[0] + 1);
  trailing.push_back('x');
  EXPECT_EQ(DecodeBytes(trailing, &error), DecodeStatus::kError);
  // An unknown mutation kind.
  std::string kind = buf;
  kind[5] = 9;
  EXPECT_EQ(DecodeBytes(kind, &error), DecodeStatus::kError);
}

TEST(WireTest, HelloWithWrongMagicIsAnError) {
  std::string buf;
  AppendHello({}, &buf);
  buf[5] = 'X';
  std::string error;
  EXPECT_EQ(DecodeBytes(buf, &error), DecodeStatus::kError);
  EXPECT_NE(error.find("magic"), std::string::npos);
}

TEST(WireTest, AuthFramesRoundTrip) {
  const std::string nonce(kAuthNonceSize, 'n'), mac(kAuthMacSize, 'm');
  std::string buf;
  AppendAuthChallenge(nonce, &buf);
  AppendAuthResponse(nonce, mac, &buf);
  AppendAuthProof(mac, &buf);
  EXPECT_EQ(buf.size(), 3 * kFrameHeaderSize + 2 * kAuthNonceSize + 2 * kAuthMacSize);
  Frame f;
  std::string error;
  std::string_view rest = buf;
  ASSERT_EQ(DecodeFrame(rest, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.type, FrameType::kAuthChallenge);
  EXPECT_EQ(f.nonce, nonce);
  rest.remove_prefix(f.size);
  ASSERT_EQ(DecodeFrame(rest, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.type, FrameType::kAuthResponse);
  EXPECT_EQ(f.nonce, nonce);
  EXPECT_EQ(f.mac, mac);
  rest.remove_prefix(f.size);
  ASSERT_EQ(DecodeFrame(rest, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.type, FrameType::kAuthProof);
  EXPECT_EQ(f.mac, mac);
  EXPECT_EQ(f.size, rest.size());
}

TEST(WireTest, AuthFramesOfTheWrongSizeAreErrors) {
  const std::string nonce(kAuthNonceSize, 'n'), mac(kAuthMacSize, 'm');
  std::string challenge, response, proof;
  AppendAuthChallenge(nonce, &challenge);
  AppendAuthResponse(nonce, mac, &response);
  AppendAuthProof(mac, &proof);
  for (std::string frame : {challenge, response, proof}) {
    std::string error;
    std::string shorter = frame.substr(0, frame.size() - 1);
    shorter[0] = static_cast<char>(shorter[0] - 1);
    EXPECT_EQ(DecodeBytes(shorter, &error), DecodeStatus::kError)
        << FrameTypeName(static_cast<FrameType>(frame[4]));
    EXPECT_NE(error.find("malformed AUTH_"), std::string::npos) << error;
    std::string longer = frame + "x";
    longer[0] = static_cast<char>(longer[0] + 1);
    EXPECT_EQ(DecodeBytes(longer, &error), DecodeStatus::kError);
  }
}

TEST(WireTest, AuthAppendersAlwaysWriteFullSizeFields) {
  std::string buf;
  AppendAuthResponse("short", std::string(100, 'm'), &buf);
  Frame f;
  std::string error;
  ASSERT_EQ(DecodeFrame(buf, kMaxFrame, &f, &error), DecodeStatus::kOk) << error;
  EXPECT_EQ(f.nonce, std::string("short") + std::string(kAuthNonceSize - 5, '\0'));
  EXPECT_EQ(f.mac, std::string(kAuthMacSize, 'm'));
}

}  // namespace
}  // namespace memtwin::replication
