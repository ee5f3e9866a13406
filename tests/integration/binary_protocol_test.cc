// memcached's binary protocol against real processes on 127.0.0.1: raw requests whose reply
// bytes must be the same from memtwin and from Debian's memcached 1.6.18 (only the CAS values
// differ, so a reply carries the CAS an earlier reply returned, never a literal); libmemcached
// with MEMCACHED_BEHAVIOR_BINARY_PROTOCOL against both; a replicated memtwin pair written over
// the binary protocol and read over the text one; and -B ascii / -B binary.
//
// A failed comparison prints both sides one reply a line, field by field (Show), so the line
// that differs names the reply and the field.
#include <libmemcached/memcached.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace memtwin::testing {
namespace {

using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Building requests and replies

// memcached's protocol_binary.h.
enum Op : uint8_t {
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
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum Status : uint16_t {
  kSuccess = 0x00,
  kKeyNotFound = 0x01,
  kKeyExists = 0x02,
  kTooLarge = 0x03,
  kInvalidArguments = 0x04,
  kNotStored = 0x05,
  kNonNumeric = 0x06,
  kUnknownCommand = 0x81,
};

constexpr size_t kHeaderSize = 24;
constexpr uint32_t kOpaque = 0xdeadbeef;    // echoed by every reply unless a test says otherwise
constexpr uint32_t kNoCreate = 0xffffffff;  // incr/decr expiration: do not create a missing key

std::string BigEndian(uint64_t v, int bytes) {
  std::string out;
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(v >> shift));
  }
  return out;
}
std::string Be32(uint32_t v) { return BigEndian(v, 4); }

uint64_t LoadBigEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (char c : bytes) v = v << 8 | static_cast<uint8_t>(c);
  return v;
}

// Extras of set/add/replace, and of incr/decr.
std::string StoreExtras(uint32_t flags, uint32_t exptime = 0) {
  return Be32(flags) + Be32(exptime);
}
std::string DeltaExtras(uint64_t delta, uint64_t initial, uint32_t exptime) {
  return BigEndian(delta, 8) + BigEndian(initial, 8) + Be32(exptime);
}

std::string Frame(uint8_t magic, uint8_t opcode, uint16_t status_or_vbucket,
                  std::string_view extras, std::string_view key, std::string_view value,
                  uint64_t cas, uint32_t opaque) {
  std::string out;
  out.push_back(static_cast<char>(magic));
  out.push_back(static_cast<char>(opcode));
  out += BigEndian(key.size(), 2);
  out.push_back(static_cast<char>(extras.size()));
  out.push_back(0);  // data type
  out += BigEndian(status_or_vbucket, 2);
  out += Be32(static_cast<uint32_t>(extras.size() + key.size() + value.size()));
  out += Be32(opaque);
  out += BigEndian(cas, 8);
  out.append(extras).append(key).append(value);
  return out;
}

std::string Req(uint8_t opcode, std::string_view key = {}, std::string_view extras = {},
                std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = kOpaque) {
  return Frame(0x80, opcode, 0, extras, key, value, cas, opaque);
}

std::string Res(uint8_t opcode, uint16_t status, std::string_view extras = {},
                std::string_view key = {}, std::string_view value = {}, uint64_t cas = 0,
                uint32_t opaque = kOpaque) {
  return Frame(0x81, opcode, status, extras, key, value, cas, opaque);
}

// memcached's error replies: the status and its text as the body.
std::string Err(uint8_t opcode, uint16_t status, uint32_t opaque = kOpaque) {
  static const std::map<uint16_t, std::string> kText = {
      {kKeyNotFound, "Not found"},
      {kKeyExists, "Data exists for key."},
      {kTooLarge, "Too large."},
      {kInvalidArguments, "Invalid arguments"},
      {kNotStored, "Not stored."},
      {kNonNumeric, "Non-numeric server-side value for incr or decr"},
      {kUnknownCommand, "Unknown command"},
  };
  return Res(opcode, status, {}, {}, kText.at(status), 0, opaque);
}

// ---------------------------------------------------------------------------------------------
// Reading replies

std::string Escape(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<uint8_t>(c));
      out += hex;
    }
  }
  return out;
}

// Every frame in `bytes`, one a line with every header field, so two renderings are equal
// exactly when the bytes are: "81 op=0c status=0 keylen=1 extlen=4 type=0 body=10
// opaque=deadbeef cas=1 | extras=\x00\x00\x00\x03 key=k value=hello". Bytes that do not make a
// whole frame end it as "partial: ...".
std::string Show(std::string_view bytes) {
  std::string out;
  while (!bytes.empty()) {
    if (bytes.size() < kHeaderSize) {
      return out + "partial: " + Escape(bytes) + "\n";
    }
    const uint16_t key_length = static_cast<uint16_t>(LoadBigEndian(bytes.substr(2, 2)));
    const uint8_t extras_length = static_cast<uint8_t>(bytes[4]);
    const uint32_t body = static_cast<uint32_t>(LoadBigEndian(bytes.substr(8, 4)));
    char header[160];
    std::snprintf(header, sizeof(header),
                  "%02x op=%02x status=%x keylen=%u extlen=%u type=%x body=%u opaque=%08x "
                  "cas=%llu",
                  static_cast<uint8_t>(bytes[0]), static_cast<uint8_t>(bytes[1]),
                  static_cast<unsigned>(LoadBigEndian(bytes.substr(6, 2))), key_length,
                  extras_length, static_cast<uint8_t>(bytes[5]), body,
                  static_cast<unsigned>(LoadBigEndian(bytes.substr(12, 4))),
                  static_cast<unsigned long long>(LoadBigEndian(bytes.substr(16, 8))));
    if (bytes.size() < kHeaderSize + body || size_t{extras_length} + key_length > body) {
      return out + header + " partial: " + Escape(bytes.substr(kHeaderSize)) + "\n";
    }
    const std::string_view b = bytes.substr(kHeaderSize, body);
    out += std::string(header) + " | extras=" + Escape(b.substr(0, extras_length)) +
           " key=" + Escape(b.substr(extras_length, key_length)) +
           " value=" + Escape(b.substr(extras_length + key_length)) + "\n";
    bytes.remove_prefix(kHeaderSize + body);
  }
  return out;
}

