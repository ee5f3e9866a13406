#include "replication/replicator.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <random>

#include "absl/strings/str_cat.h"
#include "replication/link_auth.h"

namespace memtwin::replication {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Output queued to the peer beyond which the pump stops pulling from the log and the snapshot;
// OnWrite resumes it below the low mark. Bounds memory per link whatever the write rate.
constexpr size_t kHighWater = 4u << 20;
constexpr size_t kLowWater = 1u << 20;
constexpr size_t kLogReadChunk = 256u << 10;
constexpr size_t kSnapshotGroupsPerStep = 64;
// While mutations keep coming, the replication thread polls the log at this interval instead of
// having every writer wake it: one cross-thread wake-up per burst, not per write.
constexpr timeval kLogPollInterval{0, 200};
// Acknowledge received mutations once this many bytes are unacknowledged (and on every tick).
constexpr uint64_t kAckEveryBytes = 64u << 10;
// Before the peer's HELLO only small handshake frames are due: a stranger cannot make us buffer
// a megabyte-sized frame on a connection that has proven nothing.
constexpr uint32_t kMaxHandshakeFrame = 1024;

// Mutations are small and latency matters: without this, Nagle holds a lone write back until
// the peer's delayed ACK, tens of milliseconds.
void SetNoDelay(evutil_socket_t fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

bool IsIpLiteral(const std::string& name) {
  unsigned char addr[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, name.c_str(), addr) == 1;
}

std::string OpenSslReason(unsigned long code) {
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// This thread's OpenSSL error queue as one line, then cleared.
std::string ThreadOpenSslErrors() {
  std::string text;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    if (!text.empty()) text += "; ";
    text += OpenSslReason(code);
  }
  return text.empty() ? "unknown error" : text;
}

// What a TLS bufferevent collected about its failure: OpenSSL's reasons and the certificate
// verification result. Empty for a plain bufferevent or when OpenSSL had nothing to say.
std::string TlsErrors(bufferevent* bev) {
  std::vector<unsigned long> codes;  // libevent hands them out last first
  unsigned long code;
  while ((code = bufferevent_get_openssl_error(bev)) != 0) {
    // libevent also queues SSL_get_error()'s small codes (e.g. SSL_ERROR_SYSCALL): not reasons.
    if (ERR_GET_LIB(code) != 0) codes.push_back(code);
  }
  std::string text;
  for (auto it = codes.rbegin(); it != codes.rend(); ++it) {
    if (!text.empty()) text += "; ";
    text += OpenSslReason(*it);
  }
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    text = absl::StrCat(text, text.empty() ? "" : " ",
                        "(certificate: ", X509_verify_cert_error_string(verify), ")");
  }
  return text;
}

std::string SubjectOf(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

uint64_t RandomU64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
         static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
}

}  // namespace

struct Replicator::Link {
  Replicator* owner;
  bufferevent* bev;
  bool outgoing;
  LinkState state;
  std::string address;
  uint64_t opened_ms = 0;  // when the current handshake phase began (dial, or transport ready)
  AuthStep auth_step = AuthStep::kAwaitChallenge;
  std::string own_nonce;   // the nonce this side sent
  std::string peer_nonce;  // the nonce the peer sent
  std::string binding;     // TLS keying material the MACs cover; empty without TLS
  Hello peer;
  bool hello_received = false;
  bool peer_synced = false;  // the peer's SNAPSHOT_END arrived
  uint64_t last_rx_ms = 0;
  uint64_t applied = 0;        // MUTATION bytes from the peer, applied
  uint64_t applied_acked = 0;  // what we last told the peer
  uint64_t mutation_bytes_sent = 0;
  uint64_t acked = 0;
  std::deque<std::pair<uint64_t, SteadyClock::time_point>> in_flight;  // for lag in ms

  ~Link() { bufferevent_free(bev); }
};

Replicator::Replicator(storage::Store* store, HybridClock* clock, const ReplicationOptions& options)
    : store_(store),
      clock_(clock),
      options_(options),
      instance_id_(RandomU64()),
      max_frame_(static_cast<uint32_t>(store->item_size_max() + 4096)),
      log_(options.log_size, [this] {
        if (log_event_ != nullptr) event_active(log_event_, EV_READ, 0);
      }) {}

Replicator::~Replicator() {
  if (thread_.joinable()) Stop(std::chrono::milliseconds(0));
}

void Replicator::Log(const std::string& line) const {
  std::fprintf(stderr, "memtwin: replication: %s\n", line.c_str());
}

uint64_t Replicator::NowMs() const {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now().time_since_epoch())
          .count());
}

absl::Status Replicator::Start() {
  started_ = SteadyClock::now();
  if (options_.listen_port == 0) {
    MarkReady(false);
    return absl::OkStatus();
  }
  base_ = event_base_new();
  if (base_ == nullptr) return absl::InternalError("replication: event_base_new failed");
  log_event_ = event_new(base_, -1, EV_PERSIST, &Replicator::OnLogWakeup, this);
  tick_event_ = event_new(base_, -1, EV_PERSIST, &Replicator::OnTick, this);
  retry_event_ = evtimer_new(base_, &Replicator::OnRetry, this);
  poll_event_ = evtimer_new(base_, &Replicator::OnLogWakeup, this);
  const timeval tick{options_.heartbeat_ms / 1000, (options_.heartbeat_ms % 1000) * 1000};
  event_add(log_event_, nullptr);
  event_add(tick_event_, &tick);
  // With a peer configured, try it before listening: in repcached's same-port setup the port
  // belongs to the peer while it is up, and a joining node never needs it.
  if (options_.peer_host.empty()) {
    MarkReady(false);
    UpdateListening();
  } else {
    Dial();
  }
  thread_ = std::thread([this] {
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
    active_ = nullptr;
    links_.clear();
    if (listener_ != nullptr) evconnlistener_free(listener_);
    listener_ = nullptr;
    log_.Enable(false);
  });
  return absl::OkStatus();
}

