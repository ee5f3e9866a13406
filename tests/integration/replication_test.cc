// Two memtwin processes paired over their replication ports (-X/-x) on 127.0.0.1: every mutation
// kind reaches the peer, CAS values are shared, a node dies (kill -9) or loses its link while
// writes continue, comes back warm, and afterwards both nodes are compared key by key. Links
// are cut with a small in-test TCP proxy; hostile bytes are sent to the replication port.
//
// Every wait polls with a deadline; every process belongs to the fixture and is killed when the
// test ends, whatever happened. On failure each node's stderr (run with -v) is printed.
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "replication/wire.h"
#include "tests/integration/harness.h"

namespace memtwin::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kMaxItemSize = 1024 * 1024;  // -I default: 40-byte header + key + value
constexpr size_t kItemHeader = 40;            // storage/item.h: sizeof(Item)

// ---------------------------------------------------------------------------------------------
// Waiting

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

// ---------------------------------------------------------------------------------------------
// Talking to a node

struct Item {
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
  bool operator==(const Item&) const = default;
};

std::string Describe(const std::optional<Item>& item);
void PrintTo(const Item& item, std::ostream* os) { *os << Describe(item); }

std::string Describe(const std::optional<Item>& item) {
  if (!item.has_value()) return "(missing)";
  std::string v = item->value.size() <= 40 ? item->value
                                           : item->value.substr(0, 20) + "...(" +
                                                 std::to_string(item->value.size()) + " bytes)";
  return "\"" + v + "\" flags " + std::to_string(item->flags) + " cas " + std::to_string(item->cas);
}

// Sends one request and returns the first reply line without its "\r\n" ("" if none came).
std::string Command(Client* c, const std::string& request) {
  std::string reply = c->Call(request);
  if (reply.size() >= 2 && reply.compare(reply.size() - 2, 2, "\r\n") == 0) {
    reply.resize(reply.size() - 2);
  }
  return reply;
}

// "set"/"add"/"replace"/"append"/"prepend" (and "cas" with a token).
std::string Store(Client* c, const std::string& verb, const std::string& key,
                  const std::string& value, uint32_t flags = 0, int64_t exptime = 0,
                  std::optional<uint64_t> cas = std::nullopt) {
  std::string line = verb + " " + key + " " + std::to_string(flags) + " " +
                     std::to_string(exptime) + " " + std::to_string(value.size());
  if (cas.has_value()) line += " " + std::to_string(*cas);
  return Command(c, line + "\r\n" + value + "\r\n");
}

// Reads the VALUE blocks of a get/gets/gat reply up to END from `line` (the next line without
// its "\r\n") and `bytes` (the next n bytes). nullopt if the reply is cut short or malformed
// (the node died, or the connection is broken).
std::optional<std::map<std::string, Item>> ParseValues(
    const std::function<std::optional<std::string>()>& line,
    const std::function<std::optional<std::string>(size_t)>& bytes) {
  std::map<std::string, Item> items;
  for (;;) {
    const std::optional<std::string> header = line();
    if (!header.has_value()) return std::nullopt;
    if (*header == "END") return items;
    if (header->rfind("VALUE ", 0) != 0) return std::nullopt;
    std::istringstream fields(header->substr(6));
    std::string key;
    Item item;
    size_t size = 0;
    if (!(fields >> key >> item.flags >> size)) return std::nullopt;
    if (!(fields >> item.cas)) item.cas = 0;  // plain get
    std::optional<std::string> data = bytes(size + 2);
    if (!data.has_value() || data->compare(size, 2, "\r\n") != 0) return std::nullopt;
    data->resize(size);
    item.value = std::move(*data);
    items[key] = std::move(item);
  }
}

std::optional<std::map<std::string, Item>> ReadValues(Client* c) {
  return ParseValues(
      [c]() -> std::optional<std::string> {
        std::string l = c->ReadUntil("\r\n");
        if (l.size() < 2 || l.compare(l.size() - 2, 2, "\r\n") != 0) return std::nullopt;
        l.resize(l.size() - 2);
        return l;
      },
      [c](size_t n) -> std::optional<std::string> {
        std::string b = c->ReadBytes(n);
        if (b.size() != n) return std::nullopt;
        return b;
      });
}

std::optional<Item> Gets(Client* c, const std::string& key) {
  if (!c->Send("gets " + key + "\r\n")) return std::nullopt;
  auto items = ReadValues(c);
  if (!items.has_value() || items->count(key) == 0) return std::nullopt;
  return (*items)[key];
}

// Buffered reads from a socket that never copy the unread rest (Client::ReadUntil does, which
// is quadratic over a multiget reply of many thousand keys). Each read waits at most 5 s.
class SocketReader {
 public:
  explicit SocketReader(int fd) : fd_(fd) {}

  std::optional<std::string> Line() {
    for (;;) {
      const size_t end = buf_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string l = buf_.substr(pos_, end - pos_);
        Consume(end + 2 - pos_);
        return l;
      }
      if (!Fill()) return std::nullopt;
    }
  }
  std::optional<std::string> Bytes(size_t n) {
    while (buf_.size() - pos_ < n) {
      if (!Fill()) return std::nullopt;
    }
    std::string b = buf_.substr(pos_, n);
    Consume(n);
    return b;
  }

 private:
  void Consume(size_t n) {
    pos_ += n;
    if (pos_ == buf_.size() || pos_ > (1u << 20)) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
  }
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return false;
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  const int fd_;
  std::string buf_;
  size_t pos_ = 0;
};

// Every key of `keys` the node holds, read with gets in batches on a fresh connection; nullopt
// if the node cannot be read completely.
std::optional<std::map<std::string, Item>> ReadAll(int port, const std::vector<std::string>& keys) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return std::nullopt;
  SocketReader reader(c->fd());  // the only reader of this connection
  std::map<std::string, Item> all;
  constexpr size_t kBatch = 500;
  for (size_t i = 0; i < keys.size(); i += kBatch) {
    std::string request = "gets";
    for (size_t j = i; j < std::min(keys.size(), i + kBatch); ++j) request += " " + keys[j];
    if (!c->Send(request + "\r\n")) return std::nullopt;
    auto items =
        ParseValues([&] { return reader.Line(); }, [&](size_t n) { return reader.Bytes(n); });
    if (!items.has_value()) return std::nullopt;
    all.merge(*items);
  }
  return all;
}

// Human-readable differences between the two nodes over `keys` (value, flags and CAS).
std::vector<std::string> Differences(int port_a, int port_b, const std::vector<std::string>& keys) {
  const auto a = ReadAll(port_a, keys);
  const auto b = ReadAll(port_b, keys);
  if (!a.has_value()) return {"cannot read every key from A"};
  if (!b.has_value()) return {"cannot read every key from B"};
  std::vector<std::string> diffs;
  for (const std::string& key : keys) {
    const auto ia = a->find(key), ib = b->find(key);
    const std::optional<Item> va = ia == a->end() ? std::nullopt : std::optional<Item>(ia->second);
    const std::optional<Item> vb = ib == b->end() ? std::nullopt : std::optional<Item>(ib->second);
    if (va != vb) diffs.push_back(key + ": A " + Describe(va) + ", B " + Describe(vb));
  }
  return diffs;
}

::testing::AssertionResult Converged(int port_a, int port_b, const std::vector<std::string>& keys,
                                     milliseconds timeout) {
  std::vector<std::string> diffs;
  if (WaitFor(
          [&] {
            diffs = Differences(port_a, port_b, keys);
            return diffs.empty();
          },
          timeout)) {
    return ::testing::AssertionSuccess();
  }
  auto failure = ::testing::AssertionFailure();
  failure << diffs.size() << " of " << keys.size() << " keys differ after " << timeout.count()
          << " ms:";
  for (size_t i = 0; i < diffs.size() && i < 10; ++i) failure << "\n  " << diffs[i];
  return failure;
}

std::string Summary(const StatMap& s) {
  return "role " + StatText(s, "repl_role") + ", link " + StatText(s, "repl_link_state") +
         ", ready " + StatText(s, "repl_ready") + ", links formed " +
         StatText(s, "repl_links_formed");
}

// True if process `pid` holds a TCP socket listening on `port` (from /proc).
bool ListensOn(pid_t pid, int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      f >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >>
          inode;
      if (state != "0A") continue;  // TCP_LISTEN
      const size_t colon = local.rfind(':');
      if (colon != std::string::npos && std::stoi(local.substr(colon + 1), nullptr, 16) == port) {
        inodes.insert(inode);
      }
    }
  }
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    char target[256];
    const std::string path = dir + "/" + e->d_name;
    const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    const std::string link(target, static_cast<size_t>(n));
    if (link.rfind("socket:[", 0) == 0 && inodes.count(link.substr(8, link.size() - 9)) > 0) {
      found = true;
    }
  }
  closedir(d);
  return found;
}

