// ChatSession: history, system prompt and generation in the chat format.
#include "posttrain/chat_session.h"

#include "core/error.h"

namespace masque {

ChatSession::ChatSession(ModelTextGenerator& generator, std::string system_prompt)
    : generator_(generator), system_(std::move(system_prompt)) {
  reset();
}

void ChatSession::reset() {
  conversation_.clear();
  if (!system_.empty()) conversation_.push_back({Role::kSystem, system_});
}

void ChatSession::set_system(std::string system_prompt) {
  system_ = std::move(system_prompt);
  if (!conversation_.empty() && conversation_.front().role == Role::kSystem) {
    conversation_.erase(conversation_.begin());
  }
  if (!system_.empty()) conversation_.insert(conversation_.begin(), {Role::kSystem, system_});
}

std::string ChatSession::complete(const Conversation& conversation, const GenerateOptions& options,
                                  const std::function<void(const std::string&)>& on_text) {
  if (conversation.empty() || conversation.back().role != Role::kUser) {
    throw InputError("a conversation to complete must end with a user message");
  }
  // The model ends its turn with <|end|>; ModelTextGenerator stops there.
  return generator_.run(render_chat(conversation, /*add_generation_prompt=*/true), options, on_text)
      .text;
}

std::string ChatSession::reply(const std::string& user_text, const GenerateOptions& options,
                               const std::function<void(const std::string&)>& on_text) {
  if (user_text.empty()) throw InputError("empty message");
  conversation_.push_back({Role::kUser, user_text});
  std::string answer = complete(conversation_, options, on_text);
  conversation_.push_back({Role::kAssistant, answer});
  return answer;
}

void ChatSession::save(const std::filesystem::path& path) const {
  write_json_file(path, conversation_to_json(conversation_));
}

}  // namespace masque
