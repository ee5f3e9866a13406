// libFuzzer target for the text protocol's pure byte-level half (server/text_parser.h), the meta
// flag reader (server/meta_parser.h) and the key encodings (server/encoding.h): arbitrary bytes
// are framed into lines, tokenized, looked up and parsed like TextProtocol does, and the results
// are checked against the contracts in those headers. Any failed check aborts (a crash).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/encoding.h"
#include "server/meta_parser.h"
#include "server/text_parser.h"
#include "storage/store.h"

namespace {

using memtwin::server::Base64Decode;
using memtwin::server::Base64Encode;
using memtwin::server::UriEncode;
namespace meta = memtwin::server::meta;
namespace text = memtwin::server::text;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "check failed: %s\n", what);
  std::abort();
}

bool Within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void FuzzKeyEncodings(std::string_view token) {
  char decoded[4096];
  if (token.size() > sizeof(decoded)) return;
  const size_t n = Base64Decode(token, decoded);
  Check(n <= token.size(), "base64 decoding never grows");
  std::string encoded;
  Base64Encode(std::string_view(decoded, n), &encoded);
  Check(encoded.size() == (n + 2) / 3 * 4, "base64 encoding has the padded length");
  if (n > 0) {
    char again[4096];
    const size_t m = Base64Decode(encoded, again);
    Check(std::string_view(again, m) == std::string_view(decoded, n), "base64 round trip");
  }
  std::string uri;
  UriEncode(token, &uri);
  Check(uri.size() >= token.size() && uri.size() <= 3 * token.size(), "uri encoding length");
}

void FuzzLine(std::string_view line) {
  text::TokenizedLine t;
  text::Tokenize(line, &t);
  Check(t.count <= text::TokenizedLine::kMaxTokens, "token count");
  Check(t.rest.empty() || t.count == text::TokenizedLine::kMaxTokens, "rest only when full");
  for (size_t i = 0; i < t.count; ++i) {
    const std::string_view token = t.tokens[i];
    Check(!token.empty() && Within(token, line), "tokens are non-empty parts of the line");
    Check(token.find(' ') == std::string_view::npos, "tokens hold no space");
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    text::ParseUint32(token, &u32);
    text::ParseInt32(token, &i32);
    text::ParseUint64(token, &u64);
    FuzzKeyEncodings(token);
  }
  text::ForEachToken(t.rest, [&](std::string_view token) {
    Check(!token.empty() && Within(token, line), "rest tokens are parts of the line");
    return true;
  });
  text::LooksLikeHttp(t);
  if (t.count == 0) return;
  const text::CommandSpec* spec = text::FindCommand(t.tokens[0]);
  if (spec != nullptr && spec->name != t.tokens[0]) Check(false, "FindCommand finds its name");
  if (spec != nullptr && t.count >= spec->min_tokens && t.count <= spec->max_tokens &&
      (spec->command == text::Command::kSet || spec->command == text::Command::kCas)) {
    text::StorageHeader h;
    if (text::ParseStorageHeader(t, spec->command == text::Command::kCas, &h)) {
      Check(h.key.size() <= memtwin::storage::kMaxKeyLength, "storage key length");
      Check(h.bytes <= 0x7ffffffd, "storage length bound");
    }
  }
  if (t.count >= 2) {
    for (size_t first : {size_t{2}, size_t{3}}) {
      meta::Flags flags;
      std::string_view error = "default";
      const bool ok = meta::ParseFlags(t, first, &flags, &error);
      Check(ok || !error.empty(), "a refusal has a message");
      Check(flags.key.size() <= t.tokens[1].size(), "a decoded key is no longer");
      if (flags.base64_key) {
        Check(Within(flags.key, std::string_view(flags.key_buffer, sizeof(flags.key_buffer))) ||
                  flags.key.empty(),
              "a decoded key lives in the flags' buffer");
      }
      meta::HasLongOpaque(t, first);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int lines = 0; lines < 4096; ++lines) {
    std::string_view line;
    size_t used = 0;
    const text::LineStatus status = text::NextLine(in, &line, &used);
    if (status != text::LineStatus::kLine) break;
    Check(used > 0 && used <= in.size(), "a line consumes what it was given, no more");
    Check(Within(line, in.substr(0, used)), "the line is inside what it consumed");
    FuzzLine(line);
    in.remove_prefix(used);
  }
  return 0;
}