bool CanConnect(int port) { return Client::ConnectTcp(port) != nullptr; }

// How many of `keys` the node holds; -1 if it cannot be read.
int Held(int port, const std::vector<std::string>& keys) {
  const auto items = ReadAll(port, keys);
  return items.has_value() ? static_cast<int>(items->size()) : -1;
}

// Sets *stop and joins the thread when it goes out of scope, however the test body ends.
class StopAndJoin {
 public:
  StopAndJoin(std::atomic<bool>* stop, std::thread* thread) : stop_(stop), thread_(thread) {}
  ~StopAndJoin() {
    stop_->store(true);
    if (thread_->joinable()) thread_->join();
  }
  StopAndJoin(const StopAndJoin&) = delete;
  StopAndJoin& operator=(const StopAndJoin&) = delete;

 private:
  std::atomic<bool>* stop_;
  std::thread* thread_;
};

std::vector<std::string> Keys(const std::string& prefix, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
  return keys;
}

// ---------------------------------------------------------------------------------------------
// A TCP forwarder on 127.0.0.1, standing in for the network between two nodes: each connection
// accepted on port() is joined to a new connection to the target port. Sever() closes every
// joined pair (both sockets), as a cut would; while refusing, new connections are closed as soon
// as they are accepted; while stalled, no byte moves (a black hole, found only by timeouts).
class Proxy {
 public:
  explicit Proxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ListenLoopback(&port_);
    if (listen_fd_ < 0) ADD_FAILURE() << "proxy cannot listen";
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) ADD_FAILURE() << "pipe2";
    thread_ = std::thread([this] { Run(); });
  }
  ~Proxy() {
    stop_.store(true);
    Wake();
    thread_.join();
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  int port() const { return port_; }
  // Closes every forwarded connection now; returns how many were open.
  int Sever() {
    const int request = sever_requested_.fetch_add(1) + 1;
    Wake();
    WaitFor([&] { return sever_done_.load() >= request; }, seconds(5));
    return last_severed_.load();
  }
  void SetRefusing(bool on) { refusing_.store(on); }
  void SetStalled(bool on) {
    stalled_.store(on);
    Wake();
  }
  int accepted() const { return accepted_.load(); }

 private:
  void Wake() {
    const char b = 1;
    [[maybe_unused]] ssize_t n = write(wake_[1], &b, 1);
  }

  static void SendAll(int fd, const char* data, size_t n, bool* ok) {
    while (n > 0 && *ok) {
      const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) {
        *ok = false;
        return;
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
  }

  void Run() {
    std::vector<std::pair<int, int>> pairs;
    const auto close_pair = [](std::pair<int, int> p) {
      close(p.first);
      close(p.second);
    };
    int severs_handled = 0;
    char buf[65536];
    while (!stop_.load()) {
      const int requested = sever_requested_.load();
      if (requested != severs_handled) {
        last_severed_.store(static_cast<int>(pairs.size()));
        for (auto& p : pairs) close_pair(p);
        pairs.clear();
        severs_handled = requested;
        sever_done_.store(requested);
      }
      const bool stalled = stalled_.load();
      std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (!stalled) {
        for (auto& p : pairs) {
          fds.push_back({p.first, POLLIN, 0});
          fds.push_back({p.second, POLLIN, 0});
        }
      }
      if (poll(fds.data(), fds.size(), 100) <= 0) continue;
      if (fds[1].revents != 0) {
        while (read(wake_[0], buf, sizeof(buf)) > 0) {
        }
      }
      if (fds[0].revents & POLLIN) {
        const int in = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (in >= 0) {
          accepted_.fetch_add(1);
          const int out = refusing_.load() ? -1 : ConnectLoopback(target_port_);
          if (out < 0) {
            close(in);
          } else {
            pairs.emplace_back(in, out);
          }
        }
      }
      if (stalled) continue;
      // fds[2 + 2i] and fds[3 + 2i] belong to pairs[i] (pairs only grew since fds was built).
      std::vector<bool> dead(pairs.size(), false);
      for (size_t i = 0; 2 + 2 * i + 1 < fds.size(); ++i) {
        for (int side = 0; side < 2 && !dead[i]; ++side) {
          if (fds[2 + 2 * i + side].revents == 0) continue;
          const int from = side == 0 ? pairs[i].first : pairs[i].second;
          const int to = side == 0 ? pairs[i].second : pairs[i].first;
          const ssize_t n = recv(from, buf, sizeof(buf), 0);
          bool ok = n > 0;
          if (ok) SendAll(to, buf, static_cast<size_t>(n), &ok);
          if (!ok) dead[i] = true;
        }
      }
      for (size_t i = pairs.size(); i-- > 0;) {
        if (i < dead.size() && dead[i]) {
          close_pair(pairs[i]);
          pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    }
    for (auto& p : pairs) close_pair(p);
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<bool> stalled_{false};
  std::atomic<int> sever_requested_{0};
  std::atomic<int> sever_done_{0};
  std::atomic<int> last_severed_{0};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The fixture: nodes with their stderr in a temporary directory, killed when the test ends.

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/memtwin-repl-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    for (auto& [name, node] : nodes_) {
      if (node != nullptr) node->Kill();
    }
    const bool failed = HasFailure();
    for (auto& [name, node] : nodes_) {
      const std::string log = LogPath(name);
      if (failed) {
        std::ifstream in(log);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        const size_t from = lines.size() > 80 ? lines.size() - 80 : 0;
        std::printf("---- node %s stderr (last %zu of %zu lines) ----\n", name.c_str(),
                    lines.size() - from, lines.size());
        for (size_t i = from; i < lines.size(); ++i) std::printf("%s\n", lines[i].c_str());
      }
      unlink(log.c_str());
    }
    nodes_.clear();
    rmdir(dir_.c_str());
  }

  std::string LogPath(const std::string& name) const { return dir_ + "/" + name + ".log"; }

  // Starts node `name` with -v, the fast heartbeat settings, and `args`; kept by the fixture.
  ServerProcess* StartNode(const std::string& name, const std::vector<std::string>& args,
                           bool wait_for_port = true) {
    std::vector<std::string> all = {"-v", "--repl-heartbeat", "200ms", "--repl-timeout", "1000ms"};
    all.insert(all.end(), args.begin(), args.end());
    StartOptions options;
    options.wait_for_port = wait_for_port;
    options.stderr_path = LogPath(name);
    auto p = ServerProcess::Start(MemtwinBinary(), all, options);
    EXPECT_NE(p, nullptr) << "node " << name << " did not start";
    ServerProcess* raw = p.get();
    nodes_[name] = std::move(p);
    return raw;
  }

  static std::vector<std::string> PeerArgs(int own_repl_port, int peer_repl_port) {
    return {"-X", std::to_string(own_repl_port), "-x",
            "127.0.0.1:" + std::to_string(peer_repl_port)};
  }

  // A then B, each pointing at the other: A finds nobody and serves as MASTER, B joins as SLAVE.
  void StartPair(const std::vector<std::string>& extra_a = {},
                 const std::vector<std::string>& extra_b = {}) {
    pa_ = FreePort();
    pb_ = FreePort();
    std::vector<std::string> args_a = PeerArgs(pa_, pb_), args_b = PeerArgs(pb_, pa_);
    args_a.insert(args_a.end(), extra_a.begin(), extra_a.end());
    args_b.insert(args_b.end(), extra_b.begin(), extra_b.end());
    a_ = StartNode("A", args_a);
    ASSERT_NE(a_, nullptr);
    b_ = StartNode("B", args_b);
    ASSERT_NE(b_, nullptr);
    ASSERT_TRUE(Paired(a_, b_));
  }

  // Both nodes report a streaming link, one as MASTER and one as SLAVE.
  static ::testing::AssertionResult Paired(ServerProcess* a, ServerProcess* b,
                                           milliseconds timeout = seconds(5)) {
    StatMap sa, sb;
    const bool ok = WaitFor(
        [&] {
          sa = StatsOf(a->port(), "replication");
          sb = StatsOf(b->port(), "replication");
          std::set<std::string> roles = {StatText(sa, "repl_role"), StatText(sb, "repl_role")};
          return StatText(sa, "repl_link_state") == "streaming" &&
                 StatText(sb, "repl_link_state") == "streaming" &&
                 roles == std::set<std::string>{"MASTER", "SLAVE"};
        },
        timeout);
    if (ok) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "no streaming pair after " << timeout.count()
                                         << " ms: A " << Summary(sa) << "; B " << Summary(sb);
  }

  std::string dir_;
  std::map<std::string, std::unique_ptr<ServerProcess>> nodes_;
  int pa_ = 0, pb_ = 0;  // replication ports of A and B
  ServerProcess* a_ = nullptr;
  ServerProcess* b_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// 1. Every mutation kind

// The key holds the same value, flags and CAS on both nodes within 1 s; on failure, says how.
::testing::AssertionResult SameWithinASecond(int src, int dst, const std::string& key) {
  return Converged(src, dst, {key}, seconds(1));
}

// The key's remaining TTL in seconds from the meta protocol ("mg <key> t"; -1: never expires).
// nullopt if the key is missing or the node has no meta commands.
std::optional<int64_t> RemainingTtl(int port, const std::string& key) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return std::nullopt;
  const std::string reply = Command(c.get(), "mg " + key + " t\r\n");
  const size_t t = reply.find(" t");
  if (reply.rfind("HD", 0) != 0 || t == std::string::npos) return std::nullopt;
  return std::stoll(reply.substr(t + 2));
}

// Both nodes give the key the same remaining TTL (within the second that may tick between the
// two reads). Without meta commands on the node there is nothing to read: expiry itself is
// checked on both nodes at the end of EveryMutationKindReachesThePeerBothWays instead.
::testing::AssertionResult SameTtl(int src, int dst, const std::string& key,
                                   std::optional<int64_t> expected) {
  const std::optional<int64_t> ts = RemainingTtl(src, key), td = RemainingTtl(dst, key);
  if (!ts.has_value() && !td.has_value()) return ::testing::AssertionSuccess();
  if (!ts.has_value() || !td.has_value() || std::abs(*ts - *td) > 1) {
    return ::testing::AssertionFailure()
           << key << ": TTL " << ts.value_or(-99) << " on the source, " << td.value_or(-99)
           << " on the peer";
  }
  if (expected.has_value() && (*ts > *expected || *ts < *expected - 2)) {
    return ::testing::AssertionFailure() << key << ": TTL " << *ts << ", expected " << *expected;
  }
  return ::testing::AssertionSuccess();
}

// Runs every mutation kind on `src` and checks each on `dst`. Keys start with `p`.
void EveryMutationKind(int src, int dst, const std::string& p) {
  auto s = Client::ConnectTcp(src);
  auto d = Client::ConnectTcp(dst);
  ASSERT_NE(s, nullptr);
  ASSERT_NE(d, nullptr);
  const std::string k = p + "k", n = p + "n", added = p + "added";

  EXPECT_EQ(Store(s.get(), "set", k, "v1", 7), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Gets(d.get(), k).value_or(Item{}).value, "v1");

  EXPECT_EQ(Store(s.get(), "add", added, "fresh", 3, 300), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, added));
  EXPECT_TRUE(SameTtl(src, dst, added, 300));
  EXPECT_TRUE(SameTtl(src, dst, k, -1));
  EXPECT_EQ(Store(s.get(), "add", added, "again", 3), "NOT_STORED");

  EXPECT_EQ(Store(s.get(), "replace", k, "v2", 8), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Gets(d.get(), k).value_or(Item{}).flags, 8u);

  EXPECT_EQ(Store(s.get(), "append", k, "+a"), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Store(s.get(), "prepend", k, "p-"), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Gets(d.get(), k).value_or(Item{}).value, "p-v2+a");

  const std::optional<Item> before = Gets(s.get(), k);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(Store(s.get(), "cas", k, "swapped", 9, 0, before->cas), "STORED");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Gets(d.get(), k), (Item{"swapped", 9, Gets(s.get(), k).value_or(Item{}).cas}));

  EXPECT_EQ(Store(s.get(), "set", n, "10", 4), "STORED");
  EXPECT_EQ(Command(s.get(), "incr " + n + " 5\r\n"), "15");
  EXPECT_TRUE(SameWithinASecond(src, dst, n));
  EXPECT_EQ(Command(s.get(), "decr " + n + " 3\r\n"), "12");
  EXPECT_TRUE(SameWithinASecond(src, dst, n));
  EXPECT_EQ(Gets(d.get(), n).value_or(Item{}).value, "12");

  // touch and gat give the item a new CAS: the peer must hold that one too.
  const uint64_t cas_before_touch = Gets(s.get(), k).value_or(Item{}).cas;
  EXPECT_EQ(Command(s.get(), "touch " + k + " 1000\r\n"), "TOUCHED");
  EXPECT_NE(Gets(s.get(), k).value_or(Item{}).cas, cas_before_touch);
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_TRUE(SameTtl(src, dst, k, 1000));
  const uint64_t cas_before_gat = Gets(s.get(), k).value_or(Item{}).cas;
  ASSERT_TRUE(s->Send("gat 2000 " + k + "\r\n"));
  const auto gat = ReadValues(s.get());
  ASSERT_TRUE(gat.has_value());
  EXPECT_EQ(gat->count(k), 1u);
  EXPECT_NE(Gets(s.get(), k).value_or(Item{}).cas, cas_before_gat);
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_TRUE(SameTtl(src, dst, k, 2000));

  EXPECT_EQ(Command(s.get(), "delete " + added + "\r\n"), "DELETED");
  EXPECT_TRUE(SameWithinASecond(src, dst, added));
  EXPECT_FALSE(Gets(d.get(), added).has_value());
}

TEST_F(ReplicationTest, EveryMutationKindReachesThePeerBothWays) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  const int a = a_->port(), b = b_->port();
  {
    SCOPED_TRACE("A to B");
    EveryMutationKind(a, b, "a_");
  }
  {
    SCOPED_TRACE("B to A");
    EveryMutationKind(b, a, "b_");
  }
  auto ca = Client::ConnectTcp(a);
  auto cb = Client::ConnectTcp(b);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);

  // flush_all on either node empties both.
  const std::vector<std::string> written = {"a_k", "a_n", "b_k", "b_n"};
  ASSERT_EQ(Held(b, written), 4);
  EXPECT_EQ(Command(ca.get(), "flush_all\r\n"), "OK");
  EXPECT_TRUE(WaitFor([&] { return Held(b, written) == 0; }, seconds(1)));
  EXPECT_EQ(Held(a, written), 0);
  EXPECT_EQ(Store(ca.get(), "set", "after_flush", "x"), "STORED");
  EXPECT_TRUE(SameWithinASecond(a, b, "after_flush"));
  EXPECT_EQ(Command(cb.get(), "flush_all\r\n"), "OK");
  EXPECT_TRUE(WaitFor([&] { return Held(a, {"after_flush"}) == 0; }, seconds(1)));

  // Expiry travels as the absolute time: a key set, touched or gat'ed with a 2 s TTL on one node
  // vanishes on both nodes at the same moment (the same wall clock; polled every 10 ms).
  const std::vector<std::string> ttl = {"a_ttl", "a_touched", "a_gat",
                                        "b_ttl", "b_touched", "b_gat"};
  const std::vector<std::string> keep = {"a_keep", "b_keep"};
  for (auto [c, p] :
       {std::pair{ca.get(), std::string("a_")}, std::pair{cb.get(), std::string("b_")}}) {
    EXPECT_EQ(Store(c, "set", p + "ttl", "t", 1, 2), "STORED");
    EXPECT_EQ(Store(c, "set", p + "touched", "t", 2, 0), "STORED");
    EXPECT_EQ(Command(c, "touch " + p + "touched 2\r\n"), "TOUCHED");
    EXPECT_EQ(Store(c, "set", p + "gat", "t", 3, 0), "STORED");
    ASSERT_TRUE(c->Send("gat 2 " + p + "gat\r\n"));
    EXPECT_TRUE(ReadValues(c).has_value());
    EXPECT_EQ(Store(c, "set", p + "keep", "k", 4, 100), "STORED");
  }
  std::vector<std::string> all = ttl;
  all.insert(all.end(), keep.begin(), keep.end());
  EXPECT_TRUE(Converged(a, b, all, seconds(1)));
  for (const std::string& key : keep) EXPECT_TRUE(SameTtl(a, b, key, 100));
  std::map<std::pair<int, std::string>, Clock::time_point> gone;
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int port : {a, b}) {
          const auto items = ReadAll(port, ttl);
          if (!items.has_value()) continue;
          for (const std::string& key : ttl) {
            if (items->count(key) == 0) gone.emplace(std::pair{port, key}, Clock::now());
          }
        }
        return gone.size() == 2 * ttl.size();
      },
      seconds(4)));
  for (const std::string& key : ttl) {
    if (gone.count({a, key}) == 0 || gone.count({b, key}) == 0) continue;
    const auto apart = std::chrono::abs(gone[{a, key}] - gone[{b, key}]);
    EXPECT_LT(apart, milliseconds(500)) << key << " expired at different times on A and B";
  }
  EXPECT_EQ(Held(a, keep), 2);
  EXPECT_EQ(Held(b, keep), 2);

  // flush_all with a delay: "flush_all 3" kills what exists in 1 to 2 s (memcached's rule), on
  // both nodes at the same moment, and not at once.
  const auto flushed = Clock::now();
  EXPECT_EQ(Command(cb.get(), "flush_all 3\r\n"), "OK");
  EXPECT_TRUE(WaitFor([&] { return Held(a, keep) == 0; }, seconds(3)));
  const int64_t a_after = MillisSince(flushed);
  EXPECT_EQ(Held(b, keep), 0);
  EXPECT_GE(a_after, 900) << "the delayed flush acted at once on the peer";
}

