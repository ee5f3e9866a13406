// One client connection on a worker thread: reads bytes, hands them to the protocol, writes the
// replies back, and closes itself. Reads and replies wait for the end of the worker's pass of
// the event loop, which makes them for all its connections at once (see Worker); pipelined
// requests cost one read and one write. While replies are still queued for a slow reader the
// connection stops reading (backpressure). A connection from a TLS listener first runs its
// handshake on the same event loop (never blocking the worker), then reads and writes through
// OpenSSL. It is listed in the context's ConnectionRegistry while it lives ("stats conns").
// Owned by its Worker; not thread-safe.
#pragma once

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/types.h>

#include <memory>
#include <string>

#include "server/binary_protocol.h"
#include "server/server_context.h"
#include "server/socket_ring.h"
#include "server/stats.h"
#include "server/text_protocol.h"

namespace memtwin::server {

class Worker;

class Connection {
 public:
  // `ssl`, when not null, is a server-side TLS session on `fd`; the connection owns it.
  Connection(Worker* worker, int fd, SSL* ssl);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the worker's event base and starts reading.
  bool Start();
  // Called by the worker at the end of the event loop's pass in which this connection asked
  // (Worker::FlushAfterPass): writes the queued replies and registers for what comes next.
  // May close the connection, which deletes it.
  void FinishPass();
  // The replies FinishPass would write, for the worker to send in its batch; false when there
  // are none or OpenSSL must write them.
  bool OutputForRing(SocketRing::Transfer* send);
  // What the worker's SocketRing made of those bytes; FinishPass takes it as its first write's.
  void SentByRing(int64_t result) { sent_by_worker_ = result; }
  // A plain connection whose socket is readable waits for the end of the pass
  // (Worker::ReadAfterPass); then the worker asks InputForRing where to read to, reads for all
  // of them at once, hands over the result with ReceivedByRing, and calls FinishRead, which
  // handles it as HandleRead does a read(). FinishRead may close the connection.
  void InputForRing(SocketRing::Transfer* receive);
  void ReceivedByRing(int64_t result) { read_by_worker_ = result; }
  void FinishRead();

 private:
  enum class State {
    kHandshaking,  // TLS handshake in progress
    kReading,      // waiting for requests
    kWriting,      // replies queued that the socket would not take yet; reading paused
    kClosing,      // flush what is queued, then close
  };

  static void OnEvent(evutil_socket_t fd, short what, void* arg);
  static void OnResume(evutil_socket_t fd, short what, void* arg);
  void Handshake();
  void HandleRead();
  // Slides or grows in_ so that a read has kReadChunk bytes of room.
  void MakeRoom();
  void HandleWrite();
  void Process();
  // Writes as much of out_ as the socket takes; false if the connection broke.
  bool Flush();
  // read()/write() on the socket or through TLS, with their return conventions: -1 and errno
  // EAGAIN when the socket (or OpenSSL) would block.
  ssize_t ReadSome(char* buffer, size_t size);
  ssize_t WriteSome(const char* data, size_t size);
  ssize_t TlsResult(int rc, bool reading);
  ssize_t TakeRingResult(int64_t* result);
  // Also publishes the state for "stats conns" (see Published).
  void UpdateEvents();
  ConnState Published() const;
  void Close();

  Worker* const worker_;
  const int fd_;
  SSL* const ssl_;
  // OpenSSL sometimes needs the other direction to finish a read or write (a TLS 1.3 key
  // update); these route the next readiness event back to the operation that asked.
  short tls_wants_ = 0;  // while handshaking: EV_READ or EV_WRITE
  bool tls_read_wants_write_ = false;
  bool tls_write_wants_read_ = false;
  bool tls_failed_ = false;  // a fatal TLS error: no close_notify may be sent
  event* event_ = nullptr;
  event* resume_ = nullptr;  // activated to continue after a -R yield; made on the first one
  short registered_ = 0;
  State state_ = State::kReading;
  bool yielded_ = false;
  bool flush_queued_ = false;  // FinishPass is due at the end of this pass
  bool read_queued_ = false;   // FinishRead is due at the end of this pass
  // Results of the worker's ring for the next ReadSome and WriteSome (kNotDone: none).
  int64_t read_by_worker_ = SocketRing::kNotDone;
  int64_t sent_by_worker_ = SocketRing::kNotDone;
  bool received_ = false;  // a request has been handled; until then memcached says conn_new_cmd
  ConnectionRegistry::Entry stats_entry_;
  TextProtocol protocol_;
  // Made when the first request turns out to be binary (-B auto) or -B binary says so; the
  // connection speaks it from then on.
  std::unique_ptr<BinaryProtocol> binary_;
  // Received bytes live in in_[in_start_, in_end_). A plain buffer rather than a std::string so a
  // read does not zero-fill the space it is about to overwrite.
  std::unique_ptr<char[]> in_;
  size_t in_capacity_ = 0;
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  std::string out_;
  size_t out_start_ = 0;
};

}  // namespace memtwin::server
