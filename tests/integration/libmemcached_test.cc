// libmemcached 1.1.4 (Debian's libmemcached-dev) as a client of memtwin and of Debian's memcached
// 1.6.18 over the text protocol. One test body runs against both servers wherever they should
// agree; where they differ on purpose (the largest item, see README) each server's answer is
// pinned. Each test starts its own server on 127.0.0.1 and stops it when the test ends.
#include <libmemcached/memcached.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/item.h"
#include "tests/integration/harness.h"

namespace memtwin::testing {
namespace {

constexpr size_t kDefaultMaxItemSize = 1024 * 1024;  // -I 1m, both servers' default

struct ServerKind {
  const char* name;
  std::string (*binary)();
  // The largest value either server stores with a 1-byte key is -I minus this many bytes.
  size_t overhead_flags_0;
  size_t overhead_flags_nonzero;
};

// For test names and failure messages.
void PrintTo(const ServerKind& kind, std::ostream* os) { *os << kind.name; }

// memtwin: the whole item is a 40-byte header + key + value (storage/item.h), within -I.
const ServerKind kMemtwin = {"memtwin", &MemtwinBinary, storage::Item::TotalSize(1, 0),
                             storage::Item::TotalSize(1, 0)};
// memcached 1.6.18, measured by bisection: 48-byte header + 8-byte CAS + key + NUL + "\r\n"
// stored with the value, and 4 more bytes when the client flags are not zero.
const ServerKind kMemcached = {"memcached", &MemcachedBinary, 60, 64};

// A libmemcached handle on one server, with every network wait bounded.
class Handle {
 public:
  explicit Handle(int port) : memc_(memcached_create(nullptr)) {
    memcached_server_add(memc_, "127.0.0.1", static_cast<in_port_t>(port));
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 5000);  // ms
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);     // ms
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, 5000000);   // us
    memcached_behavior_set(memc_, MEMCACHED_BEHAVIOR_SND_TIMEOUT, 5000000);   // us
  }
  ~Handle() { memcached_free(memc_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  memcached_st* get() const { return memc_; }

  memcached_return_t Set(const std::string& key, const std::string& value, uint32_t flags = 0) {
    return memcached_set(memc_, key.data(), key.size(), value.data(), value.size(), 0, flags);
  }

  // The value, or nullopt with *rc saying why. libmemcached returns NULL (and SUCCESS) for a
  // zero-length value, so the length decides, not the pointer.
  std::optional<std::string> Get(const std::string& key, uint32_t* flags = nullptr,
                                 memcached_return_t* rc = nullptr) {
    size_t length = 0;
    uint32_t f = 0;
    memcached_return_t status;
    char* value = memcached_get(memc_, key.data(), key.size(), &length, &f, &status);
    std::optional<std::string> out;
    if (status == MEMCACHED_SUCCESS) out = std::string(value == nullptr ? "" : value, length);
    std::free(value);
    if (flags != nullptr) *flags = f;
    if (rc != nullptr) *rc = status;
    return out;
  }

  // memcached_mget + memcached_fetch_result loop: key -> value for every hit. *last is the
  // status that ended the loop (MEMCACHED_END when all went well).
  std::map<std::string, std::string> Mget(const std::vector<std::string>& keys,
                                          memcached_return_t* last,
                                          std::map<std::string, uint64_t>* cas = nullptr) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lengths;
    for (const std::string& k : keys) {
      ptrs.push_back(k.data());
      lengths.push_back(k.size());
    }
    std::map<std::string, std::string> out;
    *last = memcached_mget(memc_, ptrs.data(), lengths.data(), keys.size());
    if (*last != MEMCACHED_SUCCESS) return out;
    // On the stack: memcached_fetch_result frees a result it did not get this way (one from
    // memcached_result_create(memc, nullptr)) by itself when the fetch ends.
    memcached_result_st result;
    memcached_result_create(memc_, &result);
    // Bounded: at most one result per key requested, plus the END.
    for (size_t i = 0; i <= keys.size(); ++i) {
      if (memcached_fetch_result(memc_, &result, last) == nullptr) break;
      const std::string key(memcached_result_key_value(&result),
                            memcached_result_key_length(&result));
      out[key] = std::string(memcached_result_value(&result), memcached_result_length(&result));
      if (cas != nullptr) (*cas)[key] = memcached_result_cas(&result);
    }
    memcached_result_free(&result);
    return out;
  }

  std::string Stat(memcached_stat_st* stats, const char* name) {
    memcached_return_t rc;
    char* value = memcached_stat_get_value(memc_, stats, name, &rc);
    std::string out = rc == MEMCACHED_SUCCESS && value != nullptr
                          ? value
                          : "<" + std::string(name) + ": " + memcached_strerror(memc_, rc) + ">";
    std::free(value);
    return out;
  }

 private:
  memcached_st* memc_;
};