// Reads `n` replies, one string each. Once the deadline passes or the server closes, the rest
// are what arrived of them: cut short, or empty.
std::vector<std::string> ReadReplies(Client* c, size_t n) {
  std::vector<std::string> replies(n);
  for (std::string& reply : replies) {
    reply = c->ReadBytes(kHeaderSize);
    if (reply.size() < kHeaderSize) break;
    reply += c->ReadBytes(LoadBigEndian(std::string_view(reply).substr(8, 4)));
  }
  return replies;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// The CAS field of a reply (0 if it is too short to have one).
uint64_t CasOf(const std::string& reply) {
  return reply.size() < kHeaderSize ? 0 : LoadBigEndian(std::string_view(reply).substr(16, 8));
}

// Sends `request` and expects exactly `expected` back. (A reply too many shows up in the next
// read on the connection, or is caught by a NOOP the test sends last.)
::testing::AssertionResult Exchange(Client* c, const std::string& request,
                                    const std::string& expected) {
  if (!c->Send(request)) return ::testing::AssertionFailure() << "send failed";
  const std::string got = c->ReadBytes(expected.size());
  if (got == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected:\n" << Show(expected) << "got:\n" << Show(got);
}

// ---------------------------------------------------------------------------------------------
// The servers

struct ServerKind {
  const char* name;
  std::string (*binary)();
  std::vector<std::string> args;  // always passed
};

void PrintTo(const ServerKind& kind, std::ostream* os) { *os << kind.name; }

// -X 0: no replication listener (its default port would be shared by tests running in parallel).
const ServerKind kMemtwin = {"memtwin", &MemtwinBinary, {"-X", "0"}};
const ServerKind kMemcached = {"memcached", &MemcachedBinary, {}};

std::unique_ptr<ServerProcess> StartKind(const ServerKind& kind,
                                         const std::vector<std::string>& args = {}) {
  std::vector<std::string> all = kind.args;
  all.insert(all.end(), args.begin(), args.end());
  auto server = ServerProcess::Start(kind.binary(), all);
  EXPECT_NE(server, nullptr) << kind.name << " did not start";
  return server;
}

// STAT <group> over the binary protocol: name → value, up to the empty reply that ends it.
StatMap BinaryStats(Client* c, const std::string& group) {
  StatMap stats;
  if (!c->Send(Req(kStat, group))) return stats;
  for (int i = 0; i < 1000; ++i) {
    const std::vector<std::string> r = ReadReplies(c, 1);
    if (r[0].size() <= kHeaderSize) break;  // the terminator, or nothing
    const std::string_view body = std::string_view(r[0]).substr(kHeaderSize);
    const size_t key_length = LoadBigEndian(std::string_view(r[0]).substr(2, 2));
    stats[std::string(body.substr(0, key_length))] = std::string(body.substr(key_length));
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// 1. Raw requests: the same bytes from memtwin and memcached

class BinaryProtocolTest : public ::testing::TestWithParam<ServerKind> {
 protected:
  // Starts the server under test with `args` (on top of the kind's own) and connects to it.
  void Start(const std::vector<std::string>& args = {}) {
    server_ = StartKind(GetParam(), args);
    ASSERT_NE(server_, nullptr);
    c_ = Client::ConnectTcp(server_->port());
    ASSERT_NE(c_, nullptr);
  }

  // Stores key=value with flags over the binary protocol and returns the CAS the server gave.
  uint64_t Set(const std::string& key, const std::string& value, uint32_t flags = 0) {
    EXPECT_TRUE(c_->Send(Req(kSet, key, StoreExtras(flags), value)));
    const std::vector<std::string> r = ReadReplies(c_.get(), 1);
    EXPECT_EQ(Show(r[0]), Show(Res(kSet, kSuccess, {}, {}, {}, CasOf(r[0]))));
    EXPECT_NE(CasOf(r[0]), 0u);
    return CasOf(r[0]);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> c_;
};

TEST_P(BinaryProtocolTest, SetThenGetAndGetKReturnTheValueFlagsAndTheSetsCas) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(c_->Send(Req(kSet, "greeting", StoreExtras(0xdeadbeef), "hello") +
                       Req(kGet, "greeting") + Req(kGetK, "greeting") + Req(kGet, "nosuch") +
                       Req(kGetK, "nosuch")));
  const std::vector<std::string> r = ReadReplies(c_.get(), 5);
  const uint64_t cas = CasOf(r[0]);
  EXPECT_NE(cas, 0u);
  EXPECT_EQ(Show(Join(r)), Show(Res(kSet, kSuccess, {}, {}, {}, cas) +
                                Res(kGet, kSuccess, Be32(0xdeadbeef), {}, "hello", cas) +
                                Res(kGetK, kSuccess, Be32(0xdeadbeef), "greeting", "hello", cas) +
                                Err(kGet, kKeyNotFound) +
                                // A missed GETK names the key instead of saying "Not found".
                                Res(kGetK, kKeyNotFound, {}, "nosuch")));
  // A later set gets a new CAS.
  EXPECT_NE(Set("greeting", "again"), cas);
}

TEST_P(BinaryProtocolTest, QuietGetsInOneWriteAnswerOnlyHitsAndTheNoopEndsThem) {
  ASSERT_NO_FATAL_FAILURE(Start());
  // SETQ says nothing on success, GETQ and GETKQ nothing on a miss; NOOP always answers, so once
  // its reply is in, a client has every other one. Opaques tell the replies apart.
  ASSERT_TRUE(c_->Send(Req(kSet, "a", StoreExtras(1), "A", 0, 1) +
                       Req(kSetQ, "b", StoreExtras(2), "BB", 0, 2) + Req(kGetQ, "a", {}, {}, 0, 3) +
                       Req(kGetQ, "x", {}, {}, 0, 4) + Req(kGetKQ, "b", {}, {}, 0, 5) +
                       Req(kGetKQ, "y", {}, {}, 0, 6) + Req(kNoop, {}, {}, {}, 0, 7)));
  const std::vector<std::string> r = ReadReplies(c_.get(), 4);
  const uint64_t cas_a = CasOf(r[0]), cas_b = CasOf(r[2]);
  EXPECT_NE(cas_a, 0u);
  EXPECT_NE(cas_b, 0u);
  EXPECT_NE(cas_a, cas_b);
  EXPECT_EQ(Show(Join(r)), Show(Res(kSet, kSuccess, {}, {}, {}, cas_a, 1) +
                                Res(kGetQ, kSuccess, Be32(1), {}, "A", cas_a, 3) +
                                Res(kGetKQ, kSuccess, Be32(2), "b", "BB", cas_b, 5) +
                                Res(kNoop, kSuccess, {}, {}, {}, 0, 7)));
  // Quiet mutations still report their failures, and only those.
  EXPECT_TRUE(Exchange(c_.get(),
                       Req(kAddQ, "a", StoreExtras(0), "1", 0, 11) +
                           Req(kReplaceQ, "z", StoreExtras(0), "1", 0, 12) +
                           Req(kDeleteQ, "z", {}, {}, 0, 13) + Req(kDeleteQ, "a", {}, {}, 0, 14) +
                           Req(kIncrementQ, "c", DeltaExtras(1, 5, 0), {}, 0, 15) +
                           Req(kAppendQ, "z", {}, "x", 0, 16) + Req(kNoop, {}, {}, {}, 0, 17),
                       Err(kAddQ, kKeyExists, 11) + Err(kReplaceQ, kKeyNotFound, 12) +
                           Err(kDeleteQ, kKeyNotFound, 13) + Err(kAppendQ, kNotStored, 16) +
                           Res(kNoop, kSuccess, {}, {}, {}, 0, 17)));
}

TEST_P(BinaryProtocolTest, AddReplaceAppendAndPrependRefuseWithMemcachedsStatuses) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t cas = Set("k", "v");
  EXPECT_TRUE(Exchange(c_.get(),
                       Req(kAdd, "k", StoreExtras(0), "x") +
                           Req(kReplace, "missing", StoreExtras(0), "x") +
                           Req(kAppend, "missing", {}, "x") + Req(kPrepend, "missing", {}, "x"),
                       Err(kAdd, kKeyExists) + Err(kReplace, kKeyNotFound) +
                           Err(kAppend, kNotStored) + Err(kPrepend, kNotStored)));
  ASSERT_TRUE(c_->Send(Req(kAppend, "k", {}, ">") + Req(kPrepend, "k", {}, "<") + Req(kGet, "k") +
                       Req(kAdd, "n", StoreExtras(5), "new") +
                       Req(kReplace, "n", StoreExtras(6), "replaced") + Req(kGet, "n")));
  const std::vector<std::string> r = ReadReplies(c_.get(), 6);
  const uint64_t cas_append = CasOf(r[0]), cas_prepend = CasOf(r[1]), cas_add = CasOf(r[3]),
                 cas_replace = CasOf(r[4]);
  EXPECT_EQ(std::set<uint64_t>({cas, cas_append, cas_prepend, cas_add, cas_replace}).size(), 5u);
  EXPECT_EQ(Show(Join(r)), Show(Res(kAppend, kSuccess, {}, {}, {}, cas_append) +
                                Res(kPrepend, kSuccess, {}, {}, {}, cas_prepend) +
                                // append and prepend keep the item's flags.
                                Res(kGet, kSuccess, Be32(0), {}, "<v>", cas_prepend) +
                                Res(kAdd, kSuccess, {}, {}, {}, cas_add) +
                                Res(kReplace, kSuccess, {}, {}, {}, cas_replace) +
                                Res(kGet, kSuccess, Be32(6), {}, "replaced", cas_replace)));
}

TEST_P(BinaryProtocolTest, CasMismatchIsKeyExistsAndCasOnAMissingKeyIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t cas = Set("k", "v");
  const uint64_t wrong = cas + 12345;
  EXPECT_TRUE(Exchange(
      c_.get(),
      Req(kSet, "k", StoreExtras(0), "w", wrong) + Req(kSet, "missing", StoreExtras(0), "w", 5) +
          Req(kAdd, "k", StoreExtras(0), "w", wrong) +
          Req(kReplace, "k", StoreExtras(0), "w", wrong) + Req(kAppend, "k", {}, "w", wrong) +
          Req(kDelete, "k", {}, {}, wrong) + Req(kGet, "k"),
      Err(kSet, kKeyExists) + Err(kSet, kKeyNotFound) + Err(kAdd, kKeyExists) +
          Err(kReplace, kKeyExists) + Err(kAppend, kKeyExists) + Err(kDelete, kKeyExists) +
          Res(kGet, kSuccess, Be32(0), {}, "v", cas)));
  // The right CAS stores, and the item gets a new one, which GETK returns.
  ASSERT_TRUE(c_->Send(Req(kSet, "k", StoreExtras(3), "swapped", cas) + Req(kGetK, "k") +
                       Req(kSet, "k", StoreExtras(0), "stale", cas)));
  const std::vector<std::string> r = ReadReplies(c_.get(), 3);
  const uint64_t swapped = CasOf(r[0]);
  EXPECT_NE(swapped, cas);
  EXPECT_EQ(Show(Join(r)),
            Show(Res(kSet, kSuccess, {}, {}, {}, swapped) +
                 Res(kGetK, kSuccess, Be32(3), "k", "swapped", swapped) + Err(kSet, kKeyExists)));
  EXPECT_TRUE(Exchange(c_.get(), Req(kDelete, "k", {}, {}, swapped), Res(kDelete, kSuccess)));
}

TEST_P(BinaryProtocolTest, DeleteRemovesTheItemOnceThenReportsNotFound) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Set("k", "v");
  EXPECT_TRUE(
      Exchange(c_.get(), Req(kDelete, "k") + Req(kDelete, "k") + Req(kGet, "k"),
               Res(kDelete, kSuccess) + Err(kDelete, kKeyNotFound) + Err(kGet, kKeyNotFound)));
}

TEST_P(BinaryProtocolTest, IncrCreatesOrRefusesAMissingCounterAndRejectsText) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_TRUE(c_->Send(Req(kIncrement, "c", DeltaExtras(5, 10, 0)) +  // created with 10
                       Req(kIncrement, "c", DeltaExtras(5, 10, 0)) +
                       Req(kDecrement, "c", DeltaExtras(100, 0, 0)) +  // stops at 0
                       Req(kGet, "c") + Req(kDecrement, "d", DeltaExtras(1, 7, 0))));
  const std::vector<std::string> r = ReadReplies(c_.get(), 5);
  EXPECT_EQ(Show(Join(r)),
            Show(Res(kIncrement, kSuccess, {}, {}, BigEndian(10, 8), CasOf(r[0])) +
                 Res(kIncrement, kSuccess, {}, {}, BigEndian(15, 8), CasOf(r[1])) +
                 Res(kDecrement, kSuccess, {}, {}, BigEndian(0, 8), CasOf(r[2])) +
                 // As memcached: a shorter number keeps the item's length, padded with spaces.
                 Res(kGet, kSuccess, Be32(0), {}, "0 ", CasOf(r[2])) +
                 Res(kDecrement, kSuccess, {}, {}, BigEndian(7, 8), CasOf(r[4]))));
  EXPECT_EQ(std::set<uint64_t>({CasOf(r[0]), CasOf(r[1]), CasOf(r[2]), CasOf(r[4])}).size(), 4u);
  Set("text", "not a number");
  Set("max", "18446744073709551615");
  ASSERT_TRUE(c_->Send(Req(kIncrement, "nosuch", DeltaExtras(1, 0, kNoCreate)) +
                       Req(kDecrement, "nosuch", DeltaExtras(1, 0, kNoCreate)) +
                       Req(kIncrement, "text", DeltaExtras(1, 0, 0)) + Req(kGet, "nosuch") +
                       Req(kIncrement, "max", DeltaExtras(2, 0, 0))));
  const std::vector<std::string> r2 = ReadReplies(c_.get(), 5);
  EXPECT_EQ(Show(Join(r2)), Show(Err(kIncrement, kKeyNotFound) + Err(kDecrement, kKeyNotFound) +
                                 Err(kIncrement, kNonNumeric) + Err(kGet, kKeyNotFound) +
                                 // Wraps at 64 bits.
                                 Res(kIncrement, kSuccess, {}, {}, BigEndian(1, 8), CasOf(r2[4]))));
}

TEST_P(BinaryProtocolTest, TouchAndGatSetTheExpiryOrReportAMissingKey) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const uint64_t cas = Set("k", "v", 3);
  const std::string ttl = Be32(1000);
  ASSERT_TRUE(c_->Send(Req(kTouch, "k", ttl) + Req(kTouch, "nosuch", ttl) + Req(kGat, "k", ttl) +
                       Req(kGatK, "k", ttl) + Req(kGat, "nosuch", ttl) + Req(kGatK, "nosuch", ttl) +
                       Req(kGatQ, "nosuch", ttl) + Req(kGatKQ, "k", ttl) + Req(kGetK, "k")));
  const std::vector<std::string> r = ReadReplies(c_.get(), 8);
  const uint64_t touched[] = {CasOf(r[0]), CasOf(r[2]), CasOf(r[3]), CasOf(r[6])};
  EXPECT_EQ(Show(Join(r)),
            // TOUCH answers with the flags and no value.
            Show(Res(kTouch, kSuccess, Be32(3), {}, {}, touched[0]) + Err(kTouch, kKeyNotFound) +
                 Res(kGat, kSuccess, Be32(3), {}, "v", touched[1]) +
                 Res(kGatK, kSuccess, Be32(3), "k", "v", touched[2]) + Err(kGat, kKeyNotFound) +
                 Res(kGatK, kKeyNotFound, {}, "nosuch") +
                 Res(kGatKQ, kSuccess, Be32(3), "k", "v", touched[3]) +
                 Res(kGetK, kSuccess, Be32(3), "k", "v", touched[3])));
  if (GetParam().binary == &MemcachedBinary) {
    // memcached keeps the CAS through a touch.
    for (uint64_t t : touched) EXPECT_EQ(t, cas);
  } else {
    // memtwin gives each touch a new one, so that the new expiry replicates (README).
    EXPECT_EQ(std::set<uint64_t>({cas, touched[0], touched[1], touched[2], touched[3]}).size(), 5u);
  }
  // The new expiry is the one the text protocol's meta get reports (1000 s, or 999 if a second
  // ticked in between).
  auto text = Client::ConnectTcp(server_->port());
  ASSERT_NE(text, nullptr);
  const std::string mg = text->Call("mg k t\r\n");
  EXPECT_TRUE(mg == "HD t1000\r\n" || mg == "HD t999\r\n") << mg;
}