void Replicator::WaitUntilReady() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&ready_));
}

void Replicator::MarkReady(bool by_timeout) {
  absl::MutexLock lock(&mu_);
  if (ready_) return;
  ready_ = true;
  if (by_timeout) {
    sync_timeouts_.fetch_add(1);
    Log(absl::StrCat("bulk sync not finished after ", options_.sync_timeout_ms,
                     " ms: opening client ports anyway"));
  }
}

void Replicator::Stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  struct StopRequest {
    Replicator* self;
    int64_t drain_ms;
  };
  auto* request = new StopRequest{this, drain.count()};
  event_base_once(
      base_, -1, EV_TIMEOUT,
      [](evutil_socket_t, short, void* arg) {
        std::unique_ptr<StopRequest> r(static_cast<StopRequest*>(arg));
        Replicator* self = r->self;
        if (self->active_ == nullptr || r->drain_ms <= 0) {
          event_base_loopbreak(self->base_);
          return;
        }
        self->draining_ = true;
        self->Pump();
        const timeval deadline{static_cast<time_t>(r->drain_ms / 1000),
                               static_cast<suseconds_t>((r->drain_ms % 1000) * 1000)};
        event_base_loopexit(self->base_, &deadline);
        self->Tick();
      },
      request, nullptr);
  thread_.join();
  if (log_event_ != nullptr) event_free(log_event_);
  if (tick_event_ != nullptr) event_free(tick_event_);
  if (retry_event_ != nullptr) event_free(retry_event_);
  if (poll_event_ != nullptr) event_free(poll_event_);
  log_event_ = tick_event_ = retry_event_ = poll_event_ = nullptr;
  if (base_ != nullptr) event_base_free(base_);
  base_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Connections

void Replicator::Dial() {
  if (dialing_ || active_ != nullptr) return;
  bufferevent* bev = NewBufferevent(-1, true);
  if (bev == nullptr) {
    // As a peer that does not answer (DropLink): serve alone, unless a sync broke off, and
    // try again later.
    bool interrupted;
    {
      absl::MutexLock lock(&mu_);
      interrupted = sync_interrupted_;
    }
    if (!interrupted) MarkReady(false);
    UpdateListening();
    ScheduleRetry();
    return;
  }
  dialing_ = true;
  AddLink(bev, true);
  Link* link = links_.back().get();
  link->state = LinkState::kConnecting;
  link->opened_ms = NowMs();
  link->address = absl::StrCat(options_.peer_host, ":", options_.peer_port);
  const timeval timeout{options_.timeout_ms / 1000, (options_.timeout_ms % 1000) * 1000};
  bufferevent_set_timeouts(bev, nullptr, &timeout);
  if (bufferevent_socket_connect_hostname(bev, nullptr, AF_UNSPEC, options_.peer_host.c_str(),
                                          options_.peer_port) != 0) {
    DropLink(link, "cannot start connecting");
    return;
  }
  // Before the TLS handshake, whose small messages would otherwise wait for delayed ACKs.
  const evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd >= 0) SetNoDelay(fd);
}

// A plain socket bufferevent, or a TLS one (client side when dialling, server side when
// accepting) when the link is configured for TLS. Null on failure, with `fd` closed.
bufferevent* Replicator::NewBufferevent(evutil_socket_t fd, bool outgoing) {
  if (options_.tls_context == nullptr) {
    bufferevent* bev = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr && fd >= 0) evutil_closesocket(fd);
    return bev;
  }
  SSL* ssl = SSL_new(options_.tls_context);
  if (ssl == nullptr) {
    Log(absl::StrCat("cannot create a TLS session: ", ThreadOpenSslErrors()));
    if (fd >= 0) evutil_closesocket(fd);
    return nullptr;
  }
  // Our frames carry their own lengths and a cut inside one is already caught, so a peer that
  // closes without close_notify (every memtwin does) is an ordinary end of the connection.
  SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  const std::string& name = options_.tls_peer_name;
  if (outgoing && !name.empty()) {
    // Checked by OpenSSL during the handshake (an IP literal against IP SANs). SNI is for host
    // names only (RFC 6066).
    if (SSL_set1_host(ssl, name.c_str()) != 1 ||
        (!IsIpLiteral(name) && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)) {
      Log(absl::StrCat("cannot set --repl-tls-name ", name, ": ", ThreadOpenSslErrors()));
      SSL_free(ssl);
      if (fd >= 0) evutil_closesocket(fd);
      return nullptr;
    }
  }
  // With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL (and the socket) from here on, and
  // frees the SSL itself if it cannot be created.
  bufferevent* bev = bufferevent_openssl_socket_new(
      base_, fd, ssl, outgoing ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
      BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) {
    Log("cannot create a TLS bufferevent");
    if (fd >= 0) evutil_closesocket(fd);
    return nullptr;
  }
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}

