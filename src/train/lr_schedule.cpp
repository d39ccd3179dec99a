// LR schedule math. Computed in double and rounded once, so the value for a
// step is the same whether the run was resumed or not.
#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace masque {

void LrSchedule::validate() const {
  if (kind != "cosine" && kind != "linear" && kind != "wsd" && kind != "constant") {
    throw InputError(cat("--schedule must be cosine, linear, wsd or constant, got '", kind, "'"));
  }
  if (!(lr > 0.0f) || !std::isfinite(lr)) throw InputError(cat("--lr must be > 0, got ", lr));
  if (!(min_lr_ratio >= 0.0f && min_lr_ratio <= 1.0f)) {
    throw InputError(cat("min_lr_ratio must be in [0, 1], got ", min_lr_ratio));
  }
  if (warmup_steps < 0) throw InputError(cat("--warmup must be >= 0, got ", warmup_steps));
  if (total_steps < 1) throw InputError(cat("--steps must be >= 1, got ", total_steps));
  if (!(wsd_decay_fraction >= 0.0f && wsd_decay_fraction <= 1.0f)) {
    throw InputError(cat("wsd decay fraction must be in [0, 1], got ", wsd_decay_fraction));
  }
}

float LrSchedule::at(std::int64_t step) const {
  const double peak = lr;
  const double floor = static_cast<double>(lr) * min_lr_ratio;
  if (warmup_steps > 0 && step <= warmup_steps) {
    return static_cast<float>(peak * static_cast<double>(step) / static_cast<double>(warmup_steps));
  }
  if (kind == "constant") return lr;
  if (kind == "wsd") {
    const auto decay_steps = static_cast<std::int64_t>(
        std::llround(static_cast<double>(total_steps) * wsd_decay_fraction));
    const std::int64_t decay_start = std::max(warmup_steps, total_steps - decay_steps);
    if (step <= decay_start || total_steps == decay_start) return lr;
    const double p = std::min(1.0, static_cast<double>(step - decay_start) /
                                       static_cast<double>(total_steps - decay_start));
    return static_cast<float>(peak - (peak - floor) * p);
  }
  const std::int64_t span = std::max<std::int64_t>(1, total_steps - warmup_steps);
  const double p =
      std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  if (kind == "linear") return static_cast<float>(peak - (peak - floor) * p);
  constexpr double kPi = 3.14159265358979323846;
  return static_cast<float>(floor + (peak - floor) * 0.5 * (1.0 + std::cos(kPi * p)));
}

}  // namespace masque
