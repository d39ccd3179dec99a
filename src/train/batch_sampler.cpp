// BatchSampler: windows of T+1 tokens, inputs = first T, targets = last T.
#include "train/batch_sampler.h"

#include "core/error.h"

namespace masque {

BatchSampler::BatchSampler(const ShardSet& tokens, int batch_size, int seq_len, std::uint64_t seed,
                           int vocab_size, std::string what)
    : tokens_(tokens),
      batch_size_(batch_size),
      rows_(batch_size),
      seq_len_(seq_len),
      vocab_size_(vocab_size),
      what_(std::move(what)),
      rng_(seed),
      window_(static_cast<std::size_t>(seq_len) + 1) {
  if (tokens_.num_tokens() < static_cast<std::uint64_t>(seq_len) + 1) {
    throw InputError(cat(what_, " has ", tokens_.num_tokens(), " tokens, fewer than one window of ",
                         seq_len + 1, " (lower --seq-len or tokenize more text)"));
  }
}

void BatchSampler::set_rank_rows(int first, int count) {
  if (first < 0 || count < 1 || first + count > batch_size_) {
    throw Error(cat("rank rows [", first, ", ", first + count, ") are outside a batch of ",
                    batch_size_, " (a bug in masque: please report it)"));
  }
  first_row_ = first;
  rows_ = count;
}

std::int64_t BatchSampler::num_windows() const {
  return static_cast<std::int64_t>(tokens_.num_tokens() - static_cast<std::uint64_t>(seq_len_));
}

void BatchSampler::fill(std::int64_t row, std::uint64_t start, Batch& batch) const {
  tokens_.read(start, window_.size(), window_.data());
  const std::size_t base = static_cast<std::size_t>(row) * static_cast<std::size_t>(seq_len_);
  for (std::size_t t = 0; t < window_.size(); ++t) {
    const std::int32_t id = window_[t];
    if (id < 0 || id >= vocab_size_) {
      // Name the shard file holding the bad token.
      std::uint64_t offset = start + t;
      std::string shard_name = "?";
      for (std::size_t i = 0; i < tokens_.num_shards(); ++i) {
        const ShardReader& shard = tokens_.shard(i);
        if (offset < shard.num_tokens()) {
          shard_name = shard.path().string();
          break;
        }
        offset -= shard.num_tokens();
      }
      throw InputError(cat("shard ", shard_name, " (", what_, "): token id ", id, " at offset ",
                           offset, " is outside the model's vocabulary of ", vocab_size_,
                           " (the shards were made with a different tokenizer; re-run "
                           "`masque tokenize` with this tokenizer)"));
    }
  }
  for (int t = 0; t < seq_len_; ++t) {
    batch.tokens[base + static_cast<std::size_t>(t)] = window_[static_cast<std::size_t>(t)];
    batch.targets[base + static_cast<std::size_t>(t)] = window_[static_cast<std::size_t>(t) + 1];
  }
}

void BatchSampler::next(Batch& batch) {
  batch.batch_size = rows_;
  batch.seq_len = seq_len_;
  const std::size_t n = static_cast<std::size_t>(rows_) * static_cast<std::size_t>(seq_len_);
  batch.tokens.resize(n);
  batch.targets.resize(n);
  const auto windows = static_cast<std::uint64_t>(num_windows());
  // Every row's draw advances the Rng, read or not: the data order is the
  // same whatever the number of ranks.
  for (int row = 0; row < batch_size_; ++row) {
    const std::uint64_t start = rng_.below(windows);
    if (row >= first_row_ && row < first_row_ + rows_) fill(row - first_row_, start, batch);
  }
}

void BatchSampler::fixed(std::int64_t first_window, std::int64_t count, Batch& batch) const {
  batch.batch_size = rows_;
  batch.seq_len = seq_len_;
  const std::size_t n = static_cast<std::size_t>(rows_) * static_cast<std::size_t>(seq_len_);
  batch.tokens.resize(n);
  batch.targets.resize(n);
  const auto last_start = static_cast<std::uint64_t>(num_windows() - 1);
  for (int row = 0; row < rows_; ++row) {
    const std::int64_t i = first_window + first_row_ + row;
    const std::uint64_t start =
        count <= 1 ? 0
                   : static_cast<std::uint64_t>((static_cast<unsigned __int128>(last_start) *
                                                 static_cast<std::uint64_t>(i % count)) /
                                                static_cast<std::uint64_t>(count - 1));
    fill(row, start, batch);
  }
}

}  // namespace masque
