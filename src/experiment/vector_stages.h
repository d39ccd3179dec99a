// The persona-vector stages of a recipe (E7-E10, docs/experiments.md
// "Persona-vector recipes"), run for one (arm, seed) after pretraining:
//   assistant   the pretrained model fine-tuned on the plan's sets
//   vector      a trait vector of the Assistant (and, for E8, of the
//               pretrained model), written or generated contrast pairs
//   e7/e8       dose-response of held-out paired probes under steering,
//               prompt-last projection vs expressed trait across graded
//               instructions, separation of held-out pairs, cosines
//   e9          each candidate set screened (ΔP) on the Assistant, then
//               trained on (screen and SFT are separate stages: the SFT
//               does not depend on the vector); trait shift after vs before
//   e10         trait-inducing SFT with preventative steering per
//               coefficient vs inference-time steering of the unprevented
//               model: induced shift, held-out task and general losses on
//               training and on held-out phrasings
// Every trained model and vector is a StageCache stage (content-addressed by
// the keys it reads), so recipes with the same world, pretraining and
// Assistant share them. Returns the run's "vectors" JSON: per-item metrics,
// (x, y) point sets, and tables for the report.
#pragma once
#include <cstdint>
#include <string>

#include "core/json_util.h"
#include "experiment/stage_cache.h"
#include "experiment/vector_plan.h"
#include "world/world.h"

namespace masque::experiment {

struct VectorRunInput {
  StageCache& cache;
  const VectorPlan& plan;
  const Stage& pretrain;  // its dir holds run/ (the pretrained model)
  const world::World& world;
  std::uint64_t seed = 1;
  std::string label;  // "world seed 1", for progress lines
  bool progress = true;
};

Json run_vector_stages(const VectorRunInput& input);

}  // namespace masque::experiment