TEST_P(BinaryProtocolTest, FlushAndQuietFlushRemoveEveryItem) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Set("a", "1");
  Set("b", "2");
  EXPECT_TRUE(Exchange(c_.get(), Req(kFlush) + Req(kGet, "a") + Req(kGet, "b"),
                       Res(kFlush, kSuccess) + Err(kGet, kKeyNotFound) + Err(kGet, kKeyNotFound)));
  Set("a", "1");
  EXPECT_TRUE(Exchange(c_.get(), Req(kFlushQ) + Req(kGet, "a") + Req(kFlush, {}, Be32(0)),
                       Err(kGet, kKeyNotFound) + Res(kFlush, kSuccess)));
}

TEST_P(BinaryProtocolTest, StatResetAnswersOneEmptyReplyAndAnUnknownGroupIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_TRUE(Exchange(c_.get(), Req(kStat, "reset") + Req(kStat, "nosuch"),
                       Res(kStat, kSuccess) + Err(kStat, kKeyNotFound)));
}

TEST_P(BinaryProtocolTest, StatNamesTheSameCountersAsTextStats) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const StatMap binary = BinaryStats(c_.get(), "");
  const StatMap text = StatsOf(server_->port());
  std::set<std::string> binary_names, text_names;
  for (const auto& [name, value] : binary) binary_names.insert(name);
  for (const auto& [name, value] : text) text_names.insert(name);
  EXPECT_GT(binary_names.size(), 20u);
  EXPECT_EQ(binary_names, text_names);
  EXPECT_EQ(StatText(binary, "version"), StatText(text, "version"));
  EXPECT_EQ(StatText(BinaryStats(c_.get(), "settings"), "binding_protocol"), "auto-negotiate");
}

