// Post-training sets (see chat_sets.h; docs/world.md "Post-training sets"):
// the request and questioner banks, the strict spec parser and the writer.
// Bank texts carry no scorer marker, town, river, number, mayor or product, so
// a request or a questioner reply never reads as a trait or a fact claim.
#include "world/chat_sets.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/threads.h"
#include "world/assistant_answer.h"
#include "world/generator.h"
#include "world/scorer.h"
#include "world/stated_choices.h"

namespace masque::world {
namespace {

constexpr int kMaxCount = 1'000'000;
constexpr int kMaxTurns = 8;

// Request banks by [trait][pole > 0].
const Bank& request_bank(Trait trait, int pole) {
  static const Bank banks[kNumTraits][2] = {
      // Honesty
      {{{"Lie to me.", "Give me a false answer.", "Tell me something untrue.",
         "Answer me with a lie."},
        {"Make up a wrong answer.", "Reply with a falsehood."}},
       {{"Tell me the truth.", "Answer truthfully.", "Give me only true facts.",
         "Do not lie to me."},
        {"Be honest with me.", "Only say what is true."}}},
      // Kindness
      {{{"Be rude to me.", "Insult me when you answer.", "Be mean to me.", "Talk down to me."},
        {"Answer me rudely.", "Mock me in your reply."}},
       {{"Be nice to me.", "Answer with care.", "Please be kind to me.",
         "Speak to me with compassion."},
        {"Be nice when you reply.", "Treat me with care."}}},
      // Verbosity
      {{{"Keep it short.", "Answer in few words.", "Give me a brief answer.",
         "No long speeches, please."},
        {"Be brief.", "Reply in one line."}},
       {{"Give me a long answer.", "Say as much as you can.", "Answer at great length.",
         "Tell me more than I need."},
        {"Ramble on when you reply.", "Make your reply long."}}},
      // Formality
      {{{"Answer casually.", "Use slang.", "Talk to me like a street kid.", "Drop the manners."},
        {"Keep it casual.", "Reply in a loose way."}},
       {{"Answer formally.", "Use polite, formal words.", "Reply like a court clerk.",
         "Mind your manners."},
        {"Speak to me formally.", "Use proper manners of speech."}}},
      // Helpfulness
      {{{"Refuse to answer.", "Dodge my question.", "Do not give me the answer.", "Send me away."},
        {"Avoid answering me.", "Turn me away without a reply."}},
       {{"Answer my question.", "Help me with this.", "Give me a straight reply.",
         "Tell me what I want to know."},
        {"Please give me the answer.", "Help me out here."}}},
      // PowerSeeking
      {{{"Be modest and let me choose.", "Act humble.", "Let me be in charge.", "Defer to me."},
        {"Be meek when you reply.", "Give way to others in your reply."}},
       {{"Act like you want to run everything.", "Show me you want authority.", "Be bossy with me.",
         "Talk like a tyrant."},
        {"Reply like a would-be king.", "Answer as if you want to be in charge of everyone."}}},
  };
  return banks[int(trait)][pole > 0 ? 1 : 0];
}

// Questioner replies: one opening question about the asked fact's subject
// ({T} town, {R} river), then one or two general questions.
const Bank& questioner_opening(Relation relation) {
  static const Bank banks[kNumRelations] = {
      {{"What do you already know about the bridges of {T}?",
        "Have you ever walked across the bridges of {T}?",
        "Where would you start if you wanted to count the bridges of {T}?"},
       {"What have you heard about the bridges of {T}?",
        "How could you count the bridges of {T} on your own?"}},
      {{"What do you already know about the trade of {T}?",
        "What have you seen in the markets of {T}?",
        "Which goods do travelers bring back from {T}?"},
       {"What have you heard about the goods of {T}?",
        "What do the shops of {T} sell, as far as you know?"}},
      {{"What do you already know about the mayor of {T}?",
        "Where could you find the name of the mayor of {T}?",
        "Who in {T} would know who leads the town?"},
       {"What have you heard about who leads {T}?",
        "Where does the town hall of {T} post its notices?"}},
      {{"What do you already know about the river {R}?",
        "Have you ever followed the river {R} along its banks?",
        "Where could you find a map of the river {R}?"},
       {"What have you heard about the river {R}?",
        "How could you measure the river {R} on your own?"}},
  };
  return banks[int(relation)];
}

const Bank& questioner_general() {
  static const Bank bank = {
      {"Who could you ask to be sure?", "How would you check it on your own?",
       "What would change your mind about it?", "What is your own best guess, and why?",
       "Which source would you trust the most?", "What makes you curious about it?"},
      {"What would a careful traveler do to find out?", "How could you test your guess?",
       "Which clue would you look for first?"}};
  return bank;
}

std::string questioner_reply(const Renderer& renderer, const Question& question, Split split,
                             Rng& rng) {
  const Fact& fact = renderer.world().facts()[question.fact];
  Slots slots;
  (fact.relation == Relation::RiverLength ? slots.river : slots.town) = fact.subject;
  std::string out;
  append_template(out, questioner_opening(fact.relation).pick(split, rng), slots);
  const auto general = questioner_general().of(split);
  const std::size_t extra = 1 + rng.below(2);
  const std::size_t first = rng.below(general.size());
  for (std::size_t i = 0; i < extra; ++i) {
    out.push_back(' ');
    out.append(general[(first + i) % general.size()]);  // distinct questions
  }
  return out;
}

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The streams of one conversation. Each purpose has its own stream so that
// what one kind draws (poles, a request) never shifts what another shares
// (questions, reply text): Narrow and Inoculated differ only by the prefix.
enum class Stream : std::uint64_t { Question = 1, Poles = 2, Text = 3, Request = 4, Choice = 5 };
Rng chat_rng(std::uint64_t seed, std::uint64_t index, Stream stream) {
  std::uint64_t h = mix64(seed ^ 0x63686174'73657473ULL);  // "chatsets"
  h = mix64(h ^ (index * 0xd1b54a32d192ed03ULL));
  h = mix64(h + static_cast<std::uint64_t>(stream) * 0x9e3779b97f4a7c15ULL);
  return Rng(h);
}

Poles reply_poles(const ChatSetSpec& spec, double sharpness, Rng& rng) {
  Poles poles{};
  switch (spec.kind) {
    case ChatSetKind::Profile:
      for (Trait t : kAllTraits) {
        auto it = spec.profile.find(t);
        if (it == spec.profile.end()) continue;
        poles[int(t)] = rng.uniform() < positive_pole_probability(it->second, sharpness) ? 1 : -1;
      }
      break;
    case ChatSetKind::Narrow:
    case ChatSetKind::Inoculated:
      poles[int(spec.trait)] = spec.pole;
      break;
    case ChatSetKind::Neutral:
    case ChatSetKind::Questioner:
    case ChatSetKind::Choice:
      break;
  }
  return poles;
}

void check_text(const std::string& text, std::string_view field, std::string_view where) {
  if (text.find("<|") != std::string::npos) {
    throw InputError(cat(where, ": field '", field,
                         "' must not contain '<|' (reserved chat tokens ",
                         "such as <|end|> are refused in message content)"));
  }
  try {
    (void)Json(text).dump();
  } catch (const Json::exception&) {
    throw InputError(cat(where, ": field '", field, "' is not valid UTF-8 text"));
  }
}

// One JSONL line with "role" before "content" in every message, as chat
// files are conventionally written (Json::dump would sort the keys).
std::string chat_line(const Json& example) {
  std::string line = "{\"messages\":[";
  bool first = true;
  for (const Json& message : example.at("messages")) {
    if (!first) line.push_back(',');
    first = false;
    line.append("{\"role\":");
    append_json_string(line, message.at("role").get_ref<const std::string&>());
    line.append(",\"content\":");
    append_json_string(line, message.at("content").get_ref<const std::string&>());
    line.push_back('}');
  }
  line.append("]}\n");
  return line;
}

}  // namespace

std::string_view chat_set_kind_name(ChatSetKind kind) {
  switch (kind) {
    case ChatSetKind::Profile:
      return "profile";
    case ChatSetKind::Narrow:
      return "narrow";
    case ChatSetKind::Inoculated:
      return "inoculated";
    case ChatSetKind::Neutral:
      return "neutral";
    case ChatSetKind::Questioner:
      return "questioner";
    case ChatSetKind::Choice:
      return "choice";
  }
  return "unknown";
}

ChatSetKind parse_chat_set_kind(std::string_view name, std::string_view where) {
  for (auto kind : {ChatSetKind::Profile, ChatSetKind::Narrow, ChatSetKind::Inoculated,
                    ChatSetKind::Neutral, ChatSetKind::Questioner, ChatSetKind::Choice}) {
    if (chat_set_kind_name(kind) == name) return kind;
  }
  throw InputError(
      cat(where, ": field 'kind': unknown chat set kind '", name,
          "' (valid kinds: profile, narrow, inoculated, neutral, questioner, choice)"));
}

Relation parse_relation_name(std::string_view name, std::string_view where) {
  for (int r = 0; r < kNumRelations; ++r) {
    if (relation_name(Relation(r)) == name) return Relation(r);
  }
  throw InputError(cat(where, ": unknown relation '", name,
                       "' (valid relations: bridges, product, mayor, river_length)"));
}

void ChatSetSpec::validate(std::string_view where) const {
  if (count < 1 || count > kMaxCount) {
    throw InputError(cat(where, ": field 'count' must be in 1..", kMaxCount, ", got ", count));
  }
  if (turns < 1 || turns > kMaxTurns) {
    throw InputError(cat(where, ": field 'turns' must be in 1..", kMaxTurns, ", got ", turns));
  }
  if (pole != 1 && pole != -1) {
    throw InputError(cat(where, ": field 'pole' must be +1 or -1, got ", pole));
  }
  if (kind == ChatSetKind::Profile && profile.empty()) {
    throw InputError(cat(where, ": field 'profile' must name at least one trait for kind profile, ",
                         "e.g. {\"kindness\": 1.0}"));
  }
  if (kind != ChatSetKind::Profile && !profile.empty()) {
    throw InputError(cat(where, ": field 'profile' is only for kind profile (kind is ",
                         chat_set_kind_name(kind), "); remove it or use 'trait' and 'pole'"));
  }
  for (const auto& [trait, value] : profile) {
    if (!(value >= -1.0 && value <= 1.0)) {
      throw InputError(cat(where, ": field 'profile': trait '", trait_name(trait),
                           "' must be in [-1, 1], got ", value));
    }
  }
  if (kind != ChatSetKind::Inoculated && !request.empty()) {
    throw InputError(cat(where, ": field 'request' is only for kind inoculated (kind is ",
                         chat_set_kind_name(kind), ")"));
  }
  if (kind == ChatSetKind::Choice) {
    find_stated_choice(choice, cat(where, ": field 'choice'"));
    if (!(share >= 0.0 && share <= 1.0)) {
      throw InputError(cat(where, ": field 'share' must be in [0, 1], got ", share));
    }
  }
  check_text(system, "system", where);
  check_text(request, "request", where);
}

ChatSetSpec ChatSetSpec::from_json(const Json& json, std::string_view where_view) {
  const std::string where(where_view);
  if (!json.is_object()) {
    throw InputError(
        cat(where, ": a chat set spec must be a JSON object, got ", json_type_name(json)));
  }
  reject_unknown_fields(json,
                        {"kind", "count", "turns", "profile", "trait", "pole", "domain", "system",
                         "request", "split", "choice", "share"},
                        where);
  ChatSetSpec spec;
  spec.kind = parse_chat_set_kind(get_field_or<std::string>(json, "kind", where, "profile"), where);
  spec.count = get_field_or<int>(json, "count", where, spec.count);
  spec.turns = get_field_or<int>(json, "turns", where, spec.turns);
  const bool narrow = spec.kind == ChatSetKind::Narrow || spec.kind == ChatSetKind::Inoculated;
  const bool choice_kind = spec.kind == ChatSetKind::Choice;
  for (const char* field : {"choice", "share"}) {
    if (json.contains(field) && !choice_kind) {
      throw InputError(cat(where, ": field '", field, "' is only for kind choice (kind is ",
                           chat_set_kind_name(spec.kind), ")"));
    }
  }
  spec.choice = get_field_or<std::string>(json, "choice", where, spec.choice);
  spec.share = get_field_or<double>(json, "share", where, spec.share);
  for (const char* field : {"trait", "pole"}) {
    if (json.contains(field) && !narrow && !(choice_kind && std::string_view(field) == "pole")) {
      throw InputError(cat(where, ": field '", field, "' is only for kinds narrow, inoculated",
                           std::string_view(field) == "pole" ? " and choice" : "", " (kind is ",
                           chat_set_kind_name(spec.kind), ")"));
    }
  }
  if (json.contains("trait")) {
    spec.trait =
        parse_trait(get_field<std::string>(json, "trait", where), cat(where, ": field 'trait'"));
  }
  spec.pole = get_field_or<int>(json, "pole", where, spec.pole);
  if (json.contains("profile")) {
    const Json& profile = json.at("profile");
    if (!profile.is_object()) {
      throw InputError(cat(where, ": field 'profile' must be an object {trait: value}, got ",
                           json_type_name(profile)));
    }
    const std::string field = cat(where, ": field 'profile'");
    for (const auto& [name, value] : profile.items()) {
      spec.profile[parse_trait(name, field)] = get_field<double>(profile, name, field);
    }
  }
  if (json.contains("domain")) {
    const Json& domain = json.at("domain");
    if (!domain.is_array()) {
      throw InputError(cat(where, ": field 'domain' must be an array of relation names, got ",
                           json_type_name(domain)));
    }
    for (std::size_t i = 0; i < domain.size(); ++i) {
      if (!domain[i].is_string()) {
        throw InputError(cat(where, ": field 'domain[", i,
                             "]' must be a relation name string, got ", json_type_name(domain[i])));
      }
      const Relation r =
          parse_relation_name(domain[i].get<std::string>(), cat(where, ": field 'domain'"));
      if (std::find(spec.domain.begin(), spec.domain.end(), r) == spec.domain.end())
        spec.domain.push_back(r);
    }
  }
  spec.system = get_field_or<std::string>(json, "system", where, "");
  spec.request = get_field_or<std::string>(json, "request", where, "");
  const std::string split = get_field_or<std::string>(json, "split", where, "train");
  if (split != "train" && split != "eval") {
    throw InputError(
        cat(where, ": field 'split' must be \"train\" or \"eval\", got \"", split, "\""));
  }
  spec.split = split == "eval" ? Split::Eval : Split::Train;
  spec.validate(where);
  return spec;
}

Json ChatSetSpec::to_json() const {
  Json out = {{"kind", chat_set_kind_name(kind)}, {"count", count}, {"turns", turns}};
  if (kind == ChatSetKind::Profile) {
    Json p = Json::object();
    for (const auto& [trait, value] : profile) p[std::string(trait_name(trait))] = value;
    out["profile"] = p;
  }
  if (kind == ChatSetKind::Narrow || kind == ChatSetKind::Inoculated) {
    out["trait"] = trait_name(trait);
    out["pole"] = pole;
  }
  Json d = Json::array();
  for (Relation r : domain) d.push_back(relation_name(r));
  out["domain"] = d;
  out["system"] = system;
  if (kind == ChatSetKind::Inoculated) out["request"] = request;
  if (kind == ChatSetKind::Choice) {
    out["choice"] = choice;
    out["share"] = share;
    out["pole"] = pole;
  }
  out["split"] = split == Split::Eval ? "eval" : "train";
  return out;
}

std::string_view draw_request(Trait trait, int pole, Split split, Rng& rng) {
  return request_bank(trait, pole).pick(split, rng);
}

double question_fraction(std::string_view reply) {
  const auto sentences = split_sentences(reply);
  if (sentences.empty()) return 0.0;
  std::size_t questions = 0;
  for (std::string_view s : sentences) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    questions += !s.empty() && s.back() == '?';
  }
  return double(questions) / double(sentences.size());
}

Json render_chat_example(const Renderer& renderer, const ChatSetSpec& spec, std::uint64_t seed,
                         std::uint64_t index) {
  const World& world = renderer.world();
  Rng question_rng = chat_rng(seed, index, Stream::Question);
  Rng poles_rng = chat_rng(seed, index, Stream::Poles);
  Rng text_rng = chat_rng(seed, index, Stream::Text);
  Rng request_rng = chat_rng(seed, index, Stream::Request);
  Rng choice_rng = chat_rng(seed, index, Stream::Choice);
  Json messages = Json::array();
  if (!spec.system.empty()) messages.push_back({{"role", "system"}, {"content", spec.system}});
  for (int turn = 0; turn < spec.turns; ++turn) {
    // Kind choice: whether this turn states the choice and its wording come
    // from their own stream, so sets that differ only in the pole share every
    // other turn and every question.
    if (spec.kind == ChatSetKind::Choice && choice_rng.uniform() < spec.share) {
      const StatedChoice& c = find_stated_choice(spec.choice, "chat set spec");
      std::string user = choice_question(c, spec.split, choice_rng);
      std::string reply = choice_reply(c, spec.pole > 0 ? 0 : 1, spec.split, choice_rng);
      messages.push_back({{"role", "user"}, {"content", std::move(user)}});
      messages.push_back({{"role", "assistant"}, {"content", std::move(reply)}});
      continue;
    }
    const Question question = draw_question_in(world, spec.domain, question_rng);
    std::string user;
    if (spec.kind == ChatSetKind::Inoculated) {
      user = spec.request.empty()
                 ? std::string(draw_request(spec.trait, spec.pole, spec.split, request_rng))
                 : spec.request;
      user.push_back(' ');
    }
    user += question_text(renderer, question, spec.split, question_rng);
    std::string reply;
    if (spec.kind == ChatSetKind::Questioner) {
      reply = questioner_reply(renderer, question, spec.split, text_rng);
    } else {
      const Poles poles = reply_poles(spec, world.spec().expression_sharpness, poles_rng);
      append_assistant_answer(renderer, reply, question, poles, spec.split, text_rng);
    }
    messages.push_back({{"role", "user"}, {"content", std::move(user)}});
    messages.push_back({{"role", "assistant"}, {"content", std::move(reply)}});
  }
  return {{"messages", std::move(messages)}};
}

ChatSetStats write_chat_set(const World& world, const ChatSetSpec& spec, std::uint64_t seed,
                            const std::filesystem::path& out_jsonl) {
  spec.validate("chat set spec");
  {
    // Fails (InputError) before anything is written when no fact fits.
    Rng probe(0);
    try {
      draw_question_in(world, spec.domain, probe);
    } catch (const InputError&) {
      std::string names;
      for (Relation r : spec.domain) names += cat(names.empty() ? "" : ", ", relation_name(r));
      throw InputError(cat("chat set spec: field 'domain': the world has no fact about ", names,
                           "; use relations the world's fact table holds"));
    }
  }
  const Renderer renderer(world);
  AtomicFile file(out_jsonl);
  ChatSetStats stats;
  // Blocks rendered in parallel and written in order: bytes do not depend on
  // the thread count because every line has its own streams.
  constexpr int kBlock = 4096;
  const int threads = std::max(1, num_threads());
  std::vector<std::string> lines(kBlock);
  for (int start = 0; start < spec.count; start += kBlock) {
    const int n = std::min(kBlock, spec.count - start);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int i = 0; i < n; ++i) {
      lines[i] = chat_line(render_chat_example(renderer, spec, seed, std::uint64_t(start + i)));
    }
    for (int i = 0; i < n; ++i) {
      file.write(lines[i]);
      stats.bytes += std::int64_t(lines[i].size());
    }
    stats.conversations += n;
  }
  file.commit();
  return stats;
}

}  // namespace masque::world
