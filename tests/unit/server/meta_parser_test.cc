// server::meta::ParseFlags and the encodings beside it (server/encoding.h): memcached 1.6.18's
// _meta_flag_preparse, base64.c and uriencode, byte for byte.
#include "server/meta_parser.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "server/encoding.h"
#include "server/text_parser.h"

namespace memtwin::server {
namespace {

using namespace std::string_literals;

std::string Decode(std::string_view in) {
  char out[256];
  return std::string(out, Base64Decode(in, out));
}

std::string Encode(std::string_view in) {
  std::string out;
  Base64Encode(in, &out);
  return out;
}

TEST(EncodingTest, Base64RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t n = 1; n <= all.size(); n += 7) {
    EXPECT_EQ(Decode(Encode(all.substr(0, n))), all.substr(0, n)) << n;
  }
  EXPECT_EQ(Encode("foo"), "Zm9v");
  EXPECT_EQ(Encode("foo2"), "Zm9vMg==");
  EXPECT_EQ(Encode("a"), "YQ==");
  EXPECT_EQ(Encode(""), "");
}

TEST(EncodingTest, Base64DecodeFollowsMemcachedsRules) {
  EXPECT_EQ(Decode("Zm9v"), "foo");
  EXPECT_EQ(Decode("Zm9vMg=="), "foo2");
  EXPECT_EQ(Decode("Zm9"), "");        // not a multiple of four
  EXPECT_EQ(Decode("Zm9v="), "");      // five alphabet bytes
  EXPECT_EQ(Decode(""), "");           // nothing to decode is a failure too
  EXPECT_EQ(Decode("Zm!9v"), "foo");   // bytes outside the alphabet are skipped
  EXPECT_EQ(Decode("YQ==Zm9v"), "a");  // decoding stops after the padded group
  EXPECT_EQ(Decode("Y==="), "");       // three pad bytes are refused
  EXPECT_EQ(Decode("===="), "");
}

TEST(EncodingTest, UriEncodeKeepsUnreservedBytesOnly) {
  std::string out;
  UriEncode("aZ09-._~ %\t/\xff"s + '\0', &out);
  EXPECT_EQ(out, "aZ09-._~%20%25%09%2F%FF%00");
}

// Parses on construction; `line` must outlive it (the flags keep views into it).
struct Parse {
  explicit Parse(std::string_view line, size_t first = 2) {
    text::TokenizedLine t;
    text::Tokenize(line, &t);
    std::string_view message = "default";
    ok = meta::ParseFlags(t, first, &flags, &message);
    error = std::string(message);
  }
  bool ok = false;
  std::string error;
  meta::Flags flags;
};

TEST(MetaParserTest, ReadsEveryFlag) {
  const Parse p("mg foo b q u v I MD T-5 N30 R7 F9 C11 E12 D13 J14 O1 P L k s t c f h l");
  ASSERT_FALSE(p.ok);  // "foo" is not base64 of anything: b fails, the rest is still read
  EXPECT_EQ(p.error, "CLIENT_ERROR error decoding key");
  const Parse q("mg Zm9v b q u v I MD T-5 N30 R7 F9 C11 E12 D13 J14 O1 P L k s t c f h l");
  ASSERT_TRUE(q.ok) << q.error;
  const meta::Flags& f = q.flags;
  EXPECT_EQ(f.key, "foo");
  EXPECT_TRUE(f.base64_key && f.no_reply && f.no_update && f.value && f.invalidate);
  EXPECT_EQ(f.mode, 'D');
  EXPECT_EQ(f.ttl, -5);
  EXPECT_EQ(f.vivify, 30);
  EXPECT_EQ(f.recache, 7);
  EXPECT_EQ(f.client_flags, 9u);
  EXPECT_EQ(f.cas, 11u);
  EXPECT_EQ(f.new_cas, 12u);
  EXPECT_EQ(f.delta, 13u);
  EXPECT_EQ(f.initial, 14u);
}

TEST(MetaParserTest, DefaultsWithoutFlags) {
  const Parse p("ma key");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.flags.key, "key");
  EXPECT_EQ(p.flags.delta, 1u);
  EXPECT_FALSE(p.flags.ttl.has_value());
  EXPECT_FALSE(p.flags.cas.has_value());
  EXPECT_EQ(p.flags.mode, 0);
}

TEST(MetaParserTest, ErrorsAsMemcachedReportsThem) {
  EXPECT_EQ(Parse("mg k v v").error, "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(Parse("mg k \x7f").error, "CLIENT_ERROR duplicate flag");
  EXPECT_EQ(Parse("mg k x").error, "CLIENT_ERROR invalid flag");
  EXPECT_EQ(Parse("mg k Tx").error, "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(Parse("mg k C-1").error, "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(Parse("mg k E").error, "CLIENT_ERROR bad token in command line format");
  EXPECT_EQ(Parse("mg k M").error, "CLIENT_ERROR incorrect length for M token");
  EXPECT_EQ(Parse("mg k Fx").error, "default");  // F leaves the caller's message
  EXPECT_FALSE(Parse("mg k Fx").ok);
  EXPECT_EQ(Parse("mg k Dx Jx").error, "CLIENT_ERROR invalid numeric initial value");
  EXPECT_EQ(Parse("mg k Dx x").error, "CLIENT_ERROR invalid flag");
  // ms flags start after the length.
  EXPECT_TRUE(Parse("ms k 2 T1", 3).ok);
}

TEST(MetaParserTest, LongOpaque) {
  const std::string fits = "mg k O" + std::string(31, 'x') + " v";
  const std::string too_long = "mg k v O" + std::string(32, 'x');
  text::TokenizedLine t;
  text::Tokenize(fits, &t);
  EXPECT_FALSE(meta::HasLongOpaque(t, 2));
  text::Tokenize(too_long, &t);
  EXPECT_TRUE(meta::HasLongOpaque(t, 2));
}

}  // namespace
}  // namespace memtwin::server