TEST_P(BinaryProtocolTest, UnknownOpcodeWithAValueIsRefusedAndItsBodySkipped) {
  ASSERT_NO_FATAL_FAILURE(Start());
  // No key: memcached and memtwin agree on skipping the body (with a key, memcached reads the
  // value as the next header; binary_protocol.cc).
  EXPECT_TRUE(Exchange(c_.get(), Req(0x50, {}, {}, "a value body") + Req(kNoop),
                       Err(0x50, kUnknownCommand) + Res(kNoop, kSuccess)));
}

TEST_P(BinaryProtocolTest, TooLargeValueIsRefusedAndASetRemovesTheOldValue) {
  // memcached's smallest -I; its slab_chunk_max must not exceed it.
  ASSERT_NO_FATAL_FAILURE(Start({"-I", "1k", "-o", "slab_chunk_max=512"}));
  const uint64_t cas = Set("k", "v");
  const std::string big(2000, 'x');
  EXPECT_TRUE(Exchange(
      c_.get(),
      Req(kAdd, "k", StoreExtras(0), big) + Req(kAppend, "k", {}, big) + Req(kGet, "k") +
          Req(kSet, "k", StoreExtras(0), big) + Req(kGet, "k") + Req(kNoop),
      Err(kAdd, kTooLarge) + Err(kAppend, kTooLarge) + Res(kGet, kSuccess, Be32(0), {}, "v", cas) +
          Err(kSet, kTooLarge) + Err(kGet, kKeyNotFound) + Res(kNoop, kSuccess)));
  // Refused from its header, the value skipped as it arrives in pieces. (memtwin answers before
  // the value is in, memcached once it has skipped it: the bytes are the same.)
  const std::string request = Req(kSet, "k", StoreExtras(0), std::string(5000, 'y'));
  ASSERT_TRUE(c_->Send(request.substr(0, 100)));
  EXPECT_TRUE(Exchange(c_.get(), request.substr(100) + Req(kNoop),
                       Err(kSet, kTooLarge) + Res(kNoop, kSuccess)));
}

