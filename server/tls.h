// OpenSSL contexts: one for clients (-Z and memcached's ssl_* options, reloadable with
// "refresh_certs") and one for the replication link (--repl-tls, always mutual). Connection uses
// ClientTls for accepted sockets; main() builds both and hands the peer context to the Replicator.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/server_context.h"

namespace memtwin::server {

// Thread-safe. A reload builds a fresh SSL_CTX and swaps it in: sessions already established keep
// the context they started with (each SSL holds a reference), new ones get the new certificates.
class ClientTls : public TlsControl {
 public:
  // Fails with memcached's message if a certificate, key or CA file cannot be loaded.
  static absl::StatusOr<std::unique_ptr<ClientTls>> Create(const TlsOptions& options);
  ~ClientTls() override;
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  // A server-side session on an accepted socket; null if OpenSSL could not make one.
  SSL* NewSession(int fd);
  // "refresh_certs": re-reads the files; on failure the running context stays and the message is
  // memcached's ("Error loading the certificate chain: FILE : reason").
  absl::Status Reload() override;

  void CountHandshakeError() { handshake_errors_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t handshake_errors() const override {
    return handshake_errors_.load(std::memory_order_relaxed);
  }
  uint64_t new_sessions() const override { return new_sessions_.load(std::memory_order_relaxed); }
  int64_t last_load_time() const override {
    return last_load_time_.load(std::memory_order_relaxed);
  }

 private:
  explicit ClientTls(const TlsOptions& options) : options_(options) {}
  absl::StatusOr<SSL_CTX*> Build();
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  const TlsOptions options_;
  absl::Mutex mu_;
  SSL_CTX* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<uint64_t> handshake_errors_{0};
  std::atomic<uint64_t> new_sessions_{0};
  std::atomic<int64_t> last_load_time_{0};
};

// The replication link's context, used for both ends (the dialler is the TLS client, the
// acceptor the server): this node's certificate and key, peers verified against the CA and
// required to present a certificate, TLS 1.2 or later. The caller owns it (SSL_CTX_free).
absl::StatusOr<SSL_CTX*> NewPeerTlsContext(const PeerTlsOptions& options);

// The OpenSSL error queue as one line, then cleared.
std::string DrainOpenSslErrors();

}  // namespace memtwin::server