void Replicator::AddLink(bufferevent* bev, bool outgoing) {
  auto link = std::make_unique<Link>();
  link->owner = this;
  link->bev = bev;
  link->outgoing = outgoing;
  link->state = LinkState::kHandshaking;
  link->last_rx_ms = link->opened_ms = NowMs();
  bufferevent_setcb(bev, &Replicator::OnRead, &Replicator::OnWrite, &Replicator::OnEvent,
                    link.get());
  bufferevent_setwatermark(bev, EV_WRITE, kLowWater, 0);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  links_.push_back(std::move(link));
}

// The dialler speaks first; the accepting side answers with its own HELLO only when it takes the
// link, so a dialler never believes in a link the other side refused.
void Replicator::SendHello(Link* link) {
  std::string hello;
  AppendHello({kProtocolVersion, instance_id_, clock_->node_id(), clock_->counter(), 0}, &hello);
  bufferevent_write(link->bev, hello.data(), hello.size());
}

void Replicator::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int, void* arg) {
  auto* self = static_cast<Replicator*>(arg);
  SetNoDelay(fd);
  bufferevent* bev = self->NewBufferevent(fd, false);
  if (bev == nullptr) return;
  self->AddLink(bev, false);
  Link* link = self->links_.back().get();
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (addr->sa_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  link->address = absl::StrCat(host, ":", port);
  if (self->options_.tls_context != nullptr) {
    link->state = LinkState::kTlsAccepting;  // BEV_EVENT_CONNECTED when the handshake is done
  } else {
    self->OnTransportReady(link);
  }
}

// The connection can carry frames: TCP connected (plain), or the TLS handshake done. Checks the
// peer's certificate, then starts the shared-secret exchange or, without a secret, HELLO.
void Replicator::OnTransportReady(Link* link) {
  link->last_rx_ms = link->opened_ms = NowMs();
  if (link->outgoing) {
    bufferevent_set_timeouts(link->bev, nullptr, nullptr);
    SetNoDelay(bufferevent_getfd(link->bev));
  }
  if (SSL* ssl = bufferevent_openssl_get_ssl(link->bev)) {
    std::string why;
    if (!CheckPeerCertificate(link, ssl, &why)) {
      FailTls(link, why);
      return;
    }
    link->binding = TlsChannelBinding(ssl);
    if (link->binding.empty()) {
      FailTls(link, absl::StrCat("cannot export TLS keying material for ", link->address, ": ",
                                 ThreadOpenSslErrors()));
      return;
    }
    if (options_.verbose > 0) {
      Log(absl::StrCat("TLS with ", link->address, ": ", SSL_get_version(ssl), " ",
                       SSL_get_cipher_name(ssl), ", peer ",
                       SubjectOf(SSL_get0_peer_certificate(ssl))));
    }
  }
  if (options_.secret.empty()) {
    link->state = LinkState::kHandshaking;
    if (link->outgoing) SendHello(link);
  } else {
    link->state = LinkState::kAuthenticating;
    link->auth_step = link->outgoing ? AuthStep::kAwaitResponse : AuthStep::kAwaitChallenge;
    if (link->outgoing) {
      link->own_nonce = NewAuthNonce();
      if (link->own_nonce.empty()) {
        FailAuth(link, absl::StrCat("cannot draw a random nonce: ", ThreadOpenSslErrors()));
        return;
      }
      std::string challenge;
      AppendAuthChallenge(link->own_nonce, &challenge);
      bufferevent_write(link->bev, challenge.data(), challenge.size());
    }
  }
  // What arrived together with the end of the TLS handshake was left unread until the peer's
  // certificate had been checked.
  if (evbuffer_get_length(bufferevent_get_input(link->bev)) > 0) HandleFrames(link);
}

// The context already made OpenSSL verify the chain and require a certificate; checked again
// here so a context built without them cannot silently let an unverified peer in.
bool Replicator::CheckPeerCertificate(Link* link, SSL* ssl, std::string* why) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) {
    *why = absl::StrCat("TLS peer ", link->address, " presented no certificate");
    return false;
  }
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    *why = absl::StrCat("TLS peer ", link->address, " (", SubjectOf(cert),
                        "): certificate not verified: ", X509_verify_cert_error_string(verify));
    return false;
  }
  const std::string& name = options_.tls_peer_name;
  if (name.empty()) return true;
  // The dialler's OpenSSL checked this already (SSL_set1_host); the acceptor's cannot, as it
  // does not know which name to expect from a client: both check here.
  const int match = IsIpLiteral(name) ? X509_check_ip_asc(cert, name.c_str(), 0)
                                      : X509_check_host(cert, name.data(), name.size(), 0, nullptr);
  if (match != 1) {
    *why = absl::StrCat("TLS peer ", link->address, " (", SubjectOf(cert),
                        "): certificate does not match --repl-tls-name ", name);
    return false;
  }
  return true;
}

// A TLS handshake was running when the connection failed: the acceptor's, or a dialler's whose
// TCP connection was up (it wrote its ClientHello) — a refused connect is no TLS failure.
bool Replicator::InTlsHandshake(Link* link) const {
  if (link->state == LinkState::kTlsAccepting) return true;
  if (link->state != LinkState::kConnecting) return false;
  SSL* ssl = bufferevent_openssl_get_ssl(link->bev);
  BIO* out = ssl != nullptr ? SSL_get_wbio(ssl) : nullptr;
  return out != nullptr && BIO_number_written(out) > 0;
}

void Replicator::FailTls(Link* link, const std::string& line) {
  tls_failures_.fetch_add(1);
  Log(absl::StrCat(line, "; connection dropped"));
  DropLink(link, "");
}