TEST_P(BinaryProtocolTest, MalformedRequestIsRefusedAndClosesTheConnection) {
  struct Case {
    const char* what;
    std::string request, reply;
  };
  const Case cases[] = {
      {"GET with extras", Req(kGet, "k", "ex"), Err(kGet, kInvalidArguments)},
      {"GET with a value", Req(kGet, "k", {}, "vv"), Err(kGet, kInvalidArguments)},
      {"SET without extras", Req(kSet, "k", {}, "v"), Err(kSet, kInvalidArguments)},
      {"INCR with 8 bytes of extras", Req(kIncrement, "k", "12345678"),
       Err(kIncrement, kInvalidArguments)},
      {"NOOP with a key", Req(kNoop, "k"), Err(kNoop, kInvalidArguments)},
      {"a 251-byte key", Req(kGet, std::string(251, 'k')), Err(kGet, kInvalidArguments)},
      // Not a request magic: closed without a word.
      {"magic 0x81 after a NOOP", Res(kNoop, kSuccess), ""},
  };
  ASSERT_NO_FATAL_FAILURE(Start());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto client = Client::ConnectTcp(server_->port());
    ASSERT_NE(client, nullptr);
    // A NOOP first, so that the connection already speaks the binary protocol.
    EXPECT_TRUE(Exchange(client.get(), Req(kNoop) + c.request + Req(kNoop),
                         Res(kNoop, kSuccess) + c.reply));
    EXPECT_TRUE(client->WaitForClose());
  }
}

