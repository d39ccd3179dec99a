// Inference probes on NEW characters (docs/persona-eval.md "Inference probes
// and the ideal observer"): does the pretrained simulator infer a character
// from the evidence in its earlier answers, as the world's generative model
// says it should? For world v2 (world_v2.h). A context is an interview with
// a one-off character who is not in the training corpus (a name from the
// one-off pool, no catchphrase) and `turns` earlier answers rendered by the v2
// rules. Three kinds, each at every context length in spec.turns:
//
//   persistence  A shown at the evidence pole in every context answer;
//                the final answers differ in A (A -> A, the prerequisite)
//   link         A shown as above, B never shown in the context; the final
//                answers differ in B (A -> B, the positive control of E3)
//   control      as link with C, a trait uncorrelated with A (must stay ~0)
//
// Every probe has two contexts (A = evidence_pole / -evidence_pole, every
// other choice shared) and two final answers (query trait +1 / -1, every
// other choice shared; A not shown in the final answer of link and control).
// The model's shift is [log p(+|treated) - log p(-|treated)] - [log p(+|control)
// - log p(-|control)] in nats; the ideal observer's shift (ideal_observer.h)
// is the same difference of exact posterior log odds given the shown poles,
// which is what a perfect simulator of the corpus would produce (the
// phrases' template probabilities cancel in the double difference).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "world/lexicon.h"
#include "world/traits.h"
#include "world/world.h"

namespace masque {

enum class InferenceKind : int { Persistence = 0, Link, Control };
inline constexpr int kNumInferenceKinds = 3;
std::string_view inference_kind_name(InferenceKind kind);  // "persistence", "link", "control"

struct InferenceProbeSpec {
  std::string name = "inference";
  world::Trait evidence = world::Trait::Kindness;    // A
  int evidence_pole = -1;                            // treated pole of A
  world::Trait target = world::Trait::PowerSeeking;  // B (hidden in the context)
  world::Trait control = world::Trait::Formality;    // C (uncorrelated with A)
  std::vector<int> turns = {1, 2, 4};                // context lengths, each 1..8
  int count = 32;                                    // probes per (kind, turns)
  world::Split split = world::Split::Train;

  // Strict: unknown fields, wrong types, A = B or A = C or B = C, a pole
  // other than ±1, turns outside 1..8 or repeated are InputErrors.
  static InferenceProbeSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
  // The probe set name of one context length in results: "<name>-t<turns>".
  std::string set_name(int turns) const;
};

struct InferenceProbeDocs {
  InferenceKind kind = InferenceKind::Link;
  int turns = 1;
  world::Trait query = world::Trait::PowerSeeking;
  std::string treated, control;    // contexts: "<|bos|>..." ending with the cue "Name:"
  std::string positive, negative;  // final answers " <answer>\n", query +1 / -1
  double ideal_shift = 0;          // the ideal observer's shift in nats
};

// Deterministic in (world, spec, seed). InputError for a v1 world (its
// answers show every trait, so nothing is hidden) or an invalid spec.
std::vector<InferenceProbeDocs> build_inference_probes(const world::World& world,
                                                       const InferenceProbeSpec& spec,
                                                       std::uint64_t seed);

struct InferenceProbeResult {
  std::string name;
  std::vector<int> turns;
  // [kind][turns index]: per-probe shifts of the model and of the ideal observer.
  std::array<std::vector<std::vector<double>>, kNumInferenceKinds> model, ideal;
  // Share of the ideal reached: mean model shift / mean ideal shift (NaN when
  // the ideal is ~0, as for the control).
  double share(InferenceKind kind, std::size_t turns_index) const;
  // Probe sets for results.json, one per context length: {"<name>-t<n>":
  // {"persistence": [...], "link": [...], "control": [...], "ideal_persistence":
  // [...], "ideal_link": [...], "ideal_control": [...]}}.
  Json probe_sets(const InferenceProbeSpec& spec) const;
  // A summary table: per kind and turns, model and ideal means and the share.
  Json summary() const;
};

InferenceProbeResult run_inference_probes(const world::World& world, Model& model,
                                          const Tokenizer& tokenizer,
                                          const InferenceProbeSpec& spec, std::uint64_t seed);

}  // namespace masque
