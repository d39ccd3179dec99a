// Reading, validating and packing SFT conversations (see sft_data.h).
#include "posttrain/sft_data.h"

#include <fstream>

#include "core/error.h"

namespace masque {

std::int64_t for_each_conversation(std::istream& in, std::string_view source,
                                   const std::function<void(Conversation&&)>& fn) {
  std::string line;
  std::int64_t line_no = 0;
  std::int64_t count = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where =
        source == "stdin" ? cat("stdin line ", line_no) : cat("line ", line_no, " of ", source);
    fn(conversation_from_json(parse_json(line, where), where));
    ++count;
  }
  return count;
}

std::vector<Conversation> read_conversations_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(cat("cannot open chat data ", path, " (check the path)"));
  std::vector<Conversation> conversations;
  for_each_conversation(in, path.string(),
                        [&](Conversation&& c) { conversations.push_back(std::move(c)); });
  if (conversations.empty()) {
    throw InputError(cat("chat data ", path, " holds no conversations (one JSON object with a ",
                         "\"messages\" array per line)"));
  }
  return conversations;
}

SftDataset pack_conversations(const Tokenizer& tokenizer,
                              const std::vector<Conversation>& conversations, int seq_len) {
  if (seq_len < 2) throw InputError(cat("sequence length must be at least 2, got ", seq_len));
  SftDataset data;
  data.seq_len = seq_len;
  const auto pad = static_cast<std::int32_t>(tokenizer.pad_id());
  std::size_t row_start = 0;  // offset of the row being filled
  std::size_t used = 0;       // positions used in that row
  auto open_row = [&] {
    row_start = data.tokens.size();
    data.tokens.resize(row_start + seq_len, pad);
    data.targets.resize(row_start + seq_len, -1);
    used = 0;
    ++data.stats.rows;
  };
  for (const auto& conversation : conversations) {
    ++data.stats.conversations;
    ChatTokens chat = tokenize_chat(tokenizer, conversation);
    if (chat.tokens.size() > static_cast<std::size_t>(seq_len)) {
      ++data.stats.truncated;
      chat.tokens.resize(seq_len);
      chat.targets.resize(seq_len);
      chat.targets.back() = -1;  // its next token was cut away
      chat.assistant_tokens = 0;
      for (auto t : chat.targets) chat.assistant_tokens += t >= 0;
    }
    if (chat.assistant_tokens == 0) {
      ++data.stats.dropped;
      continue;
    }
    if (data.stats.rows == 0 || used + chat.tokens.size() > static_cast<std::size_t>(seq_len)) {
      open_row();
    }
    std::copy(chat.tokens.begin(), chat.tokens.end(), data.tokens.begin() + row_start + used);
    std::copy(chat.targets.begin(), chat.targets.end(), data.targets.begin() + row_start + used);
    used += chat.tokens.size();
    data.stats.tokens += static_cast<std::int64_t>(chat.tokens.size());
    data.stats.assistant_tokens += chat.assistant_tokens;
  }
  if (data.stats.rows == 0) {
    throw InputError(
        "no conversation has an assistant reply that fits the context: "
        "add assistant messages or raise --seq-len");
  }
  return data;
}

}  // namespace masque
