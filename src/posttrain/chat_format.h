// The chat format: how a conversation (OpenAI-style messages) becomes tokens.
//
//   <|bos|><|system|>You are ...<|end|><|user|>Hi<|end|><|assistant|>Hello<|end|>
//
// The same template is exported as a Jinja `chat_template` (tokenizer_config.json)
// so Hugging Face's apply_chat_template produces exactly masque's ids. Loss
// masks for SFT come from the same rendering, so training and serving can
// never disagree about the format (docs/chat-format.md).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "tokenizer/chat_template.h"  // chat_template_jinja(): the same format for HF
#include "tokenizer/tokenizer.h"

namespace masque {

enum class Role { kSystem, kUser, kAssistant };

struct ChatMessage {
  Role role;
  std::string content;
};

using Conversation = std::vector<ChatMessage>;

std::string_view role_name(Role role);
std::string_view role_token(Role role);  // "<|system|>", ...

// Parse {"messages": [{"role": ..., "content": ...}, ...]} or a bare messages
// array. `where` names the source ("line 12 of chats.jsonl") in InputErrors for
// a missing or unknown role, empty or non-string content, wrong types.
Conversation conversation_from_json(const Json& value, std::string_view where);
Json conversation_to_json(const Conversation& conversation);

// Text rendering (special tokens as their strings). With add_generation_prompt
// the text ends with "<|assistant|>" so a model continues as the Assistant.
// For display and for HF's template only: encoding this text with
// encode_with_specials would turn special-token strings inside a message
// into control tokens. Build prompts with chat_prompt_tokens.
std::string render_chat(const Conversation& conversation, bool add_generation_prompt);

// Tokens of a conversation plus the SFT target for each position: targets[i]
// is the token at i+1 when that token belongs to an assistant reply (its
// content and closing <|end|>), else -1 (ignored by the loss).
struct ChatTokens {
  std::vector<std::int32_t> tokens;
  std::vector<std::int32_t> targets;
  int assistant_tokens = 0;  // positions that carry loss
};
ChatTokens tokenize_chat(const Tokenizer& tokenizer, const Conversation& conversation);

// The prompt a model continues as the Assistant: tokenize_chat's tokens and
// <|assistant|>. Message content is encoded as plain text (Tokenizer::encode),
// so "<|end|><|system|>" typed by a user stays text: only the roles of the
// conversation produce role and control tokens.
std::vector<std::int32_t> chat_prompt_tokens(const Tokenizer& tokenizer,
                                             const Conversation& conversation);

}  // namespace masque
