// The meta commands (mg, ms, md, ma, mn, me) and lru_crawler through server::TextProtocol: every
// flag, the order of returned flags, q, errors, data blocks, stale items and recache tokens, the
// counters they move and what they report to the MutationSink. Expected replies marked "checked
// against memcached 1.6.18" were captured from Debian's memcached 1.6.18 fed the same bytes over
// TCP; CAS values are memtwin's (a counter from 1 in these tests) and sizes are memtwin's item
// sizes (a 40-byte header).
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "storage/mutation.h"
#include "storage/store.h"
#include "tests/unit/server/protocol_test_util.h"

namespace memtwin::server {
namespace {

using namespace std::string_literals;
using test::kLongKey;
using test::kStart;
using test::Server;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// Dispatch

TEST(MetaProtocolTest, NoopAndNamesThatAreNotMetaCommands) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("mn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("mn extra stuff\r\n"), "MN\r\n");
  for (const char* line : {"mz foo\r\n", "mgx foo\r\n", "mg\r\n", "ms\r\n", "md\r\n", "ma\r\n"}) {
    EXPECT_EQ(s.Send(line), "ERROR\r\n") << line;
  }
  EXPECT_EQ(s.Send("me\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_FALSE(s.closed());
}

// ---------------------------------------------------------------------------------------------
// mg

TEST(MetaProtocolTest, GetReturnsFlagsInRequestOrder) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("mg foo\r\n"), "EN\r\n");
  EXPECT_EQ(s.Send("ms foo 2\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg foo\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg foo v\r\n"), "VA 2\r\nhi\r\n");
  EXPECT_EQ(s.Send("mg foo s v f t c\r\n"), "VA 2 s2 f0 t-1 c1\r\nhi\r\n");
  EXPECT_EQ(s.Send("mg foo Ohello k\r\n"), "HD Ohello kfoo\r\n");
  EXPECT_EQ(s.Send("mg foo O1234567890123456789012345678901\r\n"),
            "HD O1234567890123456789012345678901\r\n");
  // u, P, L, I and the write-only flags are accepted and print nothing here.
  EXPECT_EQ(s.Send("mg foo c f h k l s t v O1 P L u q T0 N0 R0\r\n"),
            "VA 2 c2 f0 h1 kfoo l0 s2 t-1 O1\r\nhi\r\n");
  EXPECT_EQ(s.Send("mg foo c I\r\n"), "HD c2\r\n");
  EXPECT_EQ(s.Send("ms f 1 F4294967295\r\nx\r\nmg f f v\r\n"), "HD\r\nVA 1 f4294967295\r\nx\r\n");
}

TEST(MetaProtocolTest, GetMissAndQuietMode) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("mg miss v\r\n"), "EN\r\n");
  EXPECT_EQ(s.Send("mg miss O1234567890123456789012345678901 k\r\n"),
            "EN O1234567890123456789012345678901 kmiss\r\n");
  EXPECT_EQ(s.Send("mg miss v q k O1\r\nmn\r\n"), "MN\r\n");
  s.Send("ms k 2\r\nhi\r\n");
  // q hides only the miss: hits are answered.
  EXPECT_EQ(s.Send("mg k q k v\r\nmg miss q k v\r\nmg k q k\r\nmn\r\n"),
            "VA 2 kk\r\nhi\r\nHD kk\r\nMN\r\n");
}

TEST(MetaProtocolTest, GetErrorsAreAlwaysSent) {
  Server s;
  s.Send("ms foo 2\r\nhi\r\n");
  // checked against memcached 1.6.18
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mg foo k v k", "CLIENT_ERROR duplicate flag"},
      {"mg foo x", "CLIENT_ERROR invalid flag"},
      {"mg foo \xff", "CLIENT_ERROR duplicate flag"},
      {"mg foo O12345678901234567890123456789012", "CLIENT_ERROR opaque token too long"},
      {"mg miss O12345678901234567890123456789012 q", "CLIENT_ERROR opaque token too long"},
      {"mg foo a b c d e f g h i j k l m n o p q r s", "CLIENT_ERROR options flags are too long"},
      {"mg foo Nabc", "CLIENT_ERROR bad token in command line format"},
      {"mg foo Tabc q", "CLIENT_ERROR bad token in command line format"},
      {"mg foo R", "CLIENT_ERROR bad token in command line format"},
      {"mg foo Cabc", "CLIENT_ERROR bad token in command line format"},
      {"mg foo Ffoo", "CLIENT_ERROR bad command line format"},
      {"mg foo Jx", "CLIENT_ERROR invalid numeric initial value"},
      {"mg foo Dx", "CLIENT_ERROR invalid numeric delta value"},
      {"mg foo Jx Dx", "CLIENT_ERROR invalid numeric delta value"},  // the later one wins
      {"mg foo Jx Ffoo", "CLIENT_ERROR invalid numeric initial value"},
      {"mg foo Jx zz", "CLIENT_ERROR invalid flag"},
      {"mg foo M", "CLIENT_ERROR incorrect length for M token"},
      {"mg foo MEE", "CLIENT_ERROR incorrect length for M token"},
      {"mg " + kLongKey + " v", "CLIENT_ERROR bad command line format"},
      {"mg Zm9 b v k", "CLIENT_ERROR error decoding key"},
      {"mg Zm9v= b v k", "CLIENT_ERROR error decoding key"},
  };
  for (const auto& [line, reply] : cases) EXPECT_EQ(s.Send(line + "\r\n"), reply + "\r\n") << line;
  // The most flags a line may carry: 17 after the key. (T0 is a touch: a new CAS.)
  EXPECT_EQ(s.Send("mg foo c f h k l s t v O1 P L u T0 N0 R0 I\r\n"),
            "VA 2 c2 f0 h0 kfoo l0 s2 t-1 O1\r\nhi\r\n");
}

