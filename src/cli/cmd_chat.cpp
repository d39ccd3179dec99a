// `masque chat`: talk to a model in the chat format. Interactive mode reads
// user lines (with /reset, /system TEXT, /save PATH, /quit) and streams
// replies; --jsonl reads one conversation per stdin line and writes one JSON
// result per line, for scripts. --interventions steers every reply of the
// session (add / project_out, docs/interventions.md).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "core/json_util.h"
#include "infer/model_dir.h"
#include "posttrain/chat_session.h"
#include "posttrain/sft_data.h"

namespace {

struct ChatOptions {
  std::string model;
  std::string system;
  bool jsonl = false;
  std::string interventions;  // JSON array of specs
  masque::GenerateOptions gen;
};

void run_jsonl(masque::ChatSession& session, const masque::GenerateOptions& gen) {
  masque::for_each_conversation(std::cin, "stdin", [&](masque::Conversation&& conv) {
    std::string reply = session.complete(conv, gen);
    conv.push_back({masque::Role::kAssistant, reply});
    masque::Json out = masque::conversation_to_json(conv);
    out["reply"] = reply;
    // A reply may hold invalid UTF-8 (byte-level BPE samples any byte); replace, don't fail.
    std::printf("%s\n", out.dump(-1, ' ', false, masque::Json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  });
}

void run_interactive(masque::ChatSession& session, const masque::GenerateOptions& gen) {
  std::fprintf(stderr, "masque chat: type a message; /reset, /system TEXT, /save PATH, /quit\n");
  std::string line;
  masque::GenerateOptions options = gen;
  while (true) {
    std::fprintf(stderr, "> ");
    std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      session.reset();
      std::fprintf(stderr, "(history cleared)\n");
      continue;
    }
    if (line.rfind("/system", 0) == 0) {
      session.set_system(line.size() > 8 ? line.substr(8) : "");
      std::fprintf(stderr, "(system prompt set)\n");
      continue;
    }
    if (line.rfind("/save", 0) == 0) {
      if (line.size() <= 6) {
        std::fprintf(stderr, "usage: /save PATH\n");
        continue;
      }
      try {
        session.save(line.substr(6));
        std::fprintf(stderr, "(saved to %s)\n", line.substr(6).c_str());
      } catch (const masque::Error& e) {
        std::fprintf(stderr, "masque: error: %s\n", e.what());
      }
      continue;
    }
    if (line[0] == '/') {
      std::fprintf(stderr, "unknown command %s (/reset, /system TEXT, /save PATH, /quit)\n",
                   line.c_str());
      continue;
    }
    ++options.seed;  // a fresh sample per turn, still reproducible from --seed
    session.reply(line, options, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
  }
}

masque::cli::CommandRegistrar reg("chat", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Chat with a model (interactive, or --jsonl for scripts)");
  auto o = std::make_shared<ChatOptions>();
  o->gen.max_tokens = 128;
  o->gen.temperature = 0.7f;
  cmd->add_option("--model", o->model, "Checkpoint dir, RUN_DIR or HF Llama dir")->required();
  cmd->add_option("--system", o->system, "System prompt");
  cmd->add_flag("--jsonl", o->jsonl,
                "Read conversations ({\"messages\": [...]}) from stdin, one per line; write JSON");
  cmd->add_option("--max-tokens", o->gen.max_tokens, "Tokens per reply")->capture_default_str();
  cmd->add_option("--temperature", o->gen.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", o->gen.top_k, "0 = off")->capture_default_str();
  cmd->add_option("--top-p", o->gen.top_p, "1 = off")->capture_default_str();
  cmd->add_option("--seed", o->gen.seed, "Sampling seed")->capture_default_str();
  cmd->add_option(
      "--interventions", o->interventions,
      "JSON array of add / project_out specs applied to every reply (docs/interventions.md)");
  cmd->callback([o] {
    masque::LoadedModel loaded = masque::load_model_dir(o->model);
    const masque::ModelConfig& cfg = loaded.model->config();
    // Validated before the first turn; the session borrows it for its lifetime.
    masque::cli::InterventionsFile steer;
    if (!o->interventions.empty()) {
      // Replies are response tokens; everything before them is prompt.
      steer = masque::cli::load_interventions_file(
          o->interventions, cfg.num_hidden_layers, cfg.hidden_size,
          /*allow_observe=*/false, /*has_response_split=*/true);
    }
    masque::ModelTextGenerator generator(*loaded.model, loaded.tokenizer);
    masque::ChatSession session(generator, o->system);
    if (!o->interventions.empty()) session.set_interventions(&steer.all);
    if (o->jsonl) {
      run_jsonl(session, o->gen);
    } else {
      run_interactive(session, o->gen);
    }
  });
});

}  // namespace
