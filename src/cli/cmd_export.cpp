// `masque export gguf`: write a model (checkpoint, run or HF directory, or a
// GGUF file) as a llama.cpp GGUF file (docs/gguf.md), F32, F16 or Q8_0.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "infer/gguf_model.h"
#include "infer/model_dir.h"

namespace masque::cli {
namespace {

struct GgufOpts {
  std::string model;
  std::string out;
  std::string type = "f32";
  std::string name;
  bool json = false;
};

GgmlType parse_type(const std::string& type) {
  if (type == "f32") return GgmlType::F32;
  if (type == "f16") return GgmlType::F16;
  if (type == "q8_0") return GgmlType::Q8_0;
  throw InputError(cat("--type ", type, " is not supported (give f32, f16 or q8_0)"));
}

void run_gguf(const GgufOpts& o) {
  GgufExportOptions options;
  options.type = parse_type(o.type);
  options.name = o.name;
  if (std::filesystem::path(o.out).extension() != ".gguf") {
    throw InputError(cat("--out ", o.out, " should end in .gguf (llama.cpp tools expect it)"));
  }
  const auto start = std::chrono::steady_clock::now();
  const LoadedModel loaded = load_model_dir(o.model);
  const GgufExportSummary s = export_gguf(loaded, o.out, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto bytes = std::filesystem::file_size(o.out);
  if (o.json) {
    const Json out = {{"out", o.out},
                      {"model", loaded.dir.string()},
                      {"type", o.type},
                      {"tensors", s.tensors},
                      {"tokens", s.tokens},
                      {"pre_tokenizer", s.pre_tokenizer},
                      {"chat_template", s.chat_template},
                      {"bytes", bytes},
                      {"seconds", seconds}};
    std::printf("%s\n", json_line(out).c_str());
    return;
  }
  std::printf("wrote %s: %zu tensors (%s), %zu tokens (pre-tokenizer %s)%s, %.1f MB in %.1fs\n",
              o.out.c_str(), s.tensors, o.type.c_str(), s.tokens, s.pre_tokenizer.c_str(),
              s.chat_template ? ", chat template" : "", static_cast<double>(bytes) / 1e6, seconds);
}

CommandRegistrar reg("export", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a model to other formats");
  cmd->require_subcommand(1);
  auto* gguf = cmd->add_subcommand(
      "gguf", "Write a llama.cpp GGUF file (llama architecture, tokenizer, chat template)");
  auto g = std::make_shared<GgufOpts>();
  gguf->add_option("--model", g->model, "Checkpoint, run or HF model directory (or a GGUF file)")
      ->required();
  gguf->add_option("--out", g->out, "Output FILE.gguf (written atomically)")->required();
  gguf->add_option("--type", g->type, "Weight type of 2-D tensors: f32, f16 or q8_0")
      ->capture_default_str();
  gguf->add_option("--name", g->name, "general.name (default: the model directory's name)");
  gguf->add_flag("--json", g->json, "Print a JSON summary");
  gguf->callback([g] { run_gguf(*g); });
});

}  // namespace
}  // namespace masque::cli