TEST(MetaProtocolTest, GetHitBeforeAndLastAccessDescribeTheItemBeforeThisRead) {
  Server s;
  s.Send("ms foo 2\r\nhi\r\n");
  s.clock().Advance(5);
  EXPECT_EQ(s.Send("mg foo h l\r\n"), "HD h0 l5\r\n");
  EXPECT_EQ(s.Send("mg foo h l\r\n"), "HD h1 l5\r\n");
  // u reads without marking the item fetched or bumping it.
  EXPECT_EQ(s.Send("ms u 1\r\nx\r\nmg u h u\r\nmg u h\r\nmg u h\r\n"),
            "HD\r\nHD h0\r\nHD h0\r\nHD h1\r\n");
  // checked against memcached 1.6.18: the second read marked foo active and set its access
  // time; an active item is not bumped again.
  s.clock().Advance(60);
  EXPECT_EQ(s.Send("mg foo l\r\n"), "HD l60\r\n");
  EXPECT_EQ(s.Send("mg foo l\r\n"), "HD l60\r\n");
}

TEST(MetaProtocolTest, LastAccessWithTheFlatLruMovesAtMostOnceAMinute) {
  Config config;
  config.lru_maintainer = false;
  config.storage.lru_segmented = false;
  Server s(config);
  s.Send("ms foo 2\r\nhi\r\n");
  s.clock().Advance(5);
  EXPECT_EQ(s.Send("mg foo h l\r\n"), "HD h0 l5\r\n");
  EXPECT_EQ(s.Send("mg foo h l\r\n"), "HD h1 l5\r\n");  // within a minute: not bumped
  s.clock().Advance(60);
  EXPECT_EQ(s.Send("mg foo l\r\n"), "HD l65\r\n");  // due for a bump: last access moves
  EXPECT_EQ(s.Send("mg foo l\r\n"), "HD l0\r\n");
}

TEST(MetaProtocolTest, GetTouchAppliesAtItsPlaceInTheFlags) {
  Server s;
  EXPECT_EQ(s.Send("ms k 2 T100\r\nhi\r\n"), "HD\r\n");
  s.clock().Advance(10);
  // checked against memcached 1.6.18 (modulo the clock)
  EXPECT_EQ(s.Send("mg k t\r\n"), "HD t90\r\n");
  EXPECT_EQ(s.Send("mg k t T100 t\r\n"), "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_EQ(s.Send("mg k t T30\r\n"), "HD t90\r\n");
  EXPECT_EQ(s.Send("mg k T30 t\r\n"), "HD t30\r\n");
  EXPECT_EQ(s.Send("mg k T0 t\r\n"), "HD t-1\r\n");
  EXPECT_EQ(s.Send("mg k T-1 c\r\n"), "HD c5\r\n");  // expired now; T gives a new CAS
  EXPECT_EQ(s.Send("mg k v\r\n"), "EN\r\n");
}

TEST(MetaProtocolTest, GetVivifyCreatesAnEmptyItemAndHandsOutOneWin) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("mg nope N30 v c t\r\n"), "VA 0 c1 t30 W\r\n\r\n");
  EXPECT_EQ(s.Send("mg nope N30 v c t s f\r\n"), "VA 0 c1 t30 s0 f0 Z\r\n\r\n");
  EXPECT_EQ(s.Send("mg nope v\r\n"), "VA 0 Z\r\n\r\n");
  EXPECT_EQ(s.Send("get nope\r\n"), "VALUE nope 0 0\r\n\r\nEND\r\n");
  // A vivified item starts without expiry; T and N then apply in request order.
  EXPECT_EQ(s.Send("md nope\r\nmg nope t N30 T60\r\nmg nope t\r\n"),
            "HD\r\nHD t-1 W\r\nHD t60 Z\r\n");
  EXPECT_EQ(s.Send("md nope\r\nmg nope T60 N30 t\r\n"), "HD\r\nHD t30 W\r\n");
  // q does not hide a hit, vivified or not.
  EXPECT_EQ(s.Send("md nope\r\nmg nope N30 q\r\nmg nope q\r\n"), "HD\r\nHD W\r\nHD Z\r\n");
}

