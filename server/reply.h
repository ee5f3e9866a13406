// memcached's reply text: Store outcomes turned into wire words (here and nowhere else), the
// counters an outcome moves, and appending numbers and reply lines to an output buffer without
// temporary strings. Shared by the text, meta and binary command handlers. Thread-safe (no state).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/stats.h"
#include "storage/store.h"

namespace memtwin::server {

inline constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
inline constexpr std::string_view kBadDataChunk = "CLIENT_ERROR bad data chunk";

// The text protocol's reply line for a Store outcome. DeltaResult::kOk is answered with the new
// number instead; LookupResult is touch's answer.
std::string_view ReplyFor(storage::StoreResult r);
std::string_view ReplyFor(storage::DeleteResult r);
std::string_view ReplyFor(storage::DeltaResult r);
std::string_view ReplyFor(storage::LookupResult r);

// The meta protocol's two-letter status for a Store outcome ("HD", "NS", "EX", "NF"), or empty
// when the outcome is answered with an error line instead (ReplyFor's).
std::string_view MetaCodeFor(storage::StoreResult r);
std::string_view MetaCodeFor(storage::DeleteResult r);
std::string_view MetaCodeFor(storage::DeltaResult r);

// The counters memcached moves for a lookup by get, gets, gat, gats, touch or their binary forms:
// touch_* for the touching ones, get_* for the others, and get_expired / get_flushed.
void CountLookup(ThreadStats* stats, storage::LookupResult r, bool touch);
// cas_hits, cas_badval or cas_misses for a compare-and-swap's outcome.
void CountCas(ThreadStats* stats, storage::StoreResult r);

inline void AppendNumber(std::string* out, uint64_t v) {
  char buf[20];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(end - buf));
}

inline void AppendSigned(std::string* out, int64_t v) {
  char buf[21];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(end - buf));
}

// A reply line, unless the client asked for none (memcached's out_string).
inline void Reply(std::string* out, bool noreply, std::string_view text) {
  if (noreply) return;
  out->append(text);
  out->append("\r\n");
}

}  // namespace memtwin::server