void Replicator::FailAuth(Link* link, const std::string& line) {
  auth_failures_.fetch_add(1);
  Log(absl::StrCat(line, "; connection dropped"));
  DropLink(link, "");
}

void Replicator::OnEvent(bufferevent*, short what, void* arg) {
  Link* link = static_cast<Link*>(arg);
  Replicator* self = link->owner;
  if (what & BEV_EVENT_CONNECTED) {
    self->OnTransportReady(link);
    return;
  }
  std::string why = (what & BEV_EVENT_EOF)       ? "closed by peer"
                    : (what & BEV_EVENT_TIMEOUT) ? "timed out"
                                                 : "socket error";
  const std::string tls_errors = TlsErrors(link->bev);
  if (!tls_errors.empty()) {
    why = absl::StrCat(why, ": ", tls_errors);
  } else if (what & BEV_EVENT_ERROR) {
    const int err = EVUTIL_SOCKET_ERROR();
    if (err != 0) why = absl::StrCat(why, " (", evutil_socket_error_to_string(err), ")");
  }
  if (self->InTlsHandshake(link)) {
    self->FailTls(link, absl::StrCat("TLS handshake with ", link->address, " failed: ", why));
    return;
  }
  if (link != self->active_ && !tls_errors.empty()) {
    // TLS 1.3: the acceptor checks the dialler's certificate after the dialler has finished its
    // side of the handshake, so a refusal reaches the dialler as an alert on its first read.
    self->FailTls(link, absl::StrCat("TLS session with ", link->address, " refused: ", why));
    return;
  }
  const size_t unread = evbuffer_get_length(bufferevent_get_input(link->bev));
  if (unread > 0) {
    // The peer went away in the middle of a frame.
    self->protocol_errors_.fetch_add(1);
    self->Log(absl::StrCat("connection with ", link->address, " ended inside a frame (", unread,
                           " bytes unread)"));
  }
  if (link->state == LinkState::kAuthenticating) {
    // With TLS 1.3 a dialler whose certificate the acceptor refused may see only the close: its
    // first write can meet the reset before it reads the alert.
    const bool tls = bufferevent_openssl_get_ssl(link->bev) != nullptr;
    const char* hint = tls && link->outgoing
                           ? "the peer may have refused this node's certificate, or use a "
                             "different --repl-secret-file"
                           : "the peer may use a different --repl-secret-file";
    self->FailAuth(link, absl::StrCat("connection with ", link->address,
                                      " ended during authentication (", why, "): ", hint));
    return;
  }
  self->DropLink(link, why);
}

void Replicator::DropLink(Link* link, const std::string& why) {
  const bool was_active = link == active_;
  const bool was_dial = link->outgoing && link->state <= LinkState::kHandshaking;
  {
    absl::MutexLock lock(&mu_);
    if (was_active && !ready_) sync_interrupted_ = true;
  }
  if (was_active) {
    Log(absl::StrCat("link with ", link->address, " lost: ", why, "; serving alone as MASTER"));
    active_ = nullptr;
    slave_.store(false);
    log_.Enable(false);
    snapshot_running_ = false;
    SetState("down");
  } else if (options_.verbose > 0 && !why.empty()) {  // empty: the caller logged it already
    Log(absl::StrCat("connection with ", link->address.empty() ? "?" : link->address,
                     " closed: ", why));
  }
  if (link->outgoing) dialing_ = false;
  for (auto it = links_.begin(); it != links_.end(); ++it) {
    if (it->get() == link) {
      links_.erase(it);
      break;
    }
  }
  if (draining_ && active_ == nullptr) {
    event_base_loopbreak(base_);
    return;
  }
  UpdateListening();
  // Startup: a peer that does not answer means this node serves alone right away. A link that
  // broke mid-sync is retried instead, so a partial copy is not served as complete (only
  // --repl-sync-timeout opens the port then).
  bool interrupted;
  {
    absl::MutexLock lock(&mu_);
    interrupted = sync_interrupted_;
  }
  if (was_dial && active_ == nullptr && !interrupted) MarkReady(false);
  if (!options_.peer_host.empty() && active_ == nullptr) ScheduleRetry();
}

void Replicator::ScheduleRetry() {
  if (dialing_ || evtimer_pending(retry_event_, nullptr)) return;
  const timeval delay{backoff_ms_ / 1000, (backoff_ms_ % 1000) * 1000};
  evtimer_add(retry_event_, &delay);
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
}

void Replicator::OnRetry(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Replicator*>(arg);
  if (self->active_ != nullptr) return;
  self->reconnects_.fetch_add(1);
  self->Dial();
}

void Replicator::UpdateListening() {
  const bool should_listen = !(active_ != nullptr && active_->outgoing);
  if (!should_listen) {
    if (listener_ != nullptr) {
      evconnlistener_free(listener_);
      listener_ = nullptr;
    }
    return;
  }
  if (listener_ != nullptr) return;
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE;
  hints.ai_family = options_.listen_address.empty() ? AF_INET : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  const std::string port = std::to_string(options_.listen_port);
  if (getaddrinfo(options_.listen_address.empty() ? nullptr : options_.listen_address.c_str(),
                  port.c_str(), &hints, &ai) != 0 ||
      ai == nullptr) {
    Log(absl::StrCat("cannot resolve replication listen address ", options_.listen_address));
    return;
  }
  listener_ =
      evconnlistener_new_bind(base_, &Replicator::OnAccept, this,
                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 16,
                              ai->ai_addr, static_cast<int>(ai->ai_addrlen));
  freeaddrinfo(ai);
  if (listener_ == nullptr) {
    // Usually the peer on this host holds the shared port while it is up: retried every tick.
    if (!listen_failed_logged_) {
      Log(absl::StrCat("cannot listen on replication port ", options_.listen_port, " (",
                       evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), "); will retry"));
      listen_failed_logged_ = true;
    }
    return;
  }
  listen_failed_logged_ = false;
  if (options_.verbose > 0) {
    Log(absl::StrCat("listening for a peer on port ", options_.listen_port));
  }
}

