#include "replication/link_auth.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "replication/wire.h"

namespace memtwin::replication {
namespace {

const std::string kSecret = "0123456789abcdef-secret";

std::string Bytes(int from) {
  std::string s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(from + i));
  return s;
}

std::string Hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Known answers from Python: hmac.new(secret, label + first + second, hashlib.sha256).
TEST(LinkAuthTest, MacsAreHmacSha256OverLabelAndBothNonces) {
  EXPECT_EQ(Hex(AcceptorMac(kSecret, Bytes(0), Bytes(32), "")),
            "be5c3668085691bedb5a975e96d728a430d5a58dedddf06870abe909f20e292e");
  EXPECT_EQ(Hex(DiallerMac(kSecret, Bytes(32), Bytes(0), "")),
            "9700ce54290146463531874346b63196f3fa7ced6614b1d19510af09d8d8d5eb");
}

TEST(LinkAuthTest, EveryInputChangesTheMac) {
  const std::string base = AcceptorMac(kSecret, Bytes(0), Bytes(32), "");
  EXPECT_EQ(base.size(), kAuthMacSize);
  std::set<std::string> macs = {
      base,
      AcceptorMac(kSecret + "x", Bytes(0), Bytes(32), ""),
      AcceptorMac(kSecret, Bytes(1), Bytes(32), ""),
      AcceptorMac(kSecret, Bytes(0), Bytes(33), ""),
      AcceptorMac(kSecret, Bytes(0), Bytes(32), "tls-session"),
      // The dialler's MAC over the same nonces: one side's answer never serves as the other's.
      DiallerMac(kSecret, Bytes(0), Bytes(32), ""),
  };
  EXPECT_EQ(macs.size(), 6u);
}

TEST(LinkAuthTest, MacMatchesOnlyTheWholeMac) {
  const std::string mac = DiallerMac(kSecret, Bytes(5), Bytes(9), "");
  EXPECT_TRUE(MacMatches(mac, mac));
  std::string flipped = mac;
  flipped[31] = static_cast<char>(flipped[31] ^ 1);
  EXPECT_FALSE(MacMatches(mac, flipped));
  EXPECT_FALSE(MacMatches(mac, mac.substr(0, 16)));
  EXPECT_FALSE(MacMatches("", ""));  // a failed computation never matches
}

TEST(LinkAuthTest, NoncesAreFullSizeAndFresh) {
  std::set<std::string> nonces;
  for (int i = 0; i < 100; ++i) {
    const std::string n = NewAuthNonce();
    ASSERT_EQ(n.size(), kAuthNonceSize);
    nonces.insert(n);
  }
  EXPECT_EQ(nonces.size(), 100u);
}

TEST(LinkAuthTest, ChannelBindingWithoutATlsSessionIsEmpty) {
  EXPECT_EQ(TlsChannelBinding(nullptr), "");
}

}  // namespace
}  // namespace memtwin::replication
