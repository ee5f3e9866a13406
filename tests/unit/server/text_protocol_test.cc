// server::TextProtocol: every text command, every error, noreply, pipelining, requests split at
// every byte, swallowing of rejected data blocks, max_requests, and the stats it reports.
// Expected replies marked "checked against memcached 1.6.18" were captured from Debian's
// memcached 1.6.18 binary fed the same bytes over TCP.
#include "server/text_protocol.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "storage/clock.h"
#include "storage/item.h"
#include "storage/store.h"
#include "tests/unit/server/protocol_test_util.h"

namespace memtwin::server {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using After = TextProtocol::After;

using test::kLongKey;
using test::kManyRequests;
using test::kMaxKey;
using test::kStart;
using test::Server;

Config NoCasConfig() {
  Config c;
  c.cas_enabled = false;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Storage and retrieval

TEST(TextProtocolTest, SetThenGet) {
  Server s;
  EXPECT_EQ(s.Send("set a 5 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(s.Send("get a\r\n"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(s.Send("get nokey\r\n"), "END\r\n");
  EXPECT_EQ(s.Send("bget a\r\n"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
}

TEST(TextProtocolTest, EmptyValueAndBinaryValue) {
  Server s;
  EXPECT_EQ(s.Send("set e 0 0 0\r\n\r\nget e\r\n"), "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n");
  const std::string value = "a\r\nb\0c"s;
  EXPECT_EQ(s.Send("set bin 0 0 6\r\n" + value + "\r\nget bin\r\n"),
            "STORED\r\nVALUE bin 0 6\r\n" + value + "\r\nEND\r\n");
}

TEST(TextProtocolTest, MultiGetReturnsHitsInRequestOrderIncludingRepeats) {
  Server s;
  s.Send("set a 1 0 1\r\nA\r\nset b 2 0 1\r\nB\r\n");
  // checked against memcached 1.6.18 ("get x xx" and "get x x")
  EXPECT_EQ(s.Send("get b nokey a b\r\n"),
            "VALUE b 2 1\r\nB\r\nVALUE a 1 1\r\nA\r\nVALUE b 2 1\r\nB\r\nEND\r\n");
}

TEST(TextProtocolTest, MultiGetBeyondTwentyThreeTokens) {
  Server s;
  s.Send("set k1 0 0 1\r\n1\r\n");
  std::string request = "get";
  std::string expected;
  for (int i = 0; i < 26; ++i) {
    request += " k1";
    expected += "VALUE k1 0 1\r\n1\r\n";
  }
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send(request + "\r\n"), expected + "END\r\n");
  EXPECT_EQ(s.Send(request + " nokey  k1   \r\n"), expected + "VALUE k1 0 1\r\n1\r\nEND\r\n");
}

TEST(TextProtocolTest, GetsShowsTheItemVersionAsCas) {
  Server s;
  s.Send("set a 0 0 1\r\nx\r\n");
  const uint64_t cas = s.CasOf("a");
  ASSERT_NE(cas, 0u);
  EXPECT_EQ(s.Send("gets a\r\n"), "VALUE a 0 1 " + std::to_string(cas) + "\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("gets nokey\r\n"), "END\r\n");
}

TEST(TextProtocolTest, CasDisabledPrintsZeroAndAlwaysFails) {
  Server s(NoCasConfig());
  // checked against memcached 1.6.18 -C
  EXPECT_EQ(s.Send("set c 0 0 1\r\nv\r\ngets c\r\ngats 0 c\r\n"),
            "STORED\r\nVALUE c 0 1 0\r\nv\r\nEND\r\nVALUE c 0 1 0\r\nv\r\nEND\r\n");
  const uint64_t version = s.CasOf("c");
  EXPECT_EQ(s.Send("cas c 0 0 1 " + std::to_string(version) + "\r\nw\r\n"), "EXISTS\r\n");
  EXPECT_EQ(s.Send("cas c 0 0 1 0\r\nw\r\n"), "EXISTS\r\n");
  EXPECT_EQ(s.Send("cas nokey 0 0 1 1\r\nw\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(s.Send("get c\r\n"), "VALUE c 0 1\r\nv\r\nEND\r\n");
}

TEST(TextProtocolTest, FlagsAreThirtyTwoBitsAndTruncateLikeMemcached) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("set k 4294967295 0 1\r\nx\r\nget k\r\n"),
            "STORED\r\nVALUE k 4294967295 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("set f 4294967296 0 1\r\nx\r\nget f\r\n"),
            "STORED\r\nVALUE f 0 1\r\nx\r\nEND\r\n");
  // flags and exptime 2^32+1 both become 1; the length too.
  EXPECT_EQ(s.Send("set b 4294967297 4294967297 1\r\nx\r\nget b\r\n"),
            "STORED\r\nVALUE b 1 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("set b 0 0 4294967297\r\nx\r\n"), "STORED\r\n");
}

TEST(TextProtocolTest, AddReplaceAppendPrepend) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("append nokey 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(s.Send("prepend nokey 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(s.Send("replace nokey 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(
      s.Send("set ap 9 0 1\r\nb\r\nappend ap 1 0 1\r\nc\r\nprepend ap 2 0 1\r\na\r\nget ap\r\n"),
      "STORED\r\nSTORED\r\nSTORED\r\nVALUE ap 9 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(s.Send("add ap 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(s.Send("add new 3 0 1\r\nn\r\nget new\r\n"), "STORED\r\nVALUE new 3 1\r\nn\r\nEND\r\n");
  EXPECT_EQ(s.Send("replace new 4 0 2\r\nnn\r\nget new\r\n"),
            "STORED\r\nVALUE new 4 2\r\nnn\r\nEND\r\n");
}

TEST(TextProtocolTest, CasHitBadvalAndMiss) {
  Server s;
  s.Send("set c 0 0 1\r\nv\r\n");
  const std::string cas = std::to_string(s.CasOf("c"));
  EXPECT_EQ(s.Send("cas c 0 0 1 " + cas + "\r\nw\r\n"), "STORED\r\n");
  EXPECT_EQ(s.Send("cas c 0 0 1 " + cas + "\r\nx\r\n"), "EXISTS\r\n");
  // A cas-unique of 0 never matches (memcached: CAS_NONE is EXISTS for cas).
  EXPECT_EQ(s.Send("cas c 0 0 1 0\r\nx\r\n"), "EXISTS\r\n");
  EXPECT_EQ(s.Send("cas nokey 0 0 1 1\r\nx\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(s.Send("get c\r\n"), "VALUE c 0 1\r\nw\r\nEND\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["cas_hits"], "1");
  EXPECT_EQ(stats["cas_badval"], "2");
  EXPECT_EQ(stats["cas_misses"], "1");
  EXPECT_EQ(stats["cmd_set"], "5");
}

TEST(TextProtocolTest, ExptimeExpiresItems) {
  Server s;
  s.Send("set t 0 10 1\r\nv\r\nset n 0 -1 1\r\nv\r\n");
  EXPECT_EQ(s.Send("get t n\r\n"), "VALUE t 0 1\r\nv\r\nEND\r\n");
  s.clock().Advance(10);
  EXPECT_EQ(s.Send("get t\r\n"), "END\r\n");
  EXPECT_EQ(s.Stats()["get_expired"], "2");  // n (already expired when read) and t
  // An absolute time in the future.
  s.Send("set abs 0 " + std::to_string(kStart + 100) + " 1\r\nv\r\n");
  EXPECT_EQ(s.Send("get abs\r\n"), "VALUE abs 0 1\r\nv\r\nEND\r\n");
  s.clock().Advance(100);
  EXPECT_EQ(s.Send("get abs\r\n"), "END\r\n");
}

TEST(TextProtocolTest, MaxKeyLength) {
  Server s;
  EXPECT_EQ(s.Send("set " + kMaxKey + " 0 0 1\r\nv\r\nget " + kMaxKey + "\r\n"),
            "STORED\r\nVALUE " + kMaxKey + " 0 1\r\nv\r\nEND\r\n");
}

// ---------------------------------------------------------------------------------------------
// Storage command errors

TEST(TextProtocolTest, BadStorageLines) {
  Server s;
  // checked against memcached 1.6.18: no data block is expected after a refused line, so the
  // block is read as a command.
  EXPECT_EQ(s.Send("set k 0 0 abc\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("set k 0 0 -1\r\nxx\r\nget k\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\nEND\r\n");
  EXPECT_EQ(s.Send("set k abc 0 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("set k -1 0 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("set k 0 abc 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("set k 0 0 2147483647\r\nversion\r\n"),
            "CLIENT_ERROR bad command line format\r\nVERSION "s + kVersion + "\r\n");
  EXPECT_EQ(s.Send("set " + kLongKey + " 0 0 1\r\nv\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("cas k 0 0 1 abc\r\nx\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("cas k 0 0 1 -1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  // Wrong token counts are unknown commands.
  EXPECT_EQ(s.Send("set k 0 0\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("set k 0 0 1 2 3\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("cas k 0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
  EXPECT_EQ(s.Send("add k\r\nappend k 0\r\nprepend\r\nreplace k 0 0 1 2 3 4\r\n"),
            "ERROR\r\nERROR\r\nERROR\r\nERROR\r\n");
  // A last token that is not "noreply" is ignored.
  EXPECT_EQ(s.Send("set k 0 0 1 garbage\r\nx\r\nget k\r\n"),
            "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
  // The refused lines stored nothing.
  EXPECT_EQ(s.Stats()["cmd_set"], "1");
}

TEST(TextProtocolTest, BadDataChunkThenTheRestIsReadAsCommands) {
  Server s;
  // checked against memcached 1.6.18: exactly <bytes>+2 bytes are taken as the block.
  EXPECT_EQ(s.Send("set k 0 0 1\r\nabc\r\nget k\r\n"),
            "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
  EXPECT_EQ(s.Send("set k 0 0 1\r\nab\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_EQ(s.Send("set lf 0 0 1\r\nx\nget lf\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  // noreply silences the error too.
  EXPECT_EQ(s.Send("set k 0 0 1 noreply\r\nabc\r\nget k\r\n"), "ERROR\r\nEND\r\n");
  // A bad chunk on an existing key leaves it alone.
  s.Send("set k 0 0 1\r\nv\r\n");
  EXPECT_EQ(s.Send("set k 0 0 1\r\nvvv\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_EQ(s.Send("get k\r\n"), "VALUE k 0 1\r\nv\r\nEND\r\n");
  // memcached counts every block it read as a set.
  EXPECT_EQ(s.Stats()["cmd_set"], "6");
}

TEST(TextProtocolTest, TooLargeValueIsRefusedSwallowedAndDropsTheOldValue) {
  Server s;
  const std::string big(2000000, 'x');
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("set big 0 0 1\r\nv\r\nset big 0 0 2000000\r\n" + big + "\r\nget big\r\n"),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n");
  EXPECT_EQ(
      s.Send("set big 0 0 1\r\nv\r\nset big 0 0 2000000 noreply\r\n" + big + "\r\nget big\r\n"),
      "STORED\r\nEND\r\n");
  // Only set drops the old value.
  EXPECT_EQ(s.Send("set big 0 0 1\r\nv\r\nadd big 0 0 2000000\r\n" + big + "\r\nget big\r\n"),
            "STORED\r\nSERVER_ERROR object too large for cache\r\nVALUE big 0 1\r\nv\r\nEND\r\n");
  for (const char* cmd : {"replace", "append", "prepend"}) {
    EXPECT_EQ(s.Send(std::string(cmd) + " big 0 0 2000000\r\n" + big + "\r\nget big\r\n"),
              "SERVER_ERROR object too large for cache\r\nVALUE big 0 1\r\nv\r\nEND\r\n")
        << cmd;
  }
  EXPECT_EQ(s.Send("cas big 0 0 2000000 1\r\n" + big + "\r\nget big\r\n"),
            "SERVER_ERROR object too large for cache\r\nVALUE big 0 1\r\nv\r\nEND\r\n");
  // The swallowed block need not end in "\r\n": <bytes>+2 bytes go, whatever they are.
  EXPECT_EQ(s.Send("set big 0 0 2000000\r\n" + big + "XYget big\r\n"),
            "SERVER_ERROR object too large for cache\r\nEND\r\n");
  EXPECT_EQ(s.buffered(), 0u);
}

TEST(TextProtocolTest, SwallowContinuesAcrossReads) {
  Server s;
  EXPECT_EQ(s.Send("set big 0 0 2000000\r\n"), "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(s.buffered(), 0u);
  EXPECT_EQ(s.Send(std::string(1000000, 'x')), "");
  EXPECT_EQ(s.buffered(), 0u);  // discarded as it comes, never buffered
  EXPECT_EQ(s.Send(std::string(999999, 'x')), "");
  EXPECT_EQ(s.Send("x\r"), "");
  EXPECT_EQ(s.Send("\nversion\r\n"), "VERSION "s + kVersion + "\r\n");
}

TEST(TextProtocolTest, HugeDeclaredLengthSwallowsEverythingAfter) {
  Server s;
  // checked against memcached 1.6.18: 2147483645 passes the line check, is too large, and the
  // following bytes all belong to the swallowed block.
  EXPECT_EQ(s.Send("set b 0 0 2147483645\r\nversion\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(s.Send("version\r\n"), "");
}

TEST(TextProtocolTest, SizeLimitIsTheStoresItemSizeMax) {
  Server s;
  const size_t max_value = s.store().item_size_max() - storage::Item::TotalSize(1, 0);
  EXPECT_EQ(s.Send("set k 0 0 " + std::to_string(max_value) + "\r\n" + std::string(max_value, 'v') +
                   "\r\n"),
            "STORED\r\n");
  EXPECT_EQ(s.Send("set k 0 0 " + std::to_string(max_value + 1) + "\r\n" +
                   std::string(max_value + 1, 'v') + "\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
}

TEST(TextProtocolTest, OutOfMemoryWithoutEviction) {
  Config config;
  config.storage.memory_limit = 1 << 20;  // one page
  config.storage.evict = false;
  Server s(config);
  const std::string value(100000, 'v');
  std::string replies;
  for (int i = 0; i < 20; ++i) {
    replies += s.Send("set k" + std::to_string(i) + " 0 0 100000\r\n" + value + "\r\n");
  }
  EXPECT_THAT(replies, StartsWith("STORED\r\n"));
  EXPECT_THAT(replies, HasSubstr("SERVER_ERROR out of memory storing object\r\n"));
}

// ---------------------------------------------------------------------------------------------
// Retrieval errors and get-and-touch

TEST(TextProtocolTest, GetErrors) {
  Server s;
  s.Send("set x 5 0 2\r\nhi\r\n");
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("get\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("get \r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("gets\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("GET x\r\n"), "ERROR\r\n");
  // A key over 250 bytes fails the command, and the values found before it are not sent.
  EXPECT_EQ(s.Send("get x " + kLongKey + " x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("gets x x " + kLongKey + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("get x\r\nget x " + kLongKey + " x\r\n"),
            "VALUE x 5 2\r\nhi\r\nEND\r\nCLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("get x " + kLongKey + "\r\nget x\r\n"),
            "CLIENT_ERROR bad command line format\r\nVALUE x 5 2\r\nhi\r\nEND\r\n");
}

TEST(TextProtocolTest, GetAndTouch) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("set g 3 10 2\r\nhi\r\ngat 100 g nokey g\r\n"),
            "STORED\r\nVALUE g 3 2\r\nhi\r\nVALUE g 3 2\r\nhi\r\nEND\r\n");
  const uint64_t cas = s.CasOf("g");
  const std::string gats = s.Send("gats 100 g\r\n");
  EXPECT_EQ(gats, "VALUE g 3 2 " + std::to_string(s.CasOf("g")) + "\r\nhi\r\nEND\r\n");
  EXPECT_NE(s.CasOf("g"), cas);  // memtwin gives a touched item a new version (see README)
  s.clock().Advance(50);         // past the original 10 s, within the new 100 s
  EXPECT_EQ(s.Send("get g\r\n"), "VALUE g 3 2\r\nhi\r\nEND\r\n");
  EXPECT_EQ(s.Send("gat 10\r\n"), "END\r\n");
  EXPECT_EQ(s.Send("gat\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("gat abc g\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(s.Send("gat 0 " + kLongKey + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  // A negative exptime returns the value once, then it is gone.
  EXPECT_EQ(s.Send("gat -1 g\r\nget g\r\n"), "VALUE g 3 2\r\nhi\r\nEND\r\nEND\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["cmd_touch"], "5");
  EXPECT_EQ(stats["touch_hits"], "4");
  EXPECT_EQ(stats["touch_misses"], "1");
  EXPECT_EQ(stats["cmd_get"], "2");
}

// ---------------------------------------------------------------------------------------------
// delete, incr/decr, touch

TEST(TextProtocolTest, DeleteForms) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("delete nokey\r\n"), "NOT_FOUND\r\n");
  s.Send("set x 0 0 1\r\nv\r\n");
  EXPECT_EQ(s.Send("delete x 1\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_EQ(s.Send("delete x 0 1\r\n"),
            "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  EXPECT_EQ(s.Send("delete x 1 noreply\r\n"), "");
  EXPECT_EQ(s.Send("delete x 0 noreply extra\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("delete\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("delete " + kLongKey + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("delete x 0\r\n"), "DELETED\r\n");
  EXPECT_EQ(s.Send("get x\r\n"), "END\r\n");
  s.Send("set x 0 0 1\r\nv\r\n");
  EXPECT_EQ(s.Send("delete x noreply\r\nget x\r\n"), "END\r\n");
  s.Send("set x 0 0 1\r\nv\r\n");
  EXPECT_EQ(s.Send("delete x 0 noreply\r\nget x\r\n"), "END\r\n");
  s.Send("set x 0 0 1\r\nv\r\n");
  EXPECT_EQ(s.Send("delete x\r\ndelete x\r\n"), "DELETED\r\nNOT_FOUND\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["delete_hits"], "4");
  EXPECT_EQ(stats["delete_misses"], "2");
}

TEST(TextProtocolTest, IncrDecr) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\n"
                   "get n\r\n"),
            "STORED\r\n15\r\n0\r\n18446744073709551615\r\nVALUE n 0 20\r\n18446744073709551615\r\n"
            "END\r\n");
  EXPECT_EQ(s.Send("incr n 1\r\n"), "0\r\n");  // wraps at 2^64
  EXPECT_EQ(s.Send("set n 0 0 2\r\n10\r\nincr n 5 noreply\r\nget n\r\n"),
            "STORED\r\nVALUE n 0 2\r\n15\r\nEND\r\n");
  EXPECT_EQ(s.Send("decr n 6\r\nget n\r\n"), "9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n");
  EXPECT_EQ(s.Send("incr nokey 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(s.Send("decr nokey 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(s.Send("incr n abc\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(s.Send("incr n -1\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(s.Send("incr n 18446744073709551616\r\n"),
            "CLIENT_ERROR invalid numeric delta argument\r\n");
  EXPECT_EQ(s.Send("incr " + kLongKey + " 1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("incr n\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("incr\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("decr n 1 2 3\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("set s 0 0 3\r\nabc\r\nincr s 1\r\n"),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(s.Send("set s 0 0 0\r\n\r\ndecr s 1\r\n"),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["incr_hits"], "4");
  EXPECT_EQ(stats["decr_hits"], "2");
  EXPECT_EQ(stats["incr_misses"], "1");
  EXPECT_EQ(stats["decr_misses"], "1");
}

TEST(TextProtocolTest, Touch) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("touch x abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(s.Send("touch nokey 10\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(s.Send("set t 0 5 1\r\nv\r\ntouch t 100\r\ntouch t 100 noreply\r\nversion\r\n"),
            "STORED\r\nTOUCHED\r\nVERSION "s + kVersion + "\r\n");
  EXPECT_EQ(s.Send("touch " + kLongKey + " 10\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("touch x\r\n"), "ERROR\r\n");
  s.clock().Advance(50);
  EXPECT_EQ(s.Send("get t\r\n"), "VALUE t 0 1\r\nv\r\nEND\r\n");
  EXPECT_EQ(s.Send("touch t -1\r\nget t\r\n"), "TOUCHED\r\nEND\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["cmd_touch"], "4");
  EXPECT_EQ(stats["touch_hits"], "3");
  EXPECT_EQ(stats["touch_misses"], "1");
}

// ---------------------------------------------------------------------------------------------
// flush_all, version, verbosity, quit, shutdown, cache_memlimit

TEST(TextProtocolTest, FlushAll) {
  Server s;
  s.Send("set a 0 0 1\r\nv\r\n");
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("flush_all\r\nget a\r\n"), "OK\r\nEND\r\n");
  EXPECT_EQ(s.Stats()["get_flushed"], "1");
  EXPECT_EQ(s.Send("flush_all 0\r\n"), "OK\r\n");
  EXPECT_EQ(s.Send("flush_all -1\r\n"), "OK\r\n");
  EXPECT_EQ(s.Send("flush_all abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(s.Send("flush_all noreply\r\nflush_all 10 noreply\r\nflush_all abc noreply\r\n"), "");
  EXPECT_EQ(s.Send("flush_all noreply 5\r\n"), "CLIENT_ERROR invalid exptime argument\r\n");
  EXPECT_EQ(s.Send("flush_all 1 2 3\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Stats()["cmd_flush"], "8");
}

TEST(TextProtocolTest, DelayedFlush) {
  Server s;
  s.Send("set a 0 0 1\r\nv\r\n");
  // "flush_all 1 2": the second number is ignored (checked against memcached 1.6.18).
  EXPECT_EQ(s.Send("flush_all 10 2\r\nget a\r\n"), "OK\r\nVALUE a 0 1\r\nv\r\nEND\r\n");
  s.clock().Advance(10);
  EXPECT_EQ(s.Send("get a\r\n"), "END\r\n");
}

TEST(TextProtocolTest, FlushDisabled) {
  Config config;
  config.flush_enabled = false;
  Server s(config);
  s.Send("set a 0 0 1\r\nv\r\n");
  // checked against memcached 1.6.18 -F
  EXPECT_EQ(s.Send("flush_all\r\n"), "CLIENT_ERROR flush_all not allowed\r\n");
  EXPECT_EQ(s.Send("flush_all abc\r\n"), "CLIENT_ERROR flush_all not allowed\r\n");
  EXPECT_EQ(s.Send("flush_all noreply\r\n"), "");
  EXPECT_EQ(s.Send("get a\r\n"), "VALUE a 0 1\r\nv\r\nEND\r\n");
  EXPECT_EQ(s.Stats()["cmd_flush"], "3");  // refused ones are counted
}

TEST(TextProtocolTest, Version) {
  Server s;
  const std::string version = "VERSION "s + kVersion + "\r\n";
  EXPECT_EQ(s.Send("version\r\n"), version);
  EXPECT_EQ(s.Send("version foo bar\r\n"), version);  // checked against memcached 1.6.18
}

TEST(TextProtocolTest, Verbosity) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("verbosity\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(s.context().verbosity.load(), 1);
  EXPECT_EQ(s.Send("verbosity abc\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("verbosity 0 noreply\r\n"), "");
  EXPECT_EQ(s.context().verbosity.load(), 0);
  EXPECT_EQ(s.Send("verbosity 1 2\r\n"), "OK\r\n");
  EXPECT_EQ(s.Send("verbosity 1 2 3\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("verbosity 5\r\n"), "OK\r\n");
  EXPECT_EQ(s.context().verbosity.load(), 2);  // memcached's MAX_VERBOSITY_LEVEL
  EXPECT_THAT(s.Send("stats settings\r\n"), HasSubstr("STAT verbosity 2\r\n"));
}

TEST(TextProtocolTest, QuitClosesAndIgnoresTheRest) {
  Server s;
  // checked against memcached 1.6.18: nothing is answered after quit.
  EXPECT_EQ(s.Send("version\r\nquit\r\nversion\r\n"), "VERSION "s + kVersion + "\r\n");
  EXPECT_TRUE(s.closed());
  Server t;
  EXPECT_EQ(t.Send("quit foo\r\n"), "");
  EXPECT_TRUE(t.closed());
}

TEST(TextProtocolTest, ShutdownNotEnabled) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("shutdown\r\n"), "ERROR: shutdown not enabled\r\n");
  EXPECT_EQ(s.Send("shutdown graceful\r\n"), "ERROR: shutdown not enabled\r\n");
  EXPECT_FALSE(s.closed());
  EXPECT_EQ(s.shutdown_requests(), 0);
}

TEST(TextProtocolTest, ShutdownEnabled) {
  Config config;
  config.enable_shutdown = true;
  Server s(config);
  // checked against memcached 1.6.18 -A
  EXPECT_EQ(s.Send("shutdown foo\r\n"), "CLIENT_ERROR invalid shutdown mode\r\n");
  EXPECT_EQ(s.Send("shutdown a b\r\n"), "CLIENT_ERROR invalid shutdown mode\r\n");
  EXPECT_EQ(s.shutdown_requests(), 0);
  EXPECT_EQ(s.Send("shutdown\r\nversion\r\n"), "");
  EXPECT_TRUE(s.closed());
  EXPECT_EQ(s.shutdown_requests(), 1);
  Server t(config);
  EXPECT_EQ(t.Send("shutdown graceful\r\n"), "");
  EXPECT_TRUE(t.closed());
  EXPECT_EQ(t.shutdown_requests(), 1);
}

TEST(TextProtocolTest, CacheMemlimit) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("cache_memlimit\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("cache_memlimit 100\r\n"), "OK\r\n");
  EXPECT_EQ(s.Send("cache_memlimit 4\r\n"),
            "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_EQ(s.Send("cache_memlimit abc\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("cache_memlimit 2000000000\r\n"),
            "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
  EXPECT_EQ(s.Send("cache_memlimit 100 noreply\r\n"), "");
  EXPECT_EQ(s.Send("cache_memlimit 1 2 3\r\n"), "ERROR\r\n");
  Config prealloc;
  prealloc.storage.preallocate = true;
  Server p(prealloc);
  EXPECT_EQ(p.Send("cache_memlimit 100\r\n"),
            "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n");
  EXPECT_EQ(p.Stats()["limit_maxbytes"], "67108864");
}

TEST(TextProtocolTest, CacheMemlimitMovesTheLimitThatStatsShow) {
  Server s;
  // As memcached 1.6.18 (checked): both stats follow, in bytes.
  EXPECT_EQ(s.Send("cache_memlimit 100\r\n"), "OK\r\n");
  EXPECT_EQ(s.Stats()["limit_maxbytes"], "104857600");
  EXPECT_THAT(s.Send("stats settings\r\n"), StartsWith("STAT maxbytes 104857600\r\n"));
  EXPECT_EQ(s.Send("cache_memlimit 9 noreply\r\n"), "");
  EXPECT_EQ(s.Stats()["limit_maxbytes"], "9437184");
  // Refusals leave it alone.
  s.Send("cache_memlimit 4\r\ncache_memlimit 2000000000\r\ncache_memlimit x\r\n");
  EXPECT_EQ(s.Stats()["limit_maxbytes"], "9437184");
  // memtwin only: its item refs reach 32 GiB (with -m up to that), so beyond it the limit cannot
  // go; memcached would say OK.
  EXPECT_EQ(s.Send("cache_memlimit 32768\r\n"),
            "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n");
  EXPECT_EQ(s.Stats()["limit_maxbytes"], "9437184");
  EXPECT_EQ(s.Send("cache_memlimit 32767\r\n"), "OK\r\n");
}

TEST(TextProtocolTest, CacheMemlimitRaisedLetsAFullStoreTakeMore) {
  Config config;
  config.storage.memory_limit = 1 << 20;  // one page
  config.storage.evict = false;
  Server s(config);
  const std::string value(100000, 'v');
  const auto set = [&](int i) {
    return s.Send("set k" + std::to_string(i) + " 0 0 100000\r\n" + value + "\r\n");
  };
  int stored = 0;
  while (set(stored) == "STORED\r\n") ++stored;
  ASSERT_GT(stored, 0);
  ASSERT_EQ(set(stored), "SERVER_ERROR out of memory storing object\r\n");
  EXPECT_EQ(s.Send("cache_memlimit 8\r\n"), "OK\r\n");
  for (int i = stored; i < 8 * stored; ++i) ASSERT_EQ(set(i), "STORED\r\n") << i;
  EXPECT_EQ(s.Stats()["curr_items"], std::to_string(8 * stored));
}

// ---------------------------------------------------------------------------------------------
// Unknown commands, framing, over-long lines

TEST(TextProtocolTest, UnknownCommands) {
  Server s;
  // checked against memcached 1.6.18
  for (const char* line : {"x\r\n", "\r\n", " \r\n", "foo\r\n", "ab cd HTTP/1.1\r\n",
                           "mx foo v\r\n", "sets a\r\n", "\n"}) {
    EXPECT_EQ(s.Send(line), "ERROR\r\n") << line;
  }
  EXPECT_FALSE(s.closed());
}

TEST(TextProtocolTest, HttpRequestClosesTheConnection) {
  Server s;
  // checked against memcached 1.6.18: closed without a reply.
  EXPECT_EQ(s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "");
  EXPECT_TRUE(s.closed());
  // Commands memcached dispatches are not taken for HTTP: this is a get of two keys.
  Server t;
  EXPECT_EQ(t.Send("get / HTTP/1.1\r\n"), "END\r\n");
  EXPECT_FALSE(t.closed());
}

TEST(TextProtocolTest, LineFraming) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("set lf 0 0 1\nx\r\nget lf\n"), "STORED\r\nVALUE lf 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("set cr 0 0 1\r\r\nx\r\nget cr\r\n"), "STORED\r\nVALUE cr 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("set\tlf 0 0 1\r\nx\r\n"), "ERROR\r\nERROR\r\n");
  EXPECT_EQ(s.Send("set l\tf 0 0 1\r\nx\r\nget l\tf\r\n"),
            "STORED\r\nVALUE l\tf 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(s.Send("get x\0yy\r\nset x\0 0 0 1\r\n"s), "END\r\nERROR\r\n");
  EXPECT_EQ(s.Send("  get   lf  \r\n"), "VALUE lf 0 1\r\nx\r\nEND\r\n");
}

TEST(TextProtocolTest, OverlongLineWithoutNewlineCloses) {
  // checked against memcached 1.6.18: more than 2048 bytes without "\n" close the connection
  // unless they start a get/gets.
  Server s;
  EXPECT_EQ(s.Send("set " + std::string(2000, 'a')), "");
  EXPECT_FALSE(s.closed());
  EXPECT_EQ(s.Send(std::string(1000, 'a')), "");
  EXPECT_TRUE(s.closed());

  Server gat;
  EXPECT_EQ(gat.Send("gat 0 " + std::string(3000, 'a')), "");
  EXPECT_TRUE(gat.closed());

  Server spaces;
  EXPECT_EQ(spaces.Send(std::string(101, ' ') + "get " + std::string(3000, 'a')), "");
  EXPECT_TRUE(spaces.closed());
}

TEST(TextProtocolTest, LongMultigetLineIsAccepted) {
  Server s;
  s.Send("set a 0 0 1\r\nv\r\n");
  std::string keys;
  for (int i = 0; i < 3000; ++i) keys += "a ";
  EXPECT_EQ(s.Send("get " + keys), "");
  EXPECT_FALSE(s.closed());
  std::string expected;
  for (int i = 0; i < 3001; ++i) expected += "VALUE a 0 1\r\nv\r\n";
  EXPECT_EQ(s.Send("a\r\n"), expected + "END\r\n");
  Server t;
  EXPECT_EQ(t.Send(std::string(50, ' ') + "gets " + keys + "\r\n"), "END\r\n");
}

TEST(TextProtocolTest, CompleteLongLinesAreProcessed) {
  Server s;
  // checked against memcached 1.6.18 (the line arrived in one read)
  EXPECT_EQ(s.Send("set " + std::string(3000, 'a') + " 0 0 1\r\nx\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_FALSE(s.closed());
}

// ---------------------------------------------------------------------------------------------
// noreply, pipelining, splitting, max_requests

TEST(TextProtocolTest, NoreplyEverywhere) {
  Server s;
  const std::string script =
      "set a 0 0 1 noreply\r\n1\r\n"
      "add a 0 0 1 noreply\r\nx\r\n"
      "add b 0 0 1 noreply\r\n2\r\n"
      "replace b 0 0 1 noreply\r\n3\r\n"
      "append a 0 0 1 noreply\r\n0\r\n"
      "prepend a 0 0 1 noreply\r\n1\r\n"
      "cas a 0 0 1 12345 noreply\r\nx\r\n"
      "incr a 5 noreply\r\n"
      "decr b 1 noreply\r\n"
      "incr nokey 1 noreply\r\n"
      "touch a 100 noreply\r\n"
      "touch nokey 100 noreply\r\n"
      "delete nokey noreply\r\n"
      "verbosity 1 noreply\r\n"
      "cache_memlimit 64 noreply\r\n"
      "set c 0 0 1 noreply\r\nx\r\n"
      "delete c noreply\r\n"
      "incr a abc noreply\r\n"
      "touch a abc noreply\r\n"
      "set x 0 0 abc noreply\r\n"
      "set " +
      kLongKey +
      " 0 0 1 noreply\r\nx\r\n"
      "delete x 5 noreply\r\n";
  EXPECT_EQ(s.Send(script), "ERROR\r\n");  // the "x" after the refused long-key set
  EXPECT_EQ(s.Send("get a b c\r\n"), "VALUE a 0 3\r\n115\r\nVALUE b 0 1\r\n2\r\nEND\r\n");
  EXPECT_EQ(s.Send("flush_all noreply\r\nget a\r\n"), "END\r\n");
}

TEST(TextProtocolTest, PipelinedRequestsInOneBuffer) {
  Server s;
  EXPECT_EQ(
      s.Send("set a 0 0 1\r\n1\r\nget a\r\nincr a 1\r\ndelete a\r\nget a\r\nversion\r\n"),
      "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n2\r\nDELETED\r\nEND\r\nVERSION "s + kVersion + "\r\n");
}

// A script touching every command and error; its replies must not depend on how it is cut.
std::string SplitScript() {
  return "set a 5 0 3\r\nabc\r\n"
         "get a nokey a\r\n"
         "gets a\r\n"
         "add a 0 0 1\r\nx\r\n"
         "add b 0 100 2\r\n10\r\n"
         "replace b 0 0 2\r\n20\r\n"
         "append a 0 0 2\r\nde\r\n"
         "prepend a 0 0 1\r\n_\r\n"
         "cas a 0 0 1 1\r\nz\r\n"
         "cas a 0 0 1 6\r\nz\r\n"
         "incr b 7\r\n"
         "decr b 100\r\n"
         "incr a 1\r\n"
         "touch b 10\r\n"
         "gat 100 b a\r\n"
         "gats 0 b\r\n"
         "delete a 0\r\n"
         "delete a\r\n"
         "set x 0 0 1\r\nabc\r\n"
         "set x 0 0 abc\r\n"
         "set big 0 0 2000\r\n" +
         std::string(2000, 'q') +
         "\r\n"
         "set y 0 0 2 noreply\r\nyy\r\n"
         "get " +
         kLongKey +
         "\r\n"
         "incr b x\r\n"
         "touch b x\r\n"
         "delete b 1\r\n"
         "verbosity 1\r\n"
         "flush_all 100\r\n"
         "cache_memlimit 100\r\n"
         "stats settings\r\n"
         "stats items\r\n"
         "stats slabs\r\n"
         "stats sizes\r\n"
         "stats conns\r\n"
         "stats nope\r\n"
         "bogus\n"
         "get y b\n"
         "version\r\n"
         "quit\r\n"
         "version\r\n";
}

// Runs SplitScript with a 1 KB item size limit so that "big" is swallowed.
Config SmallItemConfig() {
  Config c;
  c.storage.item_size_max = 1024;
  return c;
}

TEST(TextProtocolTest, ScriptRepliesAsMemcachedWould) {
  Server s(SmallItemConfig());
  const std::string out = s.Send(SplitScript());
  EXPECT_TRUE(s.closed());
  EXPECT_THAT(out, StartsWith("STORED\r\nVALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n"));
  EXPECT_THAT(out, HasSubstr("SERVER_ERROR object too large for cache\r\n"));
  EXPECT_THAT(out, HasSubstr("STAT active_slabs"));
  EXPECT_THAT(out, HasSubstr("ERROR\r\nVALUE y 0 2\r\nyy\r\nVALUE b 0 2\r\n0 \r\nEND\r\n"));
  EXPECT_THAT(out, testing::EndsWith("VERSION "s + kVersion + "\r\n"));
}

TEST(TextProtocolTest, OneByteAtATimeGivesTheSameReplies) {
  const std::string script = SplitScript();
  Server whole(SmallItemConfig());
  const std::string expected = whole.Send(script);
  Server bytewise(SmallItemConfig());
  EXPECT_EQ(bytewise.SendBytewise(script), expected);
  EXPECT_TRUE(bytewise.closed());
}

TEST(TextProtocolTest, EverySplitPointGivesTheSameReplies) {
  const std::string script = SplitScript();
  Server whole(SmallItemConfig());
  const std::string expected = whole.Send(script);
  for (size_t cut = 0; cut <= script.size(); cut += 7) {
    Server s(SmallItemConfig());
    std::string out = s.Send(std::string_view(script).substr(0, cut));
    out += s.Send(std::string_view(script).substr(cut));
    ASSERT_EQ(out, expected) << "cut at " << cut;
  }
}

TEST(TextProtocolTest, EverySplitPointOfEachRequest) {
  // Every boundary of a few requests, including inside "\r\n" and inside the data block.
  for (const std::string& request :
       {"set k 1 2 5\r\nhello\r\n"s, "get k k\r\n"s, "set k 0 0 1\r\nabc\r\n"s,
        "cas k 0 0 1 2 noreply\r\nx\r\n"s, "incr n 5\r\n"s, "delete k 0\r\n"s}) {
    Server whole;
    whole.Send("set n 0 0 1\r\n1\r\n");
    const std::string expected = whole.Send(request + "get k\r\n");
    for (size_t cut = 0; cut <= request.size(); ++cut) {
      Server s;
      s.Send("set n 0 0 1\r\n1\r\n");
      std::string out = s.Send(std::string_view(request).substr(0, cut));
      out += s.Send(request.substr(cut) + "get k\r\n");
      ASSERT_EQ(out, expected) << request << " cut at " << cut;
    }
  }
}

TEST(TextProtocolTest, PartialRequestIsLeftUnconsumed) {
  Server s;
  std::string out;
  size_t consumed = 99;
  EXPECT_EQ(s.ProcessOnce("version\r\nget a", &out, &consumed, 100), After::kContinue);
  EXPECT_EQ(consumed, 9u);
  EXPECT_EQ(out, "VERSION "s + kVersion + "\r\n");
  out.clear();
  // A storage line waits for its whole block before anything is consumed.
  EXPECT_EQ(s.ProcessOnce("set a 0 0 5\r\nhel", &out, &consumed, 100), After::kContinue);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(out, "");
  EXPECT_EQ(s.ProcessOnce("set a 0 0 5\r\nhello\r", &out, &consumed, 100), After::kContinue);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(s.ProcessOnce("set a 0 0 5\r\nhello\r\n", &out, &consumed, 100), After::kContinue);
  EXPECT_EQ(consumed, 20u);
  EXPECT_EQ(out, "STORED\r\n");
  EXPECT_EQ(s.Stats()["cmd_set"], "1");
}

TEST(TextProtocolTest, MaxRequestsYieldsOnlyWhenMoreCompleteRequestsWait) {
  Server s;
  std::string out;
  size_t consumed = 0;
  const std::string v = "version\r\n";
  const std::string reply = "VERSION "s + kVersion + "\r\n";
  EXPECT_EQ(s.ProcessOnce(v + v + v, &out, &consumed, 2), After::kYield);
  EXPECT_EQ(consumed, 2 * v.size());
  EXPECT_EQ(out, reply + reply);
  out.clear();
  EXPECT_EQ(s.ProcessOnce(v, &out, &consumed, 2), After::kContinue);
  EXPECT_EQ(out, reply);
  out.clear();
  EXPECT_EQ(s.ProcessOnce(v + v, &out, &consumed, 2), After::kContinue);
  EXPECT_EQ(s.ProcessOnce(v + v + "vers", &out, &consumed, 2), After::kContinue);
  EXPECT_EQ(s.ProcessOnce(v + v + "set a 0 0 5\r\nhel", &out, &consumed, 2), After::kContinue);
  EXPECT_EQ(s.ProcessOnce(v + v + "set a 0 0 5\r\nhello\r\n", &out, &consumed, 2), After::kYield);
  EXPECT_EQ(s.ProcessOnce(v + v + "set a 0 0 x\r\n", &out, &consumed, 2), After::kYield);
  EXPECT_EQ(s.ProcessOnce(v + v + std::string(3000, 'x'), &out, &consumed, 2), After::kYield);
  // A data block counts with its line as one request.
  out.clear();
  EXPECT_EQ(s.ProcessOnce("set a 0 0 1\r\na\r\nget a\r\n", &out, &consumed, 1), After::kYield);
  EXPECT_EQ(out, "STORED\r\n");
  // The connection counts conn_yields, not the protocol.
  EXPECT_EQ(s.thread_stats().conn_yields.load(), 0u);
}

TEST(TextProtocolTest, YieldingLoopAnswersEverything) {
  Server s;
  std::string script;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    script += "set k" + std::to_string(i) + " 0 0 1\r\nv\r\nget k" + std::to_string(i) + "\r\n";
    expected += "STORED\r\nVALUE k" + std::to_string(i) + " 0 1\r\nv\r\nEND\r\n";
  }
  EXPECT_EQ(s.Send(script, 20), expected);
  EXPECT_EQ(s.yields(), 4);  // 100 requests in turns of 20
}

// ---------------------------------------------------------------------------------------------
// stats

TEST(TextProtocolTest, GeneralStatsInMemcachedOrder) {
  Config config;
  config.lru_maintainer = false;
  config.storage.lru_segmented = false;
  config.lru_crawler = false;
  Server s(config);
  std::vector<std::string> order;
  auto stats = s.Stats(&order);
  // memcached 1.6.18 -o no_lru_maintainer,no_lru_crawler,no_slab_reassign prints these in this
  // order (among others memtwin does not have).
  EXPECT_THAT(order, ElementsAreArray<std::string>({"pid",
                                                    "uptime",
                                                    "time",
                                                    "version",
                                                    "libevent",
                                                    "pointer_size",
                                                    "rusage_user",
                                                    "rusage_system",
                                                    "max_connections",
                                                    "curr_connections",
                                                    "total_connections",
                                                    "rejected_connections",
                                                    "connection_structures",
                                                    "cmd_get",
                                                    "cmd_set",
                                                    "cmd_flush",
                                                    "cmd_touch",
                                                    "cmd_meta",
                                                    "get_hits",
                                                    "get_misses",
                                                    "get_expired",
                                                    "get_flushed",
                                                    "delete_misses",
                                                    "delete_hits",
                                                    "incr_misses",
                                                    "incr_hits",
                                                    "decr_misses",
                                                    "decr_hits",
                                                    "cas_misses",
                                                    "cas_hits",
                                                    "cas_badval",
                                                    "touch_hits",
                                                    "touch_misses",
                                                    "auth_cmds",
                                                    "auth_errors",
                                                    "bytes_read",
                                                    "bytes_written",
                                                    "limit_maxbytes",
                                                    "accepting_conns",
                                                    "threads",
                                                    "conn_yields",
                                                    "hash_power_level",
                                                    "hash_bytes",
                                                    "hash_is_expanding",
                                                    "bytes",
                                                    "curr_items",
                                                    "total_items",
                                                    "expired_unfetched",
                                                    "evicted_unfetched",
                                                    "evictions",
                                                    "reclaimed",
                                                    "crawler_reclaimed",
                                                    "crawler_items_checked",
                                                    "lrutail_reflocked"}));
  EXPECT_EQ(stats["uptime"], "100");
  EXPECT_EQ(stats["time"], std::to_string(kStart));
  EXPECT_EQ(stats["version"], kVersion);
  EXPECT_FALSE(stats["libevent"].empty());
  EXPECT_EQ(stats["pointer_size"], "64");
  EXPECT_THAT(stats["rusage_user"], testing::MatchesRegex("[0-9]+\\.[0-9]{6}"));
  EXPECT_EQ(stats["max_connections"], "1024");
  EXPECT_EQ(stats["limit_maxbytes"], "67108864");
  EXPECT_EQ(stats["threads"], "4");
  EXPECT_EQ(stats["hash_power_level"], "16");
  EXPECT_EQ(stats["curr_items"], "0");
}

TEST(TextProtocolTest, GeneralStatsOfTheSegmentedLru) {
  Server s;
  s.context().lru_maintainer_juggles = [] { return uint64_t{42}; };
  std::vector<std::string> order;
  auto stats = s.Stats(&order);
  // checked against memcached 1.6.18 with its defaults: where these lines go among the others
  const auto after = [&](const std::string& name) {
    const auto it = std::find(order.begin(), order.end(), name);
    return it == order.end() || it + 1 == order.end() ? std::string() : *(it + 1);
  };
  EXPECT_EQ(after("hash_is_expanding"), "lru_crawler_running");
  EXPECT_EQ(stats["lru_crawler_running"], "0");
  EXPECT_EQ(after("lru_crawler_running"), "lru_crawler_starts");
  EXPECT_EQ(stats["lru_crawler_starts"], "0");
  EXPECT_EQ(after("lru_crawler_starts"), "lru_maintainer_juggles");
  EXPECT_EQ(stats["lru_maintainer_juggles"], "42");
  EXPECT_EQ(after("evicted_unfetched"), "evicted_active");
  EXPECT_EQ(after("evicted_active"), "evictions");
  EXPECT_EQ(after("reclaimed"), "crawler_reclaimed");
  EXPECT_EQ(after("crawler_reclaimed"), "crawler_items_checked");
  EXPECT_EQ(after("crawler_items_checked"), "lrutail_reflocked");
  EXPECT_EQ(after("lrutail_reflocked"), "moves_to_cold");
  EXPECT_EQ(after("moves_to_cold"), "moves_to_warm");
  EXPECT_EQ(after("moves_to_warm"), "moves_within_lru");
  EXPECT_EQ(after("moves_within_lru"), "direct_reclaims");
  EXPECT_EQ(after("direct_reclaims"), "lru_bumps_dropped");
  EXPECT_EQ(stats["lru_bumps_dropped"], "0");
}

TEST(TextProtocolTest, StatsCountersMove) {
  Server s;
  s.context().curr_connections = 3;
  s.context().total_connections = 7;
  s.thread_stats().bytes_read = 11;  // the connection's counters are reported, not counted
  s.Send("set a 0 0 1\r\nv\r\nset b 0 0 2\r\nvv\r\nget a b c\r\ngets a\r\nget\r\n");
  s.clock().Advance(5);
  auto stats = s.Stats();
  EXPECT_EQ(stats["uptime"], "105");
  EXPECT_EQ(stats["curr_connections"], "3");
  EXPECT_EQ(stats["total_connections"], "7");
  EXPECT_EQ(stats["bytes_read"], "11");
  EXPECT_EQ(stats["cmd_get"], "4");
  EXPECT_EQ(stats["get_hits"], "3");
  EXPECT_EQ(stats["get_misses"], "1");
  EXPECT_EQ(stats["cmd_set"], "2");
  EXPECT_EQ(stats["curr_items"], "2");
  EXPECT_EQ(stats["total_items"], "2");
  EXPECT_EQ(stats["bytes"],
            std::to_string(storage::Item::TotalSize(1, 1) + storage::Item::TotalSize(1, 2)));
}

TEST(TextProtocolTest, StatsSumAllThreads) {
  Server s;
  ThreadStats other;
  other.get_cmds = 10;
  other.get_hits = 4;
  s.context().thread_stats.push_back(&other);
  s.Send("get a\r\n");
  auto stats = s.Stats();
  EXPECT_EQ(stats["cmd_get"], "11");
  EXPECT_EQ(stats["get_hits"], "4");
  EXPECT_EQ(stats["get_misses"], "1");
  // checked against memcached 1.6.18: stats reset clears the counters of every thread and the
  // connection totals ("stats reset foo" is a reset too).
  s.context().total_connections = 9;
  EXPECT_EQ(s.Send("stats reset foo\r\n"), "RESET\r\n");
  stats = s.Stats();
  EXPECT_EQ(stats["cmd_get"], "0");
  EXPECT_EQ(stats["get_misses"], "0");
  EXPECT_EQ(stats["total_connections"], "0");
  EXPECT_EQ(other.get_cmds.load(), 0u);
}

TEST(TextProtocolTest, StatsSettings) {
  Server s;
  // The lines and order of memcached 1.6.18's "stats settings" (without its EXTSTORE group;
  // checked against Debian's build), with memtwin's values: no LRU crawler or slab mover, sizes
  // always on. memtwin's own settings follow memcached's last line.
  EXPECT_EQ(s.Send("stats settings\r\n"),
            "STAT maxbytes 67108864\r\n"
            "STAT maxconns 1024\r\n"
            "STAT tcpport 11211\r\n"
            "STAT udpport 0\r\n"
            "STAT inter NULL\r\n"
            "STAT verbosity 0\r\n"
            "STAT oldest 0\r\n"
            "STAT evictions on\r\n"
            "STAT domain_socket NULL\r\n"
            "STAT umask 700\r\n"
            "STAT shutdown_command no\r\n"
            "STAT growth_factor 1.25\r\n"
            "STAT chunk_size 48\r\n"
            "STAT num_threads 4\r\n"
            "STAT num_threads_per_udp 4\r\n"
            "STAT stat_key_prefix :\r\n"
            "STAT detail_enabled no\r\n"
            "STAT reqs_per_event 20\r\n"
            "STAT cas_enabled yes\r\n"
            "STAT tcp_backlog 1024\r\n"
            "STAT binding_protocol auto-negotiate\r\n"
            "STAT auth_enabled_sasl no\r\n"
            "STAT auth_enabled_ascii no\r\n"
            "STAT item_size_max 1048576\r\n"
            "STAT maxconns_fast yes\r\n"
            "STAT hashpower_init 16\r\n"
            "STAT slab_reassign no\r\n"
            "STAT slab_automove 0\r\n"
            "STAT slab_automove_ratio 0.80\r\n"
            "STAT slab_automove_window 30\r\n"
            "STAT slab_chunk_max 1048576\r\n"
            "STAT lru_crawler yes\r\n"
            "STAT lru_crawler_sleep 100\r\n"
            "STAT lru_crawler_tocrawl 0\r\n"
            "STAT tail_repair_time 0\r\n"
            "STAT flush_enabled yes\r\n"
            "STAT dump_enabled yes\r\n"
            "STAT hash_algorithm absl\r\n"
            "STAT lru_maintainer_thread yes\r\n"
            "STAT lru_segmented yes\r\n"
            "STAT hot_lru_pct 20\r\n"
            "STAT warm_lru_pct 40\r\n"
            "STAT hot_max_factor 0.20\r\n"
            "STAT warm_max_factor 2.00\r\n"
            "STAT temp_lru no\r\n"
            "STAT temporary_ttl 61\r\n"
            "STAT idle_timeout 0\r\n"
            "STAT watcher_logbuf_size 262144\r\n"
            "STAT worker_logbuf_size 65536\r\n"
            "STAT read_buf_mem_limit 0\r\n"
            "STAT track_sizes yes\r\n"
            "STAT inline_ascii_response no\r\n"
            "STAT ssl_enabled no\r\n"
            "STAT ssl_chain_cert (null)\r\n"
            "STAT ssl_key (null)\r\n"
            "STAT ssl_verify_mode 0\r\n"
            "STAT ssl_keyformat 1\r\n"
            "STAT ssl_ciphers NULL\r\n"
            "STAT ssl_ca_cert NULL\r\n"
            "STAT ssl_wbuf_size 16384\r\n"
            "STAT ssl_session_cache no\r\n"
            "STAT ssl_kernel_tls no\r\n"
            "STAT ssl_min_version tlsv1.2\r\n"
            "STAT num_napi_ids (null)\r\n"
            "STAT memory_file (null)\r\n"
            "STAT worker_slice_us 0\r\n"
            "STAT io_uring yes\r\n"
            "END\r\n");
}

TEST(TextProtocolTest, StatsSettingsReflectTheConfig) {
  Config config;
  config.port = 22122;
  config.listen_addresses = {"127.0.0.1", "::1"};
  config.unix_socket = "/tmp/mc.sock";
  config.unix_mask = 0755;
  config.cas_enabled = false;
  config.flush_enabled = false;
  config.enable_shutdown = true;
  config.storage.growth_factor = 1.5;
  config.storage.evict = false;
  config.worker_slice_us = 250;
  config.io_uring = false;
  Server s(config);
  const std::string out = s.Send("stats settings\r\n");
  for (const char* line :
       {"STAT tcpport 22122\r\n", "STAT inter 127.0.0.1,::1\r\n",
        "STAT domain_socket /tmp/mc.sock\r\n", "STAT umask 755\r\n", "STAT cas_enabled no\r\n",
        "STAT flush_enabled no\r\n", "STAT shutdown_command yes\r\n", "STAT growth_factor 1.50\r\n",
        "STAT evictions off\r\n", "STAT worker_slice_us 250\r\n", "STAT io_uring no\r\n"}) {
    EXPECT_THAT(out, HasSubstr(line));
  }
}

// The flat LRU of -o no_lru_maintainer; StatsItemsOfTheSegmentedLru has the default.
TEST(TextProtocolTest, StatsItemsAndSlabs) {
  Config config;
  config.lru_maintainer = false;
  config.storage.lru_segmented = false;
  Server s(config);
  EXPECT_EQ(s.Send("stats items\r\n"), "END\r\n");
  EXPECT_EQ(s.Send("stats slabs\r\n"), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n");
  s.Send("set a 0 0 1\r\nv\r\nset b 0 0 1\r\nv\r\n");
  s.clock().Advance(3);
  const storage::StoreStats st = s.store().Stats();
  ASSERT_EQ(st.classes.size(), 1u);
  const storage::SlabClassStats& c = st.classes[0];
  const std::string id = std::to_string(c.id);
  // checked against memcached 1.6.18 -o no_lru_maintainer (the "items:N:" line set and order)
  EXPECT_EQ(s.Send("stats items\r\n"),
            "STAT items:" + id + ":number 2\r\n" +                             //
                "STAT items:" + id + ":age 3\r\n" +                            //
                "STAT items:" + id + ":mem_requested " +                       //
                std::to_string(2 * storage::Item::TotalSize(1, 1)) + "\r\n" +  //
                "STAT items:" + id + ":evicted 0\r\n" +                        //
                "STAT items:" + id + ":evicted_nonzero 0\r\n" +                //
                "STAT items:" + id + ":evicted_time 0\r\n" +                   //
                "STAT items:" + id + ":outofmemory 0\r\n" +                    //
                "STAT items:" + id + ":tailrepairs 0\r\n" +                    //
                "STAT items:" + id + ":reclaimed 0\r\n" +                      //
                "STAT items:" + id + ":expired_unfetched 0\r\n" +              //
                "STAT items:" + id + ":evicted_unfetched 0\r\n" +              //
                "STAT items:" + id + ":crawler_reclaimed 0\r\n" +              //
                "STAT items:" + id + ":crawler_items_checked 0\r\n" +          //
                "STAT items:" + id + ":lrutail_reflocked 0\r\n" +              //
                "END\r\n");
  // checked against memcached 1.6.18 (the "N:" line set and order, without the per-class
  // command counters)
  EXPECT_EQ(s.Send("stats slabs\r\n"),
            "STAT " + id + ":chunk_size " + std::to_string(c.chunk_size) + "\r\n" +          //
                "STAT " + id + ":chunks_per_page " + std::to_string(c.chunks_per_page) +     //
                "\r\n" +                                                                     //
                "STAT " + id + ":total_pages 1\r\n" +                                        //
                "STAT " + id + ":total_chunks " + std::to_string(c.total_chunks) + "\r\n" +  //
                "STAT " + id + ":used_chunks 2\r\n" +                                        //
                "STAT " + id + ":free_chunks " + std::to_string(c.free_chunks) + "\r\n" +    //
                "STAT " + id + ":free_chunks_end " + std::to_string(c.free_chunks_end) +     //
                "\r\n" +                                                                     //
                "STAT active_slabs 1\r\n" +                                                  //
                "STAT total_malloced 1048576\r\n" +                                          //
                "END\r\n");
}

// checked against memcached 1.6.18 -o no_slab_reassign, line for line and in this order
TEST(TextProtocolTest, SlabsCommandsAnswerAsMemcachedWithoutPageMoves) {
  Server s;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"slabs reassign 1 2", "CLIENT_ERROR slab reassignment disabled\r\n"},
      {"slabs reassign x y", "CLIENT_ERROR slab reassignment disabled\r\n"},
      {"slabs reassign 1", "ERROR\r\n"},
      {"slabs reassign 1 2 3", "ERROR\r\n"},
      {"slabs automove 2", "OK\r\n"},
      {"slabs automove x", "CLIENT_ERROR bad command line format\r\n"},
      {"slabs automove 3", "ERROR\r\n"},
      {"slabs automove -1", "CLIENT_ERROR bad command line format\r\n"},
      {"slabs automove ratio", "ERROR\r\n"},
      {"slabs automove ratio 0.5", "OK\r\n"},
      {"slabs automove ratio 0.25 noreply", ""},
      {"slabs automove ratio abc x", "ERROR\r\n"},
      {"slabs automove", "ERROR\r\n"},
      {"slabs", "ERROR\r\n"},
      {"slabs foo 1", "ERROR\r\n"},
      {"slabs automove 1 noreply", ""},
  };
  for (const auto& [line, reply] : cases) EXPECT_EQ(s.Send(line + "\r\n"), reply) << line;
  EXPECT_THAT(s.Send("stats settings\r\n"),
              HasSubstr("STAT slab_reassign no\r\nSTAT slab_automove 1\r\n"
                        "STAT slab_automove_ratio 0.25\r\n"));
  EXPECT_EQ(s.Send("slabs automove 0 extra\r\n"), "OK\r\n");
  EXPECT_THAT(s.Send("stats settings\r\n"), HasSubstr("STAT slab_automove 0\r\n"));

  // Started with -o slab_automove=2,slab_automove_ratio=0.5, it says so.
  Config config;
  config.slab_automove = 2;
  config.slab_automove_ratio = 0.5;
  Server started(config);
  EXPECT_THAT(started.Send("stats settings\r\n"),
              HasSubstr("STAT slab_automove 2\r\nSTAT slab_automove_ratio 0.50\r\n"));
}

TEST(TextProtocolTest, LruTuneAndModeAnswerAsMemcached) {
  Server s;
  // checked against memcached 1.6.18 byte for byte, except "lru temp_ttl" (memcached: OK; memtwin
  // has no TEMP LRU and says ERROR)
  EXPECT_EQ(s.Send("lru\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune 50 40 0.1 2\r\n"), "ERROR hot and warm pcts must not exceed 80\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 0 2\r\n"),
            "ERROR hot/warm age factors must be greater than 0\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 -1 2\r\n"),
            "ERROR hot/warm age factors must be greater than 0\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 x 2\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune -5 20 0.1 2\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 0.1\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru mode other\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru foo\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru temp_ttl 10\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 0.125 1.005 noreply\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("lru mode flat\r\n"), "OK\r\n");
  const std::string settings = s.Send("stats settings\r\n");
  for (const char* line :
       {"STAT lru_segmented no\r\n", "STAT hot_lru_pct 10\r\n", "STAT warm_lru_pct 20\r\n",
        "STAT hot_max_factor 0.12\r\n", "STAT warm_max_factor 1.00\r\n"}) {
    EXPECT_THAT(settings, HasSubstr(line));
  }
  EXPECT_FALSE(s.store().lru_settings().segmented);
  EXPECT_EQ(s.Send("lru mode segmented\r\n"), "OK\r\n");
  EXPECT_TRUE(s.store().lru_settings().segmented);
}

TEST(TextProtocolTest, LruModeNeedsTheMaintainer) {
  Config config;
  config.lru_maintainer = false;
  config.storage.lru_segmented = false;
  Server s(config);
  // checked against memcached 1.6.18 -o no_lru_maintainer; tune still works there
  EXPECT_EQ(s.Send("lru mode segmented\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("lru tune 10 20 0.1 2\r\n"), "OK\r\n");
  EXPECT_FALSE(s.store().lru_settings().segmented);
}

TEST(TextProtocolTest, StatsItemsOfTheSegmentedLru) {
  Server s;
  s.Send("set a 0 0 1\r\nv\r\nset b 0 0 1\r\nv\r\n");
  s.clock().Advance(3);
  // Get hits are counted by where the item was: both in HOT, the second read of a marks it
  // active and sets its access time (memcached's do_item_bump).
  s.Send("get a b\r\nget a\r\nmg a v\r\n");
  s.clock().Advance(1);
  const std::string id = std::to_string(s.store().Stats().classes.at(0).id);
  const auto line = [&](const std::string& name, const std::string& value) {
    return absl::StrCat("STAT items:", id, ":", name, " ", value, "\r\n");
  };
  // checked against memcached 1.6.18 with its defaults (the line set and order)
  EXPECT_EQ(
      s.Send("stats items\r\n"),
      absl::StrCat(
          line("number", "2"), line("number_hot", "2"), line("number_warm", "0"),
          line("number_cold", "0"), line("age_hot", "1"), line("age_warm", "0"), line("age", "0"),
          line("mem_requested", std::to_string(2 * storage::Item::TotalSize(1, 1))),
          line("evicted", "0"), line("evicted_nonzero", "0"), line("evicted_time", "0"),
          line("outofmemory", "0"), line("tailrepairs", "0"), line("reclaimed", "0"),
          line("expired_unfetched", "0"), line("evicted_unfetched", "0"),
          line("evicted_active", "0"), line("crawler_reclaimed", "0"),
          line("crawler_items_checked", "0"), line("lrutail_reflocked", "0"),
          line("moves_to_cold", "0"), line("moves_to_warm", "0"), line("moves_within_lru", "0"),
          line("direct_reclaims", "0"), line("hits_to_hot", "4"), line("hits_to_warm", "0"),
          line("hits_to_cold", "0"), line("hits_to_temp", "0"), "END\r\n"));
  // The maintainer's work, done here by hand once the items are a second old: a, active, goes
  // from HOT to WARM and the rest to COLD; then a goes on to COLD too, as WARM keeps only items
  // younger than twice COLD's tail age, which was 0 when this juggle began (as in memcached).
  for (char key = 'c'; key <= 'j'; ++key) {
    s.Send(absl::StrCat("set ", std::string(1, key), " 0 0 1\r\nv\r\n"));
  }
  s.clock().Advance(1);
  while (s.store().JuggleLru(std::stoi(id)) > 0) {
  }
  std::string items = s.Send("stats items\r\n");
  EXPECT_THAT(items, HasSubstr(line("number_hot", "0")));
  EXPECT_THAT(items, HasSubstr(line("number_cold", "10")));
  EXPECT_THAT(items, HasSubstr(line("moves_to_warm", "1")));
  EXPECT_THAT(items, HasSubstr(line("moves_to_cold", "10")));
  // b read twice in COLD: counted as COLD hits, queued, then moved to WARM.
  s.Send("get b\r\nget b\r\n");
  EXPECT_GT(s.store().ProcessLruBumps(), 0u);
  items = s.Send("stats items\r\n");
  EXPECT_THAT(items, HasSubstr(line("hits_to_cold", "2")));
  EXPECT_THAT(items, HasSubstr(line("number_warm", "1")));
  EXPECT_THAT(items, HasSubstr(line("number_cold", "9")));
  EXPECT_THAT(items, HasSubstr(line("moves_to_warm", "2")));
}

TEST(TextProtocolTest, StatsSizesConnsAndUnknownGroups) {
  Server s;
  EXPECT_EQ(s.Send("stats sizes\r\n"), "END\r\n");
  s.Send("set a 0 0 1\r\nv\r\nset b 0 0 1\r\nv\r\nset c 0 0 100\r\n" + std::string(100, 'v') +
         "\r\n");
  // Item sizes rounded up to 32 bytes, as memcached -o track_sizes.
  EXPECT_EQ(s.Send("stats sizes\r\n"), "STAT 64 2\r\nSTAT 160 1\r\nEND\r\n");
  EXPECT_EQ(s.Send("stats conns\r\n"), "END\r\n");  // no networking behind this context
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("stats foo\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("stats Settings\r\n"), "ERROR\r\n");
  EXPECT_EQ(s.Send("stats items extra\r\n").substr(0, 11), "STAT items:");
  EXPECT_EQ(s.Send("stats   \r\n").substr(0, 9), "STAT pid ");
}

// Line format and errors checked against memcached 1.6.18 (which lists only its COLD LRU, so the
// items it prints differ; the bytes of each line do not).
TEST(TextProtocolTest, StatsCachedumpListsOneClassLikeMemcached) {
  Server s;
  EXPECT_EQ(s.Send("set a 0 0 1\r\nx\r\nset bb 5 100 3\r\nxyz\r\n"), "STORED\r\nSTORED\r\n");
  const std::string all = s.Send("stats cachedump 1 0\r\n");
  EXPECT_NE(all.find("ITEM a [1 b; 0 s]\r\n"), std::string::npos) << all;
  EXPECT_NE(all.find("ITEM bb [3 b; " + std::to_string(kStart + 100) + " s]\r\n"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.size(),
            std::string("ITEM a [1 b; 0 s]\r\nITEM bb [3 b; 1700000100 s]\r\nEND\r\n").size());
  const std::string one = s.Send("stats cachedump 1 1\r\n");
  EXPECT_EQ(one.rfind("ITEM ", 0), 0u);
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 2);
  EXPECT_EQ(s.Send("stats cachedump 2 0\r\n"), "END\r\n");
  EXPECT_EQ(s.Send("stats cachedump 0 0\r\n"), "END\r\n");
  EXPECT_EQ(s.Send("stats cachedump 64 0\r\n"), "CLIENT_ERROR Illegal slab id\r\n");
  EXPECT_EQ(s.Send("stats cachedump 1\r\n"), "CLIENT_ERROR bad command line\r\n");
  EXPECT_EQ(s.Send("stats cachedump x 0\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("stats cachedump 1 x\r\n"), "CLIENT_ERROR bad command line format\r\n");
}

TEST(TextProtocolTest, StatsConnsPrintsEachSocketLikeMemcached) {
  Server s;
  s.context().connection_stats = [] {
    return std::vector<ConnectionStat>{
        {23, "tcp:127.0.0.1:11211", "", ConnState::kListening, 8},
        {24, "tcp6:[::1]:11211", "", ConnState::kListening, 8},
        {25, "tcp:127.0.0.1:60104", "tcp:127.0.0.1:11211", ConnState::kNewCmd, 2},
        {26, "tcp6:[::1]:49996", "tcp6:[::1]:11211", ConnState::kParseCmd, 0},
        {27, "?:<AF 0>", "unix:/tmp/mc.sock", ConnState::kRead, 4294967295u},
        {28, "tcp:10.0.0.1:1", "tcp:10.0.0.2:11211", ConnState::kNread, 1},
        {29, "tcp:10.0.0.1:2", "tcp:10.0.0.2:11211", ConnState::kMwrite, 1},
        {30, "tcp:10.0.0.1:3", "tcp:10.0.0.2:11211", ConnState::kClosing, 1},
    };
  };
  // The lines' shape and the state names checked against memcached 1.6.18 (listeners, tcp6,
  // unix, conn_new_cmd, conn_parse_cmd, conn_read; the others are its state_text names).
  EXPECT_EQ(s.Send("stats conns\r\n"),
            "STAT 23:addr tcp:127.0.0.1:11211\r\n"
            "STAT 23:state conn_listening\r\n"
            "STAT 23:secs_since_last_cmd 8\r\n"
            "STAT 24:addr tcp6:[::1]:11211\r\n"
            "STAT 24:state conn_listening\r\n"
            "STAT 24:secs_since_last_cmd 8\r\n"
            "STAT 25:addr tcp:127.0.0.1:60104\r\n"
            "STAT 25:listen_addr tcp:127.0.0.1:11211\r\n"
            "STAT 25:state conn_new_cmd\r\n"
            "STAT 25:secs_since_last_cmd 2\r\n"
            "STAT 26:addr tcp6:[::1]:49996\r\n"
            "STAT 26:listen_addr tcp6:[::1]:11211\r\n"
            "STAT 26:state conn_parse_cmd\r\n"
            "STAT 26:secs_since_last_cmd 0\r\n"
            "STAT 27:addr ?:<AF 0>\r\n"
            "STAT 27:listen_addr unix:/tmp/mc.sock\r\n"
            "STAT 27:state conn_read\r\n"
            "STAT 27:secs_since_last_cmd 4294967295\r\n"
            "STAT 28:addr tcp:10.0.0.1:1\r\n"
            "STAT 28:listen_addr tcp:10.0.0.2:11211\r\n"
            "STAT 28:state conn_nread\r\n"
            "STAT 28:secs_since_last_cmd 1\r\n"
            "STAT 29:addr tcp:10.0.0.1:2\r\n"
            "STAT 29:listen_addr tcp:10.0.0.2:11211\r\n"
            "STAT 29:state conn_mwrite\r\n"
            "STAT 29:secs_since_last_cmd 1\r\n"
            "STAT 30:addr tcp:10.0.0.1:3\r\n"
            "STAT 30:listen_addr tcp:10.0.0.2:11211\r\n"
            "STAT 30:state conn_closing\r\n"
            "STAT 30:secs_since_last_cmd 1\r\n"
            "END\r\n");
  // checked against memcached 1.6.18: words after "conns" are ignored
  EXPECT_THAT(s.Send("stats conns x\r\n"), StartsWith("STAT 23:addr "));
}

}  // namespace
}  // namespace memtwin::server
