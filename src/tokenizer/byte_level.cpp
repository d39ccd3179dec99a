// bytes_to_unicode tables, built once: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order (GPT-2's rule).
#include "tokenizer/byte_level.h"

#include <array>
#include <cstdint>
#include <unordered_map>

#include "tokenizer/unicode_class.h"

namespace masque {
namespace {

struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8{};
  std::unordered_map<char32_t, unsigned char> to_byte;
};

std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

ByteMap build() {
  ByteMap map;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    map.to_char[b] = printable ? static_cast<char32_t>(b) : next++;
    map.to_utf8[b] = utf8(map.to_char[b]);
    map.to_byte[map.to_char[b]] = static_cast<unsigned char>(b);
  }
  return map;
}

const ByteMap& byte_map() {
  static const ByteMap map = build();
  return map;
}

}  // namespace

std::string bytes_to_key(std::string_view bytes) {
  const ByteMap& map = byte_map();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += map.to_utf8[b];
  return out;
}

std::optional<std::string> key_to_bytes(std::string_view key) {
  const ByteMap& map = byte_map();
  std::string out;
  out.reserve(key.size());
  const auto* p = reinterpret_cast<const unsigned char*>(key.data());
  const auto* end = p + key.size();
  while (p < end) {
    Utf8Char c = decode_utf8(p, end);
    if (c.len == 1 && c.cp >= 0x80) return std::nullopt;  // invalid UTF-8
    auto it = map.to_byte.find(c.cp);
    if (it == map.to_byte.end()) return std::nullopt;
    out += static_cast<char>(it->second);
    p += c.len;
  }
  return out;
}

}  // namespace masque