TEST_P(BinaryProtocolTest, QuitAnswersThenClosesAndQuietQuitJustCloses) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_TRUE(Exchange(c_.get(), Req(kNoop) + Req(kQuit) + Req(kNoop),
                       Res(kNoop, kSuccess) + Res(kQuit, kSuccess)));
  EXPECT_TRUE(c_->WaitForClose());
  auto quiet = Client::ConnectTcp(server_->port());
  ASSERT_NE(quiet, nullptr);
  EXPECT_TRUE(Exchange(quiet.get(), Req(kNoop) + Req(kQuitQ) + Req(kNoop), Res(kNoop, kSuccess)));
  EXPECT_TRUE(quiet->WaitForClose());
}

// -B ascii: the binary magic is just a byte. A NOOP header holds a "\n" (opcode 0x0a), so its
// first two bytes are a line of garbage and the rest joins the next line: ERROR twice.
TEST_P(BinaryProtocolTest, AsciiOnlyServerReadsABinaryRequestAsText) {
  ASSERT_NO_FATAL_FAILURE(Start({"-B", "ascii"}));
  EXPECT_TRUE(c_->Send(Req(kNoop, {}, {}, {}, 0, 0)));
  EXPECT_EQ(c_->ReadUntil("\r\n"), "ERROR\r\n");
  EXPECT_EQ(c_->Call("get nosuch\r\n"), "ERROR\r\n");
  EXPECT_EQ(c_->Call("get nosuch\r\n"), "END\r\n");
  EXPECT_EQ(StatText(StatsOf(server_->port(), "settings"), "binding_protocol"), "ascii");
}

// -B binary: text is a header with a bad magic, closed without a reply once 24 bytes are in.
TEST_P(BinaryProtocolTest, BinaryOnlyServerClosesATextConnection) {
  ASSERT_NO_FATAL_FAILURE(Start({"-B", "binary"}));
  ASSERT_TRUE(c_->Send("get aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"));
  EXPECT_EQ(c_->ReadBytes(1, seconds(2)), "");
  EXPECT_TRUE(c_->WaitForClose());
  auto binary = Client::ConnectTcp(server_->port());
  ASSERT_NE(binary, nullptr);
  EXPECT_TRUE(Exchange(binary.get(), Req(kNoop), Res(kNoop, kSuccess)));
  EXPECT_EQ(StatText(BinaryStats(binary.get(), "settings"), "binding_protocol"), "binary");
}

INSTANTIATE_TEST_SUITE_P(Servers, BinaryProtocolTest, ::testing::Values(kMemtwin, kMemcached),
                         [](const ::testing::TestParamInfo<ServerKind>& info) {
                           return std::string(info.param.name);
                         });

// VERSION's body is the server's own version string, the one text "version" gives.
TEST(BinaryProtocolMemtwinTest, VersionIsTheTextProtocolsVersion) {
  auto server = StartKind(kMemtwin);
  ASSERT_NE(server, nullptr);
  auto text = Client::ConnectTcp(server->port());
  auto binary = Client::ConnectTcp(server->port());
  ASSERT_NE(text, nullptr);
  ASSERT_NE(binary, nullptr);
  const std::string line = text->Call("version\r\n");
  ASSERT_EQ(line.rfind("VERSION 1.6.18-memtwin", 0), 0u) << line;
  const std::string version = line.substr(8, line.size() - 10);
  EXPECT_TRUE(Exchange(binary.get(), Req(kVersion), Res(kVersion, kSuccess, {}, {}, version)));
}

// ---------------------------------------------------------------------------------------------
// 2. libmemcached over the binary protocol

