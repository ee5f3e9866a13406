// memcached's text protocol for one connection: consumes request bytes, executes the commands
// (the meta commands through server/meta_protocol.h) against the Store and appends the exact
// replies memcached 1.6 would send. Knows nothing of
// sockets; the Connection feeds it bytes and writes out what it produced.
// Not thread-safe: one TextProtocol per connection, used by its worker thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/server_context.h"
#include "server/stats.h"

namespace memtwin::server {

class TextProtocol {
 public:
  TextProtocol(ServerContext* context, ThreadStats* stats);

  enum class After {
    kContinue,  // keep reading
    kYield,     // stopped at max_requests with more complete requests waiting: call again
                // after other connections had their turn (counted as conn_yields)
    kClose,     // flush `out`, then close (quit, line too long, ...)
  };

  // Handles every complete request at the front of `in`, at most `max_requests` of them (so a
  // pipelining client cannot starve others; -R), and appends the replies to `out`. Sets
  // *consumed to the bytes used; a partial request at the end stays for the next call.
  After Process(std::string_view in, std::string* out, size_t* consumed, int max_requests);

 private:
  ServerContext* const context_;
  ThreadStats* const stats_;
  // Bytes of a rejected data block still to discard (e.g. after "object too large").
  uint64_t swallow_ = 0;
};

}  // namespace memtwin::server
