// Multi-threaded pre-token counting (see pretoken_counter.h). Work is split by
// document within each batch, so the counts (a multiset) do not depend on the
// thread count.
#include "tokenizer/pretoken_counter.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "core/progress.h"
#include "core/threads.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/text_source.h"

namespace masque {

WordCounter::WordCounter() : slots_(1 << 12) {}

void WordCounter::add(std::string_view word, std::uint64_t hash, std::uint64_t count) {
  if ((used_ + 1) * 2 > slots_.size()) grow();
  std::size_t mask = slots_.size() - 1;
  std::size_t idx = hash & mask;
  while (slots_[idx].count != 0) {
    Slot& slot = slots_[idx];
    if (slot.hash == hash && slot.len == word.size() &&
        std::string_view(arena_).substr(slot.offset, slot.len) == word) {
      slot.count += count;
      return;
    }
    idx = (idx + 1) & mask;
  }
  slots_[idx] = Slot{hash, arena_.size(), static_cast<std::uint32_t>(word.size()), count};
  arena_.append(word);
  ++used_;
}

void WordCounter::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.count == 0) continue;
    std::size_t idx = slot.hash & mask;
    while (slots_[idx].count != 0) idx = (idx + 1) & mask;
    slots_[idx] = slot;
  }
}

PretokenCounts count_pretokens(const std::vector<std::filesystem::path>& files,
                               SplitPattern pattern, std::uint64_t max_bytes, bool progress) {
  constexpr std::size_t kBatchBytes = 32 << 20;
  const int threads = std::max(1, num_threads());
  DocumentReader reader(files, max_bytes);
  std::vector<std::unique_ptr<WordCounter>> counters;
  for (int t = 0; t < threads; ++t) counters.push_back(std::make_unique<WordCounter>());
  std::unique_ptr<ProgressBar> bar;
  if (progress)
    bar = std::make_unique<ProgressBar>("count pre-tokens", reader.total_file_bytes(), "B");
  PretokenCounts result;
  DocumentBatch batch;
  while (reader.next_batch(batch, kBatchBytes)) {
    result.documents += batch.size();
    result.bytes += batch.bytes.size();
    const std::vector<std::size_t> cut = batch.balanced_cuts(threads);
    auto work = [&](int t) {
      WordCounter& counter = *counters[t];
      for (std::size_t doc = cut[t]; doc < cut[t + 1]; ++doc) {
        for_each_pretoken(pattern, batch.document(doc), [&](std::string_view piece) {
          counter.add(piece, PieceCache::hash(piece), 1);
        });
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (std::thread& th : pool) th.join();
    if (bar) bar->set(reader.file_bytes_done());
  }
  if (bar) {
    bar->set(reader.total_file_bytes());
    bar->finish();
  }
  for (int t = 1; t < threads; ++t) {
    counters[t]->for_each([&](std::string_view word, std::uint64_t hash, std::uint64_t count) {
      counters[0]->add(word, hash, count);
    });
    counters[t].reset();
  }
  result.words = std::move(*counters[0]);
  return result;
}

}  // namespace masque
