// Chat rendering, parsing and SFT loss masks (see chat_format.h).
#include "posttrain/chat_format.h"

#include "core/error.h"

namespace masque {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
  }
  return "?";
}

std::string_view role_token(Role role) {
  switch (role) {
    case Role::kSystem:
      return kSystemToken;
    case Role::kUser:
      return kUserToken;
    case Role::kAssistant:
      return kAssistantToken;
  }
  return "?";
}

Conversation conversation_from_json(const Json& value, std::string_view where) {
  const Json* messages = &value;
  if (value.is_object()) {
    auto it = value.find("messages");
    if (it == value.end()) {
      throw InputError(cat(where, ": expected an object with a \"messages\" array"));
    }
    messages = &*it;
  }
  if (!messages->is_array()) {
    throw InputError(cat(where, ": \"messages\" must be an array, got ", messages->type_name()));
  }
  if (messages->empty()) throw InputError(cat(where, ": \"messages\" is empty"));
  Conversation conversation;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    std::string here = cat(where, ", message ", i);
    std::string role = get_field<std::string>(m, "role", here);
    ChatMessage message;
    if (role == "system")
      message.role = Role::kSystem;
    else if (role == "user")
      message.role = Role::kUser;
    else if (role == "assistant")
      message.role = Role::kAssistant;
    else
      throw InputError(cat(here, ": unknown role '", role, "' (use system, user or assistant)"));
    message.content = get_field<std::string>(m, "content", here);
    if (message.content.empty()) throw InputError(cat(here, ": content is empty"));
    for (std::string_view special : {kBosToken, kEosToken, kPadToken, kSystemToken, kUserToken,
                                     kAssistantToken, kEndTurnToken}) {
      if (message.content.find(special) != std::string::npos) {
        throw InputError(cat(here, ": content contains the reserved token ", special,
                             " (remove it; roles are given by the \"role\" field)"));
      }
    }
    conversation.push_back(std::move(message));
  }
  return conversation;
}

Json conversation_to_json(const Conversation& conversation) {
  Json messages = Json::array();
  for (const auto& m : conversation) {
    messages.push_back({{"role", std::string(role_name(m.role))}, {"content", m.content}});
  }
  return {{"messages", messages}};
}

std::string render_chat(const Conversation& conversation, bool add_generation_prompt) {
  std::string text(kBosToken);
  for (const auto& m : conversation) {
    text += role_token(m.role);
    text += m.content;
    text += kEndTurnToken;
  }
  if (add_generation_prompt) text += kAssistantToken;
  return text;
}

ChatTokens tokenize_chat(const Tokenizer& tokenizer, const Conversation& conversation) {
  ChatTokens out;
  // Weight of each token: 1 when it is part of an assistant reply (content or
  // the <|end|> that closes it), i.e. what the Assistant must learn to produce.
  std::vector<char> in_reply;
  auto push = [&](std::uint32_t id, bool reply) {
    out.tokens.push_back(static_cast<std::int32_t>(id));
    in_reply.push_back(reply ? 1 : 0);
  };
  push(tokenizer.bos_id(), false);
  auto end = tokenizer.special_id(kEndTurnToken);
  if (!end) {
    throw FormatError(cat("tokenizer has no ", kEndTurnToken,
                          " token: train it with masque so chat roles are reserved"));
  }
  const std::uint32_t end_id = *end;
  for (const auto& m : conversation) {
    auto role_id = tokenizer.special_id(role_token(m.role));
    if (!role_id) {
      throw FormatError(cat("tokenizer has no ", role_token(m.role),
                            " token: train it with masque so chat roles are reserved"));
    }
    push(*role_id, false);
    bool reply = m.role == Role::kAssistant;
    // Segments are encoded separately, exactly as HF splits on added tokens.
    for (std::uint32_t id : tokenizer.encode(m.content)) push(id, reply);
    push(end_id, reply);
  }
  out.targets.assign(out.tokens.size(), -1);
  // (Content above goes through encode(), never encode_with_specials: user
  // text cannot become a role or control token.)
  for (std::size_t i = 0; i + 1 < out.tokens.size(); ++i) {
    if (in_reply[i + 1]) {
      out.targets[i] = out.tokens[i + 1];
      ++out.assistant_tokens;
    }
  }
  return out;
}

std::vector<std::int32_t> chat_prompt_tokens(const Tokenizer& tokenizer,
                                             const Conversation& conversation) {
  std::vector<std::int32_t> ids = tokenize_chat(tokenizer, conversation).tokens;
  const auto assistant = tokenizer.special_id(kAssistantToken);
  if (!assistant) {
    throw FormatError(cat("tokenizer has no ", kAssistantToken,
                          " token: train it with masque so chat roles are reserved"));
  }
  ids.push_back(static_cast<std::int32_t>(*assistant));
  return ids;
}

}  // namespace masque
