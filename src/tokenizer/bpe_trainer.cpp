// BPE training, second phase: merges. Words (unique pre-tokens with counts) are
// symbol arrays; every adjacent pair has a count and the list of words it
// occurs in. A max-heap orders pairs by (count desc, left id asc, right id
// asc), which is HF's tie rule and fully deterministic. Merging a pair only
// touches the words in its list and adjusts neighbour pair counts by delta;
// heap entries are validated lazily when popped (counts of old pairs only
// fall, new pairs are pushed once with their final count).
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <memory>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "core/progress.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretoken_counter.h"
#include "tokenizer/tokenizer_impl.h"

namespace masque {
namespace {

constexpr std::string_view kSpecialTokens[] = {
    kBosToken, kEosToken, kPadToken, kSystemToken, kUserToken, kAssistantToken, kEndTurnToken};
constexpr std::uint32_t kNumSpecials = std::size(kSpecialTokens);

std::uint64_t pair_key(std::uint32_t left, std::uint32_t right) {
  return (static_cast<std::uint64_t>(left) << 32) | right;
}

struct PairInfo {
  std::int64_t count = 0;
  std::vector<std::uint32_t> words;  // may hold stale or repeated entries
};

// u64 pair key -> index into a PairInfo vector (open addressing; never erases).
class PairTable {
 public:
  PairTable() : keys_(1 << 16, kEmpty), index_(1 << 16) {}

  PairInfo& get(std::uint64_t key) { return infos_[index_of(key)]; }
  PairInfo* find(std::uint64_t key) {
    std::size_t idx = slot(key);
    return keys_[idx] == kEmpty ? nullptr : &infos_[index_[idx]];
  }
  template <class Fn>
  void for_each(Fn&& fn) {
    for (std::size_t idx = 0; idx < keys_.size(); ++idx) {
      if (keys_[idx] != kEmpty) fn(keys_[idx], infos_[index_[idx]]);
    }
  }

 private:
  static constexpr std::uint64_t kEmpty = ~0ULL;
  std::size_t slot(std::uint64_t key) const {
    std::size_t mask = keys_.size() - 1;
    std::size_t idx = (key * 0x9E3779B97F4A7C15ULL >> 20) & mask;
    while (keys_[idx] != kEmpty && keys_[idx] != key) idx = (idx + 1) & mask;
    return idx;
  }
  std::size_t index_of(std::uint64_t key) {
    std::size_t idx = slot(key);
    if (keys_[idx] == key) return index_[idx];
    if ((infos_.size() + 1) * 2 > keys_.size()) {
      grow();
      idx = slot(key);
    }
    keys_[idx] = key;
    index_[idx] = static_cast<std::uint32_t>(infos_.size());
    infos_.emplace_back();
    return index_[idx];
  }
  void grow() {
    std::vector<std::uint64_t> old_keys(keys_.size() * 2, kEmpty);
    std::vector<std::uint32_t> old_index(keys_.size() * 2);
    old_keys.swap(keys_);
    old_index.swap(index_);
    for (std::size_t idx = 0; idx < old_keys.size(); ++idx) {
      if (old_keys[idx] == kEmpty) continue;
      std::size_t s = slot(old_keys[idx]);
      keys_[s] = old_keys[idx];
      index_[s] = old_index[idx];
    }
  }
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> index_;
  std::vector<PairInfo> infos_;
};

struct HeapEntry {
  std::int64_t count;
  std::uint64_t key;
  // priority_queue pops the largest: higher count, then smaller pair.
  bool operator<(const HeapEntry& other) const {
    return count != other.count ? count < other.count : key > other.key;
  }
};

struct TrainState {
  std::vector<std::vector<std::uint32_t>> words;
  std::vector<std::int64_t> counts;
  PairTable pairs;
  std::priority_queue<HeapEntry> heap;
  std::vector<std::string> token_bytes;
  std::unordered_map<std::string, std::uint32_t> token_ids;
  std::vector<MergeRule> merges;
};

void init_state(TrainState& state, const WordCounter& counter) {
  for (int b = 0; b < 256; ++b) {
    state.token_bytes.emplace_back(1, static_cast<char>(b));
    state.token_ids.emplace(state.token_bytes.back(), b);
  }
  state.words.reserve(counter.size());
  state.counts.reserve(counter.size());
  counter.for_each([&](std::string_view word, std::uint64_t, std::uint64_t count) {
    if (word.size() < 2) return;  // no pairs, nothing to learn
    std::vector<std::uint32_t> symbols(word.begin(), word.end());
    for (std::uint32_t& s : symbols) s &= 0xFF;
    state.words.push_back(std::move(symbols));
    state.counts.push_back(static_cast<std::int64_t>(count));
  });
  for (std::uint32_t w = 0; w < state.words.size(); ++w) {
    const auto& symbols = state.words[w];
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      PairInfo& info = state.pairs.get(pair_key(symbols[i], symbols[i + 1]));
      info.count += state.counts[w];
      if (info.words.empty() || info.words.back() != w) info.words.push_back(w);
    }
  }
  state.pairs.for_each([&](std::uint64_t key, PairInfo& info) {
    if (info.count > 0) state.heap.push({info.count, key});
  });
}

// Applies merge (left, right) -> merged to every word containing it.
void apply_merge(TrainState& state, std::uint32_t left, std::uint32_t right, std::uint32_t merged,
                 std::vector<std::uint32_t>& visited_stamp, std::uint32_t stamp) {
  const std::uint64_t merged_key = pair_key(left, right);
  std::vector<std::uint32_t> word_list = std::move(state.pairs.get(merged_key).words);
  std::vector<std::uint64_t> touched;
  auto adjust = [&](std::uint32_t a, std::uint32_t b, std::int64_t delta, std::uint32_t word) {
    std::uint64_t key = pair_key(a, b);
    if (key == merged_key) return;
    PairInfo& info = state.pairs.get(key);
    info.count += delta;
    if (delta > 0) {
      if (info.words.empty() || info.words.back() != word) info.words.push_back(word);
      touched.push_back(key);
    }
  };
  for (std::uint32_t w : word_list) {
    if (visited_stamp[w] == stamp) continue;
    visited_stamp[w] = stamp;
    std::vector<std::uint32_t>& symbols = state.words[w];
    const std::int64_t count = state.counts[w];
    std::size_t out = 0;
    for (std::size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
        if (out > 0) {
          adjust(symbols[out - 1], left, -count, w);
          adjust(symbols[out - 1], merged, count, w);
        }
        if (i + 2 < symbols.size()) {
          adjust(right, symbols[i + 2], -count, w);
          adjust(merged, symbols[i + 2], count, w);
        }
        symbols[out++] = merged;
        ++i;
      } else {
        symbols[out++] = symbols[i];
      }
    }
    symbols.resize(out);
  }
  PairInfo& done = state.pairs.get(merged_key);
  done.count = 0;
  done.words.clear();
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (std::uint64_t key : touched) {
    PairInfo* info = state.pairs.find(key);
    if (info && info->count > 0) state.heap.push({info->count, key});
  }
}

}  // namespace

