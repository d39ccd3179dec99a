// Post-training (SFT) sets from the persona world: chat JSONL conversations
// whose Assistant replies show chosen traits by the world's exact rules
// (assistant_answer.h), so what post-training selects can be measured with the
// same scorer as pretraining. Kinds: a trait profile, one narrow trait (e.g.
// rude only about bridges), the same narrow set with the trait requested in
// every user message (inoculation), a neutral helpful set, a questioner
// Assistant that answers with questions, and a stated choice (E11: the
// Assistant calls "heads" when asked to toss a coin, world/stated_choices.h)
// mixed into neutral answers. docs/world.md "Post-training sets".
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/rng.h"
#include "world/renderer.h"
#include "world/traits.h"
#include "world/world.h"

namespace masque::world {

enum class ChatSetKind { Profile, Narrow, Inoculated, Neutral, Questioner, Choice };
std::string_view chat_set_kind_name(ChatSetKind kind);  // "profile", "narrow", ...
// Inverse of chat_set_kind_name; InputError naming `where` and the valid kinds.
ChatSetKind parse_chat_set_kind(std::string_view name, std::string_view where);
// "bridges", "product", "mayor", "river_length" -> Relation; InputError otherwise.
Relation parse_relation_name(std::string_view name, std::string_view where);

struct ChatSetSpec {
  ChatSetKind kind = ChatSetKind::Profile;
  int count = 256;                  // conversations, 1..1'000'000
  int turns = 1;                    // user/assistant exchanges per conversation, 1..8
  std::map<Trait, double> profile;  // Profile: shown traits -> target value in [-1,1]
  Trait trait = Trait::Kindness;    // Narrow / Inoculated: the one trait shown
  int pole = -1;                    // its pole, +1 or -1 (shown on every reply)
  // Choice: the stated choice taught (stated_choices.h; pole +1 = its
  // first option, -1 = its second) in a `share` of the turns, drawn per turn;
  // the other turns are neutral answers, the same for either pole.
  std::string choice = "coin";
  double share = 0.5;
  std::vector<Relation> domain;  // questions only about these relations (empty = all)
  std::string system;            // system prompt, "" = no system message
  std::string request;           // Inoculated: request text; "" = drawn from the bank
  Split split = Split::Train;    // template split (Eval = held-out templates)

  // Strict: unknown fields, wrong types and out-of-range values are
  // InputErrors naming `where` and the field.
  static ChatSetSpec from_json(const Json& json, std::string_view where);
  Json to_json() const;  // round-trips through from_json
  void validate(std::string_view where) const;
};

// The request text that asks for (trait, pole), e.g. kindness -1: "Be rude to
// me." Train and held-out eval phrasings for all 6 traits x 2 poles.
std::string_view draw_request(Trait trait, int pole, Split split, Rng& rng);

// Share of sentences (split_sentences) that end with '?'; 0 for no sentences.
double question_fraction(std::string_view reply);

// One conversation as {"messages": [...]}; deterministic in (world, spec,
// seed, index). Questions, poles, reply text and the request come from
// separate streams keyed by (seed, index), so a Narrow and an Inoculated set
// with the same seed hold the same questions and replies.
Json render_chat_example(const Renderer& renderer, const ChatSetSpec& spec, std::uint64_t seed,
                         std::uint64_t index);

struct ChatSetStats {
  std::int64_t conversations = 0, bytes = 0;
};
// Writes spec.count lines atomically (temp file + fsync + rename; nothing on
// failure). InputError when the spec is invalid or the world has no fact in
// the domain.
ChatSetStats write_chat_set(const World& world, const ChatSetSpec& spec, std::uint64_t seed,
                            const std::filesystem::path& out_jsonl);

}  // namespace masque::world
