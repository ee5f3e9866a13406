// Meta flags as memcached 1.6.18 reads them (proto_text.c, _meta_flag_preparse):
//
//   meta-line = cmd SP key *(SP flag)          ; at most 19 tokens in all
//   flag      = flag-char [argument]           ; the argument runs to the next space
//   b q u v k s t c f h l O P L I              ; no argument needed (O, P, L take any)
//   N T R     int32, strtol's rules            ; else "bad token in command line format"
//   F         uint32, strtoul's rules          ; else the command's default error
//   C         uint64                           ; else "bad token in command line format"
//   E         uint64 (a 1.6.19 addition)       ; else "bad token in command line format"
//   M         exactly one mode character       ; else "incorrect length for M token"
//   J D       uint64                           ; else "invalid numeric initial/delta value"
#include "server/meta_parser.h"

#include "server/encoding.h"

namespace memtwin::server::meta {
namespace {

constexpr std::string_view kDuplicateFlag = "CLIENT_ERROR duplicate flag";
constexpr std::string_view kInvalidFlag = "CLIENT_ERROR invalid flag";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format";
constexpr std::string_view kBadKey = "CLIENT_ERROR error decoding key";
constexpr std::string_view kBadModeLength = "CLIENT_ERROR incorrect length for M token";
constexpr std::string_view kBadInitial = "CLIENT_ERROR invalid numeric initial value";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta value";

}  // namespace

bool ParseFlags(const text::TokenizedLine& line, size_t first, Flags* flags,
                std::string_view* error) {
  bool seen[127] = {};
  bool failed = false;
  flags->key = line.tokens[1];
  auto fail = [&](std::string_view message) {
    *error = message;
    failed = true;
  };
  for (size_t i = first; i < line.count; ++i) {
    const std::string_view token = line.tokens[i];
    const std::string_view arg = token.substr(1);
    const auto flag = static_cast<uint8_t>(token[0]);
    if (flag >= 127 || seen[flag]) {
      *error = kDuplicateFlag;
      return false;
    }
    seen[flag] = true;
    switch (flag) {
      case 'b': {
        // Decoding never grows, so the buffer holds any key within the limit.
        const size_t n = line.tokens[1].size() > storage::kMaxKeyLength
                             ? 0
                             : Base64Decode(line.tokens[1], flags->key_buffer);
        flags->key = std::string_view(flags->key_buffer, n);
        flags->base64_key = true;
        if (n == 0) fail(kBadKey);
        break;
      }
      case 'N':
      case 'T':
      case 'R': {
        int32_t v;
        if (!text::ParseInt32(arg, &v)) {
          fail(kBadToken);
        } else {
          (flag == 'N' ? flags->vivify : flag == 'T' ? flags->ttl : flags->recache) = v;
        }
        break;
      }
      case 'O':
      case 'P':
      case 'L':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'l':
      case 'h':
        break;
      case 'v':
        flags->value = true;
        break;
      case 'u':
        flags->no_update = true;
        break;
      case 'q':
        flags->no_reply = true;
        break;
      case 'F':
        // memcached sets no message here: the command's own default is reported.
        if (!text::ParseUint32(arg, &flags->client_flags)) failed = true;
        break;
      case 'C':
      case 'E': {
        uint64_t v;
        if (!text::ParseUint64(arg, &v)) {
          fail(kBadToken);
        } else {
          (flag == 'C' ? flags->cas : flags->new_cas) = v;
        }
        break;
      }
      case 'M':
        if (token.size() != 2) {
          fail(kBadModeLength);
        } else {
          flags->mode = token[1];
        }
        break;
      case 'J':
        if (!text::ParseUint64(arg, &flags->initial)) fail(kBadInitial);
        break;
      case 'D':
        if (!text::ParseUint64(arg, &flags->delta)) fail(kBadDelta);
        break;
      case 'I':
        flags->invalidate = true;
        break;
      default:
        *error = kInvalidFlag;
        return false;
    }
  }
  return !failed;
}

bool HasLongOpaque(const text::TokenizedLine& line, size_t first) {
  for (size_t i = first; i < line.count; ++i) {
    if (line.tokens[i][0] == 'O' && line.tokens[i].size() > kMaxOpaqueLength) return true;
  }
  return false;
}

}  // namespace memtwin::server::meta