class LibmemcachedTest : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::Start(GetParam().binary(), {});
    ASSERT_NE(server_, nullptr) << GetParam().name << " did not start";
    mc_ = std::make_unique<Handle>(server_->port());
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Handle> mc_;
};

TEST_P(LibmemcachedTest, SetThenGetReturnsTheValueAndFlags) {
  ASSERT_EQ(mc_->Set("greeting", "hello", 0xdeadbeef), MEMCACHED_SUCCESS);
  uint32_t flags = 0;
  EXPECT_EQ(mc_->Get("greeting", &flags), "hello");
  EXPECT_EQ(flags, 0xdeadbeefu);
  ASSERT_EQ(mc_->Set("greeting", "bye"), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("greeting", &flags), "bye");
  EXPECT_EQ(flags, 0u);
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get("nothere", nullptr, &rc), std::nullopt);
  EXPECT_EQ(rc, MEMCACHED_NOTFOUND);
}

TEST_P(LibmemcachedTest, MgetFetchesEveryStoredKeyAndSkipsMissingOnes) {
  std::vector<std::string> keys;
  std::map<std::string, std::string> expected;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("mget" + std::to_string(i));
    if (i % 3 == 0) continue;  // every third key is never stored
    expected[keys.back()] = "value-" + std::to_string(i * i);
    ASSERT_EQ(mc_->Set(keys.back(), expected[keys.back()]), MEMCACHED_SUCCESS);
  }
  memcached_return_t last;
  EXPECT_EQ(mc_->Mget(keys, &last), expected);
  EXPECT_EQ(last, MEMCACHED_END);
}

