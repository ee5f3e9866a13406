// The replication link's defences, with real memtwin processes on 127.0.0.1: mutual TLS
// (--repl-tls with certificates made by TestPki), the shared-secret challenge-response
// (--repl-secret-file), and strangers on the replication port. A refused peer must never get a
// link, a byte of data or a change to the pair it tried to join; the established pair must not
// notice it. Plus the start-up warning for an open, unauthenticated replication port.
//
// Every wait polls with a deadline; nodes are killed when the test ends. On failure each node's
// stderr (run with -v) is printed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "replication/wire.h"
#include "tests/integration/harness.h"
#include "tests/integration/test_pki.h"

namespace memtwin::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Talking to a node

std::string Set(int port, const std::string& key, const std::string& value) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return "(no connection)";
  std::string reply =
      c->Call("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
  if (reply.size() >= 2) reply.resize(reply.size() - 2);
  return reply;
}

// The key's value, or nullopt if the node does not hold it (or cannot be asked).
std::optional<std::string> Get(int port, const std::string& key) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return std::nullopt;
  const std::string reply = c->Call("get " + key + "\r\n", "END\r\n");
  const std::string header = "VALUE " + key + " ";
  if (reply.rfind(header, 0) != 0) return std::nullopt;
  const size_t line_end = reply.find("\r\n");
  const size_t value_end = reply.rfind("\r\nEND\r\n");
  if (line_end == std::string::npos || value_end == std::string::npos || value_end < line_end) {
    return std::nullopt;
  }
  return reply.substr(line_end + 2, value_end - line_end - 2);
}

bool HoldsWithin(int port, const std::string& key, const std::string& value, milliseconds t) {
  return WaitFor([&] { return Get(port, key) == value; }, t);
}

// Waits until stat `name` of the node reaches at least `at_least`.
::testing::AssertionResult CountReaches(int port, const std::string& name, uint64_t at_least,
                                        milliseconds timeout = seconds(5)) {
  uint64_t now = 0;
  if (WaitFor(
          [&] {
            now = StatNumber(StatsOf(port, "replication"), name);
            return now >= at_least;
          },
          timeout)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << name << " is " << now << " after " << timeout.count()
                                       << " ms, expected >= " << at_least;
}

// ---------------------------------------------------------------------------------------------
// Frames

std::string HelloBytes(uint64_t instance_id) {
  replication::Hello hello;
  hello.instance_id = instance_id;
  hello.node_id = 77;
  hello.clock = 1;
  std::string bytes;
  replication::AppendHello(hello, &bytes);
  return bytes;
}

// The frames at the front of `bytes` as "TYPE TYPE ..." (stops at a partial frame).
std::vector<replication::FrameType> FrameTypes(std::string_view bytes) {
  std::vector<replication::FrameType> types;
  for (;;) {
    replication::Frame frame;
    std::string error;
    if (replication::DecodeFrame(bytes, 1 << 20, &frame, &error) !=
        replication::DecodeStatus::kOk) {
      return types;
    }
    types.push_back(frame.type);
    bytes.remove_prefix(frame.size);
  }
}

std::string Names(const std::vector<replication::FrameType>& types) {
  std::string s;
  for (auto t : types) s += std::string(s.empty() ? "" : " ") + replication::FrameTypeName(t);
  return s.empty() ? "(nothing)" : s;
}

// ---------------------------------------------------------------------------------------------
// A TLS client made with OpenSSL directly, to be the peer a memtwin would never be: one
// without a certificate, one that sends HELLO without the secret, and so on.
class RawTls {
 public:
  // Connects to 127.0.0.1:port and runs the handshake, trusting `ca` and presenting `identity`
  // when it has a certificate. handshake_ok() says whether the client side finished (with
  // TLS 1.3 it does even when the server then refuses the client's certificate).
  RawTls(int port, const std::string& ca, const TestPki::KeyPair& identity) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (!identity.cert.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx_, identity.cert.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, identity.key.c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return;
    const timeval rcv{0, 100 * 1000};  // reads wake up to check their deadline
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    const auto deadline = Clock::now() + seconds(5);
    for (;;) {
      const int r = SSL_connect(ssl_);
      if (r == 1) {
        handshake_ok_ = true;
        break;
      }
      const int err = SSL_get_error(ssl_, r);
      if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || Clock::now() > deadline) {
        break;
      }
    }
    ERR_clear_error();
  }
  ~RawTls() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
    SSL_CTX_free(ctx_);
  }
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;

  bool handshake_ok() const { return handshake_ok_; }

  bool Send(const std::string& bytes) {
    return handshake_ok_ && SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
                                static_cast<int>(bytes.size());
  }

  // Application bytes received until the connection ends or `timeout` passes; *closed says
  // which.
  std::string ReadUntilClosed(milliseconds timeout, bool* closed) {
    return Read(SIZE_MAX, timeout, closed);
  }

  // Up to `n` application bytes, within `timeout`.
  std::string Read(size_t limit, milliseconds timeout, bool* closed) {
    std::string out;
    *closed = false;
    if (!handshake_ok_) {
      *closed = true;
      return out;
    }
    const auto deadline = Clock::now() + timeout;
    while (out.size() < limit && Clock::now() < deadline) {
      char buf[4096];
      const int n =
          SSL_read(ssl_, buf, static_cast<int>(std::min(sizeof(buf), limit - out.size())));
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
      *closed = true;  // close_notify, EOF, reset or an alert
      break;
    }
    ERR_clear_error();
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool handshake_ok_ = false;
};

