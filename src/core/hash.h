// Checksums and content hashes: CRC-32 (IEEE, as zlib) for file payloads and a
// streaming 64-bit FNV-1a for cache keys (experiment stages, run identity).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace masque {

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc = 0);

class Hasher64 {
 public:
  Hasher64& add(const void* data, std::size_t size);
  Hasher64& add(std::string_view text) { return add(text.data(), text.size()); }
  std::uint64_t value() const { return state_; }
  std::string hex() const;  // 16 lowercase hex digits

 private:
  std::uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace masque
