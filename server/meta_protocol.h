// memcached 1.6's meta commands (mg, ms, md, ma, me) for one connection: each request line is read
// by server/meta_parser.h, executed against the Store in one call (so tokens such as the recache
// win are atomic), and answered with the bytes memcached 1.6.18 sends. "mn" is a fixed line that
// TextProtocol writes itself. Not thread-safe: one per TextProtocol request batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/server_context.h"
#include "server/stats.h"
#include "server/text_parser.h"

namespace memtwin::server {

class MetaCommands {
 public:
  // Replies are appended to *out; counters go to *stats.
  MetaCommands(ServerContext* context, ThreadStats* stats, std::string* out);

  void Get(const text::TokenizedLine& line);
  // ms. Returns false, having done nothing, while the data block has not all arrived in `after`
  // (the input following the line). Otherwise adds the block's bytes to *used, or, for a line
  // refused before its block, sets *swallow to the bytes to discard as they arrive.
  bool Set(const text::TokenizedLine& line, std::string_view after, size_t* used,
           uint64_t* swallow);
  void Delete(const text::TokenizedLine& line);
  void Arithmetic(const text::TokenizedLine& line);
  void Debug(const text::TokenizedLine& line);

  // The data block (value and "\r\n") an ms line waits for, or nullopt when the line is answered
  // without reading one.
  std::optional<size_t> SetBlockSize(const text::TokenizedLine& line) const;

 private:
  struct SetHeader;
  enum class HeaderStatus { kReadBlock, kRefuseAndSwallow, kRefuse };
  HeaderStatus ParseSetHeader(const text::TokenizedLine& line, SetHeader* header,
                              std::string_view* error) const;
  // Appends " k<key>" (base64 and " b" for a binary key).
  void AppendKey(std::string_view key, bool binary);
  // Appends the O and k flags of the request in its order: what a miss or md returns.
  void AppendOpaqueAndKey(const text::TokenizedLine& line, std::string_view key, bool binary);
  void Error(std::string_view text);

  ServerContext* const context_;
  ThreadStats* const stats_;
  storage::Store* const store_;
  std::string* const out_;
};

}  // namespace memtwin::server
