#include "server/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/connection.h"
#include "server/scheduler_slice.h"
#include "server/tls.h"

namespace memtwin::server {

Worker::Worker(ServerContext* context, ClientTls* tls) : context_(context), tls_(tls) {}

Worker::~Worker() {
  connections_.clear();
  if (wake_ != nullptr) event_free(wake_);
  if (base_ != nullptr) event_base_free(base_);
}

absl::Status Worker::Start() {
  base_ = event_base_new();
  if (base_ == nullptr) return absl::InternalError("event_base_new failed");
  wake_ = event_new(base_, -1, EV_PERSIST, &Worker::OnWake, this);
  if (wake_ == nullptr) return absl::InternalError("event_new failed");
  // A user event that only event_active() triggers: it must be "added" so the loop keeps
  // running while there are no connections.
  event_add(wake_, nullptr);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "worker");
    // -o worker_slice_us: a worker woken by a request takes the CPU from a thread with a longer
    // slice at once instead of waiting for that slice to end (off by default, as in memcached).
    const int slice_us = context_->config->worker_slice_us;
    if (slice_us > 0) {
      const SliceRequest result = RequestSchedulerSlice(slice_us);
      if (result == SliceRequest::kFailed) {
        std::fprintf(stderr, "worker: cannot set a %d us scheduler slice: %s\n", slice_us,
                     std::strerror(errno));
      } else if (result == SliceRequest::kIgnoredByKernel &&
                 context_->verbosity.load(std::memory_order_relaxed) > 0) {
        std::fprintf(stderr, "worker: the kernel ignored the %d us slice (needs Linux 6.12)\n",
                     slice_us);
      }
    }
    if (context_->config->io_uring) {
      ring_ = SocketRing::Create();
      if (ring_ == nullptr) {  // main's probe got one: a limit on rings or locked memory
        std::fprintf(stderr, "worker: no io_uring (%s); one read() and write() per connection\n",
                     std::strerror(errno));
      }
    }
    Run();
  });
  return absl::OkStatus();
}

// Each pass collects the connections epoll reported ready, then reads for all of them, then
// writes all their replies (as Redis does before it sleeps), so that the reads and the writes
// can each be one system call (SocketRing); see server/README.md.
void Worker::Run() {
  do {
    event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    FinishReads();
    FinishPasses();
  } while (!event_base_got_break(base_));
}

void Worker::FinishReads() {
  if (read_queue_.empty()) return;
  // One read alone costs a system call either way, and read() is the shorter path.
  if (read_queue_.size() > 1) {
    transfers_.clear();
    owners_.clear();
    for (Connection* connection : read_queue_) {
      if (connection == nullptr) continue;
      connection->InputForRing(&transfers_.emplace_back());
      owners_.push_back(connection);
    }
    ring_->ReceiveAll(transfers_);
    for (size_t i = 0; i < transfers_.size(); ++i) owners_[i]->ReceivedByRing(transfers_[i].result);
  }
  // FinishRead may release connections (nulling their slots); it only queues replies.
  for (Connection* connection : read_queue_) {
    if (connection != nullptr) connection->FinishRead();
  }
  read_queue_.clear();
}

void Worker::FinishPasses() {
  // One reply alone costs a system call either way, and write() is the shorter path.
  if (ring_ != nullptr && flush_queue_.size() > 1) {
    transfers_.clear();
    owners_.clear();
    for (Connection* connection : flush_queue_) {
      SocketRing::Transfer send;
      if (connection != nullptr && connection->OutputForRing(&send)) {
        transfers_.push_back(send);
        owners_.push_back(connection);
      }
    }
    if (transfers_.size() > 1) {
      ring_->SendAll(transfers_);
      for (size_t i = 0; i < transfers_.size(); ++i) owners_[i]->SentByRing(transfers_[i].result);
    }
  }
  // FinishPass may release connections, which nulls their slots; the queue is not appended to.
  for (Connection* connection : flush_queue_) {
    if (connection != nullptr) connection->FinishPass();
  }
  flush_queue_.clear();
}

void Worker::AddConnection(int fd, bool tls) {
  {
    absl::MutexLock lock(&mu_);
    pending_.emplace_back(fd, tls);
  }
  event_active(wake_, EV_READ, 0);
}

void Worker::Stop() {
  if (wake_ == nullptr) return;  // never started
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  event_active(wake_, EV_READ, 0);
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::OnWake(evutil_socket_t, short, void* arg) { static_cast<Worker*>(arg)->DrainQueue(); }

void Worker::DrainQueue() {
  std::vector<std::pair<int, bool>> fds;
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    fds.swap(pending_);
    stopping = stopping_;
  }
  for (const auto& [fd, tls] : fds) {
    SSL* ssl = nullptr;
    if (!stopping && tls) {
      ssl = tls_->NewSession(fd);
      if (ssl == nullptr) tls_->CountHandshakeError();
    }
    if (stopping || (tls && ssl == nullptr)) {
      close(fd);
      context_->curr_connections.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    auto connection = std::make_unique<Connection>(this, fd, ssl);
    Connection* raw = connection.get();
    if (!raw->Start()) {
      context_->curr_connections.fetch_sub(1, std::memory_order_relaxed);
      continue;  // the destructor closes fd
    }
    connections_.emplace(raw, std::move(connection));
  }
  if (stopping) {
    read_queue_.clear();
    FinishPasses();  // replies to requests handled earlier in this pass still go out
    context_->curr_connections.fetch_sub(connections_.size(), std::memory_order_relaxed);
    connections_.clear();
    event_base_loopbreak(base_);
  }
}

void Worker::Release(Connection* connection) {
  for (auto* queue : {&read_queue_, &flush_queue_}) {
    std::replace(queue->begin(), queue->end(), connection, static_cast<Connection*>(nullptr));
  }
  context_->curr_connections.fetch_sub(1, std::memory_order_relaxed);
  connections_.erase(connection);
}

}  // namespace memtwin::server