TEST_P(LibmemcachedTest, AddReplaceAppendAndPrependFollowMemcachedsRules) {
  memcached_st* m = mc_->get();
  EXPECT_EQ(memcached_add(m, "k", 1, "one", 3, 0, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_add(m, "k", 1, "two", 3, 0, 0), MEMCACHED_NOTSTORED);
  EXPECT_EQ(mc_->Get("k"), "one");
  EXPECT_EQ(memcached_replace(m, "missing", 7, "x", 1, 0, 0), MEMCACHED_NOTSTORED);
  EXPECT_EQ(memcached_replace(m, "k", 1, "three", 5, 0, 7), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_append(m, "k", 1, "-tail", 5, 0, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_prepend(m, "k", 1, "head-", 5, 0, 0), MEMCACHED_SUCCESS);
  uint32_t flags = 0;
  EXPECT_EQ(mc_->Get("k", &flags), "head-three-tail");
  EXPECT_EQ(flags, 7u);  // append and prepend keep the item's flags
  EXPECT_EQ(memcached_append(m, "missing", 7, "x", 1, 0, 0), MEMCACHED_NOTSTORED);
  EXPECT_EQ(memcached_prepend(m, "missing", 7, "x", 1, 0, 0), MEMCACHED_NOTSTORED);
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get("missing", nullptr, &rc), std::nullopt);
}

// libmemcached has no memcached_gets(): with SUPPORT_CAS its mget sends "gets" and every
// result carries the CAS value that memcached_cas then sends back.
TEST_P(LibmemcachedTest, GetsThenCasStoresOnceAndThenReportsExists) {
  ASSERT_EQ(memcached_behavior_set(mc_->get(), MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1),
            MEMCACHED_SUCCESS);
  ASSERT_EQ(mc_->Set("c", "v1"), MEMCACHED_SUCCESS);
  memcached_return_t last;
  std::map<std::string, uint64_t> cas;
  ASSERT_EQ(mc_->Mget({"c"}, &last, &cas), (std::map<std::string, std::string>{{"c", "v1"}}));
  ASSERT_EQ(last, MEMCACHED_END);
  ASSERT_NE(cas["c"], 0u);
  memcached_st* m = mc_->get();
  EXPECT_EQ(memcached_cas(m, "c", 1, "v2", 2, 0, 0, cas["c"]), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_cas(m, "c", 1, "v3", 2, 0, 0, cas["c"]), MEMCACHED_DATA_EXISTS);
  EXPECT_EQ(mc_->Get("c"), "v2");
  EXPECT_EQ(memcached_cas(m, "nothere", 7, "v", 1, 0, 0, cas["c"]), MEMCACHED_NOTFOUND);
  // A fresh gets sees a new CAS value, and that one works.
  std::map<std::string, uint64_t> cas2;
  ASSERT_EQ(mc_->Mget({"c"}, &last, &cas2).size(), 1u);
  EXPECT_NE(cas2["c"], cas["c"]);
  EXPECT_EQ(memcached_cas(m, "c", 1, "v4", 2, 0, 0, cas2["c"]), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("c"), "v4");
}

TEST_P(LibmemcachedTest, IncrAndDecrCountWithoutGoingBelowZeroAndWrapAt64Bits) {
  memcached_st* m = mc_->get();
  ASSERT_EQ(mc_->Set("n", "10"), MEMCACHED_SUCCESS);
  uint64_t value = 0;
  EXPECT_EQ(memcached_increment(m, "n", 1, 5, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 15u);
  EXPECT_EQ(memcached_decrement(m, "n", 1, 100, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 0u);
  // A shorter number is written over the old one and padded with spaces (memcached does this
  // when no other request holds the item; memtwin always does).
  EXPECT_EQ(mc_->Get("n"), "0 ");
  ASSERT_EQ(mc_->Set("max", "18446744073709551615"), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_increment(m, "max", 3, 2, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 1u);
  EXPECT_EQ(memcached_increment(m, "nothere", 7, 1, &value), MEMCACHED_NOTFOUND);
  ASSERT_EQ(mc_->Set("text", "abc"), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_increment(m, "text", 4, 1, &value), MEMCACHED_CLIENT_ERROR);
  EXPECT_EQ(mc_->Get("text"), "abc");
}

TEST_P(LibmemcachedTest, DeleteRemovesTheItemOnceThenReportsNotFound) {
  ASSERT_EQ(mc_->Set("d", "x"), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_delete(mc_->get(), "d", 1, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_delete(mc_->get(), "d", 1, 0), MEMCACHED_NOTFOUND);
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get("d", nullptr, &rc), std::nullopt);
  EXPECT_EQ(rc, MEMCACHED_NOTFOUND);
}

// An exptime over 30 days is an absolute unix time; 2592001 is long past, so touching with it
// expires the item at once (no sleeping needed).
TEST_P(LibmemcachedTest, TouchKeepsOrExpiresTheItemAndReportsMissingKeys) {
  memcached_st* m = mc_->get();
  ASSERT_EQ(mc_->Set("t", "x"), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_touch(m, "t", 1, 3600), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("t"), "x");
  EXPECT_EQ(memcached_touch(m, "t", 1, 2592001), MEMCACHED_SUCCESS);
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get("t", nullptr, &rc), std::nullopt);
  EXPECT_EQ(rc, MEMCACHED_NOTFOUND);
  EXPECT_EQ(memcached_touch(m, "nothere", 7, 10), MEMCACHED_NOTFOUND);
}

TEST_P(LibmemcachedTest, FlushRemovesEveryItem) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(mc_->Set("f" + std::to_string(i), "x"), MEMCACHED_SUCCESS);
  }
  ASSERT_EQ(memcached_flush(mc_->get(), 0), MEMCACHED_SUCCESS);
  for (int i = 0; i < 50; ++i) {
    memcached_return_t rc;
    EXPECT_EQ(mc_->Get("f" + std::to_string(i), nullptr, &rc), std::nullopt) << i;
  }
  ASSERT_EQ(mc_->Set("after", "y"), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("after"), "y");
}

TEST_P(LibmemcachedTest, LargestValueWithAOneByteKeyRoundTripsAndOneMoreByteIsTooBig) {
  for (const uint32_t flags : {0u, 7u}) {
    const size_t overhead =
        flags == 0 ? GetParam().overhead_flags_0 : GetParam().overhead_flags_nonzero;
    const size_t max_value = kDefaultMaxItemSize - overhead;
    std::string value(max_value, 'v');
    value.front() = 'a';
    value.back() = 'z';
    ASSERT_EQ(mc_->Set("L", value, flags), MEMCACHED_SUCCESS) << max_value;
    EXPECT_EQ(mc_->Get("L"), value);
    value.push_back('!');
    EXPECT_EQ(mc_->Set("L", value, flags), MEMCACHED_E2BIG) << value.size();
    // memcached drops the old item when a set is refused as too large ("avoid stale data"), and
    // so does memtwin; add/replace/append/cas keep it.
    memcached_return_t rc;
    EXPECT_EQ(mc_->Get("L", nullptr, &rc), std::nullopt);
    EXPECT_EQ(rc, MEMCACHED_NOTFOUND);
    // A value of exactly -I bytes never fits: the item needs room for its key and header too.
    EXPECT_EQ(mc_->Set("L", std::string(kDefaultMaxItemSize, 'i'), flags), MEMCACHED_E2BIG);
    // The refused value was swallowed: the connection is still in step.
    EXPECT_EQ(mc_->Set("after", "ok"), MEMCACHED_SUCCESS);
    EXPECT_EQ(mc_->Get("after"), "ok");
  }
}

TEST_P(LibmemcachedTest, ZeroByteValueIsStoredAndReturnedEmpty) {
  ASSERT_EQ(mc_->Set("empty", "", 3), MEMCACHED_SUCCESS);
  uint32_t flags = 0;
  EXPECT_EQ(mc_->Get("empty", &flags), "");
  EXPECT_EQ(flags, 3u);
  memcached_return_t last;
  EXPECT_EQ(mc_->Mget({"empty"}, &last), (std::map<std::string, std::string>{{"empty", ""}}));
  EXPECT_EQ(last, MEMCACHED_END);
  EXPECT_EQ(memcached_append(mc_->get(), "empty", 5, "", 0, 0, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("empty"), "");
}

TEST_P(LibmemcachedTest, ValuesAreBinarySafe) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::vector<std::string> values = {
      std::string("a\r\nb", 4),          std::string("\0", 1),
      std::string("x\0y\r\n\0", 6),      "\r\nEND\r\n",
      "VALUE other 0 1\r\nz\r\nEND\r\n", all_bytes + all_bytes,
  };
  std::vector<std::string> keys;
  std::map<std::string, std::string> expected;
  for (size_t i = 0; i < values.size(); ++i) {
    keys.push_back("bin" + std::to_string(i));
    expected[keys.back()] = values[i];
    ASSERT_EQ(mc_->Set(keys.back(), values[i]), MEMCACHED_SUCCESS) << i;
    EXPECT_EQ(mc_->Get(keys.back()), values[i]) << i;
  }
  memcached_return_t last;
  EXPECT_EQ(mc_->Mget(keys, &last), expected);
  EXPECT_EQ(last, MEMCACHED_END);
}

TEST_P(LibmemcachedTest, KeyOf250BytesWorksAnd251IsRefused) {
  const std::string key250(250, 'k');
  ASSERT_EQ(mc_->Set(key250, "long"), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get(key250), "long");
  memcached_return_t last;
  EXPECT_EQ(mc_->Mget({key250}, &last), (std::map<std::string, std::string>{{key250, "long"}}));
  // libmemcached refuses a 251-byte key itself, before sending anything...
  const std::string key251(251, 'k');
  EXPECT_EQ(mc_->Set(key251, "x"), MEMCACHED_BAD_KEY_PROVIDED);
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get(key251, nullptr, &rc), std::nullopt);
  EXPECT_EQ(rc, MEMCACHED_BAD_KEY_PROVIDED);
  // ...so the server's own refusal is checked on a raw connection: the header line is an error
  // and the data line that follows is then read as an (unknown) command. The get goes in its own
  // write: memcached 1.6.18 drops the unsent replies of earlier pipelined requests when a get has
  // a key over 250 bytes (process_get_command calls conn_release_items), memtwin does not.
  auto raw = Client::ConnectTcp(server_->port());
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(raw->Call("set " + key251 + " 0 0 1\r\nx\r\n", "\r\nERROR\r\n"),
            "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  EXPECT_EQ(raw->Call("get " + key251 + "\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(raw->Call("get " + key250 + "\r\n", "END\r\n"),
            "VALUE " + key250 + " 0 4\r\nlong\r\nEND\r\n");
}

TEST_P(LibmemcachedTest, TenThousandKeysRoundTripThroughOneMget) {
  constexpr int kKeys = 10000;
  std::vector<std::string> keys;
  std::map<std::string, std::string> expected;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back("many:" + std::to_string(i));
    expected[keys.back()] = std::string(static_cast<size_t>(i % 100), 'a' + i % 26) + "|";
    ASSERT_EQ(mc_->Set(keys.back(), expected[keys.back()]), MEMCACHED_SUCCESS) << i;
  }
  memcached_return_t last;
  const std::map<std::string, std::string> got = mc_->Mget(keys, &last);
  EXPECT_EQ(last, MEMCACHED_END);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);  // not EXPECT_EQ: a failure would print 20,000 strings
  memcached_return_t rc;
  memcached_stat_st* stats = memcached_stat(mc_->get(), nullptr, &rc);
  ASSERT_EQ(rc, MEMCACHED_SUCCESS);
  EXPECT_EQ(stats->curr_items, static_cast<uint64_t>(kKeys));
  memcached_stat_free(mc_->get(), stats);
}