// ---------------------------------------------------------------------------------------------
// A TCP relay on 127.0.0.1 that forwards every connection to a target port and records what
// each client sent: the eavesdropper whose recording is replayed later.
class RecordingRelay {
 public:
  explicit RecordingRelay(int target_port) : target_port_(target_port) {
    listen_fd_ = ListenLoopback(&port_);
    if (listen_fd_ < 0) ADD_FAILURE() << "relay cannot listen";
    thread_ = std::thread([this] { Run(); });
  }
  ~RecordingRelay() {
    stop_.store(true);
    thread_.join();
    close(listen_fd_);
  }
  RecordingRelay(const RecordingRelay&) = delete;
  RecordingRelay& operator=(const RecordingRelay&) = delete;

  int port() const { return port_; }
  // What the first client sent, so far.
  std::string FirstClientBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return recorded_.empty() ? std::string() : recorded_.front();
  }

 private:
  void Run() {
    struct Pair {
      int client, target;
      size_t index;
    };
    std::vector<Pair> pairs;
    char buf[65536];
    while (!stop_.load()) {
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}};
      for (auto& p : pairs) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.target, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      std::vector<bool> dead(pairs.size(), false);
      for (size_t i = 0; i < pairs.size(); ++i) {
        for (int side = 0; side < 2 && !dead[i]; ++side) {
          if (fds[1 + 2 * i + side].revents == 0) continue;
          const int from = side == 0 ? pairs[i].client : pairs[i].target;
          const int to = side == 0 ? pairs[i].target : pairs[i].client;
          const ssize_t n = recv(from, buf, sizeof(buf), 0);
          if (n <= 0 || send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) {
            dead[i] = true;
            continue;
          }
          if (side == 0) {
            std::lock_guard<std::mutex> lock(mu_);
            recorded_[pairs[i].index].append(buf, static_cast<size_t>(n));
          }
        }
      }
      for (size_t i = pairs.size(); i-- > 0;) {
        if (!dead[i]) continue;
        close(pairs[i].client);
        close(pairs[i].target);
        pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
      }
      if (fds[0].revents & POLLIN) {
        const int in = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (in < 0) continue;
        const int out = ConnectLoopback(target_port_);
        if (out < 0) {
          close(in);
          continue;
        }
        std::lock_guard<std::mutex> lock(mu_);
        recorded_.emplace_back();
        pairs.push_back({in, out, recorded_.size() - 1});
      }
    }
    for (auto& p : pairs) {
      close(p.client);
      close(p.target);
    }
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> recorded_;  // per accepted connection, client to target
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The fixture

class ReplicationSecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }  // RawTls writes to closed sockets

  void SetUp() override {
    char dir[] = "/tmp/memtwin-repl-sec-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    for (auto& [name, node] : nodes_) {
      if (node != nullptr) node->Kill();
    }
    const bool failed = HasFailure();
    for (auto& [name, node] : nodes_) {
      if (failed) {
        std::printf("---- node %s stderr ----\n%s", name.c_str(), Log(name).c_str());
      }
      unlink(LogPath(name).c_str());
    }
    nodes_.clear();
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }

  std::string LogPath(const std::string& name) const { return dir_ + "/" + name + ".log"; }
  std::string Log(const std::string& name) const {
    std::ifstream in(LogPath(name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  TestPki* Pki() {
    if (pki_ == nullptr) pki_ = TestPki::Create();
    EXPECT_NE(pki_, nullptr) << "cannot make test certificates with the openssl tool";
    return pki_.get();
  }

  // A certificate signed by the test CA (or the other CA), for 127.0.0.1, localhost and
  // DNS:<name>.
  TestPki::KeyPair Issue(const std::string& name, bool by_other_ca = false, bool expired = false) {
    TestPki::KeyPair pair = Pki()->Issue(name, by_other_ca, expired, "DNS:" + name);
    EXPECT_FALSE(pair.cert.empty()) << "cannot issue " << name;
    return pair;
  }

  std::vector<std::string> TlsArgs(const TestPki::KeyPair& id, const std::string& peer_name = "") {
    std::vector<std::string> args = {
        "--repl-tls", "--repl-tls-cert", id.cert,         "--repl-tls-key",
        id.key,       "--repl-tls-ca",   Pki()->ca_cert()};
    if (!peer_name.empty()) {
      args.push_back("--repl-tls-name");
      args.push_back(peer_name);
    }
    return args;
  }

  std::vector<std::string> SecretArgs(const std::string& secret) {
    const std::string path = dir_ + "/secret" + std::to_string(files_.size());
    std::ofstream(path) << secret << "\n";
    files_.push_back(path);
    return {"--repl-secret-file", path};
  }

  // Starts node `name` with -v, fast heartbeats and `args`; kept by the fixture.
  ServerProcess* StartNode(const std::string& name, const std::vector<std::string>& args) {
    std::vector<std::string> all = {"-v", "--repl-heartbeat", "200ms", "--repl-timeout", "1000ms"};
    all.insert(all.end(), args.begin(), args.end());
    StartOptions options;
    options.stderr_path = LogPath(name);
    auto p = ServerProcess::Start(MemtwinBinary(), all, options);
    EXPECT_NE(p, nullptr) << "node " << name << " did not start";
    ServerProcess* raw = p.get();
    nodes_[name] = std::move(p);
    return raw;
  }

  static std::vector<std::string> Plus(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  // A: listens on pa_ only, and holds "a-before". B: dials A. Returns false if a node did not
  // start.
  bool StartAcceptorAndDialler(const std::vector<std::string>& a_args,
                               const std::vector<std::string>& b_args) {
    pa_ = FreePort();
    pb_ = FreePort();
    a_ = StartNode("A", Plus({"-X", std::to_string(pa_)}, a_args));
    if (a_ == nullptr) return false;
    EXPECT_EQ(Set(a_->port(), "a-before", "secret-data"), "STORED");
    b_ = StartNode(
        "B", Plus({"-X", std::to_string(pb_), "-x", "127.0.0.1:" + std::to_string(pa_)}, b_args));
    return b_ != nullptr;
  }

  // Both nodes report a streaming link, one as MASTER and one as SLAVE.
  static ::testing::AssertionResult Paired(ServerProcess* a, ServerProcess* b,
                                           milliseconds timeout = seconds(5)) {
    StatMap sa, sb;
    if (WaitFor(
            [&] {
              sa = StatsOf(a->port(), "replication");
              sb = StatsOf(b->port(), "replication");
              return StatText(sa, "repl_link_state") == "streaming" &&
                     StatText(sb, "repl_link_state") == "streaming" &&
                     StatText(sa, "repl_role") != StatText(sb, "repl_role");
            },
            timeout)) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "no streaming pair after " << timeout.count() << " ms: A "
           << StatText(sa, "repl_link_state") << " " << StatText(sa, "repl_role") << ", B "
           << StatText(sb, "repl_link_state") << " " << StatText(sb, "repl_role");
  }

  // The dialler B was refused by A (or refused A): `counter` went up on `refuser`, no link ever
  // formed on either node, and B holds nothing of A's.
  void ExpectNoLink(const std::string& counter, ServerProcess* refuser) {
    EXPECT_TRUE(CountReaches(refuser->port(), counter, 1));
    // Give a wrongly accepted link the time to show itself: B retries every second at most.
    std::this_thread::sleep_for(milliseconds(1500));
    for (ServerProcess* node : {a_, b_}) {
      const StatMap s = StatsOf(node->port(), "replication");
      EXPECT_EQ(StatNumber(s, "repl_links_formed"), 0u) << "port " << node->port();
      EXPECT_EQ(StatText(s, "repl_link_state"), "down") << "port " << node->port();
      EXPECT_EQ(StatNumber(s, "repl_sync_items_received"), 0u) << "port " << node->port();
    }
    EXPECT_EQ(Get(b_->port(), "a-before"), std::nullopt) << "A's data reached B";
    EXPECT_EQ(Set(b_->port(), "b-key", "b"), "STORED");
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_EQ(Get(a_->port(), "b-key"), std::nullopt) << "B's data reached A";
  }

  // The pair (A MASTER, B SLAVE) still works both ways, through the very same link.
  void ExpectPairUndisturbed(uint64_t links_a, uint64_t links_b, const std::string& tag) {
    EXPECT_TRUE(Paired(a_, b_, milliseconds(0))) << tag;
    EXPECT_EQ(StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed"), links_a) << tag;
    EXPECT_EQ(StatNumber(StatsOf(b_->port(), "replication"), "repl_links_formed"), links_b) << tag;
    EXPECT_EQ(Set(a_->port(), "after-" + tag + "-a", "1"), "STORED");
    EXPECT_EQ(Set(b_->port(), "after-" + tag + "-b", "2"), "STORED");
    EXPECT_TRUE(HoldsWithin(b_->port(), "after-" + tag + "-a", "1", seconds(2))) << tag;
    EXPECT_TRUE(HoldsWithin(a_->port(), "after-" + tag + "-b", "2", seconds(2))) << tag;
  }

  std::string dir_;
  std::unique_ptr<TestPki> pki_;
  std::vector<std::string> files_;
  std::map<std::string, std::unique_ptr<ServerProcess>> nodes_;
  int pa_ = 0, pb_ = 0;
  ServerProcess* a_ = nullptr;
  ServerProcess* b_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Mutual TLS

// Both roles run over TLS with names checked: B joins A (bulk sync A -> B), writes stream both
// ways, then A is killed, misses writes, restarts and joins B (bulk sync B -> A, the roles of
// TLS client and server swapped).
TEST_F(ReplicationSecurityTest, MutualTlsPairSyncsAndStreamsBothWaysInBothRoles) {
  const TestPki::KeyPair ka = Issue("node-a"), kb = Issue("node-b");
  pa_ = FreePort();
  pb_ = FreePort();
  a_ = StartNode("A", Plus({"-X", std::to_string(pa_), "-x", "127.0.0.1:" + std::to_string(pb_)},
                           TlsArgs(ka, "node-b")));
  ASSERT_NE(a_, nullptr);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Set(a_->port(), "before-" + std::to_string(i), "v" + std::to_string(i)), "STORED");
  }
  b_ = StartNode("B", Plus({"-X", std::to_string(pb_), "-x", "127.0.0.1:" + std::to_string(pa_)},
                           TlsArgs(kb, "node-a")));
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));
  // B's client port opened after the bulk sync: every key is there at once.
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Get(b_->port(), "before-" + std::to_string(i)), "v" + std::to_string(i)) << i;
  }
  EXPECT_EQ(Set(a_->port(), "live-a", "from-a"), "STORED");
  EXPECT_EQ(Set(b_->port(), "live-b", "from-b"), "STORED");
  EXPECT_TRUE(HoldsWithin(b_->port(), "live-a", "from-a", seconds(2)));
  EXPECT_TRUE(HoldsWithin(a_->port(), "live-b", "from-b", seconds(2)));
  for (ServerProcess* node : {a_, b_}) {
    const StatMap s = StatsOf(node->port(), "replication");
    EXPECT_EQ(StatText(s, "repl_tls"), "yes");
    EXPECT_EQ(StatText(s, "repl_auth"), "none");
    EXPECT_EQ(StatNumber(s, "repl_tls_failures"), 0u);
    EXPECT_EQ(StatNumber(s, "repl_links_formed"), 1u);
  }
  EXPECT_NE(Log("B").find("TLS with 127.0.0.1:" + std::to_string(pa_)), std::string::npos);

  a_->Kill();
  EXPECT_EQ(Set(b_->port(), "while-a-down", "from-b"), "STORED");
  ASSERT_TRUE(a_->Restart());
  ASSERT_TRUE(Paired(a_, b_));
  EXPECT_EQ(StatText(StatsOf(a_->port(), "replication"), "repl_role"), "SLAVE");
  EXPECT_EQ(Get(a_->port(), "while-a-down"), "from-b");
  EXPECT_EQ(Get(a_->port(), "before-7"), "v7");
  EXPECT_EQ(Get(a_->port(), "live-b"), "from-b");
  EXPECT_EQ(Set(a_->port(), "live-a2", "again"), "STORED");
  EXPECT_TRUE(HoldsWithin(b_->port(), "live-a2", "again", seconds(2)));
}