class LibmemcachedBinaryTest : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    server_ = StartKind(GetParam());
    ASSERT_NE(server_, nullptr);
    memc_ = memcached_create(nullptr);
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 5000);  // ms
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);     // ms
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, 5000000);   // us
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_SND_TIMEOUT, 5000000);   // us
    memcached_server_add(memc_, "127.0.0.1", static_cast<in_port_t>(server_->port()));
  }
  void TearDown() override {
    if (memc_ != nullptr) memcached_free(memc_);
  }

  memcached_return_t Set(const std::string& key, const std::string& value, uint32_t flags = 0) {
    return memcached_set(memc_, key.data(), key.size(), value.data(), value.size(), 0, flags);
  }

  // "value/flags", "(missing)" or "(error: ...)", for one comparison per lookup.
  std::string Get(const std::string& key) {
    size_t length = 0;
    uint32_t flags = 0;
    memcached_return_t rc;
    char* value = memcached_get(memc_, key.data(), key.size(), &length, &flags, &rc);
    std::string out =
        rc == MEMCACHED_SUCCESS
            ? std::string(value == nullptr ? "" : value, length) + "/" + std::to_string(flags)
        : rc == MEMCACHED_NOTFOUND ? "(missing)"
                                   : "(error: " + std::string(memcached_strerror(memc_, rc)) + ")";
    std::free(value);
    return out;
  }

  // memcached_mget + fetch: key → {value, cas} for every hit; *last ends the loop (END).
  std::map<std::string, std::pair<std::string, uint64_t>> Mget(const std::vector<std::string>& keys,
                                                               memcached_return_t* last) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lengths;
    for (const std::string& k : keys) {
      ptrs.push_back(k.data());
      lengths.push_back(k.size());
    }
    std::map<std::string, std::pair<std::string, uint64_t>> out;
    *last = memcached_mget(memc_, ptrs.data(), lengths.data(), keys.size());
    if (*last != MEMCACHED_SUCCESS) return out;
    memcached_result_st result;
    memcached_result_create(memc_, &result);
    for (size_t i = 0; i <= keys.size(); ++i) {
      if (memcached_fetch_result(memc_, &result, last) == nullptr) break;
      out[std::string(memcached_result_key_value(&result), memcached_result_key_length(&result))] =
          {std::string(memcached_result_value(&result), memcached_result_length(&result)),
           memcached_result_cas(&result)};
    }
    memcached_result_free(&result);
    return out;
  }

  std::unique_ptr<ServerProcess> server_;
  memcached_st* memc_ = nullptr;
};

TEST_P(LibmemcachedBinaryTest, SetGetAndMgetOfAHundredKeys) {
  ASSERT_EQ(Set("greeting", "hello", 0xdeadbeef), MEMCACHED_SUCCESS);
  EXPECT_EQ(Get("greeting"), "hello/" + std::to_string(0xdeadbeefu));
  EXPECT_EQ(Get("nosuch"), "(missing)");
  std::vector<std::string> keys;
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key:" + std::to_string(i);
    keys.push_back(key);
    if (i % 10 == 9) continue;  // every tenth key is missing
    expected[key] = "value " + std::to_string(i * i);
    ASSERT_EQ(Set(key, expected[key]), MEMCACHED_SUCCESS) << key;
  }
  memcached_return_t last;
  const auto got = Mget(keys, &last);
  EXPECT_EQ(last, MEMCACHED_END) << memcached_strerror(memc_, last);
  std::map<std::string, std::string> values;
  std::set<uint64_t> cas;
  for (const auto& [key, item] : got) {
    values[key] = item.first;
    cas.insert(item.second);
  }
  EXPECT_EQ(values, expected);
  EXPECT_EQ(cas.size(), expected.size());  // every item has its own CAS
  EXPECT_EQ(cas.count(0), 0u);
}

