// DPO data: preference pairs from JSONL in the layout TRL users know,
//   {"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}
// validated strictly (errors name the file, line and field), tokenized with
// the chat format (posttrain/chat_format.h) and laid out as padded rows:
// row 2p is prompt + chosen of pair p, row 2p+1 prompt + rejected, with
// targets only on the final assistant reply (its content and <|end|>).
// Truncation policy: a sequence longer than the row keeps its first T tokens;
// a pair where either reply then has no target left is dropped. Both counted.
#pragma once
#include <cstdint>
#include <filesystem>
#include <istream>
#include <string_view>
#include <vector>

#include "posttrain/chat_format.h"

namespace masque {

struct PreferencePair {
  Conversation prompt;  // ends in a system or user turn
  ChatMessage chosen;   // assistant
  ChatMessage rejected;
};

// One pair from a parsed JSONL line; `where` names it ("line 3 of prefs.jsonl").
PreferencePair preference_pair_from_json(const Json& value, std::string_view where);

// Every non-blank line of `in`; InputError naming line and field on the first
// bad one, and when there are no pairs.
std::vector<PreferencePair> read_preference_pairs(std::istream& in, std::string_view source);
std::vector<PreferencePair> read_preference_jsonl(const std::filesystem::path& path);

struct DpoDataStats {
  std::int64_t pairs = 0;      // read
  std::int64_t truncated = 0;  // pairs with a sequence cut to the row length
  std::int64_t dropped = 0;    // pairs with no reply token left after the cut
  std::int64_t kept = 0;       // pairs in the dataset
  std::int64_t response_tokens = 0;
};

// Rows [2 * kept, seq_len] row-major; padding uses the pad token, target -1.
struct DpoDataset {
  int seq_len = 0;
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> targets;
  DpoDataStats stats;
  std::int64_t pairs() const { return stats.kept; }
};

// seq_len 0 = the longest sequence of the set, at most max_context.
DpoDataset pack_preferences(const Tokenizer& tokenizer, const std::vector<PreferencePair>& pairs,
                            int seq_len, int max_context);

}  // namespace masque
