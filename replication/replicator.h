// The replication side of a node: owns the peer link (one TCP connection at a time), its own
// thread and libevent base. It streams this node's mutations (from the MutationLog) to the peer,
// applies the peer's with last-writer-wins, runs a bulk sync in both directions whenever a link
// forms, sends heartbeats and acks, and re-forms the pair by itself after any loss.
//
// Roles: a node that joined by connecting to its peer (-x) is SLAVE while that link is up and
// does not listen on the replication port; every other node is MASTER and listens on -X. A node
// that loses its peer keeps serving, listens, and keeps retrying -x with capped backoff.
//
// Security: with options.tls_context every connection is mutual TLS (peer certificate required,
// and matched against options.tls_peer_name when set); with options.secret each connection must
// pass a challenge-response (link_auth.h) before HELLO. A connection failing either is dropped,
// logged and counted; it never sees data and never disturbs the pair's link.
//
// Thread-safety: Start, WaitUntilReady, Stop and Stats may be called from any thread; all link
// state lives on the replication thread.
#pragma once

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "replication/hybrid_clock.h"
#include "replication/mutation_log.h"
#include "replication/wire.h"
#include "storage/store.h"

namespace memtwin::replication {

struct ReplicationOptions {
  int listen_port = 11212;     // -X; 0 turns replication off
  std::string listen_address;  // where -X binds; empty = all interfaces
  std::string peer_host;       // -x; empty = no peer to dial
  int peer_port = 11212;
  size_t log_size = 64u << 20;  // --repl-log-size
  int heartbeat_ms = 1000;      // --repl-heartbeat
  int timeout_ms = 3000;        // --repl-timeout
  int sync_timeout_ms = 60000;  // --repl-sync-timeout
  int max_backoff_ms = 1000;    // reconnect backoff cap: never two masters for longer
  // --repl-tls: one context for both ends of the link, built by main() with the node's
  // certificate and the CA that signs peers, peer verification required. Not owned; null = plain.
  SSL_CTX* tls_context = nullptr;
  std::string tls_peer_name;  // --repl-tls-name: a name the peer's certificate must match
  std::string secret;         // --repl-secret-file's contents; empty = no challenge-response
  int verbose = 0;
};

class Replicator {
 public:
  Replicator(storage::Store* store, HybridClock* clock, const ReplicationOptions& options);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // The sink to install on the Store.
  MutationLog* log() { return &log_; }

  absl::Status Start();
  // Blocks until clients may be served: at once for a node without a reachable peer; after the
  // peer's bulk sync for a joining node, or when --repl-sync-timeout passes (logged, counted).
  void WaitUntilReady();
  // Sends what is still queued to the peer and waits up to `drain` for it to be acknowledged,
  // then closes the link and stops the thread.
  void Stop(std::chrono::milliseconds drain);

  // "stats replication" lines, in order.
  std::vector<std::pair<std::string, std::string>> Stats() const;
  // repcached's "STAT replication": MASTER or SLAVE.
  const char* RoleName() const;

 private:
  struct Link;
  // Ordered: everything before kSyncing is a connection that is not (yet) the pair's link.
  enum class LinkState {
    kConnecting,      // outgoing connect in flight (with TLS: TCP connect and TLS handshake)
    kTlsAccepting,    // accepted connection, TLS handshake running: nothing is read yet
    kAuthenticating,  // shared-secret challenge-response running: only AUTH_* frames count
    kHandshaking,     // HELLO sent (dialler) or awaited (acceptor)
    kSyncing,         // the pair: bulk sync still running in at least one direction
    kStreaming,       // the pair, in sync: only live mutations flow
  };
  // Where a connection is in the shared-secret exchange (wire.h, link_auth.h).
  enum class AuthStep {
    kAwaitChallenge,  // acceptor: the dialler's AUTH_CHALLENGE is due
    kAwaitResponse,   // dialler: AUTH_CHALLENGE sent, the acceptor's AUTH_RESPONSE is due
    kAwaitProof,      // acceptor: AUTH_RESPONSE sent, the dialler's AUTH_PROOF is due
  };

