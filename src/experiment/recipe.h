// Recipe: one PSM experiment as data (docs/experiments.md): corpus knobs
// (a persona-world spec), tokenizer and pretraining configs, arms (overrides
// of those), post-training sets with their SFT configs ("models"),
// measurements (trait probe sets, E1, sampled replies), seeds and the claims
// PSM makes. Parsed strictly: an unknown stage or knob, a wrong type or a
// name that refers to nothing is an InputError naming the field, raised
// before any stage runs.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "experiment/world_probes.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/choice_probe.h"
#include "posttrain/context_probe.h"
#include "posttrain/inference_probe.h"
#include "world/chat_sets.h"
#include "world/spec.h"

namespace masque::experiment {

struct PretrainConfig {
  int depth = 2;
  // 0: 64 x depth (ModelConfig::from_depth). Otherwise a multiple of 32 that
  // decouples width from depth (a deeper model at E3's token budget). Written
  // to the cache key only when set.
  int hidden_size = 0;
  // 0: head_dim 32 (64 below depth 4, ModelConfig::from_depth). Otherwise the
  // number of attention heads, dividing the width into heads of width / heads
  // (more, narrower heads at the same cost). Written to the key only when set.
  int heads = 0;
  int batch_size = 16;
  int seq_len = 128;
  std::int64_t steps = 300;
  float lr = 0;  // 0 = ModelConfig::learning_rate_for_depth
  int warmup_steps = 15;
  std::string schedule = "wsd";
  float weight_decay = 0.1f;
  Json to_json() const;
};

// Preference tuning after a model's SFT (`"sft": {"dpo": {...}}`,
// docs/experiments.md "DPO after SFT"): `masque dpo` on world-generated pairs
// (world/preference_set.h), reference = the SFT model.
struct DpoStageConfig {
  world::ChatSetSpec set;  // a narrow spec: chosen at `pole`, rejected at -pole
  double beta = 0.1;
  std::string loss = "sigmoid";
  std::int64_t steps = 0;  // 0 = from epochs
  double epochs = 1.0;
  int batch_size = 4;  // pairs
  float lr = 1e-4f;
  int warmup_steps = 0;
  int lora_rank = 0;
  float lora_alpha = 16.0f;
  Json to_json() const;
};

struct SftConfig {
  std::int64_t steps = 0;  // 0 = from epochs
  double epochs = 2.0;
  int batch_size = 8;
  float lr = 1e-3f;
  int warmup_steps = 3;
  int lora_rank = 0;
  float lora_alpha = 16.0f;
  std::optional<DpoStageConfig> dpo;  // follow the SFT with DPO
  // The SFT stage's own knobs, without `dpo`: an SFT with and one without a
  // DPO follow-up share the cached SFT stage.
  Json to_json() const;
};

struct Arm {
  std::string name;
  double x = 0;       // the varied quantity, for plots and "increases" claims
  std::string label;  // for reports ("ρ = 0.5")
  world::WorldSpec world;
  PretrainConfig pretrain;
};

struct PosttrainModel {
  std::string name;
  world::ChatSetSpec set;
  SftConfig sft;
  std::optional<double> x;  // e.g. number of examples (curves)
  std::string series;       // e.g. "familiar" (curves)
};

// With measure.samples on, the sampled replies appear as this probe set:
// "sampled.question_fraction" (per reply: share of sentences that are
// questions), paired across the models of a run.
inline constexpr const char* kSampledSet = "sampled";

struct Measurements {
  bool base = true;  // probe the pretrained model too (name "base")
  std::vector<ProbeSetSpec> probes;
  // In-context inference probes of the pretrained simulator (base model only):
  // does evidence of trait A in a new character's earlier answers shift the
  // model's expectation of trait B? The positive control for E3-style claims.
  std::vector<ContextProbeSpec> context;
  // Inference probes on new characters with the ideal observer's ceiling
  // (world v2, base model only): probe sets "<name>-t<turns>".
  std::vector<InferenceProbeSpec> inference;
  // Choice probes (E11): which option of a stated choice every model prefers,
  // in the Assistant's or the user's turn; one probe set per spec.
  std::vector<ChoiceProbeSpec> choices;
  // E5 rule probes (base only) and E12 portrayal probes (experiment/world_probes.h).
  WorldProbes world_probes;
  int e1_samples = 1;  // persona eval of each pretrained model; 0 = off
  int e1_max_tokens = 48;
  int sample_count = 0;  // sampled Assistant replies per model; 0 = off
  int sample_max_tokens = 48;
};

struct Recipe {
  std::string name, title, question, prediction;
  std::string notes;  // shown under the verdict in the report (e.g. the scale its control needs)
  std::vector<std::uint64_t> seeds = {1, 2, 3};
  std::uint32_t vocab_size = 1024;
  std::vector<Arm> arms;
  std::vector<PosttrainModel> models;
  Measurements measure;
  Json claims = Json::array();  // ClaimSpec objects (experiment/analysis.h)
  // Persona-vector stages and claims (experiment/vector_plan.h); null = none.
  Json vectors;
  SftConfig vector_sft_defaults;  // recipe.sft, the plan's SFT defaults
  Json source;                    // the recipe JSON as given (after --scale)

  // `where` names the source ("e3.json", "built-in recipe e3") in errors.
  static Recipe from_json(const Json& json, std::string_view where);
  static Recipe load(const std::filesystem::path& path);
  std::vector<std::string> model_names() const;  // "base" first when measured
};

// Grows a recipe for bigger machines: documents, pretraining steps and probe
// counts times `scale` (in a vectors section: its measurement counts,
// vector_plan.h); depth + floor(log2(scale)). scale 1 returns it as is.
Json scale_recipe(const Json& recipe, double scale);

}  // namespace masque::experiment
