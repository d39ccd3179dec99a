// Tokenizer: byte-level BPE with the GPT-4 (cl100k) pre-split, whose file
// format is Hugging Face's tokenizer.json (docs/tokenizer.md). Loads files
// masque wrote and byte-level BPE files HF wrote (e.g. GPT-2 style), and
// encodes exactly as HF `tokenizers` does.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace masque {

// masque's reserved special tokens (added_tokens, "special": true). masque-
// trained vocabularies place them at the end of the id range in this order.
inline constexpr std::string_view kBosToken = "<|bos|>";  // starts every document
inline constexpr std::string_view kEosToken = "<|eos|>";  // end of text
inline constexpr std::string_view kPadToken = "<|pad|>";
inline constexpr std::string_view kSystemToken = "<|system|>";  // chat roles
inline constexpr std::string_view kUserToken = "<|user|>";
inline constexpr std::string_view kAssistantToken = "<|assistant|>";
inline constexpr std::string_view kEndTurnToken = "<|end|>";  // end of a chat turn

class Tokenizer {
 public:
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Load tokenizer.json; FormatError naming the file and what is wrong (not
  // JSON, not a BPE model, not byte-level, inconsistent merges, ...).
  static Tokenizer load(const std::filesystem::path& path);
  static Tokenizer from_json_text(std::string_view text, std::string_view where);
  // Write tokenizer.json atomically. Byte-identical for identical tokenizers.
  void save(const std::filesystem::path& path) const;
  std::string to_json_text() const;

  // Plain text -> ids. Special-token strings in the text are NOT special here
  // (they are split like any other text): safe for untrusted input.
  std::vector<std::uint32_t> encode(std::string_view text) const;
  // Like encode, but exact occurrences of special-token strings ("<|user|>")
  // become their ids: used for chat templates and prompts.
  std::vector<std::uint32_t> encode_with_specials(std::string_view text) const;
  // What HF's tokenizer(text) gives (add_special_tokens=True):
  // encode_with_specials, then the post-processor's template around it (for
  // masque's own tokenizers a leading <|bos|>; nothing without a
  // TemplateProcessing). Prompts for a model are encoded with this.
  std::vector<std::uint32_t> encode_for_model(std::string_view text) const;
  // ids -> bytes (special tokens rendered as their strings). Any id sequence
  // decodes; ids >= vocab_size() throw InputError.
  std::string decode(std::span<const std::uint32_t> ids) const;
  std::string token_text(std::uint32_t id) const;  // raw bytes of one token

  std::uint32_t vocab_size() const;  // including special tokens
  std::optional<std::uint32_t> special_id(std::string_view token) const;
  // Ids of masque's reserved tokens; throw FormatError if the file lacks them.
  std::uint32_t bos_id() const;
  std::uint32_t eos_id() const;
  std::uint32_t pad_id() const;
  bool is_special(std::uint32_t id) const;
  // Stable identity of vocabulary + merges + specials (hex), stored in shard
  // metadata and checkpoints so mismatched tokenizers are detected.
  std::string fingerprint() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace masque
