// `masque chat-encode`: conversations (JSONL on stdin) -> token ids and SFT
// targets in masque's chat format, one JSON line each. For checking the chat
// template against other implementations and for inspecting loss masks.
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "core/json_util.h"
#include "posttrain/chat_format.h"
#include "posttrain/sft_data.h"

namespace {

struct Options {
  std::string tokenizer;
  bool generation_prompt = false;
};

masque::cli::CommandRegistrar reg("chat-encode", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "chat-encode", "Encode chat JSONL from stdin: {\"ids\", \"targets\", \"text\"} per line");
  auto o = std::make_shared<Options>();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json")->required();
  cmd->add_flag("--generation-prompt", o->generation_prompt,
                "End with <|assistant|> (as a prompt for a reply); no targets");
  cmd->callback([o] {
    masque::Tokenizer tok = masque::Tokenizer::load(o->tokenizer);
    masque::for_each_conversation(std::cin, "stdin", [&](masque::Conversation&& conv) {
      masque::Json out;
      const std::string text = masque::render_chat(conv, o->generation_prompt);
      out["text"] = text;
      if (o->generation_prompt) {
        out["ids"] = tok.encode_with_specials(text);
      } else {
        masque::ChatTokens t = masque::tokenize_chat(tok, conv);
        out["ids"] = t.tokens;
        out["targets"] = t.targets;
      }
      std::printf("%s\n", masque::json_line(out).c_str());
    });
  });
});

}  // namespace
