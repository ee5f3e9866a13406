// The byte encodings memcached's text protocol uses around keys: base64 for binary keys in meta
// commands (its base64.c, kept bug for bug) and URI encoding for "lru_crawler metadump" (util.c's
// uriencode). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace memtwin::server {

// Appends the standard, padded base64 of `in` to *out.
void Base64Encode(std::string_view in, std::string* out);

// memcached's base64_decode: bytes outside the alphabet are skipped, the rest must come in groups
// of four, and decoding stops after the first group holding '='. Writes at most in.size() bytes
// to `out` and returns how many; 0 means the input was refused (as memcached, which has no other
// way to say so, also refuses input that decodes to nothing).
size_t Base64Decode(std::string_view in, char* out);

// Appends `in` with every byte but [A-Za-z0-9-._~] written as %XX (upper-case hex).
void UriEncode(std::string_view in, std::string* out);

}  // namespace memtwin::server
