// The byte-level half of memcached's text protocol: finding a request line, splitting it into
// tokens, recognising the command, and reading numbers exactly as memcached 1.6.18 does
// (proto_text.c: try_read_command_ascii, tokenize_command; util.c: safe_strto*). Pure functions
// of their arguments: no I/O, no store, no state. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace memtwin::server::text {

// memcached closes a connection whose buffered input holds this many bytes without a "\n",
// unless the line is a "get"/"gets" (multigets may be arbitrarily long).
inline constexpr size_t kMaxLineWithoutNewline = 2048;
// ... and only when at most this many spaces come before that "get".
inline constexpr size_t kMaxLeadingSpaces = 100;

enum class LineStatus {
  kLine,      // *line is a complete request line; *used covers it and its "\n"
  kNeedMore,  // no "\n" yet: wait for more bytes
  kTooLong,   // no "\n" in too many bytes: memcached drops the connection
};

// Finds the request line at the front of `in`. Like memcached it ends at "\n", drops one "\r"
// before it (only when the line has more than one byte), and stops at a NUL byte (memcached
// treats the line as a C string).
LineStatus NextLine(std::string_view in, std::string_view* line, size_t* used);

// A request line split on ' ' (only spaces; tabs belong to tokens) into at most kMaxTokens
// tokens, as memcached's tokenize_command with MAX_TOKENS 24 (23 tokens + its terminal token).
struct TokenizedLine {
  static constexpr size_t kMaxTokens = 23;
  std::array<std::string_view, kMaxTokens> tokens;
  size_t count = 0;
  // What follows the 23rd token when the line had more (memcached's non-NULL terminal token),
  // else empty. Only multigets read it.
  std::string_view rest;

  // memcached's set_noreply_maybe: the last token is exactly "noreply".
  bool noreply() const { return count > 0 && tokens[count - 1] == "noreply"; }
};

void Tokenize(std::string_view line, TokenizedLine* out);

// Calls visit(token) for every space-separated token of `s`, in order, until visit returns
// false. Returns false iff a visit did.
template <typename Visit>
bool ForEachToken(std::string_view s, Visit&& visit) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start && !visit(s.substr(start, i - start))) return false;
  }
  return true;
}

// memcached's number parsers on one token, with their quirks kept: leading white space and a
// sign are accepted (strtoul's rules), trailing white space ends the number, and the result is
// truncated to the width memcached stores it in (so "4294967297" as an int32 is 1).
bool ParseUint32(std::string_view token, uint32_t* out);  // safe_strtoul
// memcached's safe_strtod: strtod's syntax, the whole token.
bool ParseDouble(std::string_view token, double* out);
bool ParseInt32(std::string_view token, int32_t* out);    // safe_strtol
bool ParseUint64(std::string_view token, uint64_t* out);  // safe_strtoull

enum class Command : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kIncr,
  kDecr,
  kTouch,
  kDelete,
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kShutdown,
  kCacheMemlimit,
  kRefreshCerts,
  kStats,
  kLruCrawler,
  kLru,
  kSlabs,
  kMetaGet,         // mg
  kMetaSet,         // ms
  kMetaDelete,      // md
  kMetaArithmetic,  // ma
  kMetaNoop,        // mn
  kMetaDebug,       // me
};

// One row of the command table: the name and memcached's token-count check (counting the command
// itself; a line outside [min_tokens, max_tokens] is answered "ERROR").
struct CommandSpec {
  std::string_view name;
  Command command;
  uint8_t min_tokens;
  uint8_t max_tokens;
};

inline constexpr uint8_t kAnyTokens = TokenizedLine::kMaxTokens;

inline constexpr CommandSpec kCommands[] = {
    {"get", Command::kGet, 2, kAnyTokens},
    {"set", Command::kSet, 5, 6},
    {"gets", Command::kGets, 2, kAnyTokens},
    {"gat", Command::kGat, 2, kAnyTokens},
    {"gats", Command::kGats, 2, kAnyTokens},
    {"bget", Command::kGet, 2, kAnyTokens},  // an ancient alias memcached still accepts
    {"add", Command::kAdd, 5, 6},
    {"replace", Command::kReplace, 5, 6},
    {"append", Command::kAppend, 5, 6},
    {"prepend", Command::kPrepend, 5, 6},
    {"cas", Command::kCas, 6, 7},
    {"incr", Command::kIncr, 3, 4},
    {"decr", Command::kDecr, 3, 4},
    {"touch", Command::kTouch, 3, 4},
    {"delete", Command::kDelete, 2, 4},
    {"flush_all", Command::kFlushAll, 1, 3},
    {"version", Command::kVersion, 1, kAnyTokens},
    {"verbosity", Command::kVerbosity, 2, 3},
    {"quit", Command::kQuit, 1, kAnyTokens},
    {"shutdown", Command::kShutdown, 1, kAnyTokens},
    {"cache_memlimit", Command::kCacheMemlimit, 2, 3},
    {"refresh_certs", Command::kRefreshCerts, 1, kAnyTokens},
    {"stats", Command::kStats, 1, kAnyTokens},
    {"lru_crawler", Command::kLruCrawler, 1, kAnyTokens},
    {"lru", Command::kLru, 2, kAnyTokens},
    {"slabs", Command::kSlabs, 1, kAnyTokens},
    // Meta commands check their own token counts; "me" answers a bare "me" with CLIENT_ERROR.
    {"mg", Command::kMetaGet, 2, kAnyTokens},
    {"ms", Command::kMetaSet, 2, kAnyTokens},
    {"md", Command::kMetaDelete, 2, kAnyTokens},
    {"ma", Command::kMetaArithmetic, 2, kAnyTokens},
    {"mn", Command::kMetaNoop, 1, kAnyTokens},
    {"me", Command::kMetaDebug, 1, kAnyTokens},
};

// The table row for `name`, or nullptr.
const CommandSpec* FindCommand(std::string_view name);

// What memcached does with a line whose command it does not know: "ERROR", except that a line
// looking like an HTTP request ("... HTTP/x") is dropped with the connection.
bool LooksLikeHttp(const TokenizedLine& line);

// The header of a storage command: "<cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]".
struct StorageHeader {
  std::string_view key;
  uint32_t flags = 0;
  int32_t exptime = 0;
  uint32_t bytes = 0;  // value length, without the trailing "\r\n"
  uint64_t cas = 0;
  bool noreply = false;
};

// Reads a storage command's tokens (already checked for count). Returns false for any of
// memcached's "CLIENT_ERROR bad command line format" cases: a key over 250 bytes, a bad number,
// a negative or over-large length.
bool ParseStorageHeader(const TokenizedLine& line, bool with_cas, StorageHeader* out);

}  // namespace memtwin::server::text
