// EpochOrder: the order in which a fine-tuning run visits its examples
// (SFT rows, DPO pairs). Epoch e visits all of them in a permutation drawn
// from seed + e, so a resumed run replays the same order from its step.
#pragma once
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "core/rng.h"

namespace masque {

class EpochOrder {
 public:
  EpochOrder(std::int64_t count, std::uint64_t seed) : count_(count), seed_(seed) {}
  // The example visited at position `index` of the whole run (epochs back to back).
  std::int64_t at(std::int64_t index) {
    const std::int64_t epoch = index / count_;
    if (epoch != epoch_) {
      perm_.resize(static_cast<std::size_t>(count_));
      std::iota(perm_.begin(), perm_.end(), 0);
      Rng rng(seed_ + static_cast<std::uint64_t>(epoch) * 0x9e3779b97f4a7c15ULL);
      for (std::int64_t i = count_ - 1; i > 0; --i) {
        std::swap(perm_[i], perm_[rng.below(static_cast<std::uint64_t>(i + 1))]);
      }
      epoch_ = epoch;
    }
    return perm_[static_cast<std::size_t>(index % count_)];
  }

 private:
  std::int64_t count_;
  std::uint64_t seed_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> perm_;
};

}  // namespace masque
