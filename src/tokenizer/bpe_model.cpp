// BPE merging. Short pieces (the common case) use an array scan with cached
// pair ranks; long pieces use a linked list and a min-heap so a megabyte of one
// letter stays O(n log n). Both apply merges in HF's order: lowest rank, then
// leftmost position.
#include "tokenizer/bpe_model.h"

#include <cstring>
#include <queue>

namespace masque {
namespace {

constexpr std::uint64_t kEmptyKey = ~0ULL;
constexpr std::size_t kShortPiece = 128;

std::uint64_t pair_key(std::uint32_t left, std::uint32_t right) {
  return (static_cast<std::uint64_t>(left) << 32) | right;
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

// Equality of short byte strings without a libc call (pieces are <= 64 bytes).
bool same_bytes(const char* a, const char* b, std::size_t n) {
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  for (; n > 0; --n) {
    if (*a++ != *b++) return false;
  }
  return true;
}

}  // namespace

BpeModel::BpeModel(const std::vector<std::string>& token_bytes,
                   const std::vector<MergeRule>& merges, bool ignore_merges, std::uint32_t unk_id)
    : unk_id_(unk_id), ignore_merges_(ignore_merges) {
  byte_ids_.fill(kNoToken);
  // Lowest id wins if two tokens share one byte (never in a well-formed file).
  for (std::uint32_t id = token_bytes.size(); id-- > 0;) {
    if (token_bytes[id].size() == 1) byte_ids_[static_cast<unsigned char>(token_bytes[id][0])] = id;
  }
  std::size_t capacity = 16;
  while (capacity < merges.size() * 2 + 2) capacity <<= 1;
  slots_.assign(capacity, Slot{kEmptyKey, 0, 0});
  mask_ = capacity - 1;
  for (std::uint32_t rank = 0; rank < merges.size(); ++rank) {
    const MergeRule& rule = merges[rank];
    std::uint64_t key = pair_key(rule.left, rule.right);
    std::uint64_t idx = mix(key) & mask_;
    while (slots_[idx].key != kEmptyKey && slots_[idx].key != key) idx = (idx + 1) & mask_;
    // HF keeps the first rank of a duplicated merge line.
    if (slots_[idx].key == key) continue;
    slots_[idx] = Slot{key, rank, rule.merged};
  }
  if (ignore_merges_) {
    for (std::uint32_t id = 0; id < token_bytes.size(); ++id) {
      whole_tokens_.emplace(token_bytes[id], id);
    }
  }
}

std::pair<std::uint32_t, std::uint32_t> BpeModel::lookup(std::uint32_t left,
                                                         std::uint32_t right) const {
  std::uint64_t key = pair_key(left, right);
  std::uint64_t idx = mix(key) & mask_;
  while (true) {
    const Slot& slot = slots_[idx];
    if (slot.key == key) return {slot.rank, slot.merged};
    if (slot.key == kEmptyKey) return {kNoToken, kNoToken};
    idx = (idx + 1) & mask_;
  }
}

void BpeModel::encode_piece(std::string_view piece, std::vector<std::uint32_t>& out) const {
  if (ignore_merges_) {
    auto it = whole_tokens_.find(std::string(piece));
    if (it != whole_tokens_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  thread_local std::vector<std::uint32_t> symbols;
  symbols.clear();
  for (unsigned char b : piece) {
    std::uint32_t id = byte_ids_[b];
    if (id == kNoToken) id = unk_id_;
    if (id != kNoToken) symbols.push_back(id);
  }
  if (symbols.size() <= kShortPiece) {
    merge_short(symbols);
  } else {
    merge_long(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::merge_short(std::vector<std::uint32_t>& symbols) const {
  std::size_t n = symbols.size();
  if (n < 2) return;
  // ranks[i] / merged[i] describe the pair (symbols[i], symbols[i+1]).
  std::uint32_t ranks[kShortPiece];
  std::uint32_t merged[kShortPiece];
  for (std::size_t i = 0; i + 1 < n; ++i) {
    auto [rank, id] = lookup(symbols[i], symbols[i + 1]);
    ranks[i] = rank;
    merged[i] = id;
  }
  while (n > 1) {
    std::uint32_t best_rank = kNoToken;
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      if (ranks[i] < best_rank) {
        best_rank = ranks[i];
        best = i;
      }
    }
    if (best_rank == kNoToken) break;
    symbols[best] = merged[best];
    // Close the gap left by symbols[best + 1] (and its pair entry).
    for (std::size_t i = best + 1; i + 1 < n; ++i) {
      symbols[i] = symbols[i + 1];
      ranks[i] = ranks[i + 1];
      merged[i] = merged[i + 1];
    }
    --n;
    if (best > 0) {
      auto [rank, id] = lookup(symbols[best - 1], symbols[best]);
      ranks[best - 1] = rank;
      merged[best - 1] = id;
    }
    if (best + 1 < n) {
      auto [rank, id] = lookup(symbols[best], symbols[best + 1]);
      ranks[best] = rank;
      merged[best] = id;
    }
  }
  symbols.resize(n);
}

void BpeModel::merge_long(std::vector<std::uint32_t>& symbols) const {
  const std::size_t n = symbols.size();
  // Doubly linked list over positions; a merged-away position gets prev = dead.
  constexpr std::size_t kDead = ~std::size_t{0};
  std::vector<std::size_t> next(n), prev(n);
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = i + 1;
    prev[i] = i == 0 ? kDead - 1 : i - 1;  // kDead - 1 marks "no previous"
  }
  struct Candidate {
    std::uint32_t rank;
    std::size_t pos;
    std::uint32_t left;
    std::uint32_t right;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](std::size_t pos) {
    if (pos >= n || prev[pos] == kDead || next[pos] >= n) return;
    auto [rank, id] = lookup(symbols[pos], symbols[next[pos]]);
    if (rank != kNoToken) heap.push({rank, pos, symbols[pos], symbols[next[pos]]});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    std::size_t pos = top.pos;
    // Stale if either side changed since the candidate was pushed.
    if (prev[pos] == kDead || next[pos] >= n || symbols[pos] != top.left ||
        symbols[next[pos]] != top.right) {
      continue;
    }
    std::size_t right = next[pos];
    symbols[pos] = lookup(top.left, top.right).second;
    next[pos] = next[right];
    if (next[pos] < n) prev[next[pos]] = pos;
    prev[right] = kDead;
    if (prev[pos] != kDead - 1) push(prev[pos]);
    push(pos);
  }
  std::size_t out = 0;
  for (std::size_t i = 0; i < n; i = next[i]) symbols[out++] = symbols[i];
  symbols.resize(out);
}

PieceCache::PieceCache() : slots_(kSlots) {}

std::uint64_t PieceCache::hash(std::string_view piece) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ piece.size();
  std::size_t i = 0;
  for (; i + 8 <= piece.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, piece.data() + i, 8);
    h = mix(h ^ word) * 0x9E3779B97F4A7C15ULL;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, piece.data() + i, piece.size() - i);
  return mix(h ^ tail);
}

const std::uint32_t* PieceCache::find(std::string_view piece, std::uint64_t hash,
                                      std::uint32_t& count) const {
  std::size_t idx = hash & (kSlots - 1);
  const auto short_hash = static_cast<std::uint32_t>(hash >> 32);
  while (slots_[idx].key_len != 0) {
    const Entry& e = slots_[idx];
    if (e.hash == short_hash && e.key_len == piece.size() &&
        same_bytes(keys_.data() + e.key_offset, piece.data(), piece.size())) {
      count = e.ids_len;
      return ids_.data() + e.ids_offset;
    }
    idx = (idx + 1) & (kSlots - 1);
  }
  return nullptr;
}

void PieceCache::insert(std::string_view piece, std::uint64_t hash, const std::uint32_t* ids,
                        std::uint32_t count) {
  if (entries_ >= kMaxEntries) clear();
  std::size_t idx = hash & (kSlots - 1);
  while (slots_[idx].key_len != 0) idx = (idx + 1) & (kSlots - 1);
  Entry& e = slots_[idx];
  e.hash = static_cast<std::uint32_t>(hash >> 32);
  e.key_offset = static_cast<std::uint32_t>(keys_.size());
  e.key_len = static_cast<std::uint8_t>(piece.size());
  e.ids_offset = static_cast<std::uint32_t>(ids_.size());
  e.ids_len = static_cast<std::uint8_t>(count);
  keys_.append(piece);
  ids_.insert(ids_.end(), ids, ids + count);
  ++entries_;
}

void PieceCache::clear() {
  if (entries_ == 0) return;
  std::fill(slots_.begin(), slots_.end(), Entry{});
  keys_.clear();
  ids_.clear();
  entries_ = 0;
}

}  // namespace masque