// ---------------------------------------------------------------------------------------------
// Frames

void Replicator::OnRead(bufferevent*, void* arg) {
  Link* link = static_cast<Link*>(arg);
  link->owner->HandleFrames(link);
}

void Replicator::HandleFrames(Link* link) {
  // Nothing counts before the transport is ready (TLS done, the peer's certificate checked).
  if (link->state == LinkState::kConnecting || link->state == LinkState::kTlsAccepting) return;
  evbuffer* in = bufferevent_get_input(link->bev);
  link->last_rx_ms = NowMs();
  std::string error;
  for (;;) {
    const size_t available = evbuffer_get_length(in);
    if (available < kFrameHeaderSize) break;
    unsigned char header[4];
    evbuffer_copyout(in, header, 4);
    const uint32_t length =
        header[0] | (header[1] << 8) | (header[2] << 16) | (uint32_t{header[3]} << 24);
    const uint32_t max_frame = link->hello_received ? max_frame_ : kMaxHandshakeFrame;
    if (length == 0 || length > max_frame) {
      protocol_errors_.fetch_add(1);
      Log(absl::StrCat("bad frame from ", link->address, ": length ", length,
                       "; closing the connection"));
      DropLink(link, "protocol error");
      return;
    }
    if (available < 4 + size_t{length}) break;
    const char* data = reinterpret_cast<const char*>(evbuffer_pullup(in, 4 + length));
    Frame frame;
    if (DecodeFrame(std::string_view(data, 4 + length), max_frame, &frame, &error) !=
        DecodeStatus::kOk) {
      protocol_errors_.fetch_add(1);
      Log(absl::StrCat("bad frame from ", link->address, ": ", error, "; closing the connection"));
      DropLink(link, "protocol error");
      return;
    }
    const bool auth_frame = frame.type == FrameType::kAuthChallenge ||
                            frame.type == FrameType::kAuthResponse ||
                            frame.type == FrameType::kAuthProof;
    if (auth_frame || link->state == LinkState::kAuthenticating) {
      // Copied: the frame's views die with the drain, and the link may die in OnAuthFrame.
      const FrameType type = frame.type;
      const std::string nonce(frame.nonce), mac(frame.mac);
      evbuffer_drain(in, frame.size);
      if (!OnAuthFrame(link, type, nonce, mac)) return;
      continue;
    }
    if (!link->hello_received && frame.type != FrameType::kHello) {
      protocol_errors_.fetch_add(1);
      Log(absl::StrCat("peer ", link->address, " spoke before HELLO; closing the connection"));
      DropLink(link, "protocol error");
      return;
    }
    switch (frame.type) {
      case FrameType::kHello: {
        if (link->hello_received) {
          protocol_errors_.fetch_add(1);
          DropLink(link, "second HELLO");
          return;
        }
        link->hello_received = true;
        const Hello hello = frame.hello;
        evbuffer_drain(in, frame.size);
        OnHello(link, hello);
        // OnHello may have closed the link, or replaced another one: stop if it is gone.
        bool alive = false;
        for (auto& l : links_) alive |= l.get() == link;
        if (!alive) return;
        continue;
      }
      case FrameType::kMutation:
      case FrameType::kSnapshotItem:
        if (link != active_) {
          DropLink(link, "data on a connection that is not the pair's link");
          return;
        }
        store_->Apply(frame.mutation);
        if (frame.type == FrameType::kMutation) {
          link->applied += frame.size;
          applied_bytes_.fetch_add(frame.size, std::memory_order_relaxed);
        } else {
          items_synced_in_.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      case FrameType::kSnapshotBegin:
        link->peer_synced = false;
        break;
      case FrameType::kSnapshotEnd:
        link->peer_synced = true;
        if (link == active_) {
          Log(absl::StrCat("bulk sync from ", link->address, " complete"));
          if (!snapshot_running_) {
            link->state = LinkState::kStreaming;
            SetState("streaming");
          }
          MarkReady(false);
        }
        break;
      case FrameType::kHeartbeat:
      case FrameType::kAuthChallenge:  // handled above
      case FrameType::kAuthResponse:
      case FrameType::kAuthProof:
        break;
      case FrameType::kAck: {
        link->acked = frame.number;
        acked_offset_.store(frame.number, std::memory_order_relaxed);
        while (!link->in_flight.empty() && link->in_flight.front().first <= frame.number) {
          lag_ms_.store(
              static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        SteadyClock::now() - link->in_flight.front().second)
                                        .count()),
              std::memory_order_relaxed);
          link->in_flight.pop_front();
        }
        break;
      }
    }
    evbuffer_drain(in, frame.size);
  }
  if (link == active_ && link->applied - link->applied_acked >= kAckEveryBytes) {
    std::string ack;
    AppendNumber(FrameType::kAck, link->applied, &ack);
    bufferevent_write(link->bev, ack.data(), ack.size());
    link->applied_acked = link->applied;
  }
  if (draining_) Tick();
}

