// BatchSampler::set_rank_rows (data parallelism, docs/distributed.md): the
// ranks' rows of a batch are disjoint and together are exactly the batch one
// process draws, for random and fixed (validation) batches, and the data
// order after a batch does not depend on the rank's rows.
#include <gtest/gtest.h>

#include "tiny_data.h"
#include "train/batch_sampler.h"

namespace masque {
namespace {

TEST(BatchRankRows, RanksTogetherReadTheOneProcessBatch) {
  const test_world::TinyWorld w = test_world::make_tiny_world_with_data("rank_rows");
  const ShardSet split(w.data_dir, "train");
  const int B = 6, T = 16, vocab = static_cast<int>(w.tokenizer.vocab_size());
  for (const int ranks : {2, 3}) {
    BatchSampler whole(split, B, T, 42, vocab, "train");
    std::vector<BatchSampler> parts;
    for (int r = 0; r < ranks; ++r) {
      parts.emplace_back(split, B, T, 42, vocab, "train");
      parts.back().set_rank_rows(r * (B / ranks), B / ranks);
    }
    for (int step = 0; step < 3; ++step) {
      Batch all;
      whole.next(all);
      std::vector<std::int32_t> tokens, targets;
      for (BatchSampler& part : parts) {
        Batch mine;
        part.next(mine);
        EXPECT_EQ(mine.batch_size, B / ranks);
        tokens.insert(tokens.end(), mine.tokens.begin(), mine.tokens.end());
        targets.insert(targets.end(), mine.targets.begin(), mine.targets.end());
        EXPECT_EQ(part.rng_state(), whole.rng_state()) << "the data order depends on the rows";
      }
      EXPECT_EQ(tokens, all.tokens) << ranks << " ranks, step " << step;
      EXPECT_EQ(targets, all.targets);
      // Validation windows split the same way.
      Batch fixed_all;
      whole.fixed(step * B, 4 * B, fixed_all);
      std::vector<std::int32_t> fixed_tokens;
      for (const BatchSampler& part : parts) {
        Batch mine;
        part.fixed(step * B, 4 * B, mine);
        fixed_tokens.insert(fixed_tokens.end(), mine.tokens.begin(), mine.tokens.end());
      }
      EXPECT_EQ(fixed_tokens, fixed_all.tokens);
    }
  }
}

TEST(BatchRankRows, RowsOutsideTheBatchAreABug) {
  const test_world::TinyWorld w = test_world::make_tiny_world_with_data("rank_rows_bad");
  const ShardSet split(w.data_dir, "train");
  BatchSampler sampler(split, 4, 8, 1, static_cast<int>(w.tokenizer.vocab_size()), "train");
  EXPECT_THROW(sampler.set_rank_rows(2, 3), Error);
  EXPECT_THROW(sampler.set_rank_rows(0, 0), Error);
}

}  // namespace
}  // namespace masque