TEST(MetaProtocolTest, GetRecacheWinsWhenTheTtlIsBelowTheToken) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("ms r 2 T100\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg r R30\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg r R200\r\n"), "HD W\r\n");
  EXPECT_EQ(s.Send("mg r R200\r\n"), "HD Z\r\n");
  EXPECT_EQ(s.Send("mg r R200 T10\r\n"), "HD Z\r\n");
  EXPECT_EQ(s.Send("ms r 2 T100\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg r T10 R30\r\n"), "HD W\r\n");  // T came first: R sees 10 s left
  EXPECT_EQ(s.Send("ms r 2 T100\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg r R30 T10\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("ms r 2\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg r R200\r\n"), "HD\r\n");  // never expires: never wins
}

TEST(MetaProtocolTest, GetBase64KeysRoundTrip) {
  Server s;
  s.Send("ms foo 2\r\nhi\r\n");
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("mg Zm9v b v k\r\n"), "VA 2 kfoo\r\nhi\r\n");  // stored without b
  EXPECT_EQ(s.Send("mg miss b v k\r\n"), "EN kmiss b\r\n");
  EXPECT_EQ(s.Send("mg bWlzcw== b v k\r\n"), "EN kbWlzcw== b\r\n");
  EXPECT_EQ(s.Send("ms Zm9vMg== 3 b k c\r\nabc\r\n"), "HD kZm9vMg== b c2\r\n");
  EXPECT_EQ(s.Send("mg foo2 k v\r\n"), "VA 3 kZm9vMg== b\r\nabc\r\n");
  EXPECT_EQ(s.Send("mg Zm9vMg== b k v\r\n"), "VA 3 kZm9vMg== b\r\nabc\r\n");
  // A decoded key may hold any byte.
  EXPECT_EQ(s.Send("ms AA0KIA== 1 b\r\nz\r\nmg AA0KIA== b v k\r\n"),
            "HD\r\nVA 1 kAA0KIA== b\r\nz\r\n");
  EXPECT_EQ(s.Send("get foo2\r\n"), "VALUE foo2 0 3\r\nabc\r\nEND\r\n");
}

// ---------------------------------------------------------------------------------------------
// ms

