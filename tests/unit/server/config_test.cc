// The command line: memcached's flags, memtwin's replication and TLS flags, and the messages for
// the bad ones.
#include "server/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace memtwin::server {
namespace {

absl::StatusOr<ParsedCommandLine> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "memtwin");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()), argv.data());
}

std::string ErrorOf(std::vector<std::string> args) {
  auto parsed = Parse(std::move(args));
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ConfigTest, MemcachedDefaults) {
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok());
  const Config& c = parsed->config;
  EXPECT_EQ(c.port, 11211);
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.max_connections, 1024);
  EXPECT_EQ(c.storage.memory_limit, 64u << 20);
  EXPECT_FALSE(c.tls.enabled);
  EXPECT_FALSE(c.peer_tls.enabled);
  EXPECT_EQ(c.replication.listen_port, 11212);
  EXPECT_TRUE(c.replication.secret.empty());
}

TEST(ConfigTest, BindingProtocol) {
  EXPECT_EQ(Parse({})->config.protocol, BindingProtocol::kAuto);
  EXPECT_EQ(Parse({"-B", "ascii"})->config.protocol, BindingProtocol::kAscii);
  EXPECT_EQ(Parse({"--protocol", "binary"})->config.protocol, BindingProtocol::kBinary);
  EXPECT_EQ(Parse({"-B", "auto"})->config.protocol, BindingProtocol::kAuto);
  // memcached 1.6.18's text.
  EXPECT_EQ(ErrorOf({"-B", "udp"}),
            "Invalid value for binding protocol: udp\n -- should be one of auto, binary, or ascii");
}