// One frame of the shared-secret exchange, or any frame while it runs. False if the connection
// was dropped: a wrong MAC, a frame out of turn, or a peer and this node that disagree about
// having a secret. Until the exchange succeeds nothing but AUTH_* frames is sent either way.
bool Replicator::OnAuthFrame(Link* link, FrameType type, const std::string& nonce,
                             const std::string& mac) {
  const std::string& secret = options_.secret;
  if (secret.empty()) {
    FailAuth(link, absl::StrCat("peer ", link->address, " sent ", FrameTypeName(type),
                                ": it requires a shared secret, and this node has no "
                                "--repl-secret-file"));
    return false;
  }
  if (link->state != LinkState::kAuthenticating) {
    protocol_errors_.fetch_add(1);
    Log(absl::StrCat("peer ", link->address, " sent ", FrameTypeName(type),
                     " after authenticating; closing the connection"));
    DropLink(link, "protocol error");
    return false;
  }
  const char* due = "AUTH_CHALLENGE";
  switch (link->auth_step) {
    case AuthStep::kAwaitChallenge: {
      if (type != FrameType::kAuthChallenge) break;
      link->peer_nonce = nonce;
      link->own_nonce = NewAuthNonce();
      if (link->own_nonce.empty()) {
        FailAuth(link, absl::StrCat("cannot draw a random nonce: ", ThreadOpenSslErrors()));
        return false;
      }
      std::string response;
      AppendAuthResponse(link->own_nonce,
                         AcceptorMac(secret, link->peer_nonce, link->own_nonce, link->binding),
                         &response);
      bufferevent_write(link->bev, response.data(), response.size());
      link->auth_step = AuthStep::kAwaitProof;
      return true;
    }
    case AuthStep::kAwaitResponse: {
      due = "AUTH_RESPONSE";
      if (type != FrameType::kAuthResponse) break;
      if (!MacMatches(AcceptorMac(secret, link->own_nonce, nonce, link->binding), mac)) {
        FailAuth(link, absl::StrCat("peer ", link->address,
                                    " failed authentication: wrong answer to our challenge "
                                    "(a different --repl-secret-file)"));
        return false;
      }
      link->peer_nonce = nonce;
      std::string proof;
      AppendAuthProof(DiallerMac(secret, link->peer_nonce, link->own_nonce, link->binding), &proof);
      bufferevent_write(link->bev, proof.data(), proof.size());
      link->state = LinkState::kHandshaking;
      if (options_.verbose > 0) Log(absl::StrCat("authenticated peer ", link->address));
      SendHello(link);
      return true;
    }
    case AuthStep::kAwaitProof: {
      due = "AUTH_PROOF";
      if (type != FrameType::kAuthProof) break;
      if (!MacMatches(DiallerMac(secret, link->own_nonce, link->peer_nonce, link->binding), mac)) {
        FailAuth(link, absl::StrCat("peer ", link->address,
                                    " failed authentication: wrong proof (a different "
                                    "--repl-secret-file, or a replayed handshake)"));
        return false;
      }
      link->state = LinkState::kHandshaking;
      if (options_.verbose > 0) Log(absl::StrCat("authenticated peer ", link->address));
      return true;
    }
  }
  if (type == FrameType::kHello) {
    FailAuth(link, absl::StrCat("peer ", link->address,
                                " sent HELLO without authenticating: this node requires "
                                "--repl-secret-file on both nodes"));
  } else {
    FailAuth(link, absl::StrCat("peer ", link->address, " sent ", FrameTypeName(type), " where ",
                                due, " was due"));
  }
  return false;
}

void Replicator::OnHello(Link* link, const Hello& hello) {
  if (hello.protocol_version != kProtocolVersion) {
    protocol_errors_.fetch_add(1);
    Log(absl::StrCat("peer ", link->address, " speaks protocol version ", hello.protocol_version,
                     ", we speak ", kProtocolVersion, "; closing the connection"));
    DropLink(link, "wrong protocol version");
    return;
  }
  if (hello.clock >> (64 - HybridClock::kNodeBits) != 0) {
    // The counter must fit above the node bits, or the next version would wrap to a small one.
    protocol_errors_.fetch_add(1);
    Log(absl::StrCat("peer ", link->address, " sent an impossible clock ", hello.clock,
                     "; closing the connection"));
    DropLink(link, "bad clock in HELLO");
    return;
  }
  link->peer = hello;
  if (hello.instance_id == instance_id_) {
    self_connects_.fetch_add(1);
    if (options_.verbose > 0) Log("reached this node itself on the replication port; ignoring");
    DropLink(link, "connected to itself");
    return;
  }
  if (active_ != nullptr) {
    if (active_->peer.instance_id == hello.instance_id) {
      // Both nodes dialled at once: keep the connection the smaller instance opened. Both
      // sides apply the same rule to the same two connections, so they agree.
      const auto opener = [&](Link* l) { return l->outgoing ? instance_id_ : l->peer.instance_id; };
      if (opener(link) < opener(active_)) {
        DropLink(active_, "replaced by the simultaneous connection");
        Activate(link);
      } else {
        DropLink(link, "duplicate of the pair's link");
      }
      return;
    }
    rejected_peers_.fetch_add(1);
    Log(absl::StrCat("refused a second peer from ", link->address, " (linked with ",
                     active_->address, ")"));
    DropLink(link, "a peer is already linked");
    return;
  }
  Activate(link);
}

