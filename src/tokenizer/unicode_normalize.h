// Unicode normalization forms NFC, NFD, NFKC and NFKD (UAX #15) of UTF-8
// text, for tokenizer.json normalizers: decompose (canonically or with
// compatibility mappings, Hangul algorithmically), put combining marks in
// canonical order, and for the C forms compose again. The data tables are
// generated (unicode_norm_tables.cpp), so nothing is downloaded at run time.
#pragma once
#include <string>
#include <string_view>

namespace masque {

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// Bytes that are not valid UTF-8 pass through unchanged (each acts as a
// starter that composes with nothing).
std::string unicode_normalize(std::string_view utf8, NormalForm form);

}  // namespace masque