// memcached's delayed flush kills every item stored up to its deadline. Items written on either
// node while the deadline passes must end up dead or alive alike on both nodes.
TEST_F(ReplicationTest, DelayedFlushKillsTheSameItemsOnBothNodes) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  // "flush_all 2" issued in second c kills items stored in seconds up to c + 1: the boundary
  // that matters is the start of second c + 2, between 1 and 2 s from now.
  const auto unix_seconds = [] {
    return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch());
  };
  std::atomic<bool> stop{false};
  std::vector<std::string> written[2];
  const auto write = [&](int port, int who) {
    auto c = Client::ConnectTcp(port);
    for (int i = 0; c != nullptr && !stop.load(); ++i) {
      const std::string key = (who == 0 ? "da" : "db") + std::to_string(i);
      if (Store(c.get(), "set", key, "v") == "STORED") written[who].push_back(key);
    }
  };
  std::thread ta(write, a_->port(), 0), tb(write, b_->port(), 1);
  StopAndJoin join_a(&stop, &ta), join_b(&stop, &tb);
  ASSERT_EQ(Command(ca.get(), "flush_all 2\r\n"), "OK");
  const auto boundary = std::chrono::system_clock::time_point(unix_seconds() + seconds(2));
  // Writers on both nodes, each key written once, until the boundary is well past.
  while (std::chrono::system_clock::now() < boundary + milliseconds(300)) {
    std::this_thread::sleep_for(milliseconds(10));  // the duration of the load, not a wait
  }
  stop.store(true);
  ta.join();
  tb.join();
  std::vector<std::string> keys = written[0];
  keys.insert(keys.end(), written[1].begin(), written[1].end());
  ASSERT_GT(keys.size(), 1000u);
  const int held = Held(a_->port(), keys);
  EXPECT_GT(held, 0) << "nothing written after the deadline survived";
  EXPECT_LT(held, static_cast<int>(keys.size())) << "the flush killed nothing";
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(1)));
}