TEST_F(ReplicationSecurityTest, PeerCertifiedByAnotherCaIsRefused) {
  const TestPki::KeyPair ka = Issue("node-a"), kb = Issue("node-b", /*by_other_ca=*/true);
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka), TlsArgs(kb)));
  // Only the refusing side counts for sure: the dialler's HELLO may meet the reset before the
  // alert is read.
  ExpectNoLink("repl_tls_failures", a_);
  const std::string log = Log("A");
  EXPECT_NE(log.find("TLS handshake with 127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("certificate verify failed"), std::string::npos) << log;
}

TEST_F(ReplicationSecurityTest, DiallerRefusesAnAcceptorCertifiedByAnotherCa) {
  const TestPki::KeyPair ka = Issue("node-a", /*by_other_ca=*/true), kb = Issue("node-b");
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka), TlsArgs(kb)));
  ExpectNoLink("repl_tls_failures", b_);
  EXPECT_NE(Log("B").find("certificate verify failed"), std::string::npos);
}

TEST_F(ReplicationSecurityTest, PeerWithExpiredCertificateIsRefused) {
  const TestPki::KeyPair ka = Issue("node-a");
  const TestPki::KeyPair kb = Issue("node-b", /*by_other_ca=*/false, /*expired=*/true);
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka), TlsArgs(kb)));
  ExpectNoLink("repl_tls_failures", a_);
  EXPECT_NE(Log("A").find("certificate has expired"), std::string::npos) << Log("A");
}

