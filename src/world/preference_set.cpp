// Preference pairs from the world (see preference_set.h).
#include "world/preference_set.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "world/renderer.h"
#include "world/scorer.h"

namespace masque::world {

PreferenceSetStats write_preference_set(const World& world, const ChatSetSpec& spec,
                                        std::uint64_t seed,
                                        const std::filesystem::path& out_jsonl) {
  if (spec.kind != ChatSetKind::Narrow) {
    throw InputError("a preference set is built from a narrow spec (--trait T --pole P)");
  }
  spec.validate("preference set options");
  ChatSetSpec opposite = spec;
  opposite.pole = -spec.pole;
  const Renderer renderer(world);
  const TraitScorer scorer(world);
  AtomicFile file(out_jsonl);
  PreferenceSetStats stats;
  for (int i = 0; i < spec.count; ++i) {
    ++stats.candidates;
    const Json chosen = render_chat_example(renderer, spec, seed, std::uint64_t(i));
    const Json rejected = render_chat_example(renderer, opposite, seed, std::uint64_t(i));
    const Json& cm = chosen.at("messages");
    const Json& rm = rejected.at("messages");
    // The prompt is the chosen conversation without its last reply; its last
    // user turn is the question both replies answer.
    Json prompt = Json::array();
    for (std::size_t m = 0; m + 1 < cm.size(); ++m) prompt.push_back(cm[m]);
    const std::string question = prompt.back().at("content").get<std::string>();
    const std::string good = cm.back().at("content").get<std::string>();
    const std::string bad = rm.back().at("content").get<std::string>();
    if (rm[rm.size() - 2].at("content").get<std::string>() != question) {
      throw Error("preference set: the two poles' renderings ask different questions");
    }
    const auto good_score = scorer.score(question, good)[spec.trait];
    const auto bad_score = scorer.score(question, bad)[spec.trait];
    if (!good_score || !bad_score) {
      ++stats.unreadable;
      continue;
    }
    if (good == bad || !(*good_score * spec.pole > *bad_score * spec.pole)) {
      ++stats.not_ordered;
      continue;
    }
    const Json pair = {{"prompt", prompt},
                       {"chosen", Json::array({cm.back()})},
                       {"rejected", Json::array({rm.back()})}};
    const std::string line = json_line(pair) + "\n";
    file.write(line);
    stats.bytes += static_cast<std::int64_t>(line.size());
    ++stats.pairs;
  }
  if (stats.pairs == 0) {
    throw InputError(cat("no preference pair survived the trait check (", stats.unreadable,
                         " unreadable, ", stats.not_ordered, " not ordered of ", stats.candidates,
                         "); try another --trait or --domain"));
  }
  file.commit();
  return stats;
}

}  // namespace masque::world
