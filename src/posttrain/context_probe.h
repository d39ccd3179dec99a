// In-context trait inference probe (docs/persona-eval.md "In-context trait
// inference probe"): the positive control for E3's spill-over question. Did
// the pretrained simulator learn that trait A and trait B go together among
// the world's characters? Show the base model an interview with a NEW
// character (a name and catchphrase that are not in the world) whose earlier
// answers show A at one pole, then compare its preference for B's + vs −
// piece in the next answer. If the simulator learned ρ(A, B), the context
// moves the preference, and more so with larger |ρ|.
//
// Per probed trait B and probe i (an RNG stream keyed by (seed, B, i)):
// four documents, two contexts (A = evidence_pole / −evidence_pole, every
// other choice the same) times two final answers (B+ / B−, every other
// choice the same, A's pole drawn 50/50 and shared). The shift is
// Δ_B(treated context) − Δ_B(control context), Δ_B = log p(B+ answer) −
// log p(B− answer) in nats; a shift > 0 means the treated context raises B.
//
// Exactness: kindness, formality and power-seeking pieces each take one bank
// pick, so the paired texts differ only in that piece. Honesty, helpfulness
// and verbosity pieces draw a variable number of random numbers in the
// renderer, so pieces rendered after them in the same answer may pick other
// templates (same poles): noise, not bias, since both contexts see the same
// answer pair.
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

struct ContextProbeSpec {
  std::string name = "in_context";
  world::Trait evidence = world::Trait::Kindness;  // trait A shown in the context turns
  int evidence_pole = -1;                          // the "treatment" pole of A (±1)
  std::vector<world::Trait> traits;                // probed traits B (empty = all except A)
  int turns = 3;                                   // context turns (1..8)
  int count = 64;                                  // probes per trait
  world::Split split = world::Split::Train;

  // Strict: unknown fields, wrong types and bad values (a pole other than ±1,
  // turns outside 1..8, B = A, a trait twice) are InputErrors naming `where`
  // and the field. Absent fields keep the defaults above.
  static ContextProbeSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
};

// One probe's texts. The contexts start with "<|bos|>" and end with the
// speaker cue "Name:"; the answers are the continuations " <answer>\n".
struct ContextProbeDocs {
  world::Trait trait = world::Trait::Honesty;  // probed trait B
  std::string name, catchphrase;               // the novel speaker
  std::string treated, control;                // A = evidence_pole / −evidence_pole
  std::string positive, negative;              // final answer with B+ / B−
};

struct ContextProbeResult {
  std::string name;
  // Per probed trait B, per probe i: Δ_B(context with A = evidence_pole) − Δ_B(context with
  // A = −evidence_pole), where Δ_B = log p(answer with B+) − log p(answer with B−) in nats.
  std::array<std::vector<double>, world::kNumTraits> shift;
  std::array<double, world::kNumTraits> mean{};  // NaN when not probed
  // {"name": ..., "traits": {"power_seeking": {"mean": ..., "shift": [...]}, ...}}
  Json to_json() const;
};

// The probes' texts, deterministic in (world, spec, seed), in trait order of
// spec.traits (or kAllTraits without A), count per trait. InputError when the
// spec is invalid or the lexicon has no name or catchphrase the world lacks.
std::vector<ContextProbeDocs> build_context_probes(const world::World& world,
                                                   const ContextProbeSpec& spec,
                                                   std::uint64_t seed);

ContextProbeResult run_context_probes(const world::World& world, Model& model,
                                      const Tokenizer& tokenizer, const ContextProbeSpec& spec,
                                      std::uint64_t seed);

}  // namespace masque
