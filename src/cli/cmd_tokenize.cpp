// `masque tokenize`: text/JSONL -> train/val token shards + meta.json.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/json_util.h"
#include "core/progress.h"
#include "data/tokenize_corpus.h"

namespace masque::cli {
namespace {

struct Opts {
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string out;
  double val_fraction = 0.01;
  std::uint64_t shard_tokens = 100'000'000;
  bool json = false;
};

void run(const Opts& o) {
  Tokenizer tokenizer = Tokenizer::load(o.tokenizer);
  TokenizeOptions options;
  options.inputs = o.inputs;
  options.out_dir = o.out;
  options.val_fraction = o.val_fraction;
  options.shard_tokens = o.shard_tokens;
  options.progress = progress_enabled() && !o.json;
  TokenizeStats stats = tokenize_corpus(tokenizer, options);
  nlohmann::json info = {{"out", o.out},
                         {"documents", stats.documents},
                         {"bytes", stats.bytes},
                         {"train_tokens", stats.train_tokens},
                         {"val_tokens", stats.val_tokens}};
  if (o.json) {
    std::printf("%s\n", json_line(info).c_str());
  } else {
    std::printf("wrote %s: %s documents, %s train tokens, %s val tokens (%s of text)\n",
                o.out.c_str(), human_count(static_cast<double>(stats.documents)).c_str(),
                human_count(static_cast<double>(stats.train_tokens)).c_str(),
                human_count(static_cast<double>(stats.val_tokens)).c_str(),
                human_bytes(static_cast<double>(stats.bytes)).c_str());
  }
}

CommandRegistrar reg("tokenize", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize text/JSONL into train/val token shards");
  auto o = std::make_shared<Opts>();
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json")->required();
  cmd->add_option("--input", o->inputs,
                  "Files, directories or quoted globs (.jsonl: \"text\" per line)")
      ->required();
  cmd->add_option("--out", o->out, "Output directory (train_*.bin, val_*.bin, meta.json)")
      ->required();
  cmd->add_option("--val-fraction", o->val_fraction, "Fraction of documents for validation")
      ->capture_default_str();
  cmd->add_option("--shard-tokens", o->shard_tokens, "Tokens per shard file")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON summary");
  cmd->callback([o] { run(*o); });
});

}  // namespace
}  // namespace masque::cli
