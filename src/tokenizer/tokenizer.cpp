// Tokenizer's public API: encode (pre-split + cached BPE per piece), specials,
// decode, identity. Loading and saving tokenizer.json live in tokenizer_json.cpp.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>

#include "core/error.h"
#include "core/hash.h"
#include "tokenizer/tokenizer_impl.h"

namespace masque {
namespace {

std::atomic<std::uint64_t> g_next_instance{1};

// Each thread keeps caches for its few most recently used tokenizers, so code
// alternating between two tokenizers does not wipe a cache on every call.
struct ThreadCaches {
  static constexpr int kCaches = 4;
  struct Entry {
    std::uint64_t owner = 0;
    std::uint64_t last_use = 0;
    std::unique_ptr<PieceCache> cache;
  };
  Entry entries[kCaches];
  std::uint64_t clock = 0;
};

PieceCache& cache_for(const Tokenizer::Impl& impl) {
  thread_local ThreadCaches tc;
  ThreadCaches::Entry* victim = &tc.entries[0];
  for (ThreadCaches::Entry& entry : tc.entries) {
    if (entry.owner == impl.instance_id && entry.cache) {
      entry.last_use = ++tc.clock;
      return *entry.cache;
    }
    if (entry.last_use < victim->last_use) victim = &entry;
  }
  if (!victim->cache) victim->cache = std::make_unique<PieceCache>();
  victim->cache->clear();
  victim->owner = impl.instance_id;
  victim->last_use = ++tc.clock;
  return *victim->cache;
}

// Encodes one segment of plain text (no special tokens inside).
void encode_segment(const Tokenizer::Impl& impl, std::string_view text,
                    std::vector<std::uint32_t>& out) {
  if (text.empty()) return;
  std::string normalized;
  if (!impl.normalizers.empty()) {  // HF normalizes before it pre-tokenizes
    normalized = std::string(text);
    for (const NormalForm form : impl.normalizers) normalized = unicode_normalize(normalized, form);
    text = normalized;
  }
  std::string prefixed;
  if (impl.add_prefix_space && text.front() != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed += ' ';
    prefixed += text;
    text = prefixed;
  }
  PieceCache& cache = cache_for(impl);
  for_each_pretoken(impl.pattern, text, [&](std::string_view piece) {
    if (piece.size() > PieceCache::kMaxPieceBytes) {
      impl.model.encode_piece(piece, out);
      return;
    }
    std::uint64_t hash = PieceCache::hash(piece);
    std::uint32_t count = 0;
    if (const std::uint32_t* ids = cache.find(piece, hash, count)) {
      out.insert(out.end(), ids, ids + count);
      return;
    }
    std::size_t start = out.size();
    impl.model.encode_piece(piece, out);
    cache.insert(piece, hash, out.data() + start, static_cast<std::uint32_t>(out.size() - start));
  });
}

}  // namespace

void Tokenizer::Impl::finalize() {
  instance_id = g_next_instance.fetch_add(1);
  is_special.assign(token_bytes.size(), 0);
  std::fill(std::begin(added_first_bytes), std::end(added_first_bytes), 0);
  for (const AddedToken& token : added) {
    if (token.special) is_special[token.id] = 1;
    if (!token.content.empty()) added_first_bytes[static_cast<unsigned char>(token.content[0])] = 1;
  }
  std::uint32_t unk_id = kNoToken;
  if (!unk_token.empty()) {
    for (std::uint32_t id = 0; id < token_keys.size(); ++id) {
      if (token_keys[id] == unk_token) unk_id = id;
    }
  }
  model = BpeModel(token_bytes, merges, ignore_merges, unk_id);
  fingerprint = Hasher64().add(tokenizer_json_text(*this)).hex();
}

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) { impl_->finalize(); }
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::vector<std::uint32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::uint32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_segment(*impl_, text, out);
  return out;
}

