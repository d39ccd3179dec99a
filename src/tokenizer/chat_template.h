// The Jinja chat template of masque's chat format (docs/chat-format.md),
// written into tokenizer_config.json so Hugging Face's apply_chat_template
// produces exactly the ids masque's posttrain/chat_format.h produces:
//   <|bos|><|system|>...<|end|><|user|>...<|end|><|assistant|>...<|end|>
#pragma once
#include <string>

#include "tokenizer/tokenizer.h"

namespace masque {

const std::string& chat_template_jinja();

// Whether the tokenizer reserves every token the chat format uses.
bool supports_chat_format(const Tokenizer& tokenizer);

}  // namespace masque
