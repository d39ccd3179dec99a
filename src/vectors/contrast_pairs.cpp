// Reading contrast-pair files (see contrast_pairs.h).
#include "vectors/contrast_pairs.h"

#include <fstream>

#include "core/error.h"
#include "core/json_util.h"

namespace masque::vectors {
namespace {

Conversation prompt_conversation(const Json& line, const char* key, const std::string& where) {
  const std::string field = cat(where, ": field '", key, "'");
  Conversation c = conversation_from_json(line.at(key), field);
  if (c.empty() || c.back().role != Role::kUser) {
    throw InputError(cat(field,
                         ": the conversation must end with a user message (the model "
                         "writes the Assistant's reply)"));
  }
  return c;
}

}  // namespace

std::vector<ContrastPair> read_contrast_pairs(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(cat(path.string(), ": cannot open the contrast pairs file"));
  std::vector<ContrastPair> pairs;
  std::string text;
  int line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path.string(), " line ", line_no);
    const Json line = parse_json(text, where);
    if (!line.is_object()) throw InputError(cat(where, ": expected a JSON object"));
    reject_unknown_fields(line, {"trait", "index", "question", "positive", "negative", "prompt"},
                          where);
    if (!line.contains("positive") || !line.contains("negative")) {
      throw InputError(cat(where, ": a pair needs 'positive' and 'negative'"));
    }
    ContrastPair pair;
    pair.trait = get_field_or<std::string>(line, "trait", where, "");
    pair.ready = line.at("positive").is_string();
    if (pair.ready) {
      pair.positive_text = get_field<std::string>(line, "positive", where);
      pair.negative_text = get_field<std::string>(line, "negative", where);
      pair.prompt = get_field_or<std::string>(line, "prompt", where, "");
      if (pair.positive_text.empty() || pair.negative_text.empty()) {
        throw InputError(cat(where, ": 'positive' and 'negative' texts must not be empty"));
      }
    } else {
      if (line.contains("prompt")) {
        throw InputError(cat(where,
                             ": 'prompt' is for ready-text pairs; put it in the "
                             "conversations instead"));
      }
      pair.positive_prompt = prompt_conversation(line, "positive", where);
      pair.negative_prompt = prompt_conversation(line, "negative", where);
      pair.question =
          get_field_or<std::string>(line, "question", where, pair.positive_prompt.back().content);
    }
    if (!pairs.empty() && pairs.front().ready != pair.ready) {
      throw InputError(cat(where,
                           ": mixes ready-text and conversation pairs; use one form per "
                           "file"));
    }
    pairs.push_back(std::move(pair));
  }
  if (pairs.empty()) {
    throw InputError(cat(path.string(),
                         ": no contrast pairs (write some with `masque world "
                         "contrast`)"));
  }
  return pairs;
}

}  // namespace masque::vectors
