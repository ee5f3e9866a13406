// Helpers shared by the server protocol unit tests: a Server that is one client connection's
// worth of memtwin (a Store on a manual clock, a Config, a context and a TextProtocol or
// BinaryProtocol fed the way a Connection feeds it), and the keys and times the tests use.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/binary_protocol.h"
#include "server/config.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_protocol.h"
#include "storage/clock.h"
#include "storage/lru_crawler.h"
#include "storage/store.h"

namespace memtwin::server::test {

using After = TextProtocol::After;

inline constexpr uint32_t kStart = 1700000000;
inline constexpr int kManyRequests = 1 << 20;

inline const std::string kLongKey(251, 'b');
inline const std::string kMaxKey(250, 'a');

// Which protocol a Server's connection speaks (-B ascii or binary).
enum class Protocol { kText, kBinary };

// One client connection's worth of server: a fresh Store on a manual clock, a Config, a context
// with one ThreadStats, and a TextProtocol (or a BinaryProtocol) fed the way a Connection feeds
// it (unconsumed bytes are kept and offered again with the next read).
class Server {
 public:
  explicit Server(Config config = Config{}, Protocol protocol = Protocol::kText)
      : config_(std::move(config)), clock_(kStart) {
    store_ = storage::Store::Create(config_.storage, &clock_).value();
    // As main has it, except that crawls only run when asked for.
    crawler_ = std::make_unique<storage::LruCrawler>(
        store_.get(), /*autocrawl=*/false, config_.lru_crawler_sleep, config_.lru_crawler_tocrawl);
    if (config_.lru_crawler) crawler_->Enable();
    context_.store = store_.get();
    context_.lru_crawler = crawler_.get();
    context_.slab_automove.store(config_.slab_automove);
    context_.slab_automove_ratio.store(config_.slab_automove_ratio);
    context_.config = &config_;
    context_.start_time = kStart - 100;
    context_.thread_stats = {&stats_};
    context_.request_shutdown = [this] { ++shutdown_requests_; };
    if (protocol == Protocol::kBinary) {
      binary_ = std::make_unique<BinaryProtocol>(&context_, &stats_);
      // "stats" for Stats() comes from a second, text connection on the same context.
      stats_reader_ = std::make_unique<TextProtocol>(&context_, &stats_);
    } else {
      protocol_ = std::make_unique<TextProtocol>(&context_, &stats_);
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Delivers `bytes`, runs the protocol until it stops yielding, and returns the reply bytes.
  std::string Send(std::string_view bytes, int max_requests = kManyRequests) {
    if (closed_) return "";
    buffer_.append(bytes);
    std::string out;
    for (;;) {
      size_t consumed = 0;
      const After after = Process(buffer_, &out, &consumed, max_requests);
      EXPECT_LE(consumed, buffer_.size());
      buffer_.erase(0, consumed);
      if (after == After::kClose) closed_ = true;
      if (after != After::kYield) break;
      ++yields_;
    }
    return out;
  }

  // Delivers `bytes` one at a time.
  std::string SendBytewise(std::string_view bytes) {
    std::string out;
    for (char c : bytes) out += Send(std::string_view(&c, 1));
    return out;
  }

  // One Process call, for tests of its contract.
  After ProcessOnce(std::string_view in, std::string* out, size_t* consumed, int max_requests) {
    return Process(in, out, consumed, max_requests);
  }

  // The item's CAS as the store has it, or 0.
  uint64_t CasOf(std::string_view key) {
    uint64_t cas = 0;
    store_->Get(key, [&](const storage::ItemView& item) { cas = item.version; });
    return cas;
  }

  // "stats" as name -> value, and the names in order (for a binary Server, as a text connection
  // beside it reads them).
  std::map<std::string, std::string> Stats(std::vector<std::string>* order = nullptr) {
    std::string reply;
    if (stats_reader_ != nullptr) {
      size_t consumed = 0;
      stats_reader_->Process("stats\r\n", &reply, &consumed, 1);
    } else {
      reply = Send("stats\r\n");
    }
    std::map<std::string, std::string> stats;
    size_t pos = 0;
    while (pos < reply.size()) {
      const size_t end = reply.find("\r\n", pos);
      if (end == std::string::npos) break;
      const std::string line = reply.substr(pos, end - pos);
      pos = end + 2;
      if (line == "END") break;
      EXPECT_THAT(line, ::testing::StartsWith("STAT "));
      const size_t space = line.find(' ', 5);
      const std::string name = line.substr(5, space - 5);
      stats[name] = line.substr(space + 1);
      if (order != nullptr) order->push_back(name);
    }
    EXPECT_EQ(pos, reply.size());
    return stats;
  }

  bool closed() const { return closed_; }
  size_t buffered() const { return buffer_.size(); }
  int yields() const { return yields_; }
  int shutdown_requests() const { return shutdown_requests_; }
  storage::ManualClock& clock() { return clock_; }
  storage::Store& store() { return *store_; }
  ServerContext& context() { return context_; }
  ThreadStats& thread_stats() { return stats_; }

 private:
  After Process(std::string_view in, std::string* out, size_t* consumed, int max_requests) {
    if (binary_ != nullptr) return binary_->Process(in, out, consumed, max_requests);
    return protocol_->Process(in, out, consumed, max_requests);
  }

  const Config config_;
  storage::ManualClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::LruCrawler> crawler_;
  ThreadStats stats_;
  ServerContext context_;
  std::unique_ptr<TextProtocol> protocol_;  // null for a binary Server
  std::unique_ptr<BinaryProtocol> binary_;  // null for a text Server
  std::unique_ptr<TextProtocol> stats_reader_;
  std::string buffer_;
  bool closed_ = false;
  int yields_ = 0;
  int shutdown_requests_ = 0;
};

}  // namespace memtwin::server::test
