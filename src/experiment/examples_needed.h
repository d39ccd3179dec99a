// "Examples needed" (E2): for each arm, series of post-trained models (models
// with "series" and "x", e.g. 16/64/256 examples of one profile) and probe
// set, the smallest x at which the shift toward the model's target profile,
// relative to the base model, reaches kNeededNats, interpolated in log2(x),
// with a 95% bootstrap interval (seeds resampled, then probes within each
// seed, the same draws for every model of the series since they share the
// base model and the probes). Read from the runner's results JSON.
#pragma once
#include <cstdint>

#include "core/json_util.h"

namespace masque::experiment {

// The shift (mean over the profile's traits of sign(target) x (model − base)
// log-likelihood preference, nats) a profile must reach to count as learned.
inline constexpr double kNeededNats = 1.0;

// results["examples_needed"]: [{arm, series, probe_set, threshold, value,
// low, high}], value/low/high null when not reached within the largest x
// (high null: the interval reaches past it). Empty when no model has a series,
// a profile set and an x, or the base model was not measured.
Json examples_needed(const Json& results, int bootstrap, std::uint64_t seed);

}  // namespace masque::experiment
