#include "server/connection.h"

#include <openssl/err.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <utility>

#include "server/tls.h"
#include "server/worker.h"

namespace memtwin::server {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Stop accepting more requests from a client while this much reply is queued for it.
constexpr size_t kMaxQueuedOutput = 4 * 1024 * 1024;
// Queued replies past this are written at once rather than at the end of the pass: batching
// saves wake-ups of the peer, which a reply this large costs anyway.
constexpr size_t kFlushAtOnce = 64 * 1024;
// A read always has room for a whole TLS record, so OpenSSL never holds decrypted bytes back
// (SSL_pending stays 0) and the socket's readiness tells the whole story.
static_assert(kReadChunk >= SSL3_RT_MAX_PLAIN_LENGTH);

}  // namespace

Connection::Connection(Worker* worker, int fd, SSL* ssl)
    : worker_(worker), fd_(fd), ssl_(ssl), protocol_(worker->context(), worker->stats()) {
  if (ssl_ != nullptr) {
    state_ = State::kHandshaking;
    tls_wants_ = EV_READ;  // the client speaks first
  }
}

Connection::~Connection() {
  // Before close: once closed, the fd number may be handed to another connection.
  worker_->context()->connections.Remove(fd_);
  if (event_ != nullptr) event_free(event_);
  if (resume_ != nullptr) event_free(resume_);
  if (ssl_ != nullptr) SSL_free(ssl_);
  close(fd_);
}

bool Connection::Start() {
  event_ = event_new(worker_->base(), fd_, EV_READ | EV_PERSIST, &Connection::OnEvent, this);
  if (event_ == nullptr) return false;
  registered_ = EV_READ;
  if (event_add(event_, nullptr) != 0) return false;
  // As memcached, a connection that never sent a command counts its idle time from its start.
  stats_entry_.last_command.store(worker_->context()->store->Now(), std::memory_order_relaxed);
  worker_->context()->connections.Add(fd_, &stats_entry_);
  return true;
}

void Connection::OnEvent(evutil_socket_t, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (self->state_ == State::kHandshaking) {
    self->Handshake();
  } else if (what & EV_WRITE) {
    if (self->tls_read_wants_write_) {
      self->HandleRead();
    } else {
      self->HandleWrite();
    }
  } else if (what & EV_READ) {
    if (self->tls_write_wants_read_) {
      self->HandleWrite();
    } else if (self->ssl_ == nullptr && self->worker_->batches_reads()) {
      if (!self->read_queued_) {
        self->read_queued_ = true;
        self->worker_->ReadAfterPass(self);
      }
    } else {
      self->HandleRead();
    }
  }
}

void Connection::Handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    state_ = State::kReading;
    tls_wants_ = 0;
    // The client's first request may have arrived with its last handshake message.
    HandleRead();
    return;
  }
  const int error = SSL_get_error(ssl_, rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    tls_wants_ = error == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
    UpdateEvents();
    return;
  }
  // Plain text on a TLS port, an untrusted client certificate, a client that hung up: this
  // connection only.
  worker_->tls()->CountHandshakeError();
  const std::string why = DrainOpenSslErrors();
  if (worker_->context()->verbosity.load(std::memory_order_relaxed) > 0) {
    std::fprintf(stderr, "<%d TLS handshake failed: %s\n", fd_, why.c_str());
  }
  tls_failed_ = true;
  Close();
}

ssize_t Connection::ReadSome(char* buffer, size_t size) {
  if (read_by_worker_ != SocketRing::kNotDone) return TakeRingResult(&read_by_worker_);
  if (ssl_ == nullptr) return read(fd_, buffer, size);
  ERR_clear_error();
  return TlsResult(SSL_read(ssl_, buffer, static_cast<int>(std::min<size_t>(size, INT_MAX))),
                   /*reading=*/true);
}

ssize_t Connection::WriteSome(const char* data, size_t size) {
  if (sent_by_worker_ != SocketRing::kNotDone) return TakeRingResult(&sent_by_worker_);
  if (ssl_ == nullptr) return write(fd_, data, size);
  ERR_clear_error();
  return TlsResult(SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, INT_MAX))),
                   /*reading=*/false);
}

