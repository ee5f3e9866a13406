// server/text_parser.h: line framing, tokenizing and memcached's number parsing quirks
// (util.c safe_strto* on a 64-bit build), checked against memcached 1.6.18.
#include "server/text_parser.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace memtwin::server::text {
namespace {

using namespace std::string_literals;

std::vector<std::string> TokensOf(std::string_view line) {
  TokenizedLine t;
  Tokenize(line, &t);
  std::vector<std::string> v(t.tokens.begin(), t.tokens.begin() + t.count);
  if (!t.rest.empty()) v.push_back("REST:" + std::string(t.rest));
  return v;
}

TEST(NextLineTest, EndsAtNewlineAndDropsOneCarriageReturn) {
  std::string_view line;
  size_t used = 0;
  ASSERT_EQ(NextLine("get a\r\nget b\r\n", &line, &used), LineStatus::kLine);
  EXPECT_EQ(line, "get a");
  EXPECT_EQ(used, 7u);
  ASSERT_EQ(NextLine("get a\nrest", &line, &used), LineStatus::kLine);
  EXPECT_EQ(line, "get a");
  EXPECT_EQ(used, 6u);
  // Only one "\r" goes; memcached then reads "1\r" as the number 1 (white space ends it).
  ASSERT_EQ(NextLine("set a 0 0 1\r\r\n", &line, &used), LineStatus::kLine);
  EXPECT_EQ(line, "set a 0 0 1\r");
  // A line of just "\r" keeps it (memcached strips only when more than one byte precedes "\n").
  ASSERT_EQ(NextLine("\r\n", &line, &used), LineStatus::kLine);
  EXPECT_EQ(line, "\r");
  EXPECT_EQ(used, 2u);
}

TEST(NextLineTest, NulByteEndsTheLine) {
  std::string_view line;
  size_t used = 0;
  const std::string in = "get x\0yy\r\nnext"s;
  ASSERT_EQ(NextLine(in, &line, &used), LineStatus::kLine);
  EXPECT_EQ(line, "get x");
  EXPECT_EQ(used, 10u);
}

TEST(NextLineTest, LongLinesWithoutNewlineAreRefusedUnlessMultiget) {
  std::string_view line;
  size_t used = 0;
  EXPECT_EQ(NextLine(std::string(2048, 'a'), &line, &used), LineStatus::kNeedMore);
  EXPECT_EQ(NextLine(std::string(2049, 'a'), &line, &used), LineStatus::kTooLong);
  EXPECT_EQ(NextLine("get " + std::string(3000, 'a'), &line, &used), LineStatus::kNeedMore);
  EXPECT_EQ(NextLine("gets " + std::string(3000, 'a'), &line, &used), LineStatus::kNeedMore);
  EXPECT_EQ(NextLine("gat 0 " + std::string(3000, 'a'), &line, &used), LineStatus::kTooLong);
  EXPECT_EQ(NextLine(std::string(100, ' ') + "get " + std::string(3000, 'a'), &line, &used),
            LineStatus::kNeedMore);
  EXPECT_EQ(NextLine(std::string(101, ' ') + "get " + std::string(3000, 'a'), &line, &used),
            LineStatus::kTooLong);
}

TEST(TokenizeTest, SplitsOnSpacesOnly) {
  EXPECT_EQ(TokensOf("set  k\t1 0  0 1 "),
            (std::vector<std::string>{"set", "k\t1", "0", "0", "1"}));
  EXPECT_EQ(TokensOf(""), std::vector<std::string>{});
  EXPECT_EQ(TokensOf("   "), std::vector<std::string>{});
}

TEST(TokenizeTest, StopsAfterTwentyThreeTokensLikeMemcached) {
  std::string line = "get";
  for (int i = 0; i < 30; ++i) line += " k" + std::to_string(i);
  const std::vector<std::string> tokens = TokensOf(line);
  ASSERT_EQ(tokens.size(), 24u);
  EXPECT_EQ(tokens[22], "k21");
  EXPECT_EQ(tokens[23], "REST:k22 k23 k24 k25 k26 k27 k28 k29");
  // Exactly 23 tokens leave no rest.
  std::string exact = "get";
  for (int i = 0; i < 22; ++i) exact += " k" + std::to_string(i);
  EXPECT_EQ(TokensOf(exact).size(), 23u);
  const std::string padded = exact + "   ";
  TokenizedLine t;
  Tokenize(padded, &t);
  EXPECT_EQ(t.count, 23u);
  EXPECT_EQ(t.rest, "  ");  // memcached's terminal token is non-NULL here too; it holds no key
}

TEST(TokenizeTest, NoreplyIsTheLastToken) {
  TokenizedLine t;
  Tokenize("set k 0 0 1 noreply", &t);
  EXPECT_TRUE(t.noreply());
  Tokenize("set k 0 0 1 noreply x", &t);
  EXPECT_FALSE(t.noreply());
  Tokenize("set k 0 0 1 garbage", &t);
  EXPECT_FALSE(t.noreply());
}

TEST(ForEachTokenTest, VisitsInOrderAndStops) {
  std::vector<std::string> seen;
  EXPECT_TRUE(ForEachToken("  a bb  c ", [&](std::string_view t) {
    seen.emplace_back(t);
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "bb", "c"}));
  seen.clear();
  EXPECT_FALSE(ForEachToken("a b c", [&](std::string_view t) {
    seen.emplace_back(t);
    return t != "b";
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

TEST(NumberTest, Uint32TruncatesAndRefusesNegatives) {
  uint32_t v = 7;
  EXPECT_TRUE(ParseUint32("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseUint32("4294967295", &v));
  EXPECT_EQ(v, 4294967295u);
  EXPECT_TRUE(ParseUint32("4294967296", &v));  // memcached stores flags 0 for this
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseUint32("4294967297", &v));
  EXPECT_EQ(v, 1u);
  EXPECT_TRUE(ParseUint32("+5", &v));
  EXPECT_EQ(v, 5u);
  EXPECT_TRUE(ParseUint32("-0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(ParseUint32("5\r", &v));  // trailing white space ends the number
  EXPECT_EQ(v, 5u);
  EXPECT_TRUE(ParseUint32("5\tjunk", &v));
  EXPECT_EQ(v, 5u);
  EXPECT_TRUE(ParseUint32("\t5", &v));  // leading white space is skipped
  EXPECT_EQ(v, 5u);
  EXPECT_FALSE(ParseUint32("-1", &v));
  EXPECT_FALSE(ParseUint32("abc", &v));
  EXPECT_FALSE(ParseUint32("5x", &v));
  EXPECT_FALSE(ParseUint32("0x10", &v));
  EXPECT_FALSE(ParseUint32("", &v));
  EXPECT_FALSE(ParseUint32("-", &v));
  EXPECT_FALSE(ParseUint32("18446744073709551616", &v));  // ERANGE
}

TEST(NumberTest, Int32TruncatesLikeAnInt32Store) {
  int32_t v = 7;
  EXPECT_TRUE(ParseInt32("-1", &v));
  EXPECT_EQ(v, -1);
  EXPECT_TRUE(ParseInt32("2147483647", &v));
  EXPECT_EQ(v, 2147483647);
  EXPECT_TRUE(ParseInt32("2147483648", &v));
  EXPECT_EQ(v, -2147483647 - 1);
  EXPECT_TRUE(ParseInt32("4294967297", &v));
  EXPECT_EQ(v, 1);
  EXPECT_TRUE(ParseInt32("9223372036854775807", &v));
  EXPECT_EQ(v, -1);
  EXPECT_FALSE(ParseInt32("9223372036854775808", &v));  // beyond long: ERANGE
  EXPECT_TRUE(ParseInt32("-9223372036854775808", &v));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(ParseInt32("-9223372036854775809", &v));
  EXPECT_FALSE(ParseInt32("1.5", &v));
  EXPECT_FALSE(ParseInt32("abc", &v));
}

TEST(NumberTest, Uint64IsFullWidth) {
  uint64_t v = 7;
  EXPECT_TRUE(ParseUint64("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_FALSE(ParseUint64("18446744073709551616", &v));
  EXPECT_FALSE(ParseUint64("-1", &v));
  EXPECT_TRUE(ParseUint64("9223372036854775807", &v));
  EXPECT_EQ(v, 9223372036854775807u);
  // strtoull negates modulo 2^64; a result that is positive as signed gets past the '-' check.
  EXPECT_TRUE(ParseUint64("-18446744073709551615", &v));
  EXPECT_EQ(v, 1u);
}

TEST(CommandTableTest, FindsEveryCommandByExactName) {
  for (const CommandSpec& spec : kCommands) {
    const CommandSpec* found = FindCommand(spec.name);
    ASSERT_NE(found, nullptr) << spec.name;
    EXPECT_EQ(found->name, spec.name);
    EXPECT_LE(spec.min_tokens, spec.max_tokens);
  }
  EXPECT_EQ(FindCommand("GET"), nullptr);
  EXPECT_EQ(FindCommand("ge"), nullptr);
  EXPECT_EQ(FindCommand("gett"), nullptr);
  EXPECT_EQ(FindCommand("bget")->command, Command::kGet);
}

TEST(LooksLikeHttpTest, OnlyForCommandsMemcachedDoesNotDispatch) {
  TokenizedLine t;
  Tokenize("GET / HTTP/1.1", &t);
  EXPECT_TRUE(LooksLikeHttp(t));
  Tokenize("POST /x HTTP/1.0", &t);
  EXPECT_TRUE(LooksLikeHttp(t));
  Tokenize("get / HTTP/1.1", &t);  // 'g' is dispatched: answered "ERROR"
  EXPECT_FALSE(LooksLikeHttp(t));
  Tokenize("ab cd HTTP/1.1", &t);
  EXPECT_FALSE(LooksLikeHttp(t));
  Tokenize("xyz", &t);
  EXPECT_FALSE(LooksLikeHttp(t));
}

TEST(StorageHeaderTest, ParsesAndRefusesLikeMemcached) {
  TokenizedLine t;
  StorageHeader h;
  Tokenize("set k 5 100 3 noreply", &t);
  ASSERT_TRUE(ParseStorageHeader(t, false, &h));
  EXPECT_EQ(h.key, "k");
  EXPECT_EQ(h.flags, 5u);
  EXPECT_EQ(h.exptime, 100);
  EXPECT_EQ(h.bytes, 3u);
  EXPECT_TRUE(h.noreply);
  Tokenize("cas k 0 0 3 99", &t);
  ASSERT_TRUE(ParseStorageHeader(t, true, &h));
  EXPECT_EQ(h.cas, 99u);
  EXPECT_FALSE(h.noreply);
  Tokenize("set k 0 0 4294967297", &t);  // the length is an int32 in memcached
  ASSERT_TRUE(ParseStorageHeader(t, false, &h));
  EXPECT_EQ(h.bytes, 1u);
  for (const char* bad : {"set k 0 0 -1", "set k 0 0 2147483647", "set k 0 0 2147483646",
                          "set k x 0 1", "set k 0 x 1", "set k 0 0 x", "set k -1 0 1"}) {
    Tokenize(bad, &t);
    EXPECT_FALSE(ParseStorageHeader(t, false, &h)) << bad;
  }
  EXPECT_TRUE((Tokenize("set k 0 0 2147483645", &t), ParseStorageHeader(t, false, &h)));
  Tokenize("cas k 0 0 1 x", &t);
  EXPECT_FALSE(ParseStorageHeader(t, true, &h));
  const std::string long_key = "set " + std::string(251, 'k') + " 0 0 1";
  Tokenize(long_key, &t);
  EXPECT_FALSE(ParseStorageHeader(t, false, &h));
  const std::string max_key = "set " + std::string(250, 'k') + " 0 0 1";
  Tokenize(max_key, &t);
  EXPECT_TRUE(ParseStorageHeader(t, false, &h));
}

}  // namespace
}  // namespace memtwin::server::text
