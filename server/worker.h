// A worker thread: one libevent base that owns a set of client connections, like memcached's
// worker threads. The listener hands it accepted sockets through AddConnection(), which is safe
// to call from any thread; everything else runs on the worker's own thread.
#pragma once

#include <event2/event.h>

#include <memory>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/server_context.h"
#include "server/socket_ring.h"
#include "server/stats.h"

namespace memtwin::server {

class ClientTls;
class Connection;

class Worker {
 public:
  // `tls` (may be null) makes the sessions of sockets accepted on TLS listeners.
  Worker(ServerContext* context, ClientTls* tls);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  absl::Status Start();
  // Thread-safe: queues an accepted socket for this worker; `tls`: it came in on a TLS listener.
  void AddConnection(int fd, bool tls);
  // Thread-safe: closes every connection and ends the thread's loop; Join() waits for it.
  void Stop();
  void Join();

  ServerContext* context() const { return context_; }
  ClientTls* tls() const { return tls_; }
  ThreadStats* stats() { return &stats_; }
  event_base* base() const { return base_; }
  // Called by a connection when it is finished; the worker deletes it.
  void Release(Connection* connection);
  // Called by a connection that queued replies: its FinishPass runs once every connection that
  // was ready in this pass of the event loop has been handled.
  void FlushAfterPass(Connection* connection) { flush_queue_.push_back(connection); }
  // Whether plain connections leave their reads to the worker's ring (ReadAfterPass).
  bool batches_reads() const { return ring_ != nullptr; }
  // Called by a readable plain connection: the worker reads for all of them when the pass ends.
  void ReadAfterPass(Connection* connection) { read_queue_.push_back(connection); }

 private:
  static void OnWake(evutil_socket_t, short, void* arg);
  void DrainQueue();
  // The event loop, pass by pass; after each pass the queued reads, then the queued replies.
  void Run();
  void FinishReads();
  void FinishPasses();

  ServerContext* const context_;
  ClientTls* const tls_;
  ThreadStats stats_;
  event_base* base_ = nullptr;
  event* wake_ = nullptr;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::pair<int, bool>> pending_ ABSL_GUARDED_BY(mu_);  // (fd, tls)
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  // Connections whose reads or replies wait for the end of the pass; a released one becomes null.
  std::vector<Connection*> read_queue_;
  std::vector<Connection*> flush_queue_;
  // Reads, then sends, for the whole pass in one system call each; null without io_uring.
  std::unique_ptr<SocketRing> ring_;
  std::vector<SocketRing::Transfer> transfers_;  // the pass's batch, reused
  std::vector<Connection*> owners_;              // whose each of transfers_ is
};

}  // namespace memtwin::server