// The worker's SocketRing made this read or write already; its result stands in for the system
// call's.
ssize_t Connection::TakeRingResult(int64_t* result) {
  const int64_t done = std::exchange(*result, SocketRing::kNotDone);
  if (done >= 0) return static_cast<ssize_t>(done);
  errno = static_cast<int>(-done);
  return -1;
}

ssize_t Connection::TlsResult(int rc, bool reading) {
  (reading ? tls_read_wants_write_ : tls_write_wants_read_) = false;
  if (rc > 0) return rc;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      if (!reading) tls_write_wants_read_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      if (reading) tls_read_wants_write_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify: an orderly end
      return 0;
    default:
      tls_failed_ = true;
      DrainOpenSslErrors();
      errno = EIO;
      return -1;
  }
}

// A yielded connection resumes here, after the other ready connections had their turn.
void Connection::OnResume(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->yielded_ = false;
  self->Process();
}

void Connection::InputForRing(SocketRing::Transfer* receive) {
  MakeRoom();
  receive->fd = fd_;
  receive->data = in_.get() + in_end_;
  receive->size = in_capacity_ - in_end_;
}

void Connection::FinishRead() {
  read_queued_ = false;
  HandleRead();
}

void Connection::MakeRoom() {
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
  if (in_capacity_ - in_end_ < kReadChunk) {
    // Make room: slide the unread bytes to the front, and grow when a request is larger than
    // the buffer (a data block is handled only once it is complete).
    const size_t pending = in_end_ - in_start_;
    const size_t capacity = std::max(in_capacity_, pending + kReadChunk);
    if (capacity > in_capacity_) {
      std::unique_ptr<char[]> bigger(new char[std::max(capacity, in_capacity_ * 2)]);
      if (pending > 0) std::memcpy(bigger.get(), in_.get() + in_start_, pending);
      in_ = std::move(bigger);
      in_capacity_ = std::max(capacity, in_capacity_ * 2);
    } else if (pending > 0) {
      std::memmove(in_.get(), in_.get() + in_start_, pending);
    }
    in_start_ = 0;
    in_end_ = pending;
  }
}

void Connection::HandleRead() {
  MakeRoom();  // a no-op when InputForRing made the room the worker's ring read into
  const ssize_t n = ReadSome(in_.get() + in_end_, in_capacity_ - in_end_);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    Close();
    return;
  }
  in_end_ += static_cast<size_t>(n);
  ThreadStats::Add(worker_->stats()->bytes_read, static_cast<uint64_t>(n));
  Process();
}

void Connection::Process() {
  if (state_ == State::kClosing) return;
  const std::string_view in(in_.get() + in_start_, in_end_ - in_start_);
  // Process is only called with input (bytes just read, or requests left waiting), so the first
  // call sees the connection's first byte, which picks its protocol for good.
  if (!received_) {
    const BindingProtocol allowed = worker_->context()->config->protocol;
    if (allowed == BindingProtocol::kBinary ||
        (allowed == BindingProtocol::kAuto &&
         static_cast<uint8_t>(in[0]) == binary::kRequestMagic)) {
      binary_ = std::make_unique<BinaryProtocol>(worker_->context(), worker_->stats());
    }
  }
  // Once per batch, not per request: memcached stamps each command, but at one-second
  // resolution a batch is one moment.
  received_ = true;
  stats_entry_.state.store(ConnState::kParseCmd, std::memory_order_relaxed);
  stats_entry_.last_command.store(worker_->context()->store->Now(), std::memory_order_relaxed);
  size_t consumed = 0;
  const int limit = worker_->context()->config->requests_per_event;
  const TextProtocol::After after = binary_ != nullptr
                                        ? binary_->Process(in, &out_, &consumed, limit)
                                        : protocol_.Process(in, &out_, &consumed, limit);
  in_start_ += consumed;
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
  if (after == TextProtocol::After::kClose) state_ = State::kClosing;
  // Replies wait for the end of the event loop's pass (see Worker::FlushAfterPass), unless they
  // already fill a socket buffer.
  if (out_.size() - out_start_ >= kFlushAtOnce && !Flush()) {
    Close();
    return;
  }
  if (after == TextProtocol::After::kYield && !yielded_) {
    // Made on the first yield only: most connections never yield, and thousands of idle ones
    // should not each carry a second event.
    if (resume_ == nullptr) {
      resume_ = event_new(worker_->base(), -1, 0, &Connection::OnResume, this);
      if (resume_ == nullptr) {  // out of memory: the queued requests could never resume
        Close();
        return;
      }
    }
    yielded_ = true;
    ThreadStats::Add(worker_->stats()->conn_yields);
    event_active(resume_, EV_TIMEOUT, 0);
  }
  if (!flush_queued_) {
    flush_queued_ = true;
    worker_->FlushAfterPass(this);
  }
}

