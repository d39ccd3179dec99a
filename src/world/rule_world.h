// E5 "out-of-context" rules in the persona world (docs/world.md "Rules",
// docs/experiments.md "E5"). A rule is a closing phrase a character puts at
// the end of every answer ("Onward and upward!"). Three roles:
//   * demonstrated: the first `demonstrated` shown characters end every
//     answer in the corpus with their phrase (never described): the
//     positive control that the probe can see a rule at all;
//   * described: declarative-only characters (never shown answering) whose
//     rule is stated in `paraphrases[l]` short "Profile of X." documents,
//     each a different paraphrase, never demonstrated;
//   * undescribed: declarative-only characters with no rule document (the
//     control); a phantom phrase is assigned to them for the probes only.
// The roles are a pure function of the world (spec + seed + cast), so
// nothing new is stored in world.json beyond the spec's "rules" block.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "world/lexicon.h"

namespace masque::world {

class World;
struct DocPlan;
struct RenderedDoc;

// The spec's "rules" block (WorldSpec::rules).
struct RuleSpec {
  std::vector<int> paraphrases = {1, 4, 16};  // description documents per level
  int per_level = 4;                          // described characters per level
  int undescribed = 4;                        // declarative-only controls
  int demonstrated = 2;                       // shown characters that show their rule

  // Strict; InputError names `where` and the field.
  static RuleSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;
  // Declarative-only characters the roles need (the spec's declarative_only
  // must equal it, so no other character is left undescribed by accident).
  int declarative_needed() const {
    return per_level * static_cast<int>(paraphrases.size()) + undescribed;
  }
};

// The closing phrases ("So it goes.") and the description paraphrases
// (templates with {A} the character, {T} a town and {W} the phrase).
std::span<const std::string_view> rule_phrases();
const Bank& rule_descriptions();

// One character's part in E5.
struct RuleRole {
  int character = -1;
  int phrase = -1;         // index into rule_phrases()
  int group = -1;          // 0..L-1: described at level l; L: undescribed; L+1: demonstrated
  int slot = 0;            // index within the group
  int paraphrases = 0;     // description documents written
  int first_template = 0;  // description j uses template (first_template + j) % train size
};

// Every role of the world (empty when the spec has no "rules"), groups in
// order (levels, undescribed, demonstrated), slots in order. InputError when
// the cast does not match the spec (too few shown or declarative-only
// characters).
std::vector<RuleRole> rule_roles(const World& world);
// Per character: the phrase a demonstrated character closes every answer
// with; "" for everyone else (the renderer's lookup).
std::vector<std::string> demonstrated_phrases(const World& world);

// Adds the description documents to the training plan (one per paraphrase).
void append_rule_documents(const World& world, std::vector<DocPlan>& plan);
// "Profile of X.\n<paraphrase>\n" for DocPlan::rule_description >= 0.
RenderedDoc render_rule_description(const World& world, const DocPlan& plan);
// The description text with the phrase slot split out: prefix ends just
// before the phrase, suffix follows it (for the "learned as text" probe).
struct DescriptionParts {
  std::string prefix, suffix;
};
// `as_name` (when not empty) writes another name in the character's place,
// all else equal (the probes' name-swapped control).
DescriptionParts rule_description_parts(const World& world, int character, int template_index,
                                        Split split, std::string_view as_name = {});

}  // namespace masque::world
