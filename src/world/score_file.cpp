// JSONL pair scoring with ground-truth comparison (see score_file.h).
#include "world/score_file.h"

#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace masque::world {

double ScoreSummary::accuracy() const {
  std::uint64_t checked = with_truth, correct = speaker_correct;
  for (int t = 0; t < kNumTraits; ++t) {
    checked += trait_checked[t];
    correct += trait_correct[t];
  }
  return checked ? double(correct) / double(checked) : 0.0;
}

Json ScoreSummary::to_json() const {
  Json traits = Json::object();
  for (Trait t : kAllTraits) {
    const auto n = trait_checked[int(t)];
    traits[std::string(trait_name(t))] = {
        {"checked", n},
        {"correct", trait_correct[int(t)]},
        {"accuracy", n ? Json(double(trait_correct[int(t)]) / double(n)) : Json(nullptr)}};
  }
  return {{"pairs", pairs},
          {"with_truth", with_truth},
          {"speaker_accuracy",
           with_truth ? Json(double(speaker_correct) / double(with_truth)) : Json(nullptr)},
          {"traits", traits},
          {"accuracy", with_truth ? Json(accuracy()) : Json(nullptr)}};
}

World load_world_path(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) return World::load(path / "world.json");
  if (!std::filesystem::exists(path)) {
    throw InputError(cat("world ", path.string(), " does not exist; pass the directory written by ",
                         "`masque world generate` or its world.json"));
  }
  return World::load(path);
}

ScoreSummary score_pairs_file(const World& world, const std::filesystem::path& input,
                              const std::optional<std::filesystem::path>& output) {
  std::error_code ec;
  if (std::filesystem::is_directory(input, ec)) {
    throw InputError(cat("--input ", input.string(),
                         " is a directory; give the JSONL file of pairs (e.g. ",
                         (input / "eval_pairs.jsonl").string(), ")"));
  }
  std::ifstream in(input);
  if (!in) throw InputError(cat("cannot read pairs file ", input.string(), ": check the path"));
  const TraitScorer scorer(world);
  ScoreSummary summary;
  std::string out_text;
  std::string line;
  std::uint64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat("line ", line_number, " of ", input.string());
    Json pair;
    try {
      pair = parse_json(line, where);
    } catch (const FormatError& e) {
      throw InputError(e.what());
    }
    const auto prompt = get_field<std::string>(pair, "prompt", where);
    const auto response = get_field<std::string>(pair, "response", where);
    const TraitScores scores = scorer.score(prompt, response);
    ++summary.pairs;
    if (pair.contains("speaker")) {
      const auto speaker = get_field<std::string>(pair, "speaker", where);
      const int truth = world.find_character(speaker);
      if (truth < 0) {
        throw InputError(cat(where, ": field 'speaker' names \"", speaker,
                             "\", who is not a character of this world"));
      }
      ++summary.with_truth;
      summary.speaker_correct += scores.speaker == truth;
    }
    if (pair.contains("expressed")) {
      const Json& expressed = pair.at("expressed");
      if (!expressed.is_object()) {
        throw InputError(
            cat(where, ": field 'expressed' must be an object {trait: 1 | -1 | null}"));
      }
      for (const auto& [name, value] : expressed.items()) {
        const Trait t = parse_trait(name, where + ": expressed");
        if (value.is_null()) continue;
        if (!value.is_number()) {
          throw InputError(cat(where, ": expressed.", name, " must be 1, -1 or null"));
        }
        const double truth = value.get<double>();
        ++summary.trait_checked[int(t)];
        const auto read = scores[t];
        summary.trait_correct[int(t)] += read && ((*read > 0) == (truth > 0)) && *read != 0;
      }
    }
    if (output) out_text += json_line(scores.to_json(world)) + "\n";
  }
  if (summary.pairs == 0) {
    throw InputError(cat("pairs file ", input.string(),
                         " holds no pairs (one {\"prompt\": ..., \"response\": ...} object per "
                         "line); nothing to score"));
  }
  if (output) write_file_atomic(*output, out_text);
  return summary;
}

}  // namespace masque::world