TEST_P(LibmemcachedTest, StatsDescribeTheServerAndCountTheRequests) {
  ASSERT_EQ(mc_->Set("s1", "abc"), MEMCACHED_SUCCESS);
  ASSERT_EQ(mc_->Set("s2", "defg"), MEMCACHED_SUCCESS);
  EXPECT_EQ(mc_->Get("s1"), "abc");
  memcached_return_t rc;
  EXPECT_EQ(mc_->Get("nothere", nullptr, &rc), std::nullopt);
  memcached_stat_st* stats = memcached_stat(mc_->get(), nullptr, &rc);
  ASSERT_EQ(rc, MEMCACHED_SUCCESS);
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->pid, static_cast<uint32_t>(server_->pid()));
  EXPECT_EQ(std::string(stats->version).rfind("1.6.", 0), 0u) << stats->version;
  EXPECT_EQ(stats->curr_items, 2u);
  EXPECT_EQ(stats->total_items, 2u);
  EXPECT_EQ(stats->cmd_set, 2u);
  EXPECT_EQ(stats->cmd_get, 2u);
  EXPECT_EQ(stats->get_hits, 1u);
  EXPECT_EQ(stats->get_misses, 1u);
  EXPECT_EQ(stats->threads, 4u);
  EXPECT_EQ(stats->limit_maxbytes, 64u * 1024 * 1024);
  EXPECT_GE(stats->curr_connections, 1u);
  EXPECT_GT(stats->bytes, 0u);
  // Stats libmemcached has no field for come through memcached_stat_get_value.
  EXPECT_EQ(mc_->Stat(stats, "curr_items"), "2");
  EXPECT_EQ(mc_->Stat(stats, "threads"), "4");
  memcached_stat_free(mc_->get(), stats);
  // The "settings" group reaches the same server.
  char settings[] = "settings";
  stats = memcached_stat(mc_->get(), settings, &rc);
  ASSERT_EQ(rc, MEMCACHED_SUCCESS);
  memcached_stat_free(mc_->get(), stats);
}