// A client that presents no certificate finishes its side of a TLS 1.3 handshake, sends a
// HELLO, and gets nothing back but the end of the connection.
TEST_F(ReplicationSecurityTest, ClientWithoutCertificateIsRefusedAndGetsNoData) {
  const TestPki::KeyPair ka = Issue("node-a");
  pa_ = FreePort();
  a_ = StartNode("A", Plus({"-X", std::to_string(pa_)}, TlsArgs(ka)));
  ASSERT_NE(a_, nullptr);
  ASSERT_EQ(Set(a_->port(), "a-before", "secret-data"), "STORED");
  RawTls client(pa_, Pki()->ca_cert(), TestPki::KeyPair{});
  client.Send(HelloBytes(0x5eed));
  bool closed = false;
  const std::string got = client.ReadUntilClosed(seconds(3), &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got, "") << Names(FrameTypes(got));
  EXPECT_TRUE(CountReaches(a_->port(), "repl_tls_failures", 1));
  EXPECT_EQ(StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed"), 0u);
  EXPECT_NE(Log("A").find("certificate"), std::string::npos) << Log("A");
}

// The acceptor checks the dialler's certificate against its --repl-tls-name, and the dialler
// the acceptor's: a certificate from the right CA with the wrong name is refused either way.
TEST_F(ReplicationSecurityTest, CertificateNotMatchingTlsNameIsRefusedByTheAcceptor) {
  const TestPki::KeyPair ka = Issue("node-a"), kb = Issue("node-x");
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka, "node-b"), TlsArgs(kb, "node-a")));
  ExpectNoLink("repl_tls_failures", a_);
  EXPECT_NE(Log("A").find("does not match --repl-tls-name node-b"), std::string::npos) << Log("A");
}

TEST_F(ReplicationSecurityTest, CertificateNotMatchingTlsNameIsRefusedByTheDialler) {
  const TestPki::KeyPair ka = Issue("node-x"), kb = Issue("node-b");
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka, "node-b"), TlsArgs(kb, "node-a")));
  ExpectNoLink("repl_tls_failures", b_);
  EXPECT_NE(Log("B").find("TLS handshake with 127.0.0.1:" + std::to_string(pa_) + " failed"),
            std::string::npos)
      << Log("B");
}

TEST_F(ReplicationSecurityTest, PlainTextDiallerIsRefusedByATlsNode) {
  const TestPki::KeyPair ka = Issue("node-a");
  ASSERT_TRUE(StartAcceptorAndDialler(TlsArgs(ka), {}));
  ExpectNoLink("repl_tls_failures", a_);
  // A raw plain-text HELLO gets no frame back either.
  auto c = Client::ConnectTcp(pa_);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Send(HelloBytes(0x1234)));
  const std::string got = c->ReadBytes(1 << 16, seconds(3));
  EXPECT_TRUE(FrameTypes(got).empty()) << Names(FrameTypes(got));
  EXPECT_TRUE(c->WaitForClose(seconds(1)));
}

