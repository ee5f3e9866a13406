// What every protocol handler can reach: the store, the configuration, and the process-wide
// facts that "stats" reports. Owned by main(); outlives every worker and connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/stats.h"
#include "storage/lru_crawler.h"
#include "storage/store.h"

namespace memtwin::server {

// What the protocol needs of client TLS (server/tls.h implements it): "refresh_certs" and the
// ssl_* lines of "stats". Abstract so the protocol library does not link OpenSSL.
class TlsControl {
 public:
  virtual ~TlsControl() = default;
  virtual absl::Status Reload() = 0;
  virtual uint64_t handshake_errors() const = 0;
  virtual uint64_t new_sessions() const = 0;
  virtual int64_t last_load_time() const = 0;  // unix seconds
};

// What a socket is doing, for "stats conns": the memcached 1.6 connection states that memtwin's
// sockets pass through (memcached's names are in the protocol, which prints them).
enum class ConnState : uint8_t {
  kListening,  // a listening socket
  kNewCmd,     // accepted (or TLS handshake under way) and nothing read yet; or yielded (-R)
               // with requests waiting
  kRead,       // waiting for a request, or for the rest of its command line
  kParseCmd,   // handling requests
  kNread,      // waiting for the rest of a data block
  kMwrite,     // replies queued that the socket would not take yet
  kClosing,    // closing
};

// Every open listening socket and client connection, by fd, for "stats conns". Each socket's
// owner (the main thread for listeners, a worker for connections) keeps an Entry, adds it once
// the socket is running and removes it before it closes the fd, so a registered fd is open while
// the lock is held. The owner writes the entry with relaxed stores (once per batch of requests);
// ForEach reads it from whichever thread asks. Thread-safe.
class ConnectionRegistry {
 public:
  struct Entry {
    std::atomic<ConnState> state{ConnState::kNewCmd};
    std::atomic<uint32_t> last_command{0};  // unix seconds; when it was registered, at first
  };

  void Add(int fd, const Entry* entry) {
    absl::MutexLock lock(&mu_);
    by_fd_[fd] = entry;
  }
  void Remove(int fd) {
    absl::MutexLock lock(&mu_);
    by_fd_.erase(fd);
  }
  // In fd order (memcached's), under the lock: the fds stay open while `visit` runs, and no
  // socket can come or go.
  void ForEach(absl::FunctionRef<void(int fd, const Entry& entry)> visit) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [fd, entry] : by_fd_) visit(fd, *entry);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<int, const Entry*> by_fd_ ABSL_GUARDED_BY(mu_);
};

// One socket's lines of "stats conns", as the networking side describes it.
struct ConnectionStat {
  int fd = -1;
  std::string addr;         // memcached's text: "tcp:127.0.0.1:11211", "tcp6:[::1]:11211", ...
  std::string listen_addr;  // the local end of a client connection; empty for a listener
  ConnState state = ConnState::kNewCmd;
  uint32_t secs_since_last_cmd = 0;
};

struct ServerContext {
  storage::Store* store = nullptr;
  // memcached's lru_maintainer_juggles; unset without the maintainer (-o no_lru_maintainer).
  std::function<uint64_t()> lru_maintainer_juggles;
  // The LRU crawler, running or not ("lru_crawler enable" starts it). Always set: main, the
  // protocol tests and the fuzzers each make one.
  storage::LruCrawler* lru_crawler = nullptr;
  const Config* config = nullptr;
  uint32_t start_time = 0;  // unix seconds
  std::atomic<uint64_t> curr_connections{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<int> verbosity{0};
  // "slabs automove" settings. memtwin moves no pages (slab_reassign no), so, as in memcached
  // run with no_slab_reassign, they are only kept and shown by "stats settings".
  std::atomic<uint32_t> slab_automove{0};
  std::atomic<double> slab_automove_ratio{0.8};
  // One per worker thread, in thread order; "stats" sums them and "stats reset" clears them.
  std::vector<ThreadStats*> thread_stats;
  // Asks the process to shut down (the "shutdown" command with -A, or a signal).
  std::function<void()> request_shutdown;
  // Set when replication is on: the "stats replication" lines, and repcached's MASTER/SLAVE.
  std::function<std::vector<std::pair<std::string, std::string>>()> replication_stats;
  std::function<const char*()> replication_role;
  // Set when -Z is on.
  TlsControl* tls = nullptr;
  // The sockets that "stats conns" lists; connection_stats (set by main, as the socket addresses
  // are the networking side's business) describes them.
  ConnectionRegistry connections;
  std::function<std::vector<ConnectionStat>()> connection_stats;
};

}  // namespace memtwin::server