// Meta commands mutate through the same Store calls as text ones; each must reach the peer too.
void EveryMetaMutation(int src, int dst, const std::string& p) {
  auto s = Client::ConnectTcp(src);
  ASSERT_NE(s, nullptr);
  const std::string k = p + "mk", n = p + "mn", v = p + "mv";
  EXPECT_EQ(Command(s.get(), "ms " + k + " 2 F5 T100\r\nhi\r\n"), "HD");
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_TRUE(SameTtl(src, dst, k, 100));
  EXPECT_EQ(Command(s.get(), "ms " + k + " 3 MA\r\n!!!\r\n"), "HD");  // append mode
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_EQ(Command(s.get(), "mg " + k + " T500\r\n"), "HD");  // get-and-touch
  EXPECT_TRUE(SameWithinASecond(src, dst, k));
  EXPECT_TRUE(SameTtl(src, dst, k, 500));
  EXPECT_EQ(Command(s.get(), "ma " + n + " N0 J13\r\n"), "HD");  // vivify at 13
  EXPECT_TRUE(SameWithinASecond(src, dst, n));
  EXPECT_EQ(Command(s.get(), "ma " + n + " MD D3\r\n"), "HD");  // decrement to 10
  EXPECT_TRUE(SameWithinASecond(src, dst, n));
  auto d = Client::ConnectTcp(dst);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(Gets(d.get(), n).value_or(Item{}).value, "10");
  EXPECT_EQ(Command(s.get(), "mg " + v + " N30 s\r\n"), "HD s0 W");  // vivified: we win
  EXPECT_TRUE(SameWithinASecond(src, dst, v));
  EXPECT_TRUE(Gets(d.get(), v).has_value());
  EXPECT_EQ(Command(s.get(), "md " + k + "\r\n"), "HD");
  EXPECT_TRUE(WaitFor([&] { return !Gets(d.get(), k).has_value(); }, seconds(1)));
}

TEST_F(ReplicationTest, EveryMetaMutationReachesThePeerBothWays) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  {
    SCOPED_TRACE("A to B");
    EveryMetaMutation(a_->port(), b_->port(), "a_");
  }
  {
    SCOPED_TRACE("B to A");
    EveryMetaMutation(b_->port(), a_->port(), "b_");
  }
}

// ---------------------------------------------------------------------------------------------
// 2. CAS across nodes

TEST_F(ReplicationTest, CasTokenFromOneNodeIsValidOnTheOther) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  auto ca = Client::ConnectTcp(a_->port());
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  EXPECT_EQ(Store(ca.get(), "set", "shared", "one", 5), "STORED");
  ASSERT_TRUE(SameWithinASecond(a_->port(), b_->port(), "shared"));
  const std::optional<Item> token = Gets(ca.get(), "shared");
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(Store(cb.get(), "cas", "shared", "two", 6, 0, token->cas), "STORED");
  EXPECT_TRUE(SameWithinASecond(b_->port(), a_->port(), "shared"));
  EXPECT_EQ(Gets(ca.get(), "shared").value_or(Item{}).value, "two");
  // The token was used: it is stale on both nodes.
  EXPECT_EQ(Store(ca.get(), "cas", "shared", "three", 0, 0, token->cas), "EXISTS");
  EXPECT_EQ(Store(cb.get(), "cas", "shared", "three", 0, 0, token->cas), "EXISTS");
  EXPECT_EQ(Gets(ca.get(), "shared").value_or(Item{}).value, "two");
  EXPECT_EQ(Gets(cb.get(), "shared").value_or(Item{}).value, "two");
}

// ---------------------------------------------------------------------------------------------
// 3. Failover

TEST_F(ReplicationTest, KilledMastersPeerServesReadsAndWritesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  const std::vector<std::string> keys = Keys("f", 50);
  for (const std::string& key : keys) ASSERT_EQ(Store(ca.get(), "set", key, "v" + key), "STORED");
  ASSERT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(1)));
  const auto before = ReadAll(b_->port(), keys);

  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(cb, nullptr);
  a_->Kill();
  EXPECT_EQ(Store(cb.get(), "set", "after_kill", "first"), "STORED");
  EXPECT_EQ(ReadAll(b_->port(), keys), before);
  EXPECT_EQ(Gets(cb.get(), "after_kill").value_or(Item{}).value, "first");
  StatMap s;
  EXPECT_TRUE(WaitFor(
      [&] {
        s = StatsOf(b_->port(), "replication");
        return StatText(s, "repl_role") == "MASTER" && StatText(s, "repl_link_state") == "down";
      },
      seconds(2)))
      << Summary(s);
  EXPECT_EQ(Store(cb.get(), "set", "later", "second"), "STORED");
}

// ---------------------------------------------------------------------------------------------
// 4. A restarted node is warm before it serves

TEST_F(ReplicationTest, RestartedNodeHoldsEveryKeyWhenItsClientPortOpens) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  std::vector<std::string> keys = Keys("r", 200);
  {
    auto ca = Client::ConnectTcp(a_->port());
    ASSERT_NE(ca, nullptr);
    for (const std::string& key : keys) {
      ASSERT_EQ(Store(ca.get(), "set", key, "v-" + key, 1), "STORED");
    }
  }
  ASSERT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(2)));

  a_->Kill();
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(cb, nullptr);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Command(cb.get(), "delete r" + std::to_string(i) + "\r\n"), "DELETED");
  }
  for (int i = 20; i < 40; ++i) {
    EXPECT_EQ(Store(cb.get(), "set", "r" + std::to_string(i), "changed", 2), "STORED");
  }
  for (const std::string& key : Keys("new", 50)) {
    EXPECT_EQ(Store(cb.get(), "set", key, "while A was down", 3), "STORED");
    keys.push_back(key);
  }

  ASSERT_TRUE(a_->Restart());
  // No polling: the moment A's client port accepts, it must already hold B's data.
  const auto on_a = ReadAll(a_->port(), keys);
  const auto on_b = ReadAll(b_->port(), keys);
  ASSERT_TRUE(on_a.has_value());
  ASSERT_TRUE(on_b.has_value());
  EXPECT_EQ(on_b->size(), keys.size() - 20);
  EXPECT_EQ(on_a->size(), on_b->size());
  EXPECT_TRUE(*on_a == *on_b) << Differences(a_->port(), b_->port(), keys).size()
                              << " keys differ right after A's client port opened";

  ASSERT_TRUE(Paired(a_, b_));
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(Store(ca.get(), "set", "from_a", "1"), "STORED");
  EXPECT_TRUE(SameWithinASecond(a_->port(), b_->port(), "from_a"));
  EXPECT_EQ(Store(cb.get(), "set", "from_b", "2"), "STORED");
  EXPECT_TRUE(SameWithinASecond(b_->port(), a_->port(), "from_b"));
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(1)));
}