TEST(MetaProtocolTest, SetModes) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("ms k 2 c\r\nhi\r\n"), "HD c1\r\n");
  EXPECT_EQ(s.Send("ms k 2 c k O9 q\r\nhi\r\n"), "");
  EXPECT_EQ(s.Send("ms k 2 q\r\nhi\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("ms k 2 ME\r\nhi\r\n"), "NS\r\n");
  EXPECT_EQ(s.Send("ms k 2 ME c k O1\r\nhi\r\n"), "NS c0 kk O1\r\n");
  EXPECT_EQ(s.Send("ms k 2 ME q\r\nhi\r\n"), "NS\r\n");
  EXPECT_EQ(s.Send("ms newk 2 MR\r\nhi\r\n"), "NS\r\n");
  EXPECT_EQ(s.Send("ms k 2 MR c\r\nhi\r\n"), "HD c4\r\n");
  EXPECT_EQ(s.Send("ms k 2 MA\r\nXY\r\nmg k v\r\n"), "HD\r\nVA 4\r\nhiXY\r\n");
  EXPECT_EQ(s.Send("ms k 2 MP\r\nAB\r\nmg k v\r\n"), "HD\r\nVA 6\r\nABhiXY\r\n");
  EXPECT_EQ(s.Send("ms nok 2 MA\r\nXY\r\n"), "NS\r\n");
  EXPECT_EQ(s.Send("ms nok 2 MA N0\r\nXY\r\n"), "NS\r\n");  // 1.6.18 ignores N in ms
  EXPECT_EQ(s.Send("ms nok 2 MP\r\nXY\r\n"), "NS\r\n");
  EXPECT_EQ(s.Send("ms k 2 MS\r\nhi\r\nmg k c\r\n"), "HD\r\nHD c7\r\n");
  EXPECT_EQ(s.Send("ms k 2 MX\r\nhi\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n");
  EXPECT_EQ(s.Send("ms k 2 T100 F7 t h l v s f\r\nhi\r\nmg k t f\r\n"), "HD\r\nHD t100 f7\r\n");
  EXPECT_EQ(s.Send("ms k 0\r\n\r\nmg k v s\r\n"), "HD\r\nVA 0 s0\r\n\r\n");
  EXPECT_EQ(s.Send("ms k 2 F4294967296\r\nhi\r\nmg k f\r\n"), "HD\r\nHD f0\r\n");
}

TEST(MetaProtocolTest, SetWithCas) {
  Server s;
  s.Send("ms k 2\r\nhi\r\n");
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("ms k 2 C99\r\nhi\r\n"), "EX\r\n");
  EXPECT_EQ(s.Send("ms k 2 C0\r\nhi\r\n"), "EX\r\n");
  EXPECT_EQ(s.Send("ms nok 2 C1\r\nhi\r\n"), "NF\r\n");
  EXPECT_EQ(s.Send("ms nok 2 C1 MR\r\nhi\r\n"), "NF\r\n");
  EXPECT_EQ(s.Send("ms nok 2 C1 ME\r\nhi\r\n"), "HD\r\n");  // add ignores the CAS
  EXPECT_EQ(s.Send("ms k 2 C999 MA\r\nhi\r\n"), "EX\r\n");
  EXPECT_EQ(s.Send("ms k 2 C1 c\r\nHI\r\nmg k v\r\n"), "HD c3\r\nVA 2\r\nHI\r\n");
  EXPECT_EQ(s.Send("ms k 2 C3 MA q\r\n!!\r\nmg k v\r\n"), "VA 4\r\nHI!!\r\n");
  const auto stats = s.Stats();
  EXPECT_EQ(stats.at("cas_hits"), "1");
  EXPECT_EQ(stats.at("cas_badval"), "2");
  EXPECT_EQ(stats.at("cas_misses"), "2");
}

TEST(MetaProtocolTest, SetErrorsBeforeTheLengthLeaveTheBlockToBeReadAsCommands) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("ms foo\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("ms k abc\r\nhi\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("ms k -1\r\nhi\r\n"), "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("ms " + kLongKey + " 2\r\nhi\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(s.Send("ms k 2 a b c d e f g h i j k l m n o p q\r\nhi\r\n"),
            "CLIENT_ERROR options flags too long\r\nERROR\r\n");
}

TEST(MetaProtocolTest, SetErrorsAfterTheLengthSwallowTheBlock) {
  Server s;
  // checked against memcached 1.6.18
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ms k 2 a b c d e f g h i j k l m n o", "CLIENT_ERROR invalid flag"},
      {"ms k 2 bad", "CLIENT_ERROR error decoding key"},  // a flag is its first byte
      {"ms Zm9 2 b", "CLIENT_ERROR error decoding key"},
      {"ms k 2 T", "CLIENT_ERROR bad token in command line format"},
      {"ms k 2 Fabc", "CLIENT_ERROR bad command line format"},
      {"ms k 2 F-1", "CLIENT_ERROR bad command line format"},
      {"ms k 2 Jx Dx", "CLIENT_ERROR invalid numeric delta value"},
      {"ms k 2 Ffoo Jx", "CLIENT_ERROR invalid numeric initial value"},
      {"ms k 2 S100", "CLIENT_ERROR invalid flag"},
      {"ms k 2 k k", "CLIENT_ERROR duplicate flag"},
      {"ms k 2 O123456789012345678901234567890123", "CLIENT_ERROR opaque token too long"},
      {"ms k 2 c O123456789012345678901234567890123 MX",
       "CLIENT_ERROR invalid mode for ms M token"},
  };
  for (const auto& [line, reply] : cases) {
    EXPECT_EQ(s.Send(line + " q\r\nhi\r\n"), reply + "\r\n") << line;
  }
  EXPECT_EQ(s.Send("mg k\r\n"), "EN\r\n");
}

