// memcached's text protocol for one connection: consumes request bytes, executes the commands
// (the meta commands through server/meta_protocol.h) against the Store and appends the exact
// replies memcached 1.6 would send. Knows nothing of
// sockets; the Connection feeds it bytes and writes out what it produced.
// Not thread-safe: one TextProtocol per connection, used by its worker thread only.
#pragma once

#include <algorithm>
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

// What handling the request at the front of a protocol's input did.
enum class RequestStep {
  kDone,      // handled; *used bytes of input consumed
  kNeedMore,  // incomplete; nothing consumed, nothing done
  kClose,     // handled (or refused); close the connection
};

// The loop behind TextProtocol::Process and BinaryProtocol::Process: discards the bytes *swallow
// still owes, then hands `handle(rest, &used)` one request at a time, at most max_requests of
// them, and says kYield only when `has_complete(rest)` sees another one waiting.
template <typename Handle, typename HasComplete>
TextProtocol::After ProcessRequests(std::string_view in, size_t* consumed, int max_requests,
                                    uint64_t* swallow, Handle&& handle,
                                    HasComplete&& has_complete) {
  const int limit = max_requests < 1 ? 1 : max_requests;
  int handled = 0;
  size_t pos = 0;
  TextProtocol::After after = TextProtocol::After::kContinue;
  while (pos < in.size()) {
    if (*swallow > 0) {
      const uint64_t n = std::min<uint64_t>(*swallow, in.size() - pos);
      pos += static_cast<size_t>(n);
      *swallow -= n;
      continue;
    }
    const std::string_view rest = in.substr(pos);
    if (handled == limit) {
      if (has_complete(rest)) after = TextProtocol::After::kYield;
      break;
    }
    size_t used = 0;
    const RequestStep step = handle(rest, &used);
    if (step == RequestStep::kNeedMore) break;
    pos += used;
    ++handled;
    if (step == RequestStep::kClose) {
      after = TextProtocol::After::kClose;
      break;
    }
  }
  *consumed = pos;
  return after;
}

}  // namespace memtwin::server