// ---------------------------------------------------------------------------------------------
// 5. Link cut without a restart

// Writes to one node until stopped: new keys, overwrites of keys the other writer also
// writes, and deletes. Records every key it touched.
class Writer {
 public:
  Writer(int port, std::string tag) : port_(port), tag_(std::move(tag)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  const std::set<std::string>& keys() const { return keys_; }
  int stored() const { return stored_.load(); }

 private:
  void Run() {
    auto c = Client::ConnectTcp(port_);
    for (int i = 0; !stop_.load() && c != nullptr; ++i) {
      const std::string own = tag_ + std::to_string(i), shared = "s" + std::to_string(i % 100);
      keys_.insert(own);
      keys_.insert(shared);
      if (Store(c.get(), "set", own, tag_ + "-" + std::to_string(i), 1) == "STORED") {
        stored_.fetch_add(1);
      }
      Store(c.get(), "set", shared, tag_ + "-" + std::to_string(i), 2);
      if (i % 7 == 3) Command(c.get(), "delete " + tag_ + std::to_string(i - 3) + "\r\n");
      if (i % 11 == 5) Command(c.get(), "delete s" + std::to_string((i * 7) % 100) + "\r\n");
    }
  }

  const int port_;
  const std::string tag_;
  std::set<std::string> keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int> stored_{0};
  std::thread thread_;
};

std::vector<std::string> Union(const Writer& w1, const Writer& w2) {
  std::set<std::string> all = w1.keys();
  all.insert(w2.keys().begin(), w2.keys().end());
  return {all.begin(), all.end()};
}

TEST_F(ReplicationTest, PairReformsAndConvergesAfterItsLinkIsCutWhileWritesContinue) {
  // Every replication connection goes through a proxy: A dials B through to_b, B dials A
  // through to_a.
  pa_ = FreePort();
  pb_ = FreePort();
  Proxy to_a(pa_), to_b(pb_);
  a_ = StartNode("A", PeerArgs(pa_, to_b.port()));
  ASSERT_NE(a_, nullptr);
  b_ = StartNode("B", PeerArgs(pb_, to_a.port()));
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));

  Writer wa(a_->port(), "a"), wb(b_->port(), "b");
  for (int cut = 0; cut < 3; ++cut) {
    ASSERT_TRUE(WaitFor([&] { return wa.stored() + wb.stored() > 200 * (cut + 1); }, seconds(2)));
    const uint64_t formed_a = StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed");
    const uint64_t formed_b = StatNumber(StatsOf(b_->port(), "replication"), "repl_links_formed");
    EXPECT_GE(to_a.Sever() + to_b.Sever(), 1) << "cut " << cut;
    EXPECT_TRUE(WaitFor(
        [&] {
          return StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed") > formed_a &&
                 StatNumber(StatsOf(b_->port(), "replication"), "repl_links_formed") > formed_b;
        },
        seconds(3)))
        << "the pair did not re-form after cut " << cut;
    ASSERT_TRUE(Paired(a_, b_)) << "cut " << cut;
  }
  wa.Stop();
  wb.Stop();
  ASSERT_TRUE(Paired(a_, b_));
  EXPECT_TRUE(Converged(a_->port(), b_->port(), Union(wa, wb), seconds(5)));
}

TEST_F(ReplicationTest, SilentlyStalledLinkIsDroppedByHeartbeatTimeoutAndReformed) {
  pa_ = FreePort();
  pb_ = FreePort();
  Proxy to_a(pa_), to_b(pb_);
  a_ = StartNode("A", PeerArgs(pa_, to_b.port()));
  ASSERT_NE(a_, nullptr);
  b_ = StartNode("B", PeerArgs(pb_, to_a.port()));
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));
  const uint64_t formed_a = StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed");

  Writer wa(a_->port(), "a"), wb(b_->port(), "b");
  to_a.SetStalled(true);
  to_b.SetStalled(true);
  // --repl-timeout 1s: both nodes give the silent peer up and serve alone.
  EXPECT_TRUE(WaitFor(
      [&] {
        return StatText(StatsOf(a_->port(), "replication"), "repl_link_state") == "down" &&
               StatText(StatsOf(b_->port(), "replication"), "repl_link_state") == "down";
      },
      seconds(3)));
  to_a.SetStalled(false);
  to_b.SetStalled(false);
  to_a.Sever();  // what the stall left behind is dead on both ends anyway
  to_b.Sever();
  EXPECT_TRUE(WaitFor(
      [&] {
        return StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed") > formed_a;
      },
      seconds(3)));
  EXPECT_TRUE(Paired(a_, b_));
  wa.Stop();
  wb.Stop();
  EXPECT_TRUE(Converged(a_->port(), b_->port(), Union(wa, wb), seconds(5)));
}

// Pipelines `n` sets of `value` on `port` with noreply, then waits for the reply to a trailing
// "version": every set has been executed when this returns true.
bool Load(int port, const std::vector<std::string>& keys, const std::string& value) {
  auto c = Client::ConnectTcp(port);
  if (c == nullptr) return false;
  std::string pipeline;
  for (const std::string& key : keys) {
    pipeline +=
        "set " + key + " 0 0 " + std::to_string(value.size()) + " noreply\r\n" + value + "\r\n";
    if (pipeline.size() > (1u << 20) && !c->Send(pipeline)) return false;
    if (pipeline.size() > (1u << 20)) pipeline.clear();
  }
  return c->Send(pipeline + "version\r\n") &&
         c->ReadUntil("\r\n", seconds(20)).rfind("VERSION ", 0) == 0;
}

TEST_F(ReplicationTest, FlushAllWhileThePairIsApartReachesThePeerWhenItReforms) {
  pa_ = FreePort();
  pb_ = FreePort();
  Proxy to_a(pa_), to_b(pb_);
  a_ = StartNode("A", PeerArgs(pa_, to_b.port()));
  ASSERT_NE(a_, nullptr);
  b_ = StartNode("B", PeerArgs(pb_, to_a.port()));
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));
  std::vector<std::string> keys = Keys("old", 20);
  ASSERT_TRUE(Load(a_->port(), keys, "before the flush"));
  ASSERT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(1)));

  to_a.SetRefusing(true);
  to_b.SetRefusing(true);
  to_a.Sever();
  to_b.Sever();
  ASSERT_TRUE(WaitFor(
      [&] {
        return StatText(StatsOf(a_->port(), "replication"), "repl_link_state") == "down" &&
               StatText(StatsOf(b_->port(), "replication"), "repl_link_state") == "down";
      },
      seconds(3)));
  auto ca = Client::ConnectTcp(a_->port());
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  EXPECT_EQ(Store(cb.get(), "set", "b_apart", "b"), "STORED");
  EXPECT_EQ(Command(ca.get(), "flush_all\r\n"), "OK");
  EXPECT_EQ(Store(ca.get(), "set", "a_after_flush", "a"), "STORED");
  keys.push_back("b_apart");
  keys.push_back("a_after_flush");
  EXPECT_EQ(Held(b_->port(), Keys("old", 20)), 20);  // B has not heard of the flush yet

  to_a.SetRefusing(false);
  to_b.SetRefusing(false);
  ASSERT_TRUE(Paired(a_, b_));
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(2)));
  // Everything written before the flush is gone on both; what A wrote after it survives.
  EXPECT_EQ(Held(b_->port(), Keys("old", 20)), 0);
  EXPECT_EQ(Held(b_->port(), {"a_after_flush"}), 1);
}

