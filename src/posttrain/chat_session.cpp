// ChatSession: history, system prompt, and generation that reuses the KV
// cache of earlier turns (see chat_session.h).
#include "posttrain/chat_session.h"

#include <algorithm>

#include "core/error.h"
#include "core/json_util.h"

namespace masque {

ChatSession::ChatSession(ModelTextGenerator& generator, std::string system_prompt)
    : generator_(generator), system_(std::move(system_prompt)), cache_(generator.engine().model()) {
  reset();
}

std::int32_t ChatSession::special(std::string_view token) const {
  const auto id = generator_.tokenizer().special_id(token);
  if (!id) {
    throw FormatError(cat("the tokenizer has no ", token,
                          " token: train it with masque so chat roles are reserved"));
  }
  return static_cast<std::int32_t>(*id);
}

void ChatSession::reset() {
  conversation_.clear();
  history_.clear();
  if (!system_.empty()) conversation_.push_back({Role::kSystem, system_});
}

void ChatSession::set_system(std::string system_prompt) {
  system_ = std::move(system_prompt);
  if (!conversation_.empty() && conversation_.front().role == Role::kSystem) {
    conversation_.erase(conversation_.begin());
  }
  if (!system_.empty()) conversation_.insert(conversation_.begin(), {Role::kSystem, system_});
  history_.clear();  // rebuilt from the conversation at the next reply; the cache keeps what still
                     // matches
}

void ChatSession::set_interventions(const Interventions* interventions) {
  interventions_ = interventions;
  cache_.clear();
}

// One turn in tokenize_chat's exact form: role, content, <|end|>.
void ChatSession::append_turn(Role role, const std::string& text) {
  history_.push_back(special(role_token(role)));
  for (std::uint32_t id : generator_.tokenizer().encode(text))
    history_.push_back(static_cast<std::int32_t>(id));
  history_.push_back(special(kEndTurnToken));
}

std::string ChatSession::complete(const Conversation& conversation, const GenerateOptions& options,
                                  const TextCallback& on_text) {
  if (conversation.empty() || conversation.back().role != Role::kUser) {
    throw InputError("a conversation to complete must end with a user message");
  }
  Conversation full;
  if (!system_.empty() && conversation.front().role != Role::kSystem) {
    full.push_back({Role::kSystem, system_});
  }
  full.insert(full.end(), conversation.begin(), conversation.end());
  // Token ids, not rendered text: special-token strings in a message stay
  // text. The model ends its turn with <|end|>; the generator stops there.
  return generator_
      .run_tokens(chat_prompt_tokens(generator_.tokenizer(), full), options, on_text,
                  interventions_)
      .text;
}

std::string ChatSession::reply(const std::string& user_text, const GenerateOptions& options,
                               const TextCallback& on_text) {
  if (user_text.empty()) throw InputError("empty message");
  if (history_.empty()) {
    history_.push_back(special(kBosToken));
    for (const ChatMessage& m : conversation_) append_turn(m.role, m.content);
  }
  const std::size_t before = history_.size();
  append_turn(Role::kUser, user_text);
  history_.push_back(special(kAssistantToken));
  conversation_.push_back({Role::kUser, user_text});

  // The prompt is the whole history, left-truncated to leave room for the
  // reply; the cache keeps its longest prefix of it and is fed the rest.
  if (options.max_tokens < 0 || options.max_tokens >= generator_.max_seq_len()) {
    history_.resize(before);
    conversation_.pop_back();
    throw InputError(
        cat("max tokens must be in [0, ", generator_.max_seq_len(), "), got ", options.max_tokens));
  }
  const std::size_t room = static_cast<std::size_t>(generator_.max_seq_len() - options.max_tokens);
  const std::size_t skip = history_.size() > room ? history_.size() - room : 0;
  const std::span<const std::int32_t> want(history_.data() + skip, history_.size() - skip);
  const std::vector<std::int32_t>& cached = cache_.tokens();
  std::size_t common = 0;
  while (common < cached.size() && common < want.size() && cached[common] == want[common]) ++common;
  common = std::min(common, want.size() - 1);  // feed at least one token to get the next logits
  cache_.truncate(static_cast<int>(common));
  GenerationResult result;
  try {
    result =
        generator_.continue_cache(cache_, want.subspan(common), options, on_text, interventions_);
  } catch (...) {
    history_.resize(before);
    conversation_.pop_back();
    throw;
  }
  if (result.ended_by_token) {
    // The cache already holds the reply's ids; the closing <|end|> is fed next turn.
    history_.insert(history_.end(), result.tokens.begin(), result.tokens.end());
    history_.push_back(special(kEndTurnToken));
  } else {
    // Cut by a stop string, max tokens or cancel: record the text as shown.
    for (std::uint32_t id : generator_.tokenizer().encode(result.text)) {
      history_.push_back(static_cast<std::int32_t>(id));
    }
    history_.push_back(special(kEndTurnToken));
  }
  conversation_.push_back({Role::kAssistant, result.text});
  return result.text;
}

void ChatSession::save(const std::filesystem::path& path) const {
  // Overwrite only an earlier transcript, never model.safetensors, a
  // config or a corpus that happens to be named.
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    bool transcript = false;
    if (std::filesystem::is_regular_file(path, ec) &&
        std::filesystem::file_size(path, ec) < (std::uintmax_t{64} << 20)) {
      try {
        const Json old = read_json_file(path);
        transcript = old.is_object() && old.size() == 1 && old.contains("messages");
      } catch (const Error&) {
      }
    }
    if (!transcript) {
      throw InputError(cat("/save: ", path.string(),
                           " exists and is not a saved chat ({\"messages\": [...]}); "
                           "choose another path"));
    }
  }
  write_json_file(path, conversation_to_json(conversation_));
}

}  // namespace masque
