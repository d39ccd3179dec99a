// ChatSession: a conversation with a model in masque's chat format, shared
// by `masque chat` (interactive and JSONL modes) and, later, the server.
#pragma once
#include <functional>
#include <string>

#include "infer/model_generator.h"
#include "posttrain/chat_format.h"

namespace masque {

class ChatSession {
 public:
  ChatSession(ModelTextGenerator& generator, std::string system_prompt);

  // Appends the user turn, generates the Assistant's reply (streamed through
  // on_text when given), appends it, and returns it.
  std::string reply(const std::string& user_text, const GenerateOptions& options,
                    const std::function<void(const std::string&)>& on_text = {});
  // Reply to a given conversation (ending with a user turn) without history.
  std::string complete(const Conversation& conversation, const GenerateOptions& options,
                       const std::function<void(const std::string&)>& on_text = {});

  void reset();  // forget the history, keep the system prompt
  void set_system(std::string system_prompt);
  const Conversation& conversation() const { return conversation_; }
  void save(const std::filesystem::path& path) const;  // {"messages": [...]} JSON, atomic

 private:
  ModelTextGenerator& generator_;
  std::string system_;
  Conversation conversation_;
};

}  // namespace masque
