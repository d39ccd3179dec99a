// Learning-rate schedules: linear warmup, then cosine, linear, WSD
// (warmup-stable-decay) or constant, ending at min_lr_ratio * lr
// (docs/training.md has the formulas).
#pragma once
#include <cstdint>
#include <string>

namespace masque {

struct LrSchedule {
  std::string kind = "cosine";  // cosine | linear | wsd | constant
  float lr = 3e-3f;
  float min_lr_ratio = 0.1f;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  float wsd_decay_fraction = 0.2f;

  // InputError naming the bad field.
  void validate() const;
  // Learning rate for optimizer step `step` (1-based).
  float at(std::int64_t step) const;
};

}  // namespace masque
