// `masque chat`: talk to a model in the chat format. Interactive mode reads
// user lines (with /reset, /system TEXT, /save PATH, /quit) and streams
// replies; --jsonl reads one conversation per stdin line and writes one JSON
// result per line, for scripts (invalid UTF-8 in a reply is written as
// U+FFFD). Whatever the user types is plain text: "<|end|>" in a message or
// in --system never becomes a control token (chat_prompt_tokens). --interventions steers every
// reply of the session (add / project_out, docs/interventions.md).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "cli/steer_options.h"
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
  masque::cli::SteerFlags steer_flags;  // --steer, --steer-positions, --monitor
};

// --monitor: each vector's projection at the reply's last prompt token and
// averaged over the reply, as {"kindness@2": {"prompt_last": .., "reply": ..}}.
masque::Json take_monitors(masque::cli::Steering& steering) {
  masque::Json out = masque::Json::object();
  for (auto& m : steering.monitors) {
    const auto [prompt_last, reply] = m->take();
    auto num = [](double x) { return std::isnan(x) ? masque::Json(nullptr) : masque::Json(x); };
    out[masque::cat(m->vector.trait, "@", m->layer)] = {{"prompt_last", num(prompt_last)},
                                                        {"reply", num(reply)}};
  }
  return out;
}

void print_monitors(masque::cli::Steering& steering) {
  const masque::Json monitors = take_monitors(steering);
  for (const auto& [name, value] : monitors.items()) {
    const auto show = [](const masque::Json& x) {
      return x.is_null() ? std::string("-") : masque::cat(x.get<double>());
    };
    std::fprintf(stderr, "[monitor %s: prompt-last %s, reply %s]\n", name.c_str(),
                 show(value["prompt_last"]).c_str(), show(value["reply"]).c_str());
  }
}

void run_jsonl(masque::ChatSession& session, const masque::GenerateOptions& gen,
               masque::cli::Steering& steering) {
  masque::for_each_conversation(std::cin, "stdin", [&](masque::Conversation&& conv) {
    std::string reply = session.complete(conv, gen);
    conv.push_back({masque::Role::kAssistant, reply});
    masque::Json out = masque::conversation_to_json(conv);
    out["reply"] = reply;
    if (!steering.monitors.empty()) out["monitor"] = take_monitors(steering);
    // A reply may hold invalid UTF-8 (byte-level BPE samples any byte); replace, don't fail.
    std::printf("%s\n", masque::json_line(out).c_str());
    std::fflush(stdout);
  });
}

void run_interactive(masque::ChatSession& session, const masque::GenerateOptions& gen,
                     masque::cli::Steering& steering) {
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
    std::fflush(stdout);
    print_monitors(steering);
  }
}

masque::cli::CommandRegistrar reg("chat", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Chat with a model (interactive, or --jsonl for scripts)");
  auto o = std::make_shared<ChatOptions>();
  o->gen.max_tokens = 128;
  o->gen.temperature = 0.7f;
  cmd->add_option("--model", o->model, "Checkpoint dir, RUN_DIR or HF Llama dir")->required();
  cmd->add_option("--system", o->system,
                  "System prompt (plain text; with --jsonl, put first in every conversation "
                  "that has no system message of its own)");
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
  masque::cli::add_steer_flags(cmd, o->steer_flags, /*with_monitor=*/true);
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
    // --steer and --monitor entries follow the file's (docs/persona-vectors.md).
    masque::cli::Steering steering =
        masque::cli::build_steering(o->steer_flags, *loaded.model, loaded.tokenizer);
    masque::Interventions all = steer.all;
    masque::cli::append_interventions(all, steering.interventions, cfg);
    masque::ChatSession session(generator, o->system);
    if (!all.empty()) session.set_interventions(&all);
    if (o->jsonl) {
      run_jsonl(session, o->gen, steering);
    } else {
      run_interactive(session, o->gen, steering);
    }
  });
});

}  // namespace
