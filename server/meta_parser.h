// The flags of memcached's meta commands (mg, ms, md, ma): single-character tokens after the key,
// some carrying an argument ("T30", "Oabc"), read as memcached 1.6.18's _meta_flag_preparse does,
// with its error messages. Pure functions of their arguments; thread-safe.
//
// Usage:
//   meta::Flags flags;
//   std::string_view error;
//   if (!meta::ParseFlags(line, /*first=*/2, &flags, &error)) reply(error);
//   store.Get(flags.key, ...);  // the key, base64-decoded when flag b was given
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/text_parser.h"
#include "storage/store.h"

namespace memtwin::server::meta {

// memcached's MFLAG_MAX_OPT_LENGTH: a meta line may hold at most 19 tokens (its count includes a
// terminal token).
inline constexpr size_t kMaxTokens = 19;
// MFLAG_MAX_OPAQUE_LENGTH: an O token, its "O" included, of at most this many bytes.
inline constexpr size_t kMaxOpaqueLength = 32;

inline constexpr std::string_view kFlagsTooLong = "CLIENT_ERROR options flags too long";
inline constexpr std::string_view kGetFlagsTooLong = "CLIENT_ERROR options flags are too long";
inline constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long";
inline constexpr std::string_view kBadFlag = "CLIENT_ERROR invalid or duplicate flag";

struct Flags {
  std::string_view key;     // tokens[1], or its base64 decoding (in key_buffer) with flag b
  bool base64_key = false;  // b
  bool no_update = false;   // u
  bool no_reply = false;    // q
  bool value = false;       // v
  bool invalidate = false;  // I
  char mode = 0;            // M
  // Expiry arguments in the client's form (see storage::AbsoluteExptime).
  std::optional<int32_t> ttl;       // T
  std::optional<int32_t> vivify;    // N
  std::optional<int32_t> recache;   // R
  uint32_t client_flags = 0;        // F
  std::optional<uint64_t> cas;      // C
  std::optional<uint64_t> new_cas;  // E (memcached 1.6.19+; 1.6.18 calls it an invalid flag)
  uint64_t delta = 1;               // D
  uint64_t initial = 0;             // J
  char key_buffer[storage::kMaxKeyLength];
};

// Reads line.tokens[first..count) into *flags (and line.tokens[1], at most kMaxKeyLength bytes,
// as the key). On failure returns false with *error set to memcached's message: some are
// reported at once ("duplicate flag", "invalid flag"), others are remembered while reading goes
// on and a later one replaces an earlier one, as memcached does. A bad F sets no message, so the
// caller presets *error with its command's default. A flag is its token's first byte; bytes >= 127
// count as duplicates.
bool ParseFlags(const text::TokenizedLine& line, size_t first, Flags* flags,
                std::string_view* error);

// True when some O token among tokens[first..count) is longer than kMaxOpaqueLength.
bool HasLongOpaque(const text::TokenizedLine& line, size_t first);

}  // namespace memtwin::server::meta