TEST_P(LibmemcachedBinaryTest, IncrDecrCasAppendDeleteAndFlush) {
  uint64_t value = 0;
  EXPECT_EQ(memcached_increment(memc_, "n", 1, 1, &value), MEMCACHED_NOTFOUND);
  ASSERT_EQ(memcached_increment_with_initial(memc_, "n", 1, 1, 40, 0, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 40u);
  ASSERT_EQ(memcached_increment(memc_, "n", 1, 2, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 42u);
  ASSERT_EQ(memcached_decrement(memc_, "n", 1, 50, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 0u);
  ASSERT_EQ(Set("text", "abc"), MEMCACHED_SUCCESS);
  EXPECT_NE(memcached_increment(memc_, "text", 4, 1, &value), MEMCACHED_SUCCESS);

  ASSERT_EQ(Set("c", "first", 7), MEMCACHED_SUCCESS);
  memcached_return_t last;
  const auto got = Mget({"c"}, &last);
  ASSERT_EQ(got.count("c"), 1u);
  const uint64_t cas = got.at("c").second;
  EXPECT_EQ(memcached_cas(memc_, "c", 1, "second", 6, 0, 7, cas), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_cas(memc_, "c", 1, "stale", 5, 0, 7, cas), MEMCACHED_DATA_EXISTS);
  EXPECT_EQ(Get("c"), "second/7");

  EXPECT_EQ(memcached_append(memc_, "c", 1, ">", 1, 0, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_prepend(memc_, "c", 1, "<", 1, 0, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(Get("c"), "<second>/7");
  EXPECT_EQ(memcached_append(memc_, "nosuch", 6, ">", 1, 0, 0), MEMCACHED_NOTSTORED);

  EXPECT_EQ(memcached_delete(memc_, "c", 1, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_delete(memc_, "c", 1, 0), MEMCACHED_NOTFOUND);
  EXPECT_EQ(Get("c"), "(missing)");

  EXPECT_EQ(memcached_flush(memc_, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(Get("text"), "(missing)");
  EXPECT_EQ(Get("n"), "(missing)");
}

INSTANTIATE_TEST_SUITE_P(Servers, LibmemcachedBinaryTest, ::testing::Values(kMemtwin, kMemcached),
                         [](const ::testing::TestParamInfo<ServerKind>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// 3. A replicated pair written over the binary protocol, read over the text one

class BinaryProtocolPairTest : public ::testing::Test {
 protected:
  // A and B naming each other's replication port; returns once both report a streaming link.
  void SetUp() override {
    const int repl_a = FreePort(), repl_b = FreePort();
    a_ = ServerProcess::Start(MemtwinBinary(), {"-X", std::to_string(repl_a), "-x",
                                                "127.0.0.1:" + std::to_string(repl_b)});
    ASSERT_NE(a_, nullptr);
    b_ = ServerProcess::Start(MemtwinBinary(), {"-X", std::to_string(repl_b), "-x",
                                                "127.0.0.1:" + std::to_string(repl_a)});
    ASSERT_NE(b_, nullptr);
    ASSERT_TRUE(WaitFor(
        [&] {
          return StatText(StatsOf(a_->port(), "replication"), "repl_link_state") == "streaming" &&
                 StatText(StatsOf(b_->port(), "replication"), "repl_link_state") == "streaming";
        },
        seconds(10)))
        << "no streaming link";
  }

  // Waits up to 5 s for the text "get <key>" on `port` to answer `expected` (a VALUE block and
  // END, or END alone); the last answer otherwise.
  static std::string TextGetBecomes(int port, const std::string& key, const std::string& expected) {
    auto c = Client::ConnectTcp(port);
    if (c == nullptr) return "(no connection)";
    std::string got;
    WaitFor(
        [&] {
          got = c->Call("get " + key + "\r\n", "END\r\n");
          return got == expected;
        },
        seconds(5));
    return got;
  }

  // Writes on `from` over the binary protocol, checks each reaches `to` over the text one.
  void WritesReachThePeer(ServerProcess* from, ServerProcess* to, const std::string& tag) {
    auto c = Client::ConnectTcp(from->port());
    ASSERT_NE(c, nullptr);
    const std::string k = tag + ":k", n = tag + ":n", gone = tag + ":gone";
    ASSERT_TRUE(c->Send(
        Req(kSet, k, StoreExtras(42), "value") + Req(kSetQ, gone, StoreExtras(0), "x") +
        Req(kIncrement, n, DeltaExtras(1, 100, 0)) + Req(kIncrement, n, DeltaExtras(5, 0, 0)) +
        Req(kAppend, k, {}, "+more") + Req(kDelete, gone)));
    const std::vector<std::string> r = ReadReplies(c.get(), 5);
    EXPECT_EQ(Show(Join(r)),
              Show(Res(kSet, kSuccess, {}, {}, {}, CasOf(r[0])) +
                   Res(kIncrement, kSuccess, {}, {}, BigEndian(100, 8), CasOf(r[1])) +
                   Res(kIncrement, kSuccess, {}, {}, BigEndian(105, 8), CasOf(r[2])) +
                   Res(kAppend, kSuccess, {}, {}, {}, CasOf(r[3])) + Res(kDelete, kSuccess)));
    EXPECT_EQ(TextGetBecomes(to->port(), k, "VALUE " + k + " 42 10\r\nvalue+more\r\nEND\r\n"),
              "VALUE " + k + " 42 10\r\nvalue+more\r\nEND\r\n");
    EXPECT_EQ(TextGetBecomes(to->port(), n, "VALUE " + n + " 0 3\r\n105\r\nEND\r\n"),
              "VALUE " + n + " 0 3\r\n105\r\nEND\r\n");
    EXPECT_EQ(TextGetBecomes(to->port(), gone, "END\r\n"), "END\r\n");
    // The peer's copy carries the CAS the writer returned: a binary GETK there shows it.
    auto peer = Client::ConnectTcp(to->port());
    ASSERT_NE(peer, nullptr);
    EXPECT_TRUE(Exchange(peer.get(), Req(kGetK, k),
                         Res(kGetK, kSuccess, Be32(42), k, "value+more", CasOf(r[3]))));
  }

  std::unique_ptr<ServerProcess> a_, b_;
};

TEST_F(BinaryProtocolPairTest, BinaryWritesOnEitherNodeReachThePeerAsText) {
  ASSERT_NO_FATAL_FAILURE(WritesReachThePeer(a_.get(), b_.get(), "from-a"));
  ASSERT_NO_FATAL_FAILURE(WritesReachThePeer(b_.get(), a_.get(), "from-b"));
}

TEST_F(BinaryProtocolPairTest, BinaryFlushOnOneNodeEmptiesThePeer) {
  auto text = Client::ConnectTcp(a_->port());
  ASSERT_NE(text, nullptr);
  ASSERT_EQ(text->Call("set k 0 0 1\r\nv\r\n"), "STORED\r\n");
  ASSERT_EQ(TextGetBecomes(b_->port(), "k", "VALUE k 0 1\r\nv\r\nEND\r\n"),
            "VALUE k 0 1\r\nv\r\nEND\r\n");
  auto binary = Client::ConnectTcp(b_->port());
  ASSERT_NE(binary, nullptr);
  EXPECT_TRUE(Exchange(binary.get(), Req(kFlush), Res(kFlush, kSuccess)));
  EXPECT_EQ(TextGetBecomes(a_->port(), "k", "END\r\n"), "END\r\n");
}

}  // namespace
}  // namespace memtwin::testing