TEST(ConfigTest, ClientTlsOptionsAsMemcached) {
  auto parsed = Parse({"-Z", "-o",
                       "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,"
                       "ssl_verify_mode=2,ssl_min_version=tlsv1.3,ssl_ciphers=HIGH,"
                       "ssl_session_cache,ssl_wbuf_size=32"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const TlsOptions& t = parsed->config.tls;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.chain_cert, "/c.pem");
  EXPECT_EQ(t.key, "/k.pem");
  EXPECT_EQ(t.ca_cert, "/ca.pem");
  EXPECT_EQ(t.verify_mode, 2);
  EXPECT_EQ(t.min_version, "tlsv1.3");
  EXPECT_EQ(t.ciphers, "HIGH");
  EXPECT_TRUE(t.session_cache);
}

TEST(ConfigTest, TlsKeyDefaultsToTheChainFile) {
  auto parsed = Parse({"-Z", "-o", "ssl_chain_cert=/both.pem"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.tls.key, "/both.pem");
}

TEST(ConfigTest, BadTlsOptionsAreRefused) {
  EXPECT_NE(ErrorOf({"-Z"}).find("ssl_chain_cert"), std::string::npos);
  EXPECT_NE(ErrorOf({"-o", "ssl_verify_mode=4"}).find("ssl_verify_mode"), std::string::npos);
  EXPECT_NE(ErrorOf({"-o", "ssl_min_version=sslv3"}).find("ssl_min_version"), std::string::npos);
  EXPECT_NE(ErrorOf({"-o", "ssl_keyformat=DER"}).find("PEM"), std::string::npos);
}

// memcached 1.6's "modern" defaults: the maintainer thread runs the segmented LRU.
TEST(ConfigTest, LruDefaultsAreMemcachedsSegmentedLruWithItsMaintainer) {
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = parsed->config;
  EXPECT_TRUE(c.lru_maintainer);
  EXPECT_TRUE(c.storage.lru_segmented);
  EXPECT_EQ(c.storage.hot_lru_pct, 20u);
  EXPECT_EQ(c.storage.warm_lru_pct, 40u);
  EXPECT_DOUBLE_EQ(c.storage.hot_max_factor, 0.2);
  EXPECT_DOUBLE_EQ(c.storage.warm_max_factor, 2.0);
}

// As memcached: the segments need the thread, so the switches set both; the last one wins.
TEST(ConfigTest, LruMaintainerSwitchesTurnTheThreadAndTheSegmentsOnAndOffTogether) {
  for (const char* off : {"no_lru_maintainer", "no_modern"}) {
    auto parsed = Parse({"-o", off});
    ASSERT_TRUE(parsed.ok()) << off << ": " << parsed.status();
    EXPECT_FALSE(parsed->config.lru_maintainer) << off;
    EXPECT_FALSE(parsed->config.storage.lru_segmented) << off;
  }
  auto parsed = Parse({"-o", "lru_maintainer"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.lru_maintainer);
  EXPECT_TRUE(parsed->config.storage.lru_segmented);

  parsed = Parse({"-o", "no_lru_maintainer,lru_maintainer"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.lru_maintainer);
  EXPECT_TRUE(parsed->config.storage.lru_segmented);

  parsed = Parse({"-o", "lru_maintainer", "-o", "no_modern"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->config.lru_maintainer);
  EXPECT_FALSE(parsed->config.storage.lru_segmented);

  // "modern" is accepted and changes nothing here (memcached's is a no-op since 1.5).
  parsed = Parse({"-o", "no_lru_maintainer,modern"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->config.lru_maintainer);
}

// memcached 1.6.18's messages, checked by running it with the same -o. It reads the sleep with
// atoi (so "abc" is 0) and takes a tocrawl of 2^32; memtwin refuses both.
TEST(ConfigTest, LruCrawlerOptions) {
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.lru_crawler);
  EXPECT_EQ(parsed->config.lru_crawler_sleep, 100u);
  EXPECT_EQ(parsed->config.lru_crawler_tocrawl, 0u);
  for (const char* off : {"no_lru_crawler", "no_modern", "lru_crawler,no_lru_crawler"}) {
    parsed = Parse({"-o", off});
    ASSERT_TRUE(parsed.ok()) << off << ": " << parsed.status();
    EXPECT_FALSE(parsed->config.lru_crawler) << off;
  }
  parsed = Parse({"-o", "no_lru_crawler,lru_crawler,lru_crawler_sleep=0,lru_crawler_tocrawl=500"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.lru_crawler);
  EXPECT_EQ(parsed->config.lru_crawler_sleep, 0u);
  EXPECT_EQ(parsed->config.lru_crawler_tocrawl, 500u);
  parsed = Parse({"-o", "lru_crawler_sleep=1000000"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.lru_crawler_sleep, 1000000u);

  for (const char* value : {"-1", "1000001", "abc", ""}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("lru_crawler_sleep=") + value}),
              "LRU crawler sleep must be between 0 and 1 second")
        << value;
  }
  for (const char* value : {"-1", "abc", "4294967296", ""}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("lru_crawler_tocrawl=") + value}),
              "lru_crawler_tocrawl takes a numeric 32bit value")
        << value;
  }
  EXPECT_EQ(ErrorOf({"-o", "lru_crawler_sleep"}), "Missing lru_crawler_sleep value");
  EXPECT_EQ(ErrorOf({"-o", "lru_crawler_tocrawl"}), "Missing lru_crawler_tocrawl value");
}

// memcached 1.6.18's messages and readings, checked by running it with the same -o: a bare
// slab_automove is 1 and "abc" is atoi's 0; a ratio must be in (0, 1].
TEST(ConfigTest, SlabAutomoveOptions) {
  auto parsed = Parse({"-o", "slab_automove=2,slab_automove_ratio=0.25"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.slab_automove, 2u);
  EXPECT_DOUBLE_EQ(parsed->config.slab_automove_ratio, 0.25);
  parsed = Parse({"-o", "slab_automove,slab_automove_ratio=1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.slab_automove, 1u);
  EXPECT_DOUBLE_EQ(parsed->config.slab_automove_ratio, 1.0);
  parsed = Parse({"-o", "slab_automove=abc"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.slab_automove, 0u);
  EXPECT_EQ(ErrorOf({"-o", "slab_automove=3"}), "slab_automove must be between 0 and 2");
  EXPECT_EQ(ErrorOf({"-o", "slab_automove=-1"}), "slab_automove must be between 0 and 2");
  for (const char* value : {"0", "1.5", "abc", "-0.5"}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("slab_automove_ratio=") + value}),
              "slab_automove_ratio must be > 0 and < 1")
        << value;
  }
  EXPECT_EQ(ErrorOf({"-o", "slab_automove_ratio"}), "Missing slab_automove_ratio argument");
}

TEST(ConfigTest, LruSegmentSharesAndAgeFactorsAreStored) {
  auto parsed =
      Parse({"-o", "hot_lru_pct=10,warm_lru_pct=50,hot_max_factor=0.5,warm_max_factor=1.75"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const storage::StorageOptions& o = parsed->config.storage;
  EXPECT_EQ(o.hot_lru_pct, 10u);
  EXPECT_EQ(o.warm_lru_pct, 50u);
  EXPECT_DOUBLE_EQ(o.hot_max_factor, 0.5);
  EXPECT_DOUBLE_EQ(o.warm_max_factor, 1.75);
  EXPECT_TRUE(parsed->config.lru_maintainer);  // tuning does not switch the thread

  // The limits memcached 1.6.18 accepts (checked): 1 (despite its "> 1" message), and sums of
  // exactly 80; whole numbers and tiny factors are factors too.
  parsed = Parse({"-o", "hot_lru_pct=1,warm_lru_pct=79,hot_max_factor=3,warm_max_factor=0.001"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.storage.hot_lru_pct, 1u);
  EXPECT_EQ(parsed->config.storage.warm_lru_pct, 79u);
  EXPECT_DOUBLE_EQ(parsed->config.storage.hot_max_factor, 3.0);
  EXPECT_DOUBLE_EQ(parsed->config.storage.warm_max_factor, 0.001);

  // Separate -o flags add up.
  parsed = Parse({"-o", "warm_lru_pct=20", "-o", "hot_max_factor=0.25"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.storage.hot_lru_pct, 20u);
  EXPECT_EQ(parsed->config.storage.warm_lru_pct, 20u);
  EXPECT_DOUBLE_EQ(parsed->config.storage.hot_max_factor, 0.25);
}

// memcached 1.6.18's messages, byte for byte. It prints them for these same values, except the
// last two of each list: its atoi/atof read "2.5" as 2 and "20abc" as 20 and take "nan", where
// memtwin wants the whole value to be a number.
TEST(ConfigTest, BadLruSharesAreRefusedWithMemcachedsMessage) {
  for (const char* value : {"0", "80", "100", "-5", "abc", "", "2.5", "20abc"}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("hot_lru_pct=") + value}),
              "hot_lru_pct must be > 1 and < 80")
        << value;
    EXPECT_EQ(ErrorOf({"-o", std::string("warm_lru_pct=") + value}),
              "warm_lru_pct must be > 1 and < 80")
        << value;
  }
  // A bad one among good ones still fails the whole command line.
  EXPECT_EQ(ErrorOf({"-p", "11300", "-o", "hashpower=16,hot_lru_pct=0,lru_maintainer"}),
            "hot_lru_pct must be > 1 and < 80");
}

// Checked against memcached 1.6.18: the same values print the same lines ("12abc" aside, which
// its atoi takes as 12).
TEST(ConfigTest, BadHashpowerIsRefusedWithMemcachedsMessage) {
  EXPECT_EQ(ErrorOf({"-o", "hashpower=5"}), "Initial hashtable multiplier of 5 is too low");
  EXPECT_EQ(ErrorOf({"-o", "hashpower=abc"}), "Initial hashtable multiplier of 0 is too low");
  EXPECT_EQ(ErrorOf({"-o", "hashpower=33"}),
            "Initial hashtable multiplier of 33 is too high\n"
            "Choose a value based on \"STAT hash_power_level\" from a running instance");
  EXPECT_EQ(ErrorOf({"-o", "hashpower"}), "Missing numeric argument for hashpower");
  auto parsed = Parse({"-o", "hashpower=32"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.storage.hash_power_initial, 32u);
}

// memcached 1.6.18 prints the first line for -p 99999 and takes -b 0 (it passes any number to
// listen()). It also takes -p -1 and fails later, when it binds; memtwin says why at once.
TEST(ConfigTest, PortOutOfRangeAndBacklogZeroAsMemcached) {
  EXPECT_EQ(ErrorOf({"-p", "99999"}), "ERROR: Invalid port number 99999.");
  EXPECT_EQ(ErrorOf({"-p", "-1"}), "ERROR: Invalid port number -1.");
  auto parsed = Parse({"-b", "0"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.backlog, 0);
  EXPECT_EQ(ErrorOf({"-b", "-3"}), "Invalid listen backlog");
}

TEST(ConfigTest, BadLruFactorsAreRefusedWithMemcachedsMessage) {
  for (const char* value : {"0", "0.0", "-1", "-0.5", "abc", "", "0.5x", "nan"}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("hot_max_factor=") + value}), "hot_max_factor must be > 0")
        << value;
    EXPECT_EQ(ErrorOf({"-o", std::string("warm_max_factor=") + value}),
              "warm_max_factor must be > 0")
        << value;
  }
}

TEST(ConfigTest, WorkerSliceDefaultsToTheKernelsAndTakesItsRange) {
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.worker_slice_us, 0);
  for (const auto& [value, expected] :
       std::vector<std::pair<std::string, int>>{{"0", 0}, {"100", 100}, {"100000", 100000}}) {
    parsed = Parse({"-o", "worker_slice_us=" + value});
    ASSERT_TRUE(parsed.ok()) << value;
    EXPECT_EQ(parsed->config.worker_slice_us, expected);
  }
  for (const char* value : {"99", "1", "100001", "-100", "", "abc", "200us"}) {
    EXPECT_EQ(ErrorOf({"-o", std::string("worker_slice_us=") + value}),
              "worker_slice_us must be 0 (the kernel's default) or from 100 to 100000")
        << value;
  }
}

TEST(ConfigTest, IoUringIsOnUnlessNoIoUring) {
  auto parsed = Parse({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->config.io_uring);
  parsed = Parse({"-o", "no_io_uring"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->config.io_uring);
  parsed = Parse({"-o", "no_io_uring,io_uring"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->config.io_uring);
}

// Checked once all flags are read, as memcached does: the order of the -o flags does not matter.
TEST(ConfigTest, HotAndWarmTogetherMayNotExceedEightyPercent) {
  constexpr char kMessage[] = "hot_lru_pct + warm_lru_pct cannot be more than 80% combined";
  EXPECT_EQ(ErrorOf({"-o", "hot_lru_pct=50,warm_lru_pct=31"}), kMessage);
  EXPECT_EQ(ErrorOf({"-o", "hot_lru_pct=41"}), kMessage);   // with the default warm 40
  EXPECT_EQ(ErrorOf({"-o", "warm_lru_pct=61"}), kMessage);  // with the default hot 20
  EXPECT_EQ(ErrorOf({"-o", "hot_lru_pct=79"}), kMessage);
  EXPECT_EQ(ErrorOf({"-o", "warm_lru_pct=70", "-o", "hot_lru_pct=11"}), kMessage);
  // warm 70 alone would be over with the default hot; a later flag brings the sum back to 80.
  auto parsed = Parse({"-o", "warm_lru_pct=70", "-o", "hot_lru_pct=10"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.storage.hot_lru_pct, 10u);
  EXPECT_EQ(parsed->config.storage.warm_lru_pct, 70u);
  EXPECT_TRUE(Parse({"-o", "hot_lru_pct=40,warm_lru_pct=40"}).ok());
  EXPECT_TRUE(Parse({"-o", "hot_lru_pct=60,warm_lru_pct=20"}).ok());
}

TEST(ConfigTest, ListenAddressForms) {
  ListenAddress a = ParseListenAddress("notls:127.0.0.1:11300");
  EXPECT_TRUE(a.tls_opt_out);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, "11300");
  a = ParseListenAddress("[::1]:11301");
  EXPECT_FALSE(a.tls_opt_out);
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, "11301");
  a = ParseListenAddress("::1");  // a bare IPv6 address has more than one colon
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, "");
  a = ParseListenAddress("10.0.0.5");
  EXPECT_EQ(a.host, "10.0.0.5");
  EXPECT_EQ(a.port, "");
}

TEST(ConfigTest, ReplicationListensOnTheFirstClientAddress) {
  auto parsed = Parse({"-l", "notls:10.1.2.3:11300,127.0.0.1"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->config.replication.listen_address, "10.1.2.3");
}

TEST(ConfigTest, ReplTlsFallsBackToTheClientFiles) {
  auto parsed = Parse({"--repl-tls", "-o", "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->config.peer_tls.enabled);
  EXPECT_EQ(parsed->config.peer_tls.cert, "/c.pem");
  EXPECT_EQ(parsed->config.peer_tls.key, "/k.pem");
  EXPECT_EQ(parsed->config.peer_tls.ca, "/ca");

  parsed = Parse(
      {"--repl-tls", "--repl-tls-cert=/node.pem", "--repl-tls-ca=/pca", "--repl-tls-name=node-b"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.peer_tls.key, "/node.pem");
  EXPECT_EQ(parsed->config.replication.tls_peer_name, "node-b");
}

TEST(ConfigTest, ReplTlsNeedsACertificateAndACa) {
  EXPECT_NE(ErrorOf({"--repl-tls"}).find("--repl-tls needs"), std::string::npos);
  EXPECT_NE(ErrorOf({"--repl-tls", "--repl-tls-cert=/c.pem"}).find("--repl-tls needs"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"--repl-tls-ca=/ca"}).find("need --repl-tls"), std::string::npos);
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/memtwin-secret-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = path;
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Write(const std::string& contents) { std::ofstream(path_, std::ios::trunc) << contents; }
  std::string path_;
};

TEST_F(SecretFileTest, TrailingWhitespaceIsNotPartOfTheSecret) {
  Write("0123456789abcdef0123\n");
  auto parsed = Parse({"--repl-secret-file", path_});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.replication.secret, "0123456789abcdef0123");
}

TEST_F(SecretFileTest, ShortEmptyOrMissingSecretsAreRefused) {
  Write("too short\n");
  EXPECT_NE(ErrorOf({"--repl-secret-file", path_}).find("at least 16 bytes"), std::string::npos);
  Write("");
  EXPECT_NE(ErrorOf({"--repl-secret-file", path_}).find("at least 16 bytes"), std::string::npos);
  EXPECT_NE(ErrorOf({"--repl-secret-file", path_ + ".absent"}).find("cannot read"),
            std::string::npos);
}

TEST(ConfigTest, UsageGroupsMemcachedReplicationAndTlsFlags) {
  const std::string usage = UsageText();
  const size_t memcached = usage.find("memcached options:");
  const size_t replication = usage.find("replication options:");
  const size_t tls = usage.find("TLS and peer authentication options:");
  ASSERT_NE(memcached, std::string::npos);
  ASSERT_NE(replication, std::string::npos);
  ASSERT_NE(tls, std::string::npos);
  EXPECT_LT(memcached, replication);
  EXPECT_LT(replication, tls);
  EXPECT_GT(usage.find("-Z, --enable-ssl"), tls);
  EXPECT_GT(usage.find("--repl-secret-file"), tls);
  EXPECT_LT(usage.find("-p, --port"), replication);
}

}  // namespace
}  // namespace memtwin::server
