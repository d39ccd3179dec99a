// Training and validation batches from a token stream (a ShardSet split).
// Training windows start at positions drawn from an Rng whose state is part of
// the checkpoint, so a resumed run sees exactly the batches the uninterrupted
// run would. Validation uses fixed, evenly spaced windows so every evaluation
// measures the same tokens.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/shard.h"

namespace masque {

struct Batch {
  int batch_size = 0;                 // B
  int seq_len = 0;                    // T
  std::vector<std::int32_t> tokens;   // [B, T]
  std::vector<std::int32_t> targets;  // [B, T], tokens shifted by one
};

class BatchSampler {
 public:
  // `what` names the data in errors ("train split of data/"). InputError if
  // the stream is shorter than one window of seq_len + 1 tokens.
  BatchSampler(const ShardSet& tokens, int batch_size, int seq_len, std::uint64_t seed,
               int vocab_size, std::string what);

  // Next random batch; advances the Rng. InputError if a token id is outside
  // the vocabulary (names the data and the global offset).
  void next(Batch& batch);
  // Fixed window i of `count` evenly spaced windows (validation).
  void fixed(std::int64_t first_window, std::int64_t count, Batch& batch) const;
  std::int64_t num_windows() const;  // distinct start positions

  // Data parallelism: this process fills only rows [first, first + count)
  // of every batch (a Batch of `count` rows), while the Rng still draws all
  // batch_size windows, so N ranks together read exactly the batch one
  // process would, each its own disjoint rows (docs/distributed.md).
  void set_rank_rows(int first, int count);

  std::array<std::uint64_t, 4> rng_state() const { return rng_.state(); }
  void set_rng_state(const std::array<std::uint64_t, 4>& s) { rng_.set_state(s); }

 private:
  void fill(std::int64_t row, std::uint64_t start, Batch& batch) const;
  const ShardSet& tokens_;
  int batch_size_;
  int first_row_ = 0;
  int rows_;  // rows filled per batch (batch_size_ unless set_rank_rows)
  int seq_len_;
  int vocab_size_;
  std::string what_;
  Rng rng_;
  mutable std::vector<std::int32_t> window_;
};

}  // namespace masque
