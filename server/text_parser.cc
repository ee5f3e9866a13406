// memcached's text protocol, as this file reads it (1.6.18, checked against the binary):
//
//   request   = line [data]
//   line      = *(byte except "\n") "\n"    ; one "\r" before "\n" is dropped, a NUL ends it
//   tokens    = line split on " " (not tabs); runs of spaces are one separator
//   storage   = ("set"|"add"|"replace"|"append"|"prepend") key flags exptime bytes ["noreply"]
//             | "cas" key flags exptime bytes cas-unique ["noreply"]
//   data      = bytes octets, then "\r\n"    ; exactly, or "CLIENT_ERROR bad data chunk"
//   retrieval = ("get"|"gets") 1*key | ("gat"|"gats") exptime 1*key
//   key       = 1..250 bytes without " "     ; tabs, "\r" and other bytes are part of the key
//
// Numbers follow C's strtoul/strtol on a NUL-terminated token, then memcached's checks: the
// number must be followed by the token's end or a white-space byte, and a value too big for the
// signed type is refused if the token holds a '-'. memcached stores flags in 32 bits and exptime
// and the length in an int32, truncating larger values (64-bit long), which is kept here.
#include "server/text_parser.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "storage/store.h"

namespace memtwin::server::text {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// C's strtoull/strtoll (base 10) on `token`: skips white space, takes a sign and digits.
// *end is where parsing stopped; no digits leaves *end at 0, like endptr == str.
struct CNumber {
  bool negative = false;
  bool overflow = false;  // the magnitude does not fit in 64 bits
  uint64_t magnitude = 0;
  size_t end = 0;
};

CNumber ScanNumber(std::string_view token) {
  CNumber n;
  size_t i = 0;
  while (i < token.size() && IsSpace(token[i])) ++i;
  if (i < token.size() && (token[i] == '+' || token[i] == '-')) {
    n.negative = token[i] == '-';
    ++i;
  }
  const size_t digits = i;
  while (i < token.size() && token[i] >= '0' && token[i] <= '9') {
    const uint64_t d = static_cast<uint64_t>(token[i] - '0');
    if (n.magnitude > (std::numeric_limits<uint64_t>::max() - d) / 10) n.overflow = true;
    n.magnitude = n.magnitude * 10 + d;
    ++i;
  }
  n.end = i == digits ? 0 : i;
  return n;
}

// memcached's common tail: digits were found and they end the token or meet white space.
bool EndsWell(std::string_view token, const CNumber& n) {
  if (n.end == 0) return false;
  return n.end == token.size() || IsSpace(token[n.end]);
}

// strtoull's value: ULLONG_MAX-range magnitudes only, negated modulo 2^64 after a '-'.
bool UnsignedValue(std::string_view token, uint64_t* out) {
  const CNumber n = ScanNumber(token);
  if (n.overflow || !EndsWell(token, n)) return false;
  const uint64_t v = n.negative ? uint64_t{0} - n.magnitude : n.magnitude;
  // "only check for negative signs in the uncommon case when the unsigned number is so big that
  // it's negative as a signed number"
  if (static_cast<int64_t>(v) < 0 && token.find('-') != std::string_view::npos) return false;
  *out = v;
  return true;
}

}  // namespace

LineStatus NextLine(std::string_view in, std::string_view* line, size_t* used) {
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (in.size() <= kMaxLineWithoutNewline) return LineStatus::kNeedMore;
    size_t spaces = 0;
    while (spaces < in.size() && in[spaces] == ' ') ++spaces;
    const std::string_view start = in.substr(spaces);
    if (spaces > kMaxLeadingSpaces || (!start.starts_with("get ") && !start.starts_with("gets "))) {
      return LineStatus::kTooLong;
    }
    return LineStatus::kNeedMore;
  }
  size_t len = nl;
  if (len > 1 && in[len - 1] == '\r') --len;
  std::string_view l = in.substr(0, len);
  const size_t nul = l.find('\0');
  if (nul != std::string_view::npos) l = l.substr(0, nul);
  *line = l;
  *used = nl + 1;
  return LineStatus::kLine;
}

void Tokenize(std::string_view line, TokenizedLine* out) {
  out->count = 0;
  out->rest = {};
  size_t start = 0;
  size_t i = 0;
  for (; i < line.size(); ++i) {
    if (line[i] != ' ') continue;
    if (i > start) {
      out->tokens[out->count++] = line.substr(start, i - start);
      if (out->count == TokenizedLine::kMaxTokens) {
        // memcached stops here; whatever follows is its terminal token.
        out->rest = line.substr(i + 1);
        return;
      }
    }
    start = i + 1;
  }
  if (i > start) out->tokens[out->count++] = line.substr(start, i - start);
}

bool ParseUint32(std::string_view token, uint32_t* out) {
  uint64_t v;
  if (!UnsignedValue(token, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool ParseUint64(std::string_view token, uint64_t* out) { return UnsignedValue(token, out); }

bool ParseDouble(std::string_view token, double* out) {
  const std::string s(token);
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE) return false;
  *out = d;
  return true;
}

bool ParseInt32(std::string_view token, int32_t* out) {
  const CNumber n = ScanNumber(token);
  if (n.overflow || !EndsWell(token, n)) return false;
  // strtol's range is that of a 64-bit long.
  const uint64_t limit = n.negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (n.magnitude > limit) return false;
  const uint64_t v = n.negative ? uint64_t{0} - n.magnitude : n.magnitude;
  *out = static_cast<int32_t>(static_cast<uint32_t>(v));
  return true;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

bool LooksLikeHttp(const TokenizedLine& line) {
  if (line.count == 0) return false;
  // memcached checks only commands that no branch of its dispatcher claimed: those starting
  // with a letter it dispatches on ('g', 's', 'a', 'c', 'i', 'd', 't', or a two-letter 'm')
  // get "ERROR" even when they end in "HTTP/1.1".
  const std::string_view cmd = line.tokens[0];
  if (cmd.size() < 2) return false;
  if (std::strchr("gsacidt", cmd[0]) != nullptr) return false;
  if (cmd[0] == 'm' && cmd.size() == 2) return false;
  return line.tokens[line.count - 1].starts_with("HTTP/");
}

bool ParseStorageHeader(const TokenizedLine& line, bool with_cas, StorageHeader* out) {
  out->noreply = line.noreply();
  out->key = line.tokens[1];
  if (out->key.size() > storage::kMaxKeyLength) return false;
  int32_t bytes;
  if (!ParseUint32(line.tokens[2], &out->flags) || !ParseInt32(line.tokens[3], &out->exptime) ||
      !ParseInt32(line.tokens[4], &bytes)) {
    return false;
  }
  if (with_cas && !ParseUint64(line.tokens[5], &out->cas)) return false;
  if (bytes < 0 || bytes > std::numeric_limits<int32_t>::max() - 2) return false;
  out->bytes = static_cast<uint32_t>(bytes);
  return true;
}

}  // namespace memtwin::server::text
