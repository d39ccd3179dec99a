// GPT-2's byte <-> unicode map (bytes_to_unicode): every byte becomes a
// printable character so byte-level tokens can be JSON strings (space -> "Ġ",
// newline -> "Ċ"). tokenizer.json stores vocab keys and merges in this alphabet.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace masque {

// Raw bytes -> the byte-level key as tokenizer.json writes it (UTF-8).
std::string bytes_to_key(std::string_view bytes);
// Byte-level key -> raw bytes; nullopt if a character is outside the map
// (e.g. an added token such as "<|endoftext|>" is fine, "é" is not byte-level).
std::optional<std::string> key_to_bytes(std::string_view key);

}  // namespace masque
