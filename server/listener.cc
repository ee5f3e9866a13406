#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace memtwin::server {
namespace {

constexpr char kTooManyConnections[] = "ERROR Too many open connections\r\n";

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

// memcached 1.6's get_conn_text, byte for byte: "tcp:1.2.3.4:5", "tcp6:[::1]:5", "unix:/path",
// and "<AF n>" in place of an address too short to print (a unix client has none).
std::string AddressText(const sockaddr_storage& address) {
  std::string text;
  const char* protocol = "?";
  unsigned port = 0;
  char buf[INET6_ADDRSTRLEN + 2] = {};
  switch (address.ss_family) {
    case AF_INET: {
      const auto& in = reinterpret_cast<const sockaddr_in&>(address);
      if (inet_ntop(AF_INET, &in.sin_addr, buf, sizeof(buf)) != nullptr) text = buf;
      port = ntohs(in.sin_port);
      protocol = "tcp";
      break;
    }
    case AF_INET6: {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
      text = "[";
      if (inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof(buf)) != nullptr) {
        text.append(buf).append("]");
      }
      port = ntohs(in6.sin6_port);
      protocol = "tcp6";
      break;
    }
    case AF_UNIX: {
      const auto& un = reinterpret_cast<const sockaddr_un&>(address);
      text.assign(un.sun_path, strnlen(un.sun_path, sizeof(un.sun_path)));
      protocol = "unix";
      break;
    }
  }
  if (text.size() < 2) text = absl::StrCat("<AF ", address.ss_family, ">");
  return port != 0 ? absl::StrCat(protocol, ":", text, ":", port)
                   : absl::StrCat(protocol, ":", text);
}

}  // namespace

std::vector<ConnectionStat> DescribeConnections(const ConnectionRegistry& registry, uint32_t now) {
  std::vector<ConnectionStat> stats;
  registry.ForEach([&](int fd, const ConnectionRegistry::Entry& entry) {
    ConnectionStat stat;
    stat.fd = fd;
    stat.state = entry.state.load(std::memory_order_relaxed);
    const uint32_t last = entry.last_command.load(std::memory_order_relaxed);
    stat.secs_since_last_cmd = now > last ? now - last : 0;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) local = {};
    if (stat.state == ConnState::kListening) {
      stat.addr = AddressText(local);
    } else {
      // memcached never learns a unix client's (nameless) peer address and prints the zeroed
      // one as "?:<AF 0>"; so do we.
      sockaddr_storage peer{};
      len = sizeof(peer);
      if (local.ss_family != AF_UNIX &&
          getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
        peer = {};
      }
      stat.addr = AddressText(peer);
      stat.listen_addr = AddressText(local);
    }
    stats.push_back(std::move(stat));
  });
  return stats;
}

Listener::Listener(event_base* base, ServerContext* context, std::vector<Worker*> workers)
    : base_(base), context_(context), workers_(std::move(workers)) {}

Listener::~Listener() { Close(); }

void Listener::Close() {
  for (const auto& socket : sockets_) {
    context_->connections.Remove(evconnlistener_get_fd(socket->listener));
    evconnlistener_free(socket->listener);
  }
  sockets_.clear();
}

absl::Status Listener::Open() {
  const Config& config = *context_->config;
  if (!config.unix_socket.empty()) return ListenUnix();  // as memcached: -s disables TCP
  if (config.port == 0) return absl::OkStatus();         // as memcached: -p 0 turns TCP off
  if (config.listen_addresses.empty()) return ListenTcp("");
  for (const std::string& address : config.listen_addresses) {
    absl::Status s = ListenTcp(address);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Listener::ListenTcp(const std::string& address) {
  const Config& config = *context_->config;
  const ListenAddress parsed = ParseListenAddress(address);
  const std::string& host = parsed.host;
  const std::string port = parsed.port.empty() ? std::to_string(config.port) : parsed.port;
  const bool tls = context_->tls != nullptr && !parsed.tls_opt_out;
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &results);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("getaddrinfo(", address, "): ", gai_strerror(rc)));
  }
  absl::Status status = absl::OkStatus();
  bool bound_any = false;
  for (addrinfo* ai = results; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      status = Errno(absl::StrCat("failed to listen on TCP port ", port));
      close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    const int bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    absl::Status s = Add(fd, tls);
    if (!s.ok()) {
      status = s;
      continue;
    }
    bound_ports_.emplace_back(ai->ai_family, bound_port);
    bound_any = true;
  }
  freeaddrinfo(results);
  return bound_any ? absl::OkStatus() : status;
}

absl::Status Listener::ListenUnix() {
  const Config& config = *context_->config;
  sockaddr_un addr{};
  if (config.unix_socket.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError("unix socket path too long");
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(AF_UNIX)");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, config.unix_socket.data(), config.unix_socket.size());
  unlink(config.unix_socket.c_str());
  const mode_t old_umask = umask(~config.unix_mask & 0777);
  const int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old_umask);
  if (rc != 0) {
    close(fd);
    return Errno(absl::StrCat("bind(", config.unix_socket, ")"));
  }
  return Add(fd, /*tls=*/false);
}

absl::Status Listener::Add(int fd, bool tls) {
  auto socket = std::make_unique<Socket>();
  socket->owner = this;
  socket->tls = tls;
  socket->listener = evconnlistener_new(base_, &Listener::OnAccept, socket.get(),
                                        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                        context_->config->backlog, fd);
  if (socket->listener == nullptr) {
    close(fd);
    return Errno("listen");
  }
  // A listener's idle time runs from its opening, as in memcached.
  socket->stats_entry.state.store(ConnState::kListening, std::memory_order_relaxed);
  socket->stats_entry.last_command.store(context_->store->Now(), std::memory_order_relaxed);
  context_->connections.Add(fd, &socket->stats_entry);
  sockets_.push_back(std::move(socket));
  return absl::OkStatus();
}

void Listener::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int, void* arg) {
  const auto* socket = static_cast<Socket*>(arg);
  Listener* self = socket->owner;
  ServerContext* context = self->context_;
  evutil_make_socket_nonblocking(fd);
  if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (context->curr_connections.load(std::memory_order_relaxed) >=
      static_cast<uint64_t>(context->config->max_connections)) {
    // Best effort, like memcached: the client may already be gone.
    [[maybe_unused]] ssize_t n = write(fd, kTooManyConnections, sizeof(kTooManyConnections) - 1);
    close(fd);
    context->rejected_connections.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  context->curr_connections.fetch_add(1, std::memory_order_relaxed);
  context->total_connections.fetch_add(1, std::memory_order_relaxed);
  self->workers_[self->next_worker_++ % self->workers_.size()]->AddConnection(fd, socket->tls);
}

}  // namespace memtwin::server
