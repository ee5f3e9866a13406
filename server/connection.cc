#include "server/connection.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "server/worker.h"

namespace memtwin::server {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Stop accepting more requests from a client while this much reply is queued for it.
constexpr size_t kMaxQueuedOutput = 4 * 1024 * 1024;

}  // namespace

Connection::Connection(Worker* worker, int fd)
    : worker_(worker), fd_(fd), protocol_(worker->context(), worker->stats()) {}

Connection::~Connection() {
  if (event_ != nullptr) event_free(event_);
  if (resume_ != nullptr) event_free(resume_);
  close(fd_);
}

bool Connection::Start() {
  event_ = event_new(worker_->base(), fd_, EV_READ | EV_PERSIST, &Connection::OnEvent, this);
  resume_ = event_new(worker_->base(), -1, 0, &Connection::OnResume, this);
  if (event_ == nullptr || resume_ == nullptr) return false;
  registered_ = EV_READ;
  return event_add(event_, nullptr) == 0;
}

void Connection::OnEvent(evutil_socket_t, short what, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  if (what & EV_WRITE) {
    self->HandleWrite();
  } else if (what & EV_READ) {
    self->HandleRead();
  }
}

// A yielded connection resumes here, after the other ready connections had their turn.
void Connection::OnResume(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<Connection*>(arg);
  self->yielded_ = false;
  self->Process();
}

void Connection::HandleRead() {
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
  const ssize_t n = read(fd_, in_.get() + in_end_, in_capacity_ - in_end_);
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
  size_t consumed = 0;
  const TextProtocol::After after =
      protocol_.Process(std::string_view(in_.get() + in_start_, in_end_ - in_start_), &out_,
                        &consumed, worker_->context()->config->requests_per_event);
  in_start_ += consumed;
  if (in_start_ == in_end_) in_start_ = in_end_ = 0;
  if (after == TextProtocol::After::kClose) state_ = State::kClosing;
  if (!Flush()) {
    Close();
    return;
  }
  if (state_ == State::kClosing && out_start_ == out_.size()) {
    Close();
    return;
  }
  if (after == TextProtocol::After::kYield && !yielded_) {
    yielded_ = true;
    ThreadStats::Add(worker_->stats()->conn_yields);
    event_active(resume_, EV_TIMEOUT, 0);
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
    const ssize_t n = write(fd_, out_.data() + out_start_, out_.size() - out_start_);
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

void Connection::UpdateEvents() {
  short want = 0;
  if (out_start_ < out_.size()) want |= EV_WRITE;
  if (state_ == State::kReading ||
      (state_ == State::kWriting && out_.size() - out_start_ < kMaxQueuedOutput)) {
    want |= EV_READ;
  }
  if (want == registered_) return;
  event_del(event_);
  event_assign(event_, worker_->base(), fd_, want | EV_PERSIST, &Connection::OnEvent, this);
  registered_ = want;
  if (want != 0) event_add(event_, nullptr);
}

void Connection::Close() {
  state_ = State::kClosing;
  if (event_ != nullptr) event_del(event_);
  if (resume_ != nullptr) event_del(resume_);
  worker_->Release(this);
}

}  // namespace memtwin::server
