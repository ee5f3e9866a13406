#include "server/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <ctime>

#include "absl/strings/str_cat.h"

namespace memtwin::server {
namespace {

// memcached's -o ssl_min_version names.
int ProtocolVersion(const std::string& name) {
  if (name == "tlsv1") return TLS1_VERSION;
  if (name == "tlsv1.1") return TLS1_1_VERSION;
  if (name == "tlsv1.3") return TLS1_3_VERSION;
  return TLS1_2_VERSION;
}

int VerifyFlags(int mode) {
  switch (mode) {
    case 1:
      return SSL_VERIFY_PEER;
    case 2:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case 3:
      return SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    default:
      return SSL_VERIFY_NONE;
  }
}

// Loads a certificate chain, its key and (optionally) the CAs that sign the other side, with
// memcached's error messages so "refresh_certs" answers as memcached does.
absl::Status LoadCertificates(SSL_CTX* context, const std::string& chain, const std::string& key,
                              const std::string& ca) {
  if (SSL_CTX_use_certificate_chain_file(context, chain.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Error loading the certificate chain: ", chain, " : ", DrainOpenSslErrors()));
  }
  if (SSL_CTX_use_PrivateKey_file(context, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Error loading the key: ", key, " : ", DrainOpenSslErrors()));
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("Error validating the certificate: ", DrainOpenSslErrors()));
  }
  if (!ca.empty()) {
    if (SSL_CTX_load_verify_locations(context, ca.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Error loading the CA certificate: ", ca, " : ", DrainOpenSslErrors()));
    }
    // Tells clients which CAs we accept, so they pick the right certificate.
    SSL_CTX_set_client_CA_list(context, SSL_load_client_CA_file(ca.c_str()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DrainOpenSslErrors() {
  std::string text;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown error" : text;
}

absl::StatusOr<std::unique_ptr<ClientTls>> ClientTls::Create(const TlsOptions& options) {
  std::unique_ptr<ClientTls> tls(new ClientTls(options));
  absl::Status s = tls->Reload();
  if (!s.ok()) return s;
  return tls;
}

ClientTls::~ClientTls() {
  absl::MutexLock lock(&mu_);
  SSL_CTX_free(context_);
}

absl::StatusOr<SSL_CTX*> ClientTls::Build() {
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  if (context == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", DrainOpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(context, ProtocolVersion(options_.min_version));
  SSL_CTX_set_verify(context, VerifyFlags(options_.verify_mode), nullptr);
  // Renegotiation lets a client make the server redo expensive handshakes at will.
  SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION);
  // Our output buffer is a growing std::string: a retried write may come from a new address
  // and carry more bytes than the attempt that blocked.
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
  if (options_.session_cache) {
    SSL_CTX_set_app_data(context, this);
    SSL_CTX_sess_set_new_cb(context, &ClientTls::OnNewSession);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_SERVER);
    static const unsigned char kSessionContext[] = "memtwin";
    SSL_CTX_set_session_id_context(context, kSessionContext, sizeof(kSessionContext) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(context, SSL_OP_NO_TICKET);
  }
  if (!options_.ciphers.empty() &&
      SSL_CTX_set_cipher_list(context, options_.ciphers.c_str()) != 1) {
    SSL_CTX_free(context);
    return absl::InvalidArgumentError(absl::StrCat(
        "Error setting the provided cipher(s): ", options_.ciphers, " : ", DrainOpenSslErrors()));
  }
  absl::Status s = LoadCertificates(context, options_.chain_cert, options_.key, options_.ca_cert);
  if (!s.ok()) {
    SSL_CTX_free(context);
    return s;
  }
  return context;
}

absl::Status ClientTls::Reload() {
  absl::StatusOr<SSL_CTX*> fresh = Build();
  if (!fresh.ok()) return fresh.status();
  SSL_CTX* old;
  {
    absl::MutexLock lock(&mu_);
    old = context_;
    context_ = *fresh;
  }
  SSL_CTX_free(old);  // sessions still using it hold their own reference
  last_load_time_.store(std::time(nullptr), std::memory_order_relaxed);
  return absl::OkStatus();
}

SSL* ClientTls::NewSession(int fd) {
  SSL* ssl;
  {
    absl::MutexLock lock(&mu_);
    ssl = SSL_new(context_);
  }
  if (ssl == nullptr) {
    DrainOpenSslErrors();
    return nullptr;
  }
  if (SSL_set_fd(ssl, fd) != 1) {
    DrainOpenSslErrors();
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

int ClientTls::OnNewSession(SSL* ssl, SSL_SESSION*) {
  auto* self = static_cast<ClientTls*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  self->new_sessions_.fetch_add(1, std::memory_order_relaxed);
  return 0;  // we did not keep a reference to the session
}

absl::StatusOr<SSL_CTX*> NewPeerTlsContext(const PeerTlsOptions& options) {
  SSL_CTX* context = SSL_CTX_new(TLS_method());
  if (context == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", DrainOpenSslErrors()));
  }
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION);
  absl::Status s = LoadCertificates(context, options.cert, options.key, options.ca);
  if (!s.ok()) {
    SSL_CTX_free(context);
    return absl::InvalidArgumentError(absl::StrCat("--repl-tls: ", s.message()));
  }
  return context;
}

}  // namespace memtwin::server