TEST_F(ReplicationSecurityTest, TlsDiallerIsRefusedByAPlainTextNode) {
  const TestPki::KeyPair kb = Issue("node-b");
  ASSERT_TRUE(StartAcceptorAndDialler({}, TlsArgs(kb)));
  ExpectNoLink("repl_tls_failures", b_);
  EXPECT_GE(StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors"), 1u);
}

// ---------------------------------------------------------------------------------------------
// Shared secret

TEST_F(ReplicationSecurityTest, PairWithTheSameSecretLinksAndReplicates) {
  const std::vector<std::string> secret = SecretArgs("correct horse battery staple");
  ASSERT_TRUE(StartAcceptorAndDialler(secret, secret));
  ASSERT_TRUE(Paired(a_, b_));
  EXPECT_EQ(Get(b_->port(), "a-before"), "secret-data");
  EXPECT_EQ(StatText(StatsOf(a_->port(), "replication"), "repl_auth"), "secret");
  EXPECT_EQ(StatText(StatsOf(b_->port(), "replication"), "repl_tls"), "no");
  ExpectPairUndisturbed(1, 1, "secret");
  EXPECT_EQ(StatNumber(StatsOf(a_->port(), "replication"), "repl_auth_failures"), 0u);
  EXPECT_EQ(StatNumber(StatsOf(b_->port(), "replication"), "repl_auth_failures"), 0u);
}

TEST_F(ReplicationSecurityTest, SecretAndTlsTogetherLinkAndReplicate) {
  const TestPki::KeyPair ka = Issue("node-a"), kb = Issue("node-b");
  const std::vector<std::string> secret = SecretArgs("correct horse battery staple");
  ASSERT_TRUE(StartAcceptorAndDialler(Plus(TlsArgs(ka, "node-b"), secret),
                                      Plus(TlsArgs(kb, "node-a"), secret)));
  ASSERT_TRUE(Paired(a_, b_));
  EXPECT_EQ(Get(b_->port(), "a-before"), "secret-data");
  ExpectPairUndisturbed(1, 1, "tls-secret");
  for (ServerProcess* node : {a_, b_}) {
    const StatMap s = StatsOf(node->port(), "replication");
    EXPECT_EQ(StatNumber(s, "repl_auth_failures") + StatNumber(s, "repl_tls_failures"), 0u);
  }
}

TEST_F(ReplicationSecurityTest, WrongSecretIsRefusedOnBothSides) {
  ASSERT_TRUE(StartAcceptorAndDialler(SecretArgs("the acceptor's secret, 1"),
                                      SecretArgs("the dialler's secret, 22")));
  ExpectNoLink("repl_auth_failures", b_);                          // B finds A's answer wrong...
  EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", 1));  // ...and hangs up on A
  EXPECT_NE(Log("B").find("failed authentication"), std::string::npos) << Log("B");
}

TEST_F(ReplicationSecurityTest, DiallerWithoutSecretIsRefused) {
  ASSERT_TRUE(StartAcceptorAndDialler(SecretArgs("only the acceptor has one"), {}));
  ExpectNoLink("repl_auth_failures", a_);
  EXPECT_NE(Log("A").find("sent HELLO without authenticating"), std::string::npos) << Log("A");
}

TEST_F(ReplicationSecurityTest, AcceptorWithoutSecretIsRefused) {
  ASSERT_TRUE(StartAcceptorAndDialler({}, SecretArgs("only the dialler has one")));
  ExpectNoLink("repl_auth_failures", a_);
  EXPECT_TRUE(CountReaches(b_->port(), "repl_auth_failures", 1));
  EXPECT_NE(Log("A").find("this node has no --repl-secret-file"), std::string::npos) << Log("A");
}

// An eavesdropper records a real exchange (B joining A through a relay) and replays the
// dialler's bytes to A once B is gone: A's fresh nonce makes the recorded proof worthless.
TEST_F(ReplicationSecurityTest, ReplayedAuthenticationIsRefused) {
  const std::vector<std::string> secret = SecretArgs("correct horse battery staple");
  pa_ = FreePort();
  pb_ = FreePort();
  a_ = StartNode("A", Plus({"-X", std::to_string(pa_)}, secret));
  ASSERT_NE(a_, nullptr);
  RecordingRelay relay(pa_);
  b_ = StartNode(
      "B",
      Plus({"-X", std::to_string(pb_), "-x", "127.0.0.1:" + std::to_string(relay.port())}, secret));
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));

  // The dialler's side of the exchange, up to and including its HELLO.
  const std::string recorded = relay.FirstClientBytes();
  std::string replay;
  std::string_view rest = recorded;
  for (;;) {
    replication::Frame frame;
    std::string error;
    ASSERT_EQ(replication::DecodeFrame(rest, 1 << 20, &frame, &error),
              replication::DecodeStatus::kOk)
        << "recorded: " << Names(FrameTypes(recorded));
    replay.append(rest.substr(0, frame.size));
    rest.remove_prefix(frame.size);
    if (frame.type == replication::FrameType::kHello) break;
  }
  ASSERT_EQ(Names(FrameTypes(replay)), "AUTH_CHALLENGE AUTH_PROOF HELLO");

  b_->Kill();
  ASSERT_TRUE(WaitFor(
      [&] { return StatText(StatsOf(a_->port(), "replication"), "repl_link_state") == "down"; },
      seconds(5)));
  const uint64_t failures = StatNumber(StatsOf(a_->port(), "replication"), "repl_auth_failures");
  auto c = Client::ConnectTcp(pa_);
  ASSERT_NE(c, nullptr);
  // The recorded challenge gets an answer with a fresh nonce, the recorded proof nothing.
  const size_t challenge_size = replication::kFrameHeaderSize + replication::kAuthNonceSize;
  ASSERT_TRUE(c->Send(replay.substr(0, challenge_size)));
  const std::string response =
      c->ReadBytes(replication::kFrameHeaderSize + 2 * replication::kAuthNonceSize, seconds(3));
  EXPECT_EQ(Names(FrameTypes(response)), "AUTH_RESPONSE");
  ASSERT_TRUE(c->Send(replay.substr(challenge_size)));
  const std::string got = c->ReadBytes(1 << 16, seconds(3));
  EXPECT_TRUE(c->WaitForClose(seconds(1)));
  EXPECT_EQ(Names(FrameTypes(got)), "(nothing)") << "A answered the replayed proof";
  EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", failures + 1));
  const StatMap s = StatsOf(a_->port(), "replication");
  EXPECT_EQ(StatNumber(s, "repl_links_formed"), 1u);
  EXPECT_EQ(StatText(s, "repl_link_state"), "down");
  EXPECT_NE(Log("A").find("replayed"), std::string::npos) << Log("A");
}

// ---------------------------------------------------------------------------------------------
// Strangers on the replication port while the pair is up

constexpr size_t kAuthResponseSize =
    replication::kFrameHeaderSize + replication::kAuthNonceSize + replication::kAuthMacSize;

// Connects, sends `first`; if `then` is not empty, expects an AUTH_RESPONSE and sends `then`.
// Returns what came back after the last send, before the node closed the connection (fails the
// test if it stays open).
std::string SendAndExpectClose(int port, const std::string& first, const std::string& what,
                               const std::string& then = "") {
  auto c = Client::ConnectTcp(port);
  EXPECT_NE(c, nullptr) << what;
  if (c == nullptr) return "";
  EXPECT_TRUE(c->Send(first)) << what;
  if (!then.empty()) {
    const std::string response = c->ReadBytes(kAuthResponseSize, seconds(3));
    EXPECT_EQ(Names(FrameTypes(response)), "AUTH_RESPONSE") << what;
    EXPECT_TRUE(c->Send(then)) << what;
  }
  const std::string got = c->ReadBytes(1 << 16, seconds(3));
  EXPECT_TRUE(c->WaitForClose(seconds(1))) << what << ": the connection stayed open";
  return got;
}

