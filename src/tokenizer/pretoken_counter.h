// First phase of BPE training: how often each pre-token occurs in a corpus.
// Documents are read in batches; each batch is pre-split and counted by
// num_threads() workers into private hash tables that are merged at the end.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/pretokenizer.h"

namespace masque {

// Open-addressing string -> count table with keys in one arena.
class WordCounter {
 public:
  WordCounter();
  void add(std::string_view word, std::uint64_t hash, std::uint64_t count);
  std::size_t size() const { return used_; }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& slot : slots_) {
      if (slot.count != 0)
        fn(std::string_view(arena_).substr(slot.offset, slot.len), slot.hash, slot.count);
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::uint64_t offset = 0;
    std::uint32_t len = 0;
    std::uint64_t count = 0;  // 0 = empty slot
  };
  void grow();
  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t used_ = 0;
};

struct PretokenCounts {
  WordCounter words;
  std::uint64_t documents = 0;
  std::uint64_t bytes = 0;
};

PretokenCounts count_pretokens(const std::vector<std::filesystem::path>& files,
                               SplitPattern pattern, std::uint64_t max_bytes, bool progress);

}  // namespace masque
