// The client-facing sockets (TCP on every -l address, or the -s unix socket) on the main
// thread's event base. With -Z every TCP socket speaks TLS unless its -l entry starts with
// "notls:"; the unix socket is always plain, as in memcached. Accepted connections go round-robin
// to the workers; beyond -c they get memcached's "ERROR Too many open connections" and are closed.
// Listening sockets are listed in the context's ConnectionRegistry while open. Not thread-safe:
// main thread.
#pragma once

#include <event2/listener.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/server_context.h"
#include "server/worker.h"

namespace memtwin::server {

// "stats conns": every socket in `registry`, in fd order, with memcached's address texts (read
// with getsockname/getpeername now, as memcached does for the local end) and idle seconds at
// `now`. Thread-safe; holds the registry's lock while it runs.
std::vector<ConnectionStat> DescribeConnections(const ConnectionRegistry& registry, uint32_t now);

class Listener {
 public:
  Listener(event_base* base, ServerContext* context, std::vector<Worker*> workers);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens as the Config says. Each bound TCP port is recorded in bound_ports().
  absl::Status Open();
  // Stops accepting (used at shutdown).
  void Close();
  const std::vector<std::pair<int, int>>& bound_ports() const { return bound_ports_; }
  size_t socket_count() const { return sockets_.size(); }

 private:
  struct Socket {
    Listener* owner = nullptr;
    evconnlistener* listener = nullptr;
    bool tls = false;  // -Z and not opted out with "notls:"
    ConnectionRegistry::Entry stats_entry;
  };
  static void OnAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg);
  absl::Status ListenTcp(const std::string& address);
  absl::Status ListenUnix();
  absl::Status Add(int fd, bool tls);

  event_base* const base_;
  ServerContext* const context_;
  const std::vector<Worker*> workers_;
  size_t next_worker_ = 0;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::vector<std::pair<int, int>> bound_ports_;  // (address family, port)
};

}  // namespace memtwin::server