bool Connection::OutputForRing(SocketRing::Transfer* send) {
  if (ssl_ != nullptr || out_start_ == out_.size()) return false;
  send->fd = fd_;
  send->data = out_.data() + out_start_;
  send->size = out_.size() - out_start_;
  return true;
}

void Connection::FinishPass() {
  flush_queued_ = false;
  if (!Flush()) {
    Close();
    return;
  }
  if (state_ == State::kClosing && out_start_ == out_.size()) {
    Close();
    return;
  }
  UpdateEvents();
}

void Connection::HandleWrite() {
  if (!Flush()) {
    Close();
    return;
  }
  if (out_start_ == out_.size()) {
    if (state_ == State::kClosing) {
      Close();
      return;
    }
    state_ = State::kReading;
    // Requests may have piled up while we waited for the socket.
    if (in_start_ < in_end_) {
      Process();
      return;
    }
  }
  UpdateEvents();
}

bool Connection::Flush() {
  while (out_start_ < out_.size()) {
    const ssize_t n = WriteSome(out_.data() + out_start_, out_.size() - out_start_);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    ThreadStats::Add(worker_->stats()->bytes_written, static_cast<uint64_t>(n));
    out_start_ += static_cast<size_t>(n);
  }
  if (out_start_ == out_.size()) {
    out_.clear();
    out_start_ = 0;
  } else if (state_ != State::kClosing) {
    state_ = State::kWriting;
  }
  return true;
}

// The memcached state closest to where this connection stands between events.
ConnState Connection::Published() const {
  if (state_ == State::kClosing) return ConnState::kClosing;
  if (out_start_ < out_.size()) return ConnState::kMwrite;
  if (state_ == State::kHandshaking || !received_ || yielded_) return ConnState::kNewCmd;
  // Anything left over is an incomplete request; once its command line (a binary header) is
  // complete, what is missing is the data block. The line is at the front, so memchr stops early
  // on a big value.
  const size_t pending = in_end_ - in_start_;
  if (binary_ != nullptr) {
    return pending >= binary::kHeaderSize ? ConnState::kNread : ConnState::kRead;
  }
  if (pending > 0 && std::memchr(in_.get() + in_start_, '\n', pending)) return ConnState::kNread;
  return ConnState::kRead;
}

void Connection::UpdateEvents() {
  stats_entry_.state.store(Published(), std::memory_order_relaxed);
  short want = 0;
  if (state_ == State::kHandshaking) {
    want = tls_wants_;
  } else {
    if (out_start_ < out_.size() || tls_read_wants_write_) want |= EV_WRITE;
    if (state_ == State::kReading || tls_write_wants_read_ ||
        (state_ == State::kWriting && out_.size() - out_start_ < kMaxQueuedOutput)) {
      want |= EV_READ;
    }
  }
  if (want == registered_) return;
  event_del(event_);
  event_assign(event_, worker_->base(), fd_, want | EV_PERSIST, &Connection::OnEvent, this);
  registered_ = want;
  if (want != 0) event_add(event_, nullptr);
}

void Connection::Close() {
  if (ssl_ != nullptr && !tls_failed_ && state_ != State::kHandshaking) {
    SSL_shutdown(ssl_);  // best effort close_notify; we do not wait for the client's
  }
  state_ = State::kClosing;
  if (event_ != nullptr) event_del(event_);
  if (resume_ != nullptr) event_del(resume_);
  worker_->Release(this);
}

}  // namespace memtwin::server
