// What every protocol handler can reach: the store, the configuration, and the process-wide
// facts that "stats" reports. Owned by main(); outlives every worker and connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "server/config.h"
#include "server/stats.h"
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

struct ServerContext {
  storage::Store* store = nullptr;
  const Config* config = nullptr;
  uint32_t start_time = 0;  // unix seconds
  std::atomic<uint64_t> curr_connections{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<int> verbosity{0};
  // One per worker thread, in thread order; "stats" sums them and "stats reset" clears them.
  std::vector<ThreadStats*> thread_stats;
  // Asks the process to shut down (the "shutdown" command with -A, or a signal).
  std::function<void()> request_shutdown;
  // Set when replication is on: the "stats replication" lines, and repcached's MASTER/SLAVE.
  std::function<std::vector<std::pair<std::string, std::string>>()> replication_stats;
  std::function<const char*()> replication_role;
  // Set when -Z is on.
  TlsControl* tls = nullptr;
};

}  // namespace memtwin::server
