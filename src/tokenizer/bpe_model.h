// The BPE merge engine behind Tokenizer::encode: pair -> (rank, merged id) in a
// flat open-addressing table, the merge loop (lowest rank first, leftmost on
// ties, exactly HF's order), and a bounded per-thread cache of piece -> ids so
// frequent words skip merging entirely.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace masque {

inline constexpr std::uint32_t kNoToken = 0xFFFFFFFFu;

struct MergeRule {
  std::uint32_t left;
  std::uint32_t right;
  std::uint32_t merged;  // id of left's bytes + right's bytes
};

class BpeModel {
 public:
  BpeModel() = default;
  // token_bytes[id] are the raw bytes of each token; merges in rank order.
  // unk_id (or kNoToken) replaces bytes that have no single-byte token.
  BpeModel(const std::vector<std::string>& token_bytes, const std::vector<MergeRule>& merges,
           bool ignore_merges, std::uint32_t unk_id);

  // Appends the ids of one pre-token (no cache).
  void encode_piece(std::string_view piece, std::vector<std::uint32_t>& out) const;

  // Rank and merged id of a pair, or {kNoToken, kNoToken}.
  std::pair<std::uint32_t, std::uint32_t> lookup(std::uint32_t left, std::uint32_t right) const;

 private:
  void merge_short(std::vector<std::uint32_t>& symbols) const;
  void merge_long(std::vector<std::uint32_t>& symbols) const;

  struct Slot {
    std::uint64_t key;  // left << 32 | right; kEmpty when free
    std::uint32_t rank;
    std::uint32_t merged;
  };
  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
  std::array<std::uint32_t, 256> byte_ids_{};
  std::uint32_t unk_id_ = kNoToken;
  bool ignore_merges_ = false;
  std::unordered_map<std::string, std::uint32_t> whole_tokens_;  // ignore_merges only
};

// Bounded cache of piece -> ids for one thread and one tokenizer: 256k slots
// of 16 bytes (4 MB), cleared when half full, which keeps memory bounded on
// adversarial input while holding a natural-language working set.
class PieceCache {
 public:
  PieceCache();
  // Pointer to cached ids and their count, or nullptr.
  const std::uint32_t* find(std::string_view piece, std::uint64_t hash, std::uint32_t& count) const;
  void insert(std::string_view piece, std::uint64_t hash, const std::uint32_t* ids,
              std::uint32_t count);
  void clear();

  static constexpr std::size_t kMaxPieceBytes = 64;
  static std::uint64_t hash(std::string_view piece);

 private:
  // 16 bytes: key_len 0 marks a free slot (pieces are never empty).
  struct Entry {
    std::uint32_t hash = 0;
    std::uint32_t key_offset = 0;
    std::uint32_t ids_offset = 0;
    std::uint8_t key_len = 0;
    std::uint8_t ids_len = 0;
  };
  static constexpr std::size_t kSlots = 1 << 18;
  static constexpr std::size_t kMaxEntries = kSlots / 2;
  std::vector<Entry> slots_;
  std::string keys_;
  std::vector<std::uint32_t> ids_;
  std::size_t entries_ = 0;
};

}  // namespace masque