TEST_F(ReplicationSecurityTest, StrangersNeverDisturbAPairWithASecret) {
  const std::vector<std::string> secret = SecretArgs("correct horse battery staple");
  ASSERT_TRUE(StartAcceptorAndDialler(secret, secret));
  ASSERT_TRUE(Paired(a_, b_));
  const StatMap a0 = StatsOf(a_->port(), "replication");
  ASSERT_EQ(StatText(a0, "repl_role"), "MASTER");
  uint64_t auth_failures = StatNumber(a0, "repl_auth_failures");

  std::string challenge, proof, bad_response;
  replication::AppendAuthChallenge(std::string(32, 'n'), &challenge);
  replication::AppendAuthProof(std::string(32, 'p'), &proof);
  replication::AppendAuthResponse(std::string(32, 'n'), std::string(32, 'm'), &bad_response);
  std::mt19937 rng(7);
  std::string garbage(512, '\0');
  for (char& ch : garbage) ch = static_cast<char>(rng());
  garbage[3] = '\x7f';  // an out-of-range first length

  struct Case {
    std::string what, first, then;
  };
  const std::vector<Case> cases = {
      {"HELLO without authenticating", HelloBytes(0xabc), ""},
      {"AUTH_PROOF first", proof, ""},
      {"AUTH_RESPONSE to an acceptor", bad_response, ""},
      {"challenge, then a wrong proof and HELLO", challenge, proof + HelloBytes(0xabd)},
      {"challenge, then HELLO", challenge, HelloBytes(0xabe)},
      {"challenge, then a second challenge", challenge, challenge},
  };
  for (const Case& c : cases) {
    const std::string got = SendAndExpectClose(pa_, c.first, c.what, c.then);
    EXPECT_EQ(Names(FrameTypes(got)), "(nothing)") << c.what;
    ++auth_failures;
    EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", auth_failures)) << c.what;
  }
  const uint64_t errors = StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors");
  SendAndExpectClose(pa_, garbage, "garbage");
  EXPECT_TRUE(CountReaches(a_->port(), "repl_protocol_errors", errors + 1));

  // A stranger that trickles a challenge byte by byte, each well within the heartbeat timeout,
  // is still cut off: the whole handshake must finish within --repl-timeout.
  {
    auto c = Client::ConnectTcp(pa_);
    ASSERT_NE(c, nullptr);
    const auto start = Clock::now();
    bool closed = false;
    for (char ch : challenge) {
      if (!c->Send(std::string(1, ch)) || c->WaitForClose(milliseconds(150))) {
        closed = true;
        break;
      }
    }
    EXPECT_TRUE(closed || c->WaitForClose(seconds(2))) << "a trickling stranger stayed connected";
    EXPECT_LT(Clock::now() - start, seconds(4));
  }
  ExpectPairUndisturbed(1, 1, "strangers");
}

