// Tokenizer::Impl: the in-memory tokenizer shared by tokenizer.cpp (encode,
// decode) and tokenizer_json.cpp (tokenizer.json load/save). Internal header.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/bpe_model.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_normalize.h"

namespace masque {

struct AddedToken {
  std::string content;
  std::uint32_t id = 0;
  bool special = true;
  // HF: a match also swallows the whitespace to its left / right.
  bool lstrip = false;
  bool rstrip = false;
};

struct Tokenizer::Impl {
  // Vocabulary: raw bytes of each token and its tokenizer.json key.
  std::vector<std::string> token_bytes;
  std::vector<std::string> token_keys;
  std::vector<MergeRule> merges;         // rank order
  std::vector<AddedToken> added;         // tokenizer.json added_tokens order
  std::vector<std::uint8_t> is_special;  // per id
  SplitPattern pattern = SplitPattern::kCl100k;
  bool add_prefix_space = false;  // GPT-2 style files only
  bool ignore_merges = false;
  std::string unk_token;  // empty = none
  // normalizer: Unicode normal forms applied in order to text between added
  // tokens before the pre-split (empty = none).
  std::vector<NormalForm> normalizers;
  // post_processor: TemplateProcessing's single template as the ids around
  // $A (e.g. {<|bos|>} and {}), and whether a ByteLevel post-processor (it
  // only trims offsets: ids unchanged) is there to be written back.
  bool has_template = false;
  std::vector<std::uint32_t> template_prefix, template_suffix;
  bool byte_level_post = false;
  BpeModel model;
  std::uint64_t instance_id = 0;  // keys the per-thread piece cache
  std::string fingerprint;
  unsigned char added_first_bytes[256] = {};  // first bytes of added tokens

  // Derives model, is_special, fingerprint, ... after the fields above are set.
  void finalize();
};

// tokenizer.json text for an Impl (deterministic; see docs/tokenizer.md).
std::string tokenizer_json_text(const Tokenizer::Impl& impl);

}  // namespace masque