TEST_F(ReplicationTest, PeerFallingBehindATinyLogGetsAFullResyncAndConverges) {
  // The smallest log allowed (twice the largest item); a 3 s timeout so that the stall below
  // overflows the log without losing the link.
  const std::vector<std::string> small_log = {"--repl-log-size", "2m", "--repl-timeout", "3000ms"};
  pa_ = FreePort();
  pb_ = FreePort();
  Proxy to_a(pa_), to_b(pb_);
  std::vector<std::string> args_a = PeerArgs(pa_, to_b.port()), args_b = PeerArgs(pb_, to_a.port());
  args_a.insert(args_a.end(), small_log.begin(), small_log.end());
  args_b.insert(args_b.end(), small_log.begin(), small_log.end());
  a_ = StartNode("A", args_a);
  ASSERT_NE(a_, nullptr);
  b_ = StartNode("B", args_b);
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(Paired(a_, b_));
  const StatMap a0 = StatsOf(a_->port(), "replication");

  // While nothing moves between the nodes, A takes 24 MB: more than the log, the link's
  // output buffer and the socket buffers hold together.
  to_a.SetStalled(true);
  to_b.SetStalled(true);
  const auto stalled = Clock::now();
  const std::vector<std::string> keys = Keys("burst", 240);
  ASSERT_TRUE(Load(a_->port(), keys, std::string(100 * 1024, 'o')));
  const int64_t load_ms = MillisSince(stalled);
  to_a.SetStalled(false);
  to_b.SetStalled(false);
  EXPECT_LT(load_ms, 2500) << "the burst took too long to keep the link up";

  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(5)));
  const StatMap a1 = StatsOf(a_->port(), "replication");
  EXPECT_GT(StatNumber(a1, "repl_log_overflows"), StatNumber(a0, "repl_log_overflows"));
  EXPECT_EQ(StatNumber(a1, "repl_links_formed"), StatNumber(a0, "repl_links_formed"));
  EXPECT_TRUE(Paired(a_, b_));
}

TEST_F(ReplicationTest, LargeBulkSyncCompletesWhileThePeerKeepsTakingWrites) {
  ASSERT_NO_FATAL_FAILURE(StartPair({"-m", "128"}, {"-m", "128"}));
  const std::vector<std::string> loaded = Keys("bulk", 50000);
  ASSERT_TRUE(Load(a_->port(), loaded, std::string(1000, 'b')));
  ASSERT_TRUE(WaitFor([&] { return Held(b_->port(), loaded) == 50000; }, seconds(5)));

  b_->Kill();
  const uint64_t formed = StatNumber(StatsOf(a_->port(), "replication"), "repl_links_formed");
  Writer writer(a_->port(), "w");
  ASSERT_TRUE(WaitFor([&] { return writer.stored() > 100; }, seconds(2)));
  ASSERT_TRUE(b_->Restart());
  // The writer never touches the loaded keys: B must hold all of them the moment it serves.
  EXPECT_EQ(Held(b_->port(), loaded), 50000);
  ASSERT_TRUE(WaitFor([&] { return writer.stored() > 1000; }, seconds(3)));
  writer.Stop();

  ASSERT_TRUE(Paired(a_, b_));
  std::vector<std::string> keys = loaded;
  keys.insert(keys.end(), writer.keys().begin(), writer.keys().end());
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(5)));
  const StatMap a1 = StatsOf(a_->port(), "replication"), b1 = StatsOf(b_->port(), "replication");
  EXPECT_EQ(StatNumber(a1, "repl_links_formed"), formed + 1) << "the link broke during the sync";
  EXPECT_EQ(StatNumber(b1, "repl_sync_timeouts"), 0u);
}

// ---------------------------------------------------------------------------------------------
// 6. Simultaneous start

TEST_F(ReplicationTest, NodesStartedTogetherFormExactlyOnePair) {
  pa_ = FreePort();
  pb_ = FreePort();
  a_ = StartNode("A", PeerArgs(pa_, pb_), /*wait_for_port=*/false);
  b_ = StartNode("B", PeerArgs(pb_, pa_), /*wait_for_port=*/false);
  ASSERT_NE(a_, nullptr);
  ASSERT_NE(b_, nullptr);
  ASSERT_TRUE(a_->WaitForPort());
  ASSERT_TRUE(b_->WaitForPort());
  ASSERT_TRUE(Paired(a_, b_));
  const StatMap a0 = StatsOf(a_->port(), "replication"), b0 = StatsOf(b_->port(), "replication");
  // A few heartbeats (200 ms each) later, still the same single pair.
  const auto until = Clock::now() + milliseconds(1200);
  while (Clock::now() < until) {
    const StatMap a1 = StatsOf(a_->port(), "replication"), b1 = StatsOf(b_->port(), "replication");
    ASSERT_EQ(StatText(a1, "repl_role"), StatText(a0, "repl_role"));
    ASSERT_EQ(StatText(b1, "repl_role"), StatText(b0, "repl_role"));
    ASSERT_EQ(StatText(a1, "repl_link_state"), "streaming");
    ASSERT_EQ(StatText(b1, "repl_link_state"), "streaming");
    ASSERT_EQ(StatNumber(a1, "repl_links_formed"), StatNumber(a0, "repl_links_formed"));
    ASSERT_EQ(StatNumber(b1, "repl_links_formed"), StatNumber(b0, "repl_links_formed"));
    std::this_thread::sleep_for(milliseconds(50));
  }
  auto ca = Client::ConnectTcp(a_->port());
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Store(ca.get(), "set", "ta" + std::to_string(i), "a"), "STORED");
    EXPECT_EQ(Store(cb.get(), "set", "tb" + std::to_string(i), "b"), "STORED");
    EXPECT_EQ(Store(i % 2 ? ca.get() : cb.get(), "set", "both", std::to_string(i)), "STORED");
    keys.push_back("ta" + std::to_string(i));
    keys.push_back("tb" + std::to_string(i));
  }
  keys.push_back("both");
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(1)));
}

// ---------------------------------------------------------------------------------------------
// 7. repcached's shared port

TEST_F(ReplicationTest, NodesSharingOneReplicationPortPairFailOverAndRejoin) {
  const int p = FreePort();
  const std::vector<std::string> args = {"-x", "127.0.0.1", "-X", std::to_string(p)};
  ServerProcess* first = StartNode("first", args);
  ASSERT_NE(first, nullptr);
  // Alone, it reaches only itself on p: it never pairs with that.
  EXPECT_TRUE(ListensOn(first->pid(), p));
  StatMap s;
  EXPECT_TRUE(WaitFor(
      [&] {
        s = StatsOf(first->port(), "replication");
        return StatNumber(s, "repl_self_connects") >= 2;
      },
      seconds(3)));
  EXPECT_EQ(StatNumber(s, "repl_links_formed"), 0u);
  EXPECT_EQ(StatText(s, "repl_role"), "MASTER");

  ServerProcess* second = StartNode("second", args);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(Paired(first, second));
  EXPECT_EQ(StatText(StatsOf(first->port(), "replication"), "repl_role"), "MASTER");
  EXPECT_EQ(StatText(StatsOf(second->port(), "replication"), "repl_role"), "SLAVE");
  EXPECT_TRUE(ListensOn(first->pid(), p));
  EXPECT_FALSE(ListensOn(second->pid(), p));

  std::vector<std::string> keys = Keys("sp", 50);
  {
    auto c1 = Client::ConnectTcp(first->port());
    ASSERT_NE(c1, nullptr);
    for (const std::string& key : keys) ASSERT_EQ(Store(c1.get(), "set", key, key), "STORED");
  }
  ASSERT_TRUE(Converged(first->port(), second->port(), keys, seconds(1)));

  // The survivor takes over the port.
  first->Kill();
  EXPECT_TRUE(WaitFor([&] { return ListensOn(second->pid(), p) && CanConnect(p); }, seconds(3)));
  s = StatsOf(second->port(), "replication");
  EXPECT_EQ(StatText(s, "repl_role"), "MASTER");
  const uint64_t formed = StatNumber(s, "repl_links_formed");
  const uint64_t self = StatNumber(s, "repl_self_connects");
  EXPECT_TRUE(WaitFor(
      [&] {
        return StatNumber(StatsOf(second->port(), "replication"), "repl_self_connects") > self;
      },
      seconds(3)));
  EXPECT_EQ(StatNumber(StatsOf(second->port(), "replication"), "repl_links_formed"), formed);
  {
    auto c2 = Client::ConnectTcp(second->port());
    ASSERT_NE(c2, nullptr);
    for (const std::string& key : Keys("alone", 20)) {
      ASSERT_EQ(Store(c2.get(), "set", key, key), "STORED");
      keys.push_back(key);
    }
    EXPECT_EQ(Command(c2.get(), "delete sp0\r\n"), "DELETED");
  }

  // The first comes back, cannot take the port, and joins as SLAVE with everything.
  ASSERT_TRUE(first->Restart());
  const auto on_first = ReadAll(first->port(), keys);
  const auto on_second = ReadAll(second->port(), keys);
  ASSERT_TRUE(on_first.has_value());
  ASSERT_TRUE(on_second.has_value());
  EXPECT_EQ(on_second->size(), keys.size() - 1);
  EXPECT_TRUE(*on_first == *on_second) << "the rejoined node is missing data";
  ASSERT_TRUE(Paired(first, second));
  EXPECT_EQ(StatText(StatsOf(first->port(), "replication"), "repl_role"), "SLAVE");
  EXPECT_FALSE(ListensOn(first->pid(), p));
  EXPECT_TRUE(ListensOn(second->pid(), p));
}

