// Contrast pairs for extraction (docs/persona-vectors.md): JSONL, one pair a
// line, in one of two forms (every line of a file in the same form):
//   generate: {"trait": "kindness", "question": "...",
//              "positive": {"messages": [...]}, "negative": {"messages": [...]}}
//             (what `masque world contrast` writes: the model answers each
//             conversation and the world's TraitScorer reads the answers)
//   ready:    {"positive": "text", "negative": "text", "prompt": "optional prompt",
//              "trait": "optional name"}
//             (texts given; their tokens after the prompt are the response)
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "posttrain/chat_format.h"

namespace masque::vectors {

struct ContrastPair {
  std::string trait;  // "" when the line names none
  bool ready = false;
  // generate form: conversations the Assistant continues, and the question
  // the scorer reads (the line's "question", else the last user message)
  Conversation positive_prompt, negative_prompt;
  std::string question;
  // ready form
  std::string prompt;  // raw prompt text ("" = the texts follow <|bos|>)
  std::string positive_text, negative_text;
};

// InputError naming the file and line for a malformed line, mixed forms, a
// conversation that ends with an Assistant message, or an empty file.
std::vector<ContrastPair> read_contrast_pairs(const std::filesystem::path& path);

}  // namespace masque::vectors