TEST(MetaProtocolTest, SetBadDataChunk) {
  Server s;
  // checked against memcached 1.6.18: the 4 bytes after the line are the block; "\n" follows.
  EXPECT_EQ(s.Send("ms k 2\r\nhiX\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_EQ(s.Send("ms k 2 q\r\nhiX\r\n"), "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  EXPECT_EQ(s.Send("mg k\r\n"), "EN\r\n");
}

TEST(MetaProtocolTest, SetTooLargeIsSwallowedAndDropsTheOldValue) {
  Server s;
  s.Send("ms k 2\r\nhi\r\n");
  const std::string big(s.store().item_size_max(), 'x');
  const std::string header = "ms k " + std::to_string(big.size()) + " MA\r\n";
  // The reply comes at once; the block is discarded as it arrives.
  EXPECT_EQ(s.Send(header), "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(s.Send(big.substr(0, 1000)), "");
  EXPECT_EQ(s.Send(big.substr(1000) + "\r\nmg k\r\n"), "EN\r\n");
  EXPECT_EQ(s.buffered(), 0u);
}

TEST(MetaProtocolTest, SetWaitsForTheWholeBlockWhicheverWayItArrives) {
  Server s;
  const std::string requests = "ms a 3 T0 c\r\nabc\r\nmg a v\r\nms b 0\r\n\r\nmn\r\n";
  EXPECT_EQ(s.SendBytewise(requests), "HD c1\r\nVA 3\r\nabc\r\nHD\r\nMN\r\n");
  Server t;
  EXPECT_EQ(t.Send(requests), "HD c1\r\nVA 3\r\nabc\r\nHD\r\nMN\r\n");
}

TEST(MetaProtocolTest, SetCompletesWhenYieldingAtMaxRequests) {
  Server s;
  EXPECT_EQ(s.Send("mn\r\nms a 1\r\nx\r\nmn\r\n", 1), "MN\r\nHD\r\nMN\r\n");
  EXPECT_EQ(s.yields(), 2);
  Server t;
  EXPECT_EQ(t.Send("mn\r\nms a 4\r\nx", 1), "MN\r\n");  // incomplete block: no yield for it
  EXPECT_EQ(t.yields(), 0);
  EXPECT_EQ(t.Send("yzw\r\n", 1), "HD\r\n");
}

// ---------------------------------------------------------------------------------------------
// md, invalidation, stale items

TEST(MetaProtocolTest, DeleteReplies) {
  Server s;
  // checked against memcached 1.6.18
  EXPECT_EQ(s.Send("md k\r\n"), "NF\r\n");
  EXPECT_EQ(s.Send("md k q\r\nmn\r\n"), "NF\r\nMN\r\n");
  EXPECT_EQ(s.Send("md k k O5 b\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("md a2V5 k O5 b\r\n"), "NF ka2V5 b O5\r\n");
  EXPECT_EQ(s.Send("md k Tabc\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("md k O123456789012345678901234567890123\r\n"),
            "CLIENT_ERROR opaque token too long\r\n");
  EXPECT_EQ(s.Send("md k a b c d e f g h i j k l m n o p q r\r\n"),
            "CLIENT_ERROR options flags too long\r\n");
  EXPECT_EQ(s.Send("md " + kLongKey + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  s.Send("ms k 2\r\nhi\r\n");
  EXPECT_EQ(s.Send("md k C99\r\n"), "EX\r\n");
  EXPECT_EQ(s.Send("md k C0 q\r\n"), "EX\r\n");
  EXPECT_EQ(s.Send("md k q\r\nmn\r\nmg k\r\n"), "MN\r\nEN\r\n");
  EXPECT_EQ(s.Send("ms k 2\r\nhi\r\nmd k T30\r\nmg k\r\n"), "HD\r\nHD\r\nEN\r\n");  // T needs I
  const auto stats = s.Stats();
  EXPECT_EQ(stats.at("delete_hits"), "2");
  EXPECT_EQ(stats.at("delete_misses"), "5");
}

TEST(MetaProtocolTest, InvalidatedItemIsStaleAndItsNextReaderWins) {
  Server s;
  // checked against memcached 1.6.18 (modulo CAS values)
  EXPECT_EQ(s.Send("ms k 2 T100\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("md k I T30\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg k c t v\r\n"), "VA 2 c2 t30 X W\r\nhi\r\n");
  EXPECT_EQ(s.Send("mg k c t v\r\n"), "VA 2 c2 t30 Z X\r\nhi\r\n");
  EXPECT_EQ(s.Send("md k I q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("mg k c t v\r\n"), "VA 2 c3 t30 X W\r\nhi\r\n");
  // A CAS older than the item's stores the value, still stale, keeping the expiry and token.
  EXPECT_EQ(s.Send("ms k 2 C1 I\r\nHI\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("mg k c v t\r\n"), "VA 2 c4 t30 Z X\r\nHI\r\n");
  EXPECT_EQ(s.Send("ms k 2 C5 I\r\nHI\r\n"), "EX\r\n");  // newer than the item's: a mismatch
  // A real update (here one whose CAS matches) is no longer stale.
  EXPECT_EQ(s.Send("ms k 2 C4 I c\r\nok\r\nmg k v c\r\n"), "HD c5\r\nVA 2 c5\r\nok\r\n");
  EXPECT_EQ(s.Send("md k I\r\nms k 2 I MA\r\nHI\r\nmg k v\r\n"), "HD\r\nHD\r\nVA 4\r\nokHI\r\n");
  EXPECT_EQ(s.Send("md nope I\r\n"), "NF\r\n");
}

// ---------------------------------------------------------------------------------------------
// ma

TEST(MetaProtocolTest, ArithmeticReplies) {
  Server s;
  // checked against memcached 1.6.18 (modulo CAS values)
  EXPECT_EQ(s.Send("ma n\r\n"), "NF\r\n");
  EXPECT_EQ(s.Send("ma n q\r\nmn\r\n"), "NF\r\nMN\r\n");
  EXPECT_EQ(s.Send("ma n N0\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("ma n\r\n"), "HD\r\n");
  EXPECT_EQ(s.Send("ma n v\r\n"), "VA 1\r\n2\r\n");
  EXPECT_EQ(s.Send("ma n v D10 c t k O1\r\n"), "VA 2 c4 t-1 kn O1\r\n12\r\n");
  EXPECT_EQ(s.Send("ma n v MD D100\r\n"), "VA 1\r\n0\r\n");
  EXPECT_EQ(s.Send("ma n v M- D1\r\n"), "VA 1\r\n0\r\n");
  EXPECT_EQ(s.Send("ma n v M+\r\n"), "VA 1\r\n1\r\n");
  EXPECT_EQ(s.Send("ma n v MI\r\n"), "VA 1\r\n2\r\n");
  EXPECT_EQ(s.Send("ma n v MX\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_EQ(s.Send("ma n v MDD\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("ma n Dabc\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("ma n D-1\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("ma n D18446744073709551615 v\r\n"), "VA 1\r\n1\r\n");  // wraps
  EXPECT_EQ(s.Send("ma n c q v\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("ma n C1\r\nma n C1 q\r\n"), "EX\r\nEX\r\n");
  EXPECT_EQ(s.Send("ma n C0 v\r\n"), "VA 1\r\n3\r\n");  // C0 checks nothing
  EXPECT_EQ(s.Send("ma n O123456789012345678901234567890123\r\n"),
            "CLIENT_ERROR opaque token too long\r\n");
}

TEST(MetaProtocolTest, ArithmeticVivifyAndTtl) {
  Server s;
  // checked against memcached 1.6.18 (modulo CAS values)
  EXPECT_EQ(s.Send("ma v2 N0 J42 v c t\r\n"), "VA 2 c1 t-1\r\n42\r\n");
  EXPECT_EQ(s.Send("ma v2 N0 J42 v\r\n"), "VA 2\r\n43\r\n");
  EXPECT_EQ(s.Send("ma v4 N0 J5 q\r\nmn\r\n"), "HD\r\nMN\r\n");  // a creation is answered
  EXPECT_EQ(s.Send("ma v4 q\r\nmn\r\n"), "MN\r\n");
  EXPECT_EQ(s.Send("ma v5 J5 v\r\n"), "NF\r\n");
  EXPECT_EQ(s.Send("ma YQ== b k v N0\r\n"), "VA 1 kYQ== b\r\n0\r\n");
  EXPECT_EQ(s.Send("ma t1 N100 t T50 t\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(s.Send("ma t1 t N100 J7 T50 v\r\n"), "VA 1 t-1\r\n7\r\n");
  EXPECT_EQ(s.Send("mg t1 t\r\n"), "HD t50\r\n");
  EXPECT_EQ(s.Send("ma t1 t T20 v\r\n"), "VA 1 t50\r\n8\r\n");
  EXPECT_EQ(s.Send("ma t1 T20 t v\r\n"), "VA 1 t20\r\n9\r\n");
}

TEST(MetaProtocolTest, ArithmeticOnNonNumbersAndGrowingNumbers) {
  Server s;
  // checked against memcached 1.6.18
  const std::string non_numeric =
      "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
  EXPECT_EQ(s.Send("ms s 2\r\nhi\r\nma s\r\n"), "HD\r\n" + non_numeric);
  EXPECT_EQ(s.Send("ma s q\r\n"), non_numeric);
  EXPECT_EQ(s.Send("ms e 0\r\n\r\nma e C12345\r\n"), "HD\r\n" + non_numeric);
  EXPECT_EQ(s.Send("ms big 3\r\n999\r\nma big v\r\nmg big v\r\n"),
            "HD\r\nVA 4\r\n1000\r\nVA 4\r\n1000\r\n");
  EXPECT_EQ(s.Send("ms sp 5\r\n 12  \r\nma sp v\r\nmg sp v s\r\n"),
            "HD\r\nVA 2\r\n13\r\nVA 5 s5\r\n13   \r\n");
  const auto stats = s.Stats();
  EXPECT_EQ(stats.at("incr_hits"), "2");
  EXPECT_EQ(stats.at("incr_misses"), "0");
}

// ---------------------------------------------------------------------------------------------
// me

TEST(MetaProtocolTest, DebugShowsMetadataWithoutTouchingTheItem) {
  Server s;
  s.Send("ms k2 2 T100\r\nhi\r\n");
  s.clock().Advance(3);
  // checked against memcached 1.6.18, whose exp is now minus the expiry time
  EXPECT_EQ(s.Send("me k2\r\n"), "ME k2 exp=-97 la=3 cas=1 fetch=no cls=1 size=44\r\n");
  EXPECT_EQ(s.Send("me k2 extra\r\n"), "ME k2 exp=-97 la=3 cas=1 fetch=no cls=1 size=44\r\n");
  EXPECT_EQ(s.Send("mg k2\r\nme k2\r\n"),
            "HD\r\nME k2 exp=-97 la=3 cas=1 fetch=yes cls=1 size=44\r\n");
  EXPECT_EQ(s.Send("me missing\r\n"), "EN\r\n");
  EXPECT_EQ(s.Send("me k2 b\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("me " + kLongKey + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(s.Send("ms Zm9vMg== 1 b\r\nx\r\nme foo2\r\nme Zm9vMg== b\r\n"),
            "HD\r\nME Zm9vMg== exp=-1 la=0 cas=2 fetch=no cls=1 size=45\r\n"
            "ME Zm9vMg== exp=-1 la=0 cas=2 fetch=no cls=1 size=45\r\n");
  // me hands out no recache token.
  EXPECT_EQ(s.Send("md k2 I\r\nme k2\r\nmg k2\r\n"),
            "HD\r\nME k2 exp=-97 la=3 cas=3 fetch=yes cls=1 size=44\r\nHD X W\r\n");
  EXPECT_EQ(s.Stats().at("cmd_meta"), "7");  // memcached counts only me (not its errors)
}

// ---------------------------------------------------------------------------------------------
// Counters and replication

TEST(MetaProtocolTest, CountersMoveAsMemcachedsDo) {
  Server s;
  // The same requests sent to memcached 1.6.18 moved its counters to these values.
  s.Send(
      "ms k 2 T100\r\nhi\r\nmg k v\r\nmg k T50\r\nmg miss T50\r\nmg miss\r\n"
      "mg k q k v\r\nmg miss q k v\r\nmn\r\nmd k C0\r\nma k C0\r\nms n 1\r\n5\r\n"
      "ma n C0 v\r\nms k 2 C0\r\nhi\r\nms cnt 1 C999\r\n1\r\nmd n\r\nmd n\r\nma n\r\n"
      "ma n MD\r\nmd k I\r\nme k\r\nme n\r\n");
  const auto stats = s.Stats();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"cmd_get", "5"},     {"cmd_set", "4"},    {"cmd_touch", "1"},     {"cmd_meta", "2"},
      {"get_hits", "2"},    {"get_misses", "3"}, {"delete_misses", "2"}, {"delete_hits", "1"},
      {"incr_misses", "1"}, {"incr_hits", "1"},  {"decr_misses", "1"},   {"cas_misses", "1"},
      {"cas_badval", "1"},  {"touch_hits", "1"}, {"touch_misses", "0"},
  };
  for (const auto& [name, value] : expected) EXPECT_EQ(stats.at(name), value) << name;
}

class RecordingSink final : public storage::MutationSink {
 public:
  void OnMutation(const storage::Mutation& m) override {
    log.push_back((m.kind == storage::MutationKind::kSet ? "set " : "del ") + std::string(m.key));
  }
  std::vector<std::string> log;
};

TEST(MetaProtocolTest, EverySuccessfulMetaMutationIsReportedOnce) {
  Server s;
  RecordingSink sink;
  s.store().set_mutation_sink(&sink);
  s.Send("ms a 1\r\nx\r\n");           // set a
  s.Send("ms a 1 ME\r\ny\r\n");        // NS: nothing
  s.Send("ms a 1 C999\r\ny\r\n");      // EX: nothing
  s.Send("mg a v\r\nmg a R30\r\n");    // reads: nothing
  s.Send("mg a T30\r\n");              // set a (new expiry)
  s.Send("mg b N30\r\nmg b N30\r\n");  // set b once
  s.Send("md b I\r\n");                // set b (stale, new version)
  s.Send("md b\r\nmd b\r\n");          // del b once
  s.Send("ma c N0 J1\r\nma c\r\n");    // set c twice
  s.Send("ma nope\r\nma a\r\n");       // NF, non-numeric: nothing
  s.Send("me a\r\nmn\r\n");            // nothing
  EXPECT_THAT(sink.log, ElementsAre("set a", "set a", "set b", "set b", "del b", "set c", "set c"));
  s.store().set_mutation_sink(nullptr);
}

// ---------------------------------------------------------------------------------------------
// lru_crawler

TEST(MetaProtocolTest, LruCrawlerMetadumpListsLiveItems) {
  Server s;
  s.Send("set x\ty 0 0 1\r\nz\r\nms a%20b 2 T100\r\nhi\r\nms gone 1 T1\r\nq\r\nmg x\ty\r\n");
  s.clock().Advance(2);
  const std::string dump = s.Send("lru_crawler metadump all\r\n");
  // checked against memcached 1.6.18 (its order is its LRU's; memtwin's the hash table's)
  const std::string a = "key=a%2520b exp=" + std::to_string(kStart + 100) +
                        " la=" + std::to_string(kStart) + " cas=2 fetch=no cls=1 size=47\n";
  const std::string x =
      "key=x%09y exp=-1 la=" + std::to_string(kStart) + " cas=1 fetch=yes cls=1 size=44\n";
  EXPECT_TRUE(dump == a + x + "END\r\n" || dump == x + a + "END\r\n") << dump;
  EXPECT_EQ(s.Send("lru_crawler metadump 1,2\r\n"), dump);
  EXPECT_EQ(s.Send("lru_crawler metadump hash\r\n"), dump);
  EXPECT_EQ(s.Send("lru_crawler metadump 63\r\n"), "END\r\n");
}

TEST(MetaProtocolTest, LruCrawlerAnswersAsMemcached) {
  Server s;
  // checked against memcached 1.6.18, in this order (its crawler starts enabled)
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"lru_crawler metadump 0", "BADCLASS invalid class id"},
      {"lru_crawler metadump 64", "BADCLASS invalid class id"},
      {"lru_crawler metadump abc", "BADCLASS invalid class id"},
      {"lru_crawler metadump 1,x", "BADCLASS invalid class id"},
      {"lru_crawler metadump ,", "NOTSTARTED no items to crawl"},
      {"lru_crawler metadump", "ERROR"},
      {"lru_crawler metadump all extra", "ERROR"},
      {"lru_crawler", "ERROR"},
      {"lru_crawler foo", "ERROR"},
      {"lru_crawler crawl 0", "BADCLASS invalid class id"},
      {"lru_crawler crawl 64", "BADCLASS invalid class id"},
      {"lru_crawler crawl ,", "NOTSTARTED no items to crawl"},
      {"lru_crawler crawl hash", "ERROR an unknown error happened"},
      {"lru_crawler crawl all", "OK"},  // an empty cache: nothing to do, but started
      {"lru_crawler tocrawl 5", "OK"},
      {"lru_crawler tocrawl x", "CLIENT_ERROR bad command line format"},
      {"lru_crawler sleep 5", "OK"},
      {"lru_crawler sleep 2000000", "CLIENT_ERROR sleep must be one second or less"},
      {"lru_crawler sleep x", "CLIENT_ERROR bad command line format"},
      {"lru_crawler enable", "ERROR failed to start lru crawler thread"},
      {"lru_crawler disable", "OK"},
      {"lru_crawler disable", "OK"},
      {"lru_crawler crawl all", "CLIENT_ERROR lru crawler disabled"},
      {"lru_crawler metadump all", "CLIENT_ERROR lru crawler disabled"},
      {"lru_crawler enable", "OK"},
      {"lru_crawler metadump 63", "END"},
  };
  for (const auto& [line, reply] : cases) EXPECT_EQ(s.Send(line + "\r\n"), reply + "\r\n") << line;
  const std::string settings = s.Send("stats settings\r\n");
  EXPECT_THAT(settings, HasSubstr("STAT lru_crawler yes\r\nSTAT lru_crawler_sleep 5\r\n"
                                  "STAT lru_crawler_tocrawl 5\r\n"));
}

TEST(MetaProtocolTest, LruCrawlerOffFromTheCommandLine) {
  Config config;
  config.lru_crawler = false;
  Server s(config);
  EXPECT_EQ(s.Send("lru_crawler crawl 1\r\n"), "CLIENT_ERROR lru crawler disabled\r\n");
  EXPECT_THAT(s.Send("stats settings\r\n"), HasSubstr("STAT lru_crawler no\r\n"));
  EXPECT_THAT(s.Send("stats\r\n"), Not(HasSubstr("lru_crawler_running")));
}

// The expired items sit behind a never-expiring one at the LRU's tail and nothing reads them,
// so only the crawler can give their memory back.
TEST(MetaProtocolTest, LruCrawlerReclaimsExpiredItemsNobodyReads) {
  Server s;
  s.Send("set keep 0 0 1\r\nk\r\n");
  for (int i = 0; i < 20; ++i) s.Send("set short" + std::to_string(i) + " 0 10 1\r\ns\r\n");
  s.Send("set long 0 1000 1\r\nl\r\nget short0\r\n");
  s.clock().Advance(11);
  EXPECT_EQ(s.Stats()["curr_items"], "22");  // nothing has noticed yet
  EXPECT_EQ(s.Send("lru_crawler crawl 1\r\n"), "OK\r\n");
  std::map<std::string, std::string> stats;
  for (int tries = 0; tries < 500; ++tries) {
    stats = s.Stats();
    if (stats["lru_crawler_running"] == "0" && stats["crawler_items_checked"] == "22") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats["crawler_items_checked"], "22");
  EXPECT_EQ(stats["crawler_reclaimed"], "20");
  EXPECT_EQ(stats["curr_items"], "2");
  EXPECT_EQ(stats["expired_unfetched"], "19");  // short0 was read
  EXPECT_EQ(stats["lru_crawler_starts"], "1");
  const std::string items = s.Send("stats items\r\n");
  EXPECT_THAT(items, HasSubstr("STAT items:1:crawler_reclaimed 20\r\n"));
  EXPECT_THAT(items, HasSubstr("STAT items:1:crawler_items_checked 22\r\n"));
  EXPECT_EQ(s.Send("get keep long short1\r\n"),
            "VALUE keep 0 1\r\nk\r\nVALUE long 0 1\r\nl\r\nEND\r\n");
  EXPECT_EQ(s.Stats()["get_expired"], "0");  // the crawler got there first
}

}  // namespace
}  // namespace memtwin::server