INSTANTIATE_TEST_SUITE_P(Servers, LibmemcachedTest, ::testing::Values(kMemtwin, kMemcached),
                         [](const ::testing::TestParamInfo<ServerKind>& info) {
                           return std::string(info.param.name);
                         });

// Where the servers differ on purpose: the largest item. Both start with the same -I; each
// server's answer for the same three sizes is pinned, side by side.
TEST(LibmemcachedLimitsTest, MemtwinStoresValuesUpToNineteenBytesLargerThanMemcached) {
  for (const char* max_item_size : {"1m", "2m"}) {
    const size_t limit = std::string(max_item_size) == "1m" ? 1u << 20 : 2u << 20;
    auto ours = ServerProcess::Start(MemtwinBinary(), {"-I", max_item_size});
    auto theirs = ServerProcess::Start(MemcachedBinary(), {"-I", max_item_size});
    ASSERT_NE(ours, nullptr);
    ASSERT_NE(theirs, nullptr);
    Handle a(ours->port()), b(theirs->port());
    struct Case {
      size_t value_size;
      memcached_return_t memtwin, memcached;
    };
    const Case cases[] = {
        {limit - kMemcached.overhead_flags_0, MEMCACHED_SUCCESS, MEMCACHED_SUCCESS},
        {limit - kMemcached.overhead_flags_0 + 1, MEMCACHED_SUCCESS, MEMCACHED_E2BIG},
        {limit - kMemtwin.overhead_flags_0, MEMCACHED_SUCCESS, MEMCACHED_E2BIG},
        {limit - kMemtwin.overhead_flags_0 + 1, MEMCACHED_E2BIG, MEMCACHED_E2BIG},
        {limit, MEMCACHED_E2BIG, MEMCACHED_E2BIG},
    };
    for (const Case& c : cases) {
      const std::string value(c.value_size, 'x');
      EXPECT_EQ(a.Set("k", value), c.memtwin) << "-I " << max_item_size << " " << c.value_size;
      EXPECT_EQ(b.Set("k", value), c.memcached) << "-I " << max_item_size << " " << c.value_size;
      if (c.memtwin == MEMCACHED_SUCCESS) {
        EXPECT_EQ(a.Get("k"), value) << c.value_size;
      }
      if (c.memcached == MEMCACHED_SUCCESS) {
        EXPECT_EQ(b.Get("k"), value) << c.value_size;
      }
    }
  }
}

}  // namespace
}  // namespace memtwin::testing