void Replicator::Activate(Link* link) {
  // Only the peer we pair with may move our clock or our node id: a refused connector must not
  // be able to make two writes share a version.
  clock_->Witness(link->peer.clock << HybridClock::kNodeBits);
  if (link->peer.node_id == clock_->node_id() && instance_id_ > link->peer.instance_id) {
    // Both drew the same node id: the larger instance moves, so versions stay unique.
    uint8_t id;
    do {
      id = static_cast<uint8_t>(RandomU64());
    } while (id == link->peer.node_id);
    clock_->set_node_id(id);
  }
  active_ = link;
  slave_.store(link->outgoing);
  links_up_.fetch_add(1);
  backoff_ms_ = 100;
  if (link->outgoing) dialing_ = false;
  evtimer_del(retry_event_);
  log_.Enable(true);
  sent_offset_.store(0);
  acked_offset_.store(0);
  {
    absl::MutexLock lock(&mu_);
    peer_ = link->address;
  }
  Log(absl::StrCat("linked with ", link->address, " as ", link->outgoing ? "SLAVE" : "MASTER",
                   "; bulk sync in both directions"));
  if (!link->outgoing) SendHello(link);  // before SNAPSHOT_BEGIN: the dialler expects it first
  StartSnapshot(link);
  UpdateListening();
  Pump();
}

// Starts a full sync to the peer from now on: live mutations from the log's current head, and a
// fresh snapshot walk, announced by SNAPSHOT_BEGIN and this node's flush_all state (so a flush
// the peer missed while the pair was apart still invalidates the peer's older items).
void Replicator::StartSnapshot(Link* link) {
  full_syncs_.fetch_add(1);
  next_log_offset_ = log_.head();
  snapshot_ = storage::SnapshotCursor{};
  snapshot_running_ = true;
  snapshot_started_ = SteadyClock::now();
  link->state = LinkState::kSyncing;
  SetState("syncing");
  std::string begin;
  AppendEmpty(FrameType::kSnapshotBegin, &begin);
  for (const storage::Mutation& flush : store_->FlushState()) {
    AppendMutation(FrameType::kSnapshotItem, flush, &begin);
  }
  bufferevent_write(link->bev, begin.data(), begin.size());
}

void Replicator::OnWrite(bufferevent*, void* arg) {
  Link* link = static_cast<Link*>(arg);
  if (link == link->owner->active_) link->owner->Pump();
}

void Replicator::OnLogWakeup(evutil_socket_t, short, void* arg) {
  static_cast<Replicator*>(arg)->Pump();
}

void Replicator::Pump() {
  if (active_ == nullptr) {
    log_.Arm();
    return;
  }
  Link* link = active_;
  evbuffer* out = bufferevent_get_output(link->bev);
  std::string chunk;
  bool got_mutations = false;
  while (draining_ || evbuffer_get_length(out) < kHighWater) {
    chunk.clear();
    if (log_.Read(&next_log_offset_, kLogReadChunk, &chunk) ==
        MutationLog::ReadResult::kTruncated) {
      log_overflows_.fetch_add(1);
      Log(absl::StrCat("peer ", link->address, " fell behind more than the ", options_.log_size,
                       "-byte log; full resync"));
      StartSnapshot(link);
      continue;
    }
    if (!chunk.empty()) {
      got_mutations = true;
      evbuffer_add(out, chunk.data(), chunk.size());
      link->mutation_bytes_sent += chunk.size();
      sent_offset_.store(link->mutation_bytes_sent, std::memory_order_relaxed);
      link->in_flight.emplace_back(link->mutation_bytes_sent, SteadyClock::now());
      if (link->in_flight.size() > 4096) link->in_flight.pop_front();
      continue;
    }
    if (!snapshot_running_) break;
    uint64_t items = 0;
    const bool more =
        store_->SnapshotStep(&snapshot_, kSnapshotGroupsPerStep, [&](const storage::Mutation& m) {
          AppendMutation(FrameType::kSnapshotItem, m, &chunk);
          ++items;
        });
    items_synced_out_.fetch_add(items, std::memory_order_relaxed);
    bytes_synced_out_.fetch_add(chunk.size(), std::memory_order_relaxed);
    if (!more) {
      AppendEmpty(FrameType::kSnapshotEnd, &chunk);
      snapshot_running_ = false;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                            snapshot_started_)
                          .count();
      last_sync_ms_.store(static_cast<uint64_t>(ms));
      if (link->peer_synced) {
        link->state = LinkState::kStreaming;
        SetState("streaming");
      }
      if (options_.verbose > 0) Log(absl::StrCat("bulk sync sent in ", ms, " ms"));
    }
    evbuffer_add(out, chunk.data(), chunk.size());
  }
  // Busy: come back shortly rather than asking writers to wake us. Idle: let the next write
  // wake us; a write that landed between the last read and the arm is picked up by the poll.
  if (!got_mutations) log_.Arm();
  if ((got_mutations || log_.head() != next_log_offset_) &&
      !evtimer_pending(poll_event_, nullptr)) {
    evtimer_add(poll_event_, &kLogPollInterval);
  }
}

// ---------------------------------------------------------------------------------------------
// Timers

void Replicator::OnTick(evutil_socket_t, short, void* arg) {
  static_cast<Replicator*>(arg)->Tick();
}

