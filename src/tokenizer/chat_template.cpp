// The chat template string (kept in one place; tests compare it with HF).
#include "tokenizer/chat_template.h"

namespace masque {

const std::string& chat_template_jinja() {
  static const std::string tmpl =
      "{{ bos_token }}{% for message in messages %}"
      "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";
  return tmpl;
}

bool supports_chat_format(const Tokenizer& tokenizer) {
  for (std::string_view token :
       {kBosToken, kSystemToken, kUserToken, kAssistantToken, kEndTurnToken}) {
    if (!tokenizer.special_id(token)) return false;
  }
  return true;
}

}  // namespace masque