// ---------------------------------------------------------------------------------------------
// 8. Conflicting writes

TEST_F(ReplicationTest, ConcurrentConflictingWritesConvergeToIdenticalValuesAndCas) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  const std::vector<std::string> keys = Keys("x", 50);
  std::atomic<bool> stop{false};
  std::atomic<int> ops[2] = {0, 0};
  const auto hammer = [&](int port, int who) {
    auto c = Client::ConnectTcp(port);
    std::mt19937 rng(static_cast<unsigned>(who + 1));
    for (int i = 0; c != nullptr && !stop.load(); ++i) {
      const std::string& key = keys[rng() % keys.size()];
      const std::string value = (who == 0 ? "A" : "B") + std::to_string(i);
      switch (rng() % 8) {
        case 0:
          Store(c.get(), "append", key, "+" + value);
          break;
        case 1:
          Command(c.get(), "delete " + key + "\r\n");
          break;
        case 2:
          Command(c.get(), "touch " + key + " 1000\r\n");
          break;
        case 3:
          if (auto item = Gets(c.get(), key)) Store(c.get(), "cas", key, value, 3, 0, item->cas);
          break;
        default:
          Store(c.get(), "set", key, value, static_cast<uint32_t>(who));
      }
      ops[who].fetch_add(1);
    }
  };
  std::thread ta(hammer, a_->port(), 0), tb(hammer, b_->port(), 1);
  std::this_thread::sleep_for(seconds(1));  // the duration of the load, not a wait
  stop.store(true);
  ta.join();
  tb.join();
  EXPECT_GT(ops[0].load(), 100);
  EXPECT_GT(ops[1].load(), 100);
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(3)));
}

// ---------------------------------------------------------------------------------------------
// 9. Chaos

TEST_F(ReplicationTest, KillingEitherNodeOverAndOverLosesNoAcknowledgedWrite) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  ServerProcess* nodes[2] = {a_, b_};
  const int ports[2] = {a_->port(), b_->port()};

  struct Ack {
    int64_t i;
    int node;
    Clock::time_point at;
  };
  std::vector<Ack> acks;  // the writer's until joined
  std::atomic<int64_t> written{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int node = 0;
    std::unique_ptr<Client> c;
    while (!stop.load()) {
      if (c == nullptr) c = Client::ConnectTcp(ports[node]);
      if (c == nullptr) {
        node ^= 1;
        std::this_thread::sleep_for(milliseconds(1));
        continue;
      }
      const int64_t i = written.fetch_add(1);
      const std::string v = std::to_string(i);
      // Stamped before sending: a reply read after the kill (the writer thread may be slow to
      // run) still belongs to a write the node acknowledged before it died.
      const auto sent = Clock::now();
      if (Store(c.get(), "set", "c" + v, v) == "STORED") {
        acks.push_back({i, node, sent});
      } else {
        c.reset();
        node ^= 1;
      }
    }
  });
  StopAndJoin stop_writer(&stop, &writer);

  struct Kill {
    int node;
    Clock::time_point at;
  };
  std::vector<Kill> kills;
  std::mt19937 rng(7);
  const auto start = Clock::now();
  for (int round = 0; Clock::now() - start < seconds(8); ++round) {
    const int victim = round % 2;
    nodes[victim]->Kill();
    kills.push_back({victim, Clock::now()});  // after the process is gone: no ack comes later
    std::this_thread::sleep_for(milliseconds(50 + rng() % 250));  // writes go to the survivor
    ASSERT_TRUE(nodes[victim]->Restart()) << "round " << round;
    std::this_thread::sleep_for(milliseconds(50 + rng() % 250));  // both up
  }
  stop.store(true);
  writer.join();
  ASSERT_GE(kills.size(), 6u);
  ASSERT_TRUE(Paired(a_, b_));

  const std::vector<std::string> keys = Keys("c", static_cast<int>(written.load()));
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(5)));

  // Replication is asynchronous: a write acknowledged just before its node was killed may be
  // lost. One acknowledged at least 1 s before the next kill of its node may not.
  const auto on_a = ReadAll(a_->port(), keys);
  ASSERT_TRUE(on_a.has_value());
  const auto ms = [&](Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(t - start).count();
  };
  int required = 0;
  std::vector<std::string> lost;
  for (const Ack& ack : acks) {
    bool exempt = false;
    for (const Kill& k : kills) {
      exempt |= k.node == ack.node && ack.at <= k.at && k.at - ack.at < seconds(1);
    }
    if (exempt) continue;
    ++required;
    const std::string v = std::to_string(ack.i);
    const auto it = on_a->find("c" + v);
    if (it == on_a->end() || it->second.value != v) {
      lost.push_back("c" + v + " (acknowledged by " + (ack.node == 0 ? "A" : "B") + " at " +
                     std::to_string(ms(ack.at)) + " ms)");
    }
  }
  std::string timeline;
  for (const Kill& k : kills) {
    timeline += std::string(" ") + (k.node == 0 ? "A" : "B") + "@" + std::to_string(ms(k.at));
  }
  EXPECT_GT(required, 100);
  EXPECT_TRUE(lost.empty()) << lost.size() << " of " << required
                            << " acknowledged writes lost, first " << lost.front() << "; "
                            << acks.size() << " acknowledged; kills (ms):" << timeline;
}

// ---------------------------------------------------------------------------------------------
// 10. Hostile replication traffic

TEST_F(ReplicationTest, GarbageOnTheReplicationPortIsCountedAndHarmless) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  const StatMap a0 = StatsOf(a_->port(), "replication"), b0 = StatsOf(b_->port(), "replication");
  ASSERT_EQ(StatText(a0, "repl_role"), "MASTER");  // A listens on pa_, B (SLAVE) does not

  const auto u32 = [](uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
    return s;
  };
  std::string good_hello;
  replication::Hello hello;
  hello.instance_id = 0x0123456789abcdefULL;
  hello.node_id = 4242;
  hello.clock = 1;
  replication::AppendHello(hello, &good_hello);

  std::mt19937 rng(42);
  std::string random_bytes(4096, '\0');
  for (char& ch : random_bytes) ch = static_cast<char>(rng());
  random_bytes[3] = '\x7f';  // whatever else comes, the first length is out of range
  std::string bad_magic = good_hello;
  bad_magic[5] = 'X';
  std::string bad_version = good_hello;
  bad_version[9] = 99;  // protocol_version follows the 5-byte header and the 4-byte magic
  std::string short_hello = good_hello.substr(0, 5 + 10);
  short_hello.replace(0, 4, u32(1 + 10));  // a HELLO whose fields overrun its length
  std::string mutation;
  storage::Mutation m;
  m.key = "sneaky";
  m.value = "value";
  m.version = 1;
  replication::AppendMutation(replication::FrameType::kMutation, m, &mutation);
  const std::vector<std::pair<std::string, std::string>> garbage = {
      {"random bytes", random_bytes},
      {"length 0xFFFFFFFF", u32(0xFFFFFFFF) + std::string(16, 'z')},
      {"length 0", u32(0) + std::string(16, 'z')},
      {"unknown frame type", u32(9) + std::string(1, '\x63') + std::string(8, 'q')},
      {"HELLO with a wrong magic", bad_magic},
      {"HELLO with protocol version 99", bad_version},
      {"HELLO cut short inside its length", short_hello},
      {"MUTATION before HELLO", mutation},
  };
  uint64_t expected_errors = StatNumber(a0, "repl_protocol_errors");
  for (const auto& [what, bytes] : garbage) {
    auto c = Client::ConnectTcp(pa_);
    ASSERT_NE(c, nullptr) << what;
    ASSERT_TRUE(c->Send(bytes)) << what;
    EXPECT_TRUE(c->WaitForClose(seconds(3))) << what << ": the connection stayed open";
    ++expected_errors;
    EXPECT_TRUE(WaitFor(
        [&] {
          return StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors") ==
                 expected_errors;
        },
        seconds(1)))
        << what << ": repl_protocol_errors is "
        << StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors") << ", expected "
        << expected_errors;
  }
  // A valid HELLO from a third node while the pair is linked is refused.
  {
    auto rogue = Client::ConnectTcp(pa_);
    ASSERT_NE(rogue, nullptr);
    ASSERT_TRUE(rogue->Send(good_hello));
    EXPECT_TRUE(rogue->WaitForClose(seconds(3))) << "the rogue peer was not disconnected";
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return StatNumber(StatsOf(a_->port(), "replication"), "repl_rejected_peers") >
               StatNumber(a0, "repl_rejected_peers");
      },
      seconds(1)));

  // Through all of it, the pair's link stayed up and A kept serving.
  const StatMap a1 = StatsOf(a_->port(), "replication"), b1 = StatsOf(b_->port(), "replication");
  EXPECT_EQ(StatNumber(a1, "repl_links_formed"), StatNumber(a0, "repl_links_formed"));
  EXPECT_EQ(StatNumber(b1, "repl_links_formed"), StatNumber(b0, "repl_links_formed"));
  EXPECT_EQ(StatText(a1, "repl_link_state"), "streaming");
  EXPECT_EQ(StatText(b1, "repl_link_state"), "streaming");
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(Store(ca.get(), "set", "still", "serving"), "STORED");
  EXPECT_TRUE(SameWithinASecond(a_->port(), b_->port(), "still"));
  EXPECT_FALSE(Gets(ca.get(), "sneaky").has_value());
}

