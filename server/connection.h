// One client connection on a worker thread: reads bytes, hands them to the protocol, writes the
// replies back, and closes itself. Output is written right after a batch of requests is handled,
// so pipelined requests cost one read and one write. While replies are still queued for a slow
// reader the connection stops reading (backpressure). Owned by its Worker; not thread-safe.
#pragma once

#include <event2/event.h>

#include <memory>
#include <string>

#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_protocol.h"

namespace memtwin::server {

class Worker;

class Connection {
 public:
  Connection(Worker* worker, int fd);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers with the worker's event base and starts reading.
  bool Start();

 private:
  enum class State {
    kReading,  // waiting for requests
    kWriting,  // replies queued that the socket would not take yet; reading paused
    kClosing,  // flush what is queued, then close
  };

  static void OnEvent(evutil_socket_t fd, short what, void* arg);
  static void OnResume(evutil_socket_t fd, short what, void* arg);
  void HandleRead();
  void HandleWrite();
  void Process();
  // Writes as much of out_ as the socket takes; false if the connection broke.
  bool Flush();
  void UpdateEvents();
  void Close();

  Worker* const worker_;
  const int fd_;
  event* event_ = nullptr;
  event* resume_ = nullptr;  // activated to continue after a -R yield
  short registered_ = 0;
  State state_ = State::kReading;
  bool yielded_ = false;
  TextProtocol protocol_;
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
