// memtwin's entry point: parses the command line, builds the Store, starts the workers and the
// listeners, and runs the main event loop (accepting, signals, periodic upkeep) until SIGTERM,
// SIGINT or the "shutdown" command.
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "replication/hybrid_clock.h"
#include "replication/replicator.h"
#include "server/config.h"
#include "server/listener.h"
#include "server/server_context.h"
#include "server/socket_ring.h"
#include "server/tls.h"
#include "server/worker.h"
#include "storage/lru_crawler.h"
#include "storage/lru_maintainer.h"
#include "storage/store.h"

namespace memtwin::server {
namespace {

constexpr int kExitUsage = 64;  // EX_USAGE, as memcached

bool DropPrivileges(const Config& config) {
  if (getuid() != 0 && geteuid() != 0) return true;
  if (config.user.empty()) {
    std::fprintf(stderr, "can't run as root without the -u switch\n");
    return false;
  }
  const passwd* pw = getpwnam(config.user.c_str());
  if (pw == nullptr) {
    std::fprintf(stderr, "can't find the user %s to switch to\n", config.user.c_str());
    return false;
  }
  if (pw->pw_uid == 0) return true;
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    std::fprintf(stderr, "failed to assume identity of user %s\n", config.user.c_str());
    return false;
  }
  return true;
}

void PrintSlabClasses(const storage::SlabClasses& classes) {
  for (int id = 1; id <= classes.count(); ++id) {
    std::fprintf(stderr, "slab class %3d: chunk size %9u perslab %7u\n", id,
                 classes.at(id).chunk_size, classes.at(id).chunks_per_page);
  }
}

// memcached writes its bound ports to $MEMCACHED_PORT_FILENAME so tests can use port 0; so do we.
void WritePortFile(const Listener& listener) {
  const char* path = std::getenv("MEMCACHED_PORT_FILENAME");
  if (path == nullptr) return;
  const std::string tmp = std::string(path) + ".lck";
  {
    std::ofstream out(tmp);
    for (const auto& [family, port] : listener.bound_ports()) {
      out << (family == AF_INET6 ? "TCP INET6: " : "TCP INET: ") << port << "\n";
    }
  }
  std::rename(tmp.c_str(), path);
}

// True when -X can only be reached from this host.
bool IsLoopback(const std::string& address) {
  if (address == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, address.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

struct MainLoop {
  event_base* base;
  storage::Store* store;
};

void OnSignal(evutil_socket_t, short, void* arg) {
  event_base_loopexit(static_cast<MainLoop*>(arg)->base, nullptr);
}

void OnMaintenanceTick(evutil_socket_t, short, void* arg) {
  static_cast<MainLoop*>(arg)->store->Maintain();
}

int Run(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  auto parsed = ParseCommandLine(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  if (parsed->action == CommandLineAction::kHelp) {
    std::fputs(UsageText().c_str(), stdout);
    return 0;
  }
  if (parsed->action == CommandLineAction::kVersion) {
    std::printf("memtwin %s\n", kVersion);
    return 0;
  }
  Config config = parsed->config;
  // As memcached: switch user before anything is created, and refuse to run as root unasked.
  if (!DropPrivileges(config)) return kExitUsage;
  if (config.daemonize && daemon(0, 0) != 0) {
    std::perror("failed to daemonize");
    return EXIT_FAILURE;
  }
  if (config.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    std::perror("warning: -k: mlockall failed");
  }
  // Asked once here so that `stats settings` tells whether the workers' rings exist: a kernel
  // that refuses one ring refuses them all (too old, the io_uring_disabled sysctl, seccomp).
  if (config.io_uring && SocketRing::Create() == nullptr) {
    if (config.verbose > 0) {
      std::fprintf(stderr, "no io_uring (%s): one read() and write() per connection\n",
                   std::strerror(errno));
    }
    config.io_uring = false;
  }
  evthread_use_pthreads();
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles (a debug aid that
  // takes a global lock and costs each request several microseconds); the tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  storage::SystemClock clock;
  replication::HybridClock versions(&clock, static_cast<uint8_t>(std::random_device{}()));
  auto store = storage::Store::Create(config.storage, &clock, &versions);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return EXIT_FAILURE;
  }
  if (config.verbose >= 2) PrintSlabClasses((*store)->slab_classes());
  std::unique_ptr<storage::LruMaintainer> lru_maintainer;
  if (config.lru_maintainer)
    lru_maintainer = std::make_unique<storage::LruMaintainer>(store->get());
  // As memcached, crawls are scheduled by the maintainer's rules, so only while it runs; a
  // client can always ask for one.
  storage::LruCrawler lru_crawler(store->get(), /*autocrawl=*/config.lru_maintainer,
                                  config.lru_crawler_sleep, config.lru_crawler_tocrawl);
  if (config.lru_crawler) lru_crawler.Enable();

  // Certificates are read after switching user, as memcached does, so "refresh_certs" can read
  // whatever start-up could.
  std::unique_ptr<ClientTls> client_tls;
  if (config.tls.enabled) {
    auto tls = ClientTls::Create(config.tls);
    if (!tls.ok()) {
      std::fprintf(stderr, "%s\n", std::string(tls.status().message()).c_str());
      return EXIT_FAILURE;
    }
    client_tls = std::move(*tls);
  }
  replication::ReplicationOptions replication = config.replication;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> peer_tls(nullptr, &SSL_CTX_free);
  if (config.peer_tls.enabled) {
    auto tls = NewPeerTlsContext(config.peer_tls);
    if (!tls.ok()) {
      std::fprintf(stderr, "%s\n", std::string(tls.status().message()).c_str());
      return EXIT_FAILURE;
    }
    peer_tls.reset(*tls);
    replication.tls_context = peer_tls.get();
  }
  if (replication.listen_port != 0 && replication.tls_context == nullptr &&
      replication.secret.empty() && !IsLoopback(replication.listen_address)) {
    // repcached's weakness: whoever connects first gets a copy of the cache and can write.
    std::fprintf(stderr,
                 "WARNING: the replication port %d is reachable from other hosts and "
                 "unauthenticated: anyone who connects can read and overwrite the cache. Use "
                 "--repl-secret-file and/or --repl-tls, or bind with -l 127.0.0.1.\n",
                 replication.listen_port);
  }

  // Replication first: a node joining its peer takes the bulk sync before it serves clients.
  std::unique_ptr<replication::Replicator> replicator;
  if (replication.listen_port != 0) {
    replicator = std::make_unique<replication::Replicator>(store->get(), &versions, replication);
    (*store)->set_mutation_sink(replicator->log());
    absl::Status rs = replicator->Start();
    if (!rs.ok()) {
      std::fprintf(stderr, "%s\n", std::string(rs.message()).c_str());
      return EXIT_FAILURE;
    }
    replicator->WaitUntilReady();
  }

  ServerContext context;
  context.store = store->get();
  context.config = &config;
  context.start_time = clock.Now();
  context.verbosity.store(config.verbose);
  context.tls = client_tls.get();
  context.lru_crawler = &lru_crawler;
  context.slab_automove.store(config.slab_automove);
  context.slab_automove_ratio.store(config.slab_automove_ratio);
  if (lru_maintainer != nullptr) {
    context.lru_maintainer_juggles = [m = lru_maintainer.get()] { return m->juggles(); };
  }
  if (replicator != nullptr) {
    replication::Replicator* r = replicator.get();
    context.replication_stats = [r] { return r->Stats(); };
    context.replication_role = [r] { return r->RoleName(); };
  }

  context.connection_stats = [&context] {
    return DescribeConnections(context.connections, context.store->Now());
  };

  event_base* base = event_base_new();
  MainLoop loop{base, store->get()};
  context.request_shutdown = [base] { event_base_loopexit(base, nullptr); };
  // Before any port opens: a SIGTERM sent as soon as the port answers must mean a clean exit,
  // not the default action.
  event* sigterm = evsignal_new(base, SIGTERM, &OnSignal, &loop);
  event* sigint = evsignal_new(base, SIGINT, &OnSignal, &loop);
  event_add(sigterm, nullptr);
  event_add(sigint, nullptr);

  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<Worker*> worker_ptrs;
  for (int i = 0; i < config.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(&context, client_tls.get()));
    context.thread_stats.push_back(workers.back()->stats());
    worker_ptrs.push_back(workers.back().get());
  }
  const auto stop_workers = [&workers] {
    for (auto& w : workers) w->Stop();
    for (auto& w : workers) w->Join();
  };
  for (auto& w : workers) {
    absl::Status s = w->Start();
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      stop_workers();  // the ones already running
      return EXIT_FAILURE;
    }
  }
  auto listener = std::make_unique<Listener>(base, &context, worker_ptrs);
  absl::Status s = listener->Open();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    stop_workers();
    return EXIT_FAILURE;
  }
  // memcached counts its listening sockets in total_connections; so do we, for identical stats.
  context.total_connections.store(listener->socket_count());
  WritePortFile(*listener);
  if (!config.pid_file.empty()) {
    std::ofstream(config.pid_file) << getpid() << "\n";
  }

  event* tick = event_new(base, -1, EV_PERSIST, &OnMaintenanceTick, &loop);
  const timeval one_second{1, 0};
  event_add(tick, &one_second);
  {
    // Always, unlike memcached: an operator of a pair wants the role and peer in the log.
    const std::string where =
        config.unix_socket.empty() ? "port " + std::to_string(config.port) : config.unix_socket;
    const std::string repl = replicator == nullptr
                                 ? "replication off"
                                 : "replication port " +
                                       std::to_string(config.replication.listen_port) +
                                       (config.replication.peer_host.empty()
                                            ? ", no peer configured"
                                            : ", peer " + config.replication.peer_host + ":" +
                                                  std::to_string(config.replication.peer_port)) +
                                       ", role " + replicator->RoleName();
    std::fprintf(stderr, "memtwin %s: serving on %s, %d threads, %zu MB, %s\n", kVersion,
                 where.c_str(), config.threads, config.storage.memory_limit >> 20, repl.c_str());
  }

  event_base_dispatch(base);

  listener->Close();
  stop_workers();
  // Writes acknowledged to clients should reach the peer before we go: bounded drain.
  if (replicator != nullptr) replicator->Stop(std::chrono::seconds(5));
  event_free(sigterm);
  event_free(sigint);
  event_free(tick);
  listener.reset();
  workers.clear();
  event_base_free(base);
  if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
  if (!config.unix_socket.empty()) unlink(config.unix_socket.c_str());
  return 0;
}

}  // namespace
}  // namespace memtwin::server

int main(int argc, char** argv) { return memtwin::server::Run(argc, argv); }