// A connection that closes in the middle of a frame sent garbage too: counted and logged like
// any other malformed traffic, not as an ordinary disconnect.
TEST_F(ReplicationTest, FrameCutShortByCloseCountsAsProtocolError) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  const uint64_t before = StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors");
  {
    auto c = Client::ConnectTcp(pa_);
    ASSERT_NE(c, nullptr);
    // Declares 1000 bytes of MUTATION, sends 10, closes (FIN first, so that no reset can
    // overtake the bytes).
    ASSERT_TRUE(c->Send(std::string("\xe8\x03\x00\x00\x02", 5) + std::string(10, 'y')));
    shutdown(c->fd(), SHUT_WR);
    EXPECT_TRUE(c->WaitForClose(seconds(3)));
  }
  uint64_t now = before;
  EXPECT_TRUE(WaitFor(
      [&] {
        now = StatNumber(StatsOf(a_->port(), "replication"), "repl_protocol_errors");
        return now == before + 1;
      },
      seconds(1)))
      << "repl_protocol_errors went from " << before << " to " << now;
  EXPECT_TRUE(Paired(a_, b_, milliseconds(0)));
}

// A refused peer must not be able to change the pair's versions: its HELLO carries a clock that
// is witnessed before the refusal, and a counter near 2^48 makes the next version wrap to 0.
TEST_F(ReplicationTest, RefusedPeersHelloCannotBreakVersionOrder) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_EQ(Store(ca.get(), "set", "ordered", "before"), "STORED");
  ASSERT_TRUE(SameWithinASecond(a_->port(), b_->port(), "ordered"));
  const uint64_t cas_before = Gets(ca.get(), "ordered").value_or(Item{}).cas;

  replication::Hello hello;
  hello.instance_id = 0x0badc0ffee0ddf00ULL;
  hello.node_id = 7;
  hello.clock = (uint64_t{1} << 48) - 1;
  std::string bytes;
  replication::AppendHello(hello, &bytes);
  {
    auto rogue = Client::ConnectTcp(pa_);
    ASSERT_NE(rogue, nullptr);
    ASSERT_TRUE(rogue->Send(bytes));
    EXPECT_TRUE(rogue->WaitForClose(seconds(3)));
  }
  EXPECT_GT(StatNumber(StatsOf(a_->port(), "replication"), "repl_rejected_peers"), 0u);

  ASSERT_EQ(Store(ca.get(), "set", "ordered", "after"), "STORED");
  ASSERT_EQ(Store(ca.get(), "set", "ordered", "last"), "STORED");
  const uint64_t cas_after = Gets(ca.get(), "ordered").value_or(Item{}).cas;
  EXPECT_GT(cas_after, cas_before) << "a later write got a smaller version";
  EXPECT_TRUE(SameWithinASecond(a_->port(), b_->port(), "ordered"));
}

// ---------------------------------------------------------------------------------------------
// 11. The peer out of memory

TEST_F(ReplicationTest, PeerWithoutMemoryCountsApplyFailuresAndKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(StartPair({}, {"-M", "-m", "2"}));
  const StatMap b0 = StatsOf(b_->port(), "replication");
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  const std::string value(32 * 1024, 'm');
  for (int i = 0; i < 200; ++i) {  // 6.4 MB on A, B holds 2 MB
    ASSERT_EQ(Store(ca.get(), "set", "big" + std::to_string(i), value), "STORED");
  }
  StatMap b1;
  EXPECT_TRUE(WaitFor(
      [&] {
        b1 = StatsOf(b_->port(), "replication");
        return StatNumber(b1, "repl_apply_failures") > 0;
      },
      seconds(2)))
      << Summary(b1);
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(cb, nullptr);
  EXPECT_EQ(Command(cb.get(), "version\r\n").rfind("VERSION ", 0), 0u);
  ASSERT_TRUE(cb->Send("get big0 big199\r\n"));
  EXPECT_TRUE(ReadValues(cb.get()).has_value());
  EXPECT_EQ(StatNumber(b1, "repl_links_formed"), StatNumber(b0, "repl_links_formed"));
  EXPECT_EQ(StatText(b1, "repl_link_state"), "streaming");
  // Still linked: a delete on A (which needs no memory on B) arrives.
  std::string held_by_b;
  for (int i = 0; i < 200 && held_by_b.empty(); ++i) {
    if (Gets(cb.get(), "big" + std::to_string(i)).has_value())
      held_by_b = "big" + std::to_string(i);
  }
  ASSERT_FALSE(held_by_b.empty()) << "B holds none of A's items";
  EXPECT_EQ(Command(ca.get(), "delete " + held_by_b + "\r\n"), "DELETED");
  EXPECT_TRUE(WaitFor([&] { return !Gets(cb.get(), held_by_b).has_value(); }, seconds(1)));
}

// ---------------------------------------------------------------------------------------------
// 12. The largest items

TEST_F(ReplicationTest, LargestItemsReplicateIntactBothWaysAndThroughBulkSync) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  const auto big = [](const std::string& key, char seed) {
    std::string v(kMaxItemSize - kItemHeader - key.size(), '\0');
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>('a' + (seed + i * 7) % 26);
    return v;
  };
  const std::vector<std::string> keys = {"bigA0", "bigA1", "bigB0", "bigB1"};
  auto ca = Client::ConnectTcp(a_->port());
  auto cb = Client::ConnectTcp(b_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(cb, nullptr);
  for (int i = 0; i < 4; ++i) {
    Client* c = i < 2 ? ca.get() : cb.get();
    ASSERT_EQ(Store(c, "set", keys[i], big(keys[i], static_cast<char>(i)), 11), "STORED");
  }
  // One byte more does not fit, on either node.
  EXPECT_EQ(Store(ca.get(), "set", "bigA9", big("bigA9", 0) + "x"),
            "SERVER_ERROR object too large for cache");
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, seconds(3)));
  for (int port : {a_->port(), b_->port()}) {
    const auto items = ReadAll(port, keys);
    ASSERT_TRUE(items.has_value());
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(items->count(keys[i]), 1u) << keys[i];
      EXPECT_TRUE(items->at(keys[i]).value == big(keys[i], static_cast<char>(i))) << keys[i];
    }
  }

  a_->Kill();
  ASSERT_TRUE(a_->Restart());
  const auto on_a = ReadAll(a_->port(), keys);
  ASSERT_TRUE(on_a.has_value());
  EXPECT_EQ(on_a->size(), keys.size());
  EXPECT_TRUE(Converged(a_->port(), b_->port(), keys, milliseconds(0)));
}

// ---------------------------------------------------------------------------------------------
// 13. SIGTERM drains the stream

TEST_F(ReplicationTest, SigtermSendsEveryAcceptedWriteToThePeerAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(StartPair());
  constexpr int kKeys = 20000;
  const std::string value(100, 'd');
  std::string pipeline;
  for (int i = 0; i < kKeys; ++i) {
    pipeline += "set d" + std::to_string(i) + " 0 0 " + std::to_string(value.size()) +
                " noreply\r\n" + value + "\r\n";
  }
  auto ca = Client::ConnectTcp(a_->port());
  ASSERT_NE(ca, nullptr);
  ASSERT_TRUE(ca->Send(pipeline + "version\r\n"));
  // The reply to the trailing request means A has executed every set before it.
  ASSERT_EQ(ca->ReadUntil("\r\n").rfind("VERSION ", 0), 0u);
  const int status = a_->Stop(seconds(10));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;

  const std::vector<std::string> keys = Keys("d", kKeys);
  int held = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        held = Held(b_->port(), keys);
        return held == kKeys;
      },
      seconds(5)))
      << "B holds " << held << " of " << kKeys;
}

}  // namespace
}  // namespace memtwin::testing