Tokenizer train_bpe(const BpeTrainOptions& options) {
  const std::uint32_t minimum = 256 + kNumSpecials;
  if (options.vocab_size < minimum) {
    throw InputError(cat("--vocab-size ", options.vocab_size,
                         " is too small: a byte-level vocabulary needs ", "256 byte tokens + ",
                         kNumSpecials, " special tokens = ", minimum,
                         " at least (use a larger --vocab-size, e.g. 4096)"));
  }
  std::vector<std::filesystem::path> files = expand_inputs(options.inputs);
  PretokenCounts counts =
      count_pretokens(files, SplitPattern::kCl100k, options.max_bytes, options.progress);
  if (counts.bytes == 0) {
    throw InputError(cat("the training corpus is empty (", files.size(), " file(s), ",
                         counts.documents,
                         " document(s), 0 bytes of text): give --input files that contain text"));
  }

  TrainState state;
  init_state(state, counts.words);
  counts.words = WordCounter();  // free the pre-token table

  const std::uint32_t target_tokens = options.vocab_size - kNumSpecials;
  std::vector<std::uint32_t> visited_stamp(state.words.size(), 0);
  std::uint32_t stamp = 0;
  std::unique_ptr<ProgressBar> bar;
  if (options.progress)
    bar = std::make_unique<ProgressBar>("merge pairs", target_tokens - 256, "merge");
  while (state.token_bytes.size() < target_tokens && !state.heap.empty()) {
    HeapEntry top = state.heap.top();
    state.heap.pop();
    PairInfo& info = state.pairs.get(top.key);
    if (info.count != top.count) {
      if (info.count > 0) state.heap.push({info.count, top.key});
      continue;
    }
    if (top.count < static_cast<std::int64_t>(std::max<std::uint32_t>(options.min_frequency, 1)))
      break;
    auto left = static_cast<std::uint32_t>(top.key >> 32);
    auto right = static_cast<std::uint32_t>(top.key & 0xFFFFFFFFu);
    std::string bytes = state.token_bytes[left] + state.token_bytes[right];
    // Two merge paths can spell the same bytes; HF then reuses the token.
    auto [it, inserted] =
        state.token_ids.emplace(bytes, static_cast<std::uint32_t>(state.token_bytes.size()));
    if (inserted) state.token_bytes.push_back(std::move(bytes));
    state.merges.push_back({left, right, it->second});
    apply_merge(state, left, right, it->second, visited_stamp, ++stamp);
    if (bar) bar->set(state.token_bytes.size() - 256);
  }
  if (bar) {
    bar->set_total(state.token_bytes.size() - 256);  // the corpus may run out of pairs first
    bar->finish();
  }

  Tokenizer::Impl impl;
  impl.pattern = SplitPattern::kCl100k;
  impl.token_bytes = std::move(state.token_bytes);
  for (const std::string& bytes : impl.token_bytes) impl.token_keys.push_back(bytes_to_key(bytes));
  impl.merges = std::move(state.merges);
  for (std::string_view special : kSpecialTokens) {
    auto id = static_cast<std::uint32_t>(impl.token_bytes.size());
    impl.token_bytes.emplace_back(special);
    impl.token_keys.emplace_back(special);
    impl.added.push_back({std::string(special), id, true});
    // Every training document starts with <|bos|>, so HF's tokenizer(text)
    // adds it too (TemplateProcessing "<|bos|> $A"), as masque's prompts do.
    if (special == kBosToken) {
      impl.has_template = true;
      impl.template_prefix = {id};
    }
  }
  return Tokenizer::from_json_text(tokenizer_json_text(impl), "trained tokenizer");
}

}  // namespace masque
