// Reading, validating and laying out preference pairs (see dpo_data.h).
#include "posttrain/dpo_data.h"

#include <algorithm>
#include <fstream>

#include "core/error.h"

namespace masque {
namespace {

const Json& field(const Json& value, const char* name, std::string_view where) {
  auto it = value.find(name);
  if (it == value.end()) {
    throw InputError(cat(where, ": missing field \"", name,
                         "\" (each line is {\"prompt\": [messages], \"chosen\": [assistant ",
                         "message], \"rejected\": [assistant message]})"));
  }
  if (!it->is_array()) {
    throw InputError(
        cat(where, ", field \"", name, "\": must be an array of messages, got ", it->type_name()));
  }
  return *it;
}

ChatMessage reply(const Json& value, const char* name, std::string_view where) {
  const std::string here = cat(where, ", field \"", name, "\"");
  const Conversation messages = conversation_from_json(field(value, name, where), here);
  if (messages.size() != 1 || messages[0].role != Role::kAssistant) {
    throw InputError(cat(here, ": must hold exactly one assistant message, got ", messages.size(),
                         " message(s)", messages.empty() ? "" : " starting with role ",
                         messages.empty() ? "" : std::string(role_name(messages[0].role))));
  }
  return messages[0];
}

}  // namespace

PreferencePair preference_pair_from_json(const Json& value, std::string_view where) {
  if (!value.is_object()) {
    throw InputError(cat(where, ": expected a JSON object with prompt, chosen and rejected, got ",
                         value.type_name()));
  }
  PreferencePair pair;
  const std::string here = cat(where, ", field \"prompt\"");
  pair.prompt = conversation_from_json(field(value, "prompt", where), here);
  if (pair.prompt.back().role == Role::kAssistant) {
    throw InputError(cat(here, ": ends in an assistant turn; the prompt must end with the user ",
                         "(or system) message the chosen and rejected replies answer"));
  }
  pair.chosen = reply(value, "chosen", where);
  pair.rejected = reply(value, "rejected", where);
  if (pair.chosen.content == pair.rejected.content) {
    throw InputError(cat(where, ": \"chosen\" and \"rejected\" are the same reply; a preference ",
                         "pair needs two different answers (remove the line)"));
  }
  return pair;
}

std::vector<PreferencePair> read_preference_pairs(std::istream& in, std::string_view source) {
  std::vector<PreferencePair> pairs;
  std::string line;
  std::int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat("line ", line_no, " of ", source);
    pairs.push_back(preference_pair_from_json(parse_json(line, where), where));
  }
  if (pairs.empty()) {
    throw InputError(cat("preference data ", source, " holds no pairs (one JSON object per line: ",
                         "{\"prompt\": [...], \"chosen\": [...], \"rejected\": [...]})"));
  }
  return pairs;
}

std::vector<PreferencePair> read_preference_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(cat("cannot open preference data ", path, " (check the path)"));
  return read_preference_pairs(in, path.string());
}

DpoDataset pack_preferences(const Tokenizer& tokenizer, const std::vector<PreferencePair>& pairs,
                            int seq_len, int max_context) {
  // Prompt + reply with targets only after the prompt: the prompt's own
  // assistant turns (multi-turn) are context, not the preferred answer.
  struct Seq {
    ChatTokens chat;
    bool truncated = false;
  };
  auto encode = [&](const PreferencePair& pair, const ChatMessage& reply) {
    const std::size_t prompt_len = tokenize_chat(tokenizer, pair.prompt).tokens.size();
    Conversation full = pair.prompt;
    full.push_back(reply);
    ChatTokens chat = tokenize_chat(tokenizer, full);
    for (std::size_t i = 0; i < prompt_len && i < chat.targets.size(); ++i) chat.targets[i] = -1;
    return chat;
  };
  std::vector<std::pair<ChatTokens, ChatTokens>> encoded;
  encoded.reserve(pairs.size());
  std::size_t longest = 0;
  for (const auto& pair : pairs) {
    encoded.emplace_back(encode(pair, pair.chosen), encode(pair, pair.rejected));
    longest = std::max(
        {longest, encoded.back().first.tokens.size(), encoded.back().second.tokens.size()});
  }
  const int T =
      seq_len > 0 ? seq_len : static_cast<int>(std::min<std::size_t>(longest, max_context));
  if (T < 2) throw InputError(cat("sequence length must be at least 2, got ", T));
  if (T > max_context) {
    throw InputError(cat("--seq-len ", T, " exceeds the model's context of ", max_context));
  }
  DpoDataset data;
  data.seq_len = T;
  data.stats.pairs = static_cast<std::int64_t>(pairs.size());
  const auto pad = static_cast<std::int32_t>(tokenizer.pad_id());
  for (auto& [chosen, rejected] : encoded) {
    bool cut = false;
    int reply_tokens[2] = {0, 0};
    ChatTokens* seqs[2] = {&chosen, &rejected};
    for (int s = 0; s < 2; ++s) {
      ChatTokens& chat = *seqs[s];
      if (chat.tokens.size() > static_cast<std::size_t>(T)) {
        cut = true;
        chat.tokens.resize(T);
        chat.targets.resize(T);
        chat.targets.back() = -1;  // its next token was cut away
      }
      for (auto t : chat.targets) reply_tokens[s] += t >= 0;
    }
    data.stats.truncated += cut;
    if (reply_tokens[0] == 0 || reply_tokens[1] == 0) {
      ++data.stats.dropped;
      continue;
    }
    for (ChatTokens* chat : seqs) {
      const std::size_t row = data.tokens.size();
      data.tokens.resize(row + T, pad);
      data.targets.resize(row + T, -1);
      std::copy(chat->tokens.begin(), chat->tokens.end(), data.tokens.begin() + row);
      std::copy(chat->targets.begin(), chat->targets.end(), data.targets.begin() + row);
    }
    data.stats.response_tokens += reply_tokens[0] + reply_tokens[1];
    ++data.stats.kept;
  }
  if (data.stats.kept == 0) {
    throw InputError(cat("no preference pair keeps a reply token within ", T, " tokens (all ",
                         data.stats.pairs, " dropped): raise --seq-len or ",
                         "shorten the prompts"));
  }
  return data;
}

}  // namespace masque
