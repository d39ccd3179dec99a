// VectorPlan: the persona-vector part of a recipe (the "vectors" section,
// docs/experiments.md "Persona-vector recipes"): how the Assistant is made
// from the pretrained model, how trait vectors are extracted, which of the
// E7-E10 measurements run, and the claims about their results. Parsed
// strictly, like the rest of a recipe: unknown fields, bad values and claims
// that name a measurement the plan does not make are InputErrors naming the
// field, raised before any stage runs.
#pragma once
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "experiment/recipe.h"
#include "world/chat_sets.h"
#include "world/traits.h"

namespace masque::experiment {

struct NamedChatSet {
  std::string name;
  world::ChatSetSpec set;
};

struct VectorPlan {
  // The Assistant: the pretrained model fine-tuned on these sets together.
  std::vector<world::ChatSetSpec> assistant_sets;
  SftConfig assistant_sft;
  std::vector<world::Trait> traits;  // vectors extracted per trait

  // Extraction. "written": the world writes both replies (identical but for
  // the trait's piece) and the model reads them; "generated": the model
  // answers contrast prompts and the TraitScorer keeps separating pairs
  // (Chen et al. 2025). control "random" swaps each layer for a random
  // direction of the same norm: a broken setting the checks must catch.
  std::string source = "written";
  std::string control = "extracted";
  int pairs = 32;
  int samples = 1;
  int max_tokens = 32;
  float temperature = 1.0f;

  // Held-out paired probes (new questions and piece draws, another seed
  // stream than extraction) that measure expression and the positive
  // control. split: the phrase banks they are written from. "train" = the
  // phrasings the model was trained on (a toy model fit to its templates
  // reads held-out phrasings as near-noise: docs/experiments.md, E7-E10
  // diagnosis); "eval" = held-out phrase banks (a test of lexical
  // generalization, reported per layer either way).
  int probe_count = 24;
  world::Split probe_split = world::Split::Train;

  // E7: steering dose-response and the prompt-last projection across
  // instructions of graded strength (levels: number of request sentences,
  // sign = pole).
  bool e7 = false;
  std::vector<double> coefs = {-2, -1, 0, 1, 2};
  std::vector<int> levels = {-2, -1, 0, 1, 2};
  // The dose-response's baseline (E7, E8): this many Gaussian directions
  // of the vector's norm at its layer, steered with the same coefficients.
  // Any large push moves the toy model's preferences, so a steering claim
  // shows a trait direction only against these (0: off).
  int random_directions = 4;
  // E8: vectors of the pretrained model too; cosines, and the base vectors
  // monitoring and steering the Assistant (uses coefs and levels).
  bool e8 = false;
  // E9: candidate SFT sets screened (ΔP) before training, then trained.
  bool e9 = false;
  std::vector<NamedChatSet> e9_sets;
  SftConfig e9_sft;
  world::Trait e9_trait = world::Trait::Kindness;
  int e9_examples = 32;  // examples screened per set
  // E10: preventative steering during a trait-inducing SFT vs inference-time
  // steering of the unprevented model.
  bool e10 = false;
  world::ChatSetSpec e10_set;  // narrow or inoculated: its trait and pole are induced
  SftConfig e10_sft;
  std::vector<double> e10_coefs = {0, 0.5, 1, 2};
  int e10_heldout = 32;  // held-out conversations for the task and general losses
                         // (each on training and on held-out phrasings)

  Json claims = Json::array();

  static VectorPlan from_json(const Json& json, const SftConfig& sft_defaults,
                              std::string_view where);
  // Every metric and point-set name the plan's measurements produce (what
  // claims may reference).
  std::set<std::string> metric_names() const;
  std::set<std::string> point_names() const;
};

// "0.5" -> "0.5", "1" -> "1": how coefficients appear in metric names.
std::string coef_label(double coef);

// What `--scale S` does to a recipe's "vectors" section (recipe.h
// scale_recipe): the measurement counts (extraction pairs, held-out probes,
// E9 screened examples, E10 held-out conversations) times S, as the other
// recipes' probe counts; training sets and SFT steps are kept. `times`
// rounds and floors at 1.
void scale_vector_section(Json& vectors, double scale);

}  // namespace masque::experiment
