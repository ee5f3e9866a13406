#include "server/encoding.h"

#include <array>
#include <cstdint>

namespace memtwin::server {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kNotInAlphabet = 0x80;

// memcached's dtable: the alphabet's values, '=' as 0, everything else 0x80.
constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (uint8_t& v : table) v = kNotInAlphabet;
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(kAlphabet[i])] = i;
  table['='] = 0;
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

void Base64Encode(std::string_view in, std::string* out) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
  size_t i = 0;
  for (; in.size() - i >= 3; i += 3) {
    out->push_back(kAlphabet[byte(i) >> 2]);
    out->push_back(kAlphabet[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)]);
    out->push_back(kAlphabet[((byte(i + 1) & 0x0f) << 2) | (byte(i + 2) >> 6)]);
    out->push_back(kAlphabet[byte(i + 2) & 0x3f]);
  }
  if (i == in.size()) return;
  out->push_back(kAlphabet[byte(i) >> 2]);
  if (in.size() - i == 1) {
    out->push_back(kAlphabet[(byte(i) & 0x03) << 4]);
    out->push_back('=');
  } else {
    out->push_back(kAlphabet[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)]);
    out->push_back(kAlphabet[(byte(i + 1) & 0x0f) << 2]);
  }
  out->push_back('=');
}

size_t Base64Decode(std::string_view in, char* out) {
  size_t count = 0;
  for (char c : in) {
    if (kDecode[static_cast<uint8_t>(c)] != kNotInAlphabet) ++count;
  }
  if (count == 0 || count % 4 != 0) return 0;
  size_t pos = 0;
  uint8_t block[4];
  size_t filled = 0;
  int pad = 0;
  for (char c : in) {
    const uint8_t v = kDecode[static_cast<uint8_t>(c)];
    if (v == kNotInAlphabet) continue;
    if (c == '=') ++pad;
    block[filled++] = v;
    if (filled < 4) continue;
    out[pos++] = static_cast<char>((block[0] << 2) | (block[1] >> 4));
    out[pos++] = static_cast<char>((block[1] << 4) | (block[2] >> 2));
    out[pos++] = static_cast<char>((block[2] << 6) | block[3]);
    filled = 0;
    if (pad == 0) continue;
    if (pad > 2) return 0;  // invalid padding
    pos -= static_cast<size_t>(pad);
    break;
  }
  return pos;
}

void UriEncode(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : in) {
    const auto b = static_cast<uint8_t>(c);
    const bool plain = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                       b == '-' || b == '.' || b == '_' || b == '~';
    if (plain) {
      out->push_back(c);
    } else {
      out->push_back('%');
      out->push_back(kHex[b >> 4]);
      out->push_back(kHex[b & 0x0f]);
    }
  }
}

}  // namespace memtwin::server
