// ChatSession: a conversation with a model in masque's chat format, shared
// by `masque chat` (interactive and JSONL modes) and, later, the server.
// The session keeps the conversation's exact token ids (the Assistant's own
// sampled ids, not a re-encoding of its text) and a KV cache that holds
// them, so each turn feeds the model only the new tokens: every token of a
// conversation is prefilled once.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "infer/model_generator.h"
#include "model/kv_cache.h"
#include "posttrain/chat_format.h"

namespace masque {

class ChatSession {
 public:
  ChatSession(ModelTextGenerator& generator, std::string system_prompt);

  // Appends the user turn, generates the Assistant's reply (streamed through
  // on_text when given), appends it, and returns it.
  std::string reply(const std::string& user_text, const GenerateOptions& options,
                    const TextCallback& on_text = {});
  // Reply to a given conversation (ending with a user turn) without history.
  // The session's system prompt is put first when the conversation has no
  // system message of its own (one it has wins). Content is plain text.
  std::string complete(const Conversation& conversation, const GenerateOptions& options,
                       const TextCallback& on_text = {});

  void reset();  // forget the history, keep the system prompt
  void set_system(std::string system_prompt);
  // Interventions (e.g. steering) for this session's replies; null clears.
  // The cache is dropped, since cached keys were computed under the old ones.
  void set_interventions(const Interventions* interventions);
  const Conversation& conversation() const { return conversation_; }
  const std::vector<std::int32_t>& history_tokens() const { return history_; }
  const KvCache& cache() const { return cache_; }
  void save(const std::filesystem::path& path) const;  // {"messages": [...]} JSON, atomic

 private:
  std::int32_t special(std::string_view token) const;
  void append_turn(Role role, const std::string& text);

  ModelTextGenerator& generator_;
  std::string system_;
  Conversation conversation_;
  std::vector<std::int32_t> history_;  // token ids of conversation_ (empty until the first reply)
  KvCache cache_;
  const Interventions* interventions_ = nullptr;
};

}  // namespace masque
