// SFT data: conversations from JSONL (OpenAI messages format), tokenized with
// the chat format, packed into fixed-length rows with loss only on assistant
// tokens. Truncation policy (stated in reports): a conversation longer than
// the context keeps its first T+1 tokens; if that leaves no assistant token
// it is dropped. Both cases are counted in SftDataStats.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <string_view>
#include <vector>

#include "posttrain/chat_format.h"

namespace masque {

// Calls fn for each conversation of a JSONL stream, validated; `source`
// names the stream in errors ("line 3 of chats.jsonl", "stdin line 3").
// Blank lines are skipped. Returns the number of conversations.
std::int64_t for_each_conversation(std::istream& in, std::string_view source,
                                   const std::function<void(Conversation&&)>& fn);

// Reads and validates every line (InputError naming file:line on malformed
// JSON, unknown roles, empty content, wrong types). Blank lines are skipped.
std::vector<Conversation> read_conversations_jsonl(const std::filesystem::path& path);

struct SftDataStats {
  std::int64_t conversations = 0;
  std::int64_t truncated = 0;  // longer than the context, cut
  std::int64_t dropped = 0;    // no assistant token left after the cut
  std::int64_t rows = 0;
  std::int64_t tokens = 0;            // non-padding tokens in rows
  std::int64_t assistant_tokens = 0;  // positions carrying loss
};

// Packed rows: tokens and targets are rows x seq_len (row-major); padding
// positions use the pad token with target -1.
struct SftDataset {
  int seq_len = 0;
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> targets;
  SftDataStats stats;
  std::int64_t rows() const { return stats.rows; }
};

SftDataset pack_conversations(const Tokenizer& tokenizer,
                              const std::vector<Conversation>& conversations, int seq_len);

}  // namespace masque