TEST_F(ReplicationSecurityTest, StrangersNeverDisturbAPairWithTlsAndASecret) {
  const TestPki::KeyPair ka = Issue("node-a"), kb = Issue("node-b");
  // Certified by the pair's own CA, but without the secret.
  const TestPki::KeyPair insider = Issue("node-c");
  const TestPki::KeyPair outsider = Issue("node-d", /*by_other_ca=*/true);
  const std::vector<std::string> secret = SecretArgs("correct horse battery staple");
  ASSERT_TRUE(StartAcceptorAndDialler(Plus(TlsArgs(ka), secret), Plus(TlsArgs(kb), secret)));
  ASSERT_TRUE(Paired(a_, b_));
  uint64_t tls_failures = StatNumber(StatsOf(a_->port(), "replication"), "repl_tls_failures");
  uint64_t auth_failures = StatNumber(StatsOf(a_->port(), "replication"), "repl_auth_failures");

  // Plain text on the TLS port.
  SendAndExpectClose(pa_, HelloBytes(0x1), "plain-text HELLO");
  EXPECT_TRUE(CountReaches(a_->port(), "repl_tls_failures", ++tls_failures));
  // TLS without a certificate, and with one from another CA.
  for (const TestPki::KeyPair* id : {static_cast<const TestPki::KeyPair*>(nullptr), &outsider}) {
    RawTls stranger(pa_, Pki()->ca_cert(), id == nullptr ? TestPki::KeyPair{} : *id);
    stranger.Send(HelloBytes(0x2));
    bool closed = false;
    EXPECT_EQ(stranger.ReadUntilClosed(seconds(3), &closed), "");
    EXPECT_TRUE(closed);
    EXPECT_TRUE(CountReaches(a_->port(), "repl_tls_failures", ++tls_failures));
  }
  // A valid certificate gets through TLS, but not past the secret.
  {
    RawTls stranger(pa_, Pki()->ca_cert(), insider);
    ASSERT_TRUE(stranger.handshake_ok());
    ASSERT_TRUE(stranger.Send(HelloBytes(0x3)));
    bool closed = false;
    const std::string got = stranger.ReadUntilClosed(seconds(3), &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(got, "") << Names(FrameTypes(got));
    EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", ++auth_failures));
  }
  {
    RawTls stranger(pa_, Pki()->ca_cert(), insider);
    ASSERT_TRUE(stranger.handshake_ok());
    std::string challenge, proof;
    replication::AppendAuthChallenge(std::string(32, 'n'), &challenge);
    replication::AppendAuthProof(std::string(32, 'p'), &proof);
    ASSERT_TRUE(stranger.Send(challenge));
    bool closed = false;
    const std::string response = stranger.Read(kAuthResponseSize, seconds(3), &closed);
    EXPECT_EQ(Names(FrameTypes(response)), "AUTH_RESPONSE");
    ASSERT_TRUE(stranger.Send(proof + HelloBytes(0x4)));
    const std::string got = stranger.ReadUntilClosed(seconds(3), &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(got, "") << Names(FrameTypes(got));
    EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", ++auth_failures));
  }
  // A valid certificate and then silence: dropped by the handshake deadline.
  {
    RawTls stranger(pa_, Pki()->ca_cert(), insider);
    ASSERT_TRUE(stranger.handshake_ok());
    bool closed = false;
    stranger.ReadUntilClosed(seconds(4), &closed);
    EXPECT_TRUE(closed) << "a silent stranger stayed connected";
    EXPECT_TRUE(CountReaches(a_->port(), "repl_auth_failures", ++auth_failures));
  }
  // A third memtwin with a valid certificate and the secret is a second peer: refused too.
  const uint64_t rejected = StatNumber(StatsOf(a_->port(), "replication"), "repl_rejected_peers");
  ServerProcess* c = StartNode(
      "C", Plus({"-X", std::to_string(FreePort()), "-x", "127.0.0.1:" + std::to_string(pa_)},
                Plus(TlsArgs(insider), secret)));
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(CountReaches(a_->port(), "repl_rejected_peers", rejected + 1));
  EXPECT_EQ(StatNumber(StatsOf(c->port(), "replication"), "repl_links_formed"), 0u);
  EXPECT_EQ(Get(c->port(), "a-before"), std::nullopt);
  ExpectPairUndisturbed(1, 1, "tls-strangers");
  EXPECT_EQ(StatNumber(StatsOf(a_->port(), "replication"), "repl_tls_failures"), tls_failures);
  EXPECT_EQ(StatNumber(StatsOf(a_->port(), "replication"), "repl_auth_failures"), auth_failures);
}

// ---------------------------------------------------------------------------------------------
// The start-up warning

// Runs memtwin with `args`, a free client port and -U 0 until its client port accepts
// connections (the warning comes before that), and returns its stderr. Spawned directly rather
// than by ServerProcess, which adds "-l 127.0.0.1": that would collide with "-l 0.0.0.0" on the
// same port.
std::string StartupOutput(const std::string& dir, std::vector<std::string> args) {
  const std::string log = dir + "/startup.log";
  unlink(log.c_str());
  const int port = FreePort();
  args.insert(args.end(), {"-p", std::to_string(port), "-U", "0"});
  const pid_t pid = Spawn(MemtwinBinary(), CommandLine(MemtwinBinary(), args), log);
  bool exited = false;
  const bool serving = WaitFor(
      [&] {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) exited = true;
        return exited || Client::ConnectTcp(port) != nullptr;
      },
      seconds(10));
  EXPECT_TRUE(serving && !exited) << "memtwin did not start serving";
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::ifstream in(log);
  std::string out(std::istreambuf_iterator<char>(in), {});
  unlink(log.c_str());
  return out;
}

TEST_F(ReplicationSecurityTest, StartupWarnsOnlyWhenTheReplicationPortIsOpenAndUnauthenticated) {
  const std::string port = std::to_string(FreePort());
  const std::string open = StartupOutput(dir_, {"-l", "0.0.0.0", "-X", port});
  EXPECT_NE(open.find("WARNING"), std::string::npos) << open;
  EXPECT_NE(open.find("--repl-secret-file"), std::string::npos) << open;

  const std::string loopback = StartupOutput(dir_, {"-l", "127.0.0.1", "-X", port});
  EXPECT_EQ(loopback.find("WARNING"), std::string::npos) << loopback;

  const std::string with_secret = StartupOutput(
      dir_, Plus({"-l", "0.0.0.0", "-X", port}, SecretArgs("sixteen bytes at least")));
  EXPECT_EQ(with_secret.find("WARNING"), std::string::npos) << with_secret;

  const TestPki::KeyPair ka = Issue("node-a");
  const std::string with_tls =
      StartupOutput(dir_, Plus({"-l", "0.0.0.0", "-X", port}, TlsArgs(ka)));
  EXPECT_EQ(with_tls.find("WARNING"), std::string::npos) << with_tls;
}

}  // namespace
}  // namespace memtwin::testing