  static void OnLogWakeup(evutil_socket_t, short, void* arg);
  static void OnTick(evutil_socket_t, short, void* arg);
  static void OnRetry(evutil_socket_t, short, void* arg);
  static void OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg);
  static void OnRead(bufferevent* bev, void* arg);
  static void OnWrite(bufferevent* bev, void* arg);
  static void OnEvent(bufferevent* bev, short what, void* arg);

  void Dial();
  bufferevent* NewBufferevent(evutil_socket_t fd, bool outgoing);
  void AddLink(bufferevent* bev, bool outgoing);
  void OnTransportReady(Link* link);
  bool CheckPeerCertificate(Link* link, SSL* ssl, std::string* why);
  bool InTlsHandshake(Link* link) const;
  void HandleFrames(Link* link);
  bool OnAuthFrame(Link* link, FrameType type, const std::string& nonce, const std::string& mac);
  void FailTls(Link* link, const std::string& line);
  void FailAuth(Link* link, const std::string& line);
  void OnHello(Link* link, const Hello& hello);
  void SendHello(Link* link);
  void Activate(Link* link);
  void Pump();
  void StartSnapshot(Link* link);
  void DropLink(Link* link, const std::string& why);
  void UpdateListening();
  void ScheduleRetry();
  void Tick();
  void MarkReady(bool by_timeout);
  void SetState(const std::string& state);
  void Log(const std::string& line) const;
  uint64_t NowMs() const;

  storage::Store* const store_;
  HybridClock* const clock_;
  const ReplicationOptions options_;
  const uint64_t instance_id_;
  const uint32_t max_frame_;
  MutationLog log_;

  event_base* base_ = nullptr;
  event* log_event_ = nullptr;
  event* tick_event_ = nullptr;
  event* retry_event_ = nullptr;
  event* poll_event_ = nullptr;  // re-reads the log while writes keep coming
  evconnlistener* listener_ = nullptr;
  std::thread thread_;

  // Replication-thread state.
  std::vector<std::unique_ptr<Link>> links_;
  Link* active_ = nullptr;
  bool dialing_ = false;
  int backoff_ms_ = 100;
  bool listen_failed_logged_ = false;
  uint64_t next_log_offset_ = 0;
  bool snapshot_running_ = false;
  storage::SnapshotCursor snapshot_;
  std::chrono::steady_clock::time_point snapshot_started_;
  std::chrono::steady_clock::time_point started_;
  bool draining_ = false;

  // Read by other threads.
  mutable absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool sync_interrupted_ ABSL_GUARDED_BY(mu_) = false;  // a joiner's first sync broke off
  std::string state_ ABSL_GUARDED_BY(mu_) = "down";
  std::string peer_ ABSL_GUARDED_BY(mu_);
  uint64_t state_since_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> slave_{false};
  std::atomic<uint64_t> sent_offset_{0};
  std::atomic<uint64_t> acked_offset_{0};
  std::atomic<uint64_t> applied_bytes_{0};
  std::atomic<uint64_t> lag_ms_{0};
  std::atomic<uint64_t> full_syncs_{0};
  std::atomic<uint64_t> items_synced_out_{0};
  std::atomic<uint64_t> bytes_synced_out_{0};
  std::atomic<uint64_t> items_synced_in_{0};
  std::atomic<uint64_t> last_sync_ms_{0};
  std::atomic<uint64_t> log_overflows_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> links_up_{0};
  std::atomic<uint64_t> protocol_errors_{0};
  std::atomic<uint64_t> rejected_peers_{0};
  std::atomic<uint64_t> self_connects_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::atomic<uint64_t> auth_failures_{0};
  std::atomic<uint64_t> sync_timeouts_{0};
};

}  // namespace memtwin::replication