namespace {

// Unicode White_Space (what HF's lstrip/rstrip skip: Rust's char::is_whitespace)
// of the UTF-8 character at text[pos]; its byte length, or 0 when it is not.
std::size_t whitespace_at(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) {
    return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u;
  };
  const unsigned c0 = byte(pos);
  if ((c0 >= 0x09 && c0 <= 0x0D) || c0 == 0x20) return 1;
  if (c0 == 0xC2 && (byte(pos + 1) == 0x85 || byte(pos + 1) == 0xA0)) return 2;
  if (c0 == 0xE1 && byte(pos + 1) == 0x9A && byte(pos + 2) == 0x80) return 3;  // U+1680
  if (c0 == 0xE2 && byte(pos + 1) == 0x80) {
    const unsigned c2 = byte(pos + 2);  // U+2000..200A, 2028, 2029, 202F
    if ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF) return 3;
  }
  if (c0 == 0xE2 && byte(pos + 1) == 0x81 && byte(pos + 2) == 0x9F) return 3;  // U+205F
  if (c0 == 0xE3 && byte(pos + 1) == 0x80 && byte(pos + 2) == 0x80) return 3;  // U+3000
  return 0;
}

// Start of the run of whitespace characters that ends at `end` (not before `floor`).
std::size_t whitespace_run_start(std::string_view text, std::size_t end, std::size_t floor) {
  std::size_t start = end;
  while (start > floor) {
    std::size_t lead = start - 1;  // back to the first byte of the previous character
    while (lead > floor && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80) --lead;
    if (whitespace_at(text, lead) != start - lead) break;
    start = lead;
  }
  return start;
}

}  // namespace

std::vector<std::uint32_t> Tokenizer::encode_with_specials(std::string_view text) const {
  // HF splits on added tokens first (leftmost match, longest at a position),
  // then pre-tokenizes each segment between them on its own. A token with
  // lstrip (rstrip) also takes the whitespace before (after) it.
  std::vector<std::uint32_t> out;
  out.reserve(text.size() / 3 + 4);
  std::size_t segment_start = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!impl_->added_first_bytes[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const AddedToken* best = nullptr;
    for (const AddedToken& token : impl_->added) {
      if (token.content.empty() || text.compare(pos, token.content.size(), token.content) != 0)
        continue;
      if (!best || token.content.size() > best->content.size()) best = &token;
    }
    if (!best) {
      ++pos;
      continue;
    }
    const std::size_t start = best->lstrip ? whitespace_run_start(text, pos, segment_start) : pos;
    encode_segment(*impl_, text.substr(segment_start, start - segment_start), out);
    out.push_back(best->id);
    pos += best->content.size();
    if (best->rstrip) {
      while (const std::size_t n = whitespace_at(text, pos)) pos += n;
    }
    segment_start = pos;
  }
  encode_segment(*impl_, text.substr(segment_start), out);
  return out;
}

std::vector<std::uint32_t> Tokenizer::encode_for_model(std::string_view text) const {
  std::vector<std::uint32_t> out = impl_->template_prefix;
  const std::vector<std::uint32_t> body = encode_with_specials(text);
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), impl_->template_suffix.begin(), impl_->template_suffix.end());
  return out;
}

std::string Tokenizer::decode(std::span<const std::uint32_t> ids) const {
  std::string out;
  for (std::uint32_t id : ids) {
    if (id >= impl_->token_bytes.size()) {
      throw InputError(cat("token id ", id, " is out of range: this tokenizer has ", vocab_size(),
                           " tokens (were the ids made with a different tokenizer?)"));
    }
    out += impl_->token_bytes[id];
  }
  return out;
}

std::string Tokenizer::token_text(std::uint32_t id) const { return decode(std::span(&id, 1)); }

std::uint32_t Tokenizer::vocab_size() const {
  return static_cast<std::uint32_t>(impl_->token_bytes.size());
}

std::optional<std::uint32_t> Tokenizer::special_id(std::string_view token) const {
  for (const AddedToken& added : impl_->added) {
    if (added.content == token) return added.id;
  }
  return std::nullopt;
}

namespace {
std::uint32_t required_special(const Tokenizer& tokenizer, std::string_view token) {
  if (auto id = tokenizer.special_id(token)) return *id;
  throw FormatError(cat("the tokenizer has no ", token,
                        " special token (masque needs its reserved tokens: use a tokenizer "
                        "trained with `masque tokenizer train`)"));
}
}  // namespace

std::uint32_t Tokenizer::bos_id() const { return required_special(*this, kBosToken); }
std::uint32_t Tokenizer::eos_id() const { return required_special(*this, kEosToken); }
std::uint32_t Tokenizer::pad_id() const { return required_special(*this, kPadToken); }

bool Tokenizer::is_special(std::uint32_t id) const {
  return id < impl_->is_special.size() && impl_->is_special[id] != 0;
}

std::string Tokenizer::fingerprint() const { return impl_->fingerprint; }

}  // namespace masque