void Replicator::Tick() {
  const uint64_t now = NowMs();
  const uint64_t timeout = static_cast<uint64_t>(options_.timeout_ms);
  std::vector<Link*> stale, slow;
  for (auto& l : links_) {
    // A connection that is not the pair's link gets --repl-timeout per phase (connect with
    // TLS handshake, then authentication and HELLO), however it trickles bytes: strangers
    // cannot hold connections open.
    if (l.get() != active_ && l->state < LinkState::kSyncing && now - l->opened_ms > timeout) {
      slow.push_back(l.get());
    } else if (l->state != LinkState::kConnecting && now - l->last_rx_ms > timeout) {
      stale.push_back(l.get());
    }
  }
  for (Link* l : stale) DropLink(l, "heartbeat timeout");
  for (Link* l : slow) {
    const std::string line = absl::StrCat("connection with ", l->address, " did not finish ");
    if (InTlsHandshake(l)) {
      FailTls(l, absl::StrCat(line, "its TLS handshake within --repl-timeout"));
    } else if (l->state == LinkState::kAuthenticating) {
      FailAuth(l, absl::StrCat(line, "authentication within --repl-timeout"));
    } else {
      DropLink(l, l->state == LinkState::kConnecting ? "connect timed out" : "handshake timeout");
    }
  }
  if (active_ != nullptr) {
    std::string beat;
    AppendNumber(FrameType::kHeartbeat,
                 static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()),
                 &beat);
    AppendNumber(FrameType::kAck, active_->applied, &beat);
    active_->applied_acked = active_->applied;
    bufferevent_write(active_->bev, beat.data(), beat.size());
  }
  if (draining_ && (active_ == nullptr || (next_log_offset_ == log_.head() &&
                                           active_->acked >= active_->mutation_bytes_sent))) {
    event_base_loopbreak(base_);
    return;
  }
  UpdateListening();
  bool ready;
  {
    absl::MutexLock lock(&mu_);
    ready = ready_;
  }
  if (!ready &&
      SteadyClock::now() - started_ > std::chrono::milliseconds(options_.sync_timeout_ms)) {
    MarkReady(true);
  }
}

// ---------------------------------------------------------------------------------------------
// Stats

void Replicator::SetState(const std::string& state) {
  absl::MutexLock lock(&mu_);
  state_ = state;
  state_since_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
}

const char* Replicator::RoleName() const { return slave_.load() ? "SLAVE" : "MASTER"; }

std::vector<std::pair<std::string, std::string>> Replicator::Stats() const {
  std::vector<std::pair<std::string, std::string>> s;
  std::string state, peer;
  uint64_t since;
  bool ready;
  {
    absl::MutexLock lock(&mu_);
    state = state_;
    peer = peer_;
    since = state_since_;
    ready = ready_;
  }
  const auto n = [](uint64_t v) { return std::to_string(v); };
  const uint64_t sent = sent_offset_.load(), acked = acked_offset_.load();
  const storage::StoreStats store = store_->Stats();
  s.emplace_back("repl_role", RoleName());
  s.emplace_back("repl_enabled", options_.listen_port != 0 ? "yes" : "no");
  s.emplace_back("repl_listen_port", n(static_cast<uint64_t>(options_.listen_port)));
  s.emplace_back("repl_peer_configured",
                 options_.peer_host.empty()
                     ? "none"
                     : absl::StrCat(options_.peer_host, ":", options_.peer_port));
  s.emplace_back("repl_tls", options_.tls_context != nullptr ? "yes" : "no");
  s.emplace_back("repl_auth", options_.secret.empty() ? "none" : "secret");
  s.emplace_back("repl_peer", peer.empty() ? "none" : peer);
  s.emplace_back("repl_link_state", state);
  s.emplace_back("repl_link_state_since", n(since));
  s.emplace_back("repl_ready", ready ? "yes" : "no");
  s.emplace_back("repl_sent_offset", n(sent));
  s.emplace_back("repl_acked_offset", n(acked));
  s.emplace_back("repl_applied_offset", n(applied_bytes_.load()));
  s.emplace_back("repl_lag_bytes", n(sent > acked ? sent - acked : 0));
  s.emplace_back("repl_lag_ms", n(lag_ms_.load()));
  s.emplace_back("repl_full_syncs", n(full_syncs_.load()));
  s.emplace_back("repl_sync_items_sent", n(items_synced_out_.load()));
  s.emplace_back("repl_sync_bytes_sent", n(bytes_synced_out_.load()));
  s.emplace_back("repl_sync_items_received", n(items_synced_in_.load()));
  s.emplace_back("repl_last_sync_ms", n(last_sync_ms_.load()));
  s.emplace_back("repl_sync_timeouts", n(sync_timeouts_.load()));
  s.emplace_back("repl_applied", n(store.apply_applied));
  s.emplace_back("repl_lww_skipped", n(store.apply_skipped));
  s.emplace_back("repl_apply_failures", n(store.apply_failed));
  s.emplace_back("repl_log_used", n(log_.used()));
  s.emplace_back("repl_log_size", n(log_.capacity()));
  s.emplace_back("repl_log_overflows", n(log_overflows_.load()));
  s.emplace_back("repl_links_formed", n(links_up_.load()));
  s.emplace_back("repl_reconnects", n(reconnects_.load()));
  s.emplace_back("repl_protocol_errors", n(protocol_errors_.load()));
  s.emplace_back("repl_rejected_peers", n(rejected_peers_.load()));
  s.emplace_back("repl_self_connects", n(self_connects_.load()));
  s.emplace_back("repl_tls_failures", n(tls_failures_.load()));
  s.emplace_back("repl_auth_failures", n(auth_failures_.load()));
  return s;
}

}  // namespace memtwin::replication
