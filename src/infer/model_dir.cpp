// Model directories: masque checkpoints, run directories and transformers'
// LlamaForCausalLM directories all share the HF layout (config.json,
// model.safetensors, tokenizer.json), so one loader serves all three. The
// checkpoint listing lives here too because both inference (a RUN_DIR given
// to `masque sample`) and the trainer (--resume) need "newest good one".
#include "infer/model_dir.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "core/json_util.h"
#include "infer/gguf_model.h"
#include "infer/model_weights.h"
#include "io/safetensors.h"

namespace masque {
namespace fs = std::filesystem;

std::vector<CheckpointEntry> list_checkpoints(const fs::path& run_dir) {
  std::vector<CheckpointEntry> out;
  const fs::path root = run_dir / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !entry.is_directory()) continue;
    const std::string digits = name.substr(5);
    if (digits.empty() || digits.size() > 15 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    out.push_back({std::stoll(digits), entry.path()});
  }
  std::sort(out.begin(), out.end(),
            [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step > b.step; });
  return out;
}

bool checkpoint_is_complete(const fs::path& dir, bool need_trainer_state, std::string* why) {
  std::vector<std::string> files{"config.json", "model.safetensors", "tokenizer.json"};
  if (need_trainer_state) {
    files.push_back("optimizer.safetensors");
    files.push_back("trainer_state.json");
  }
  try {
    for (const std::string& file : files) {
      const fs::path path = dir / file;
      if (!fs::is_regular_file(path)) throw FormatError(cat(path.string(), " is missing"));
      if (path.extension() == ".json") {
        read_json_file(path);
      } else {
        SafetensorsFile check(path);
      }
    }
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
  return true;
}

fs::path newest_good_checkpoint(const fs::path& run_dir, bool need_trainer_state) {
  const auto checkpoints = list_checkpoints(run_dir);
  if (checkpoints.empty()) {
    throw FormatError(cat(run_dir.string(), " has no checkpoints (expected ",
                          (run_dir / "checkpoints" / "step-N").string(),
                          "; train with --checkpoint-every or point at a model directory)"));
  }
  for (const CheckpointEntry& c : checkpoints) {
    std::string why;
    if (checkpoint_is_complete(c.dir, need_trainer_state, &why)) return c.dir;
    std::fprintf(stderr, "masque: warning: skipping broken checkpoint %s: %s\n", c.dir.c_str(),
                 why.c_str());
  }
  throw FormatError(cat("no complete checkpoint in ", (run_dir / "checkpoints").string(), " (all ",
                        checkpoints.size(), " are broken; start a fresh run)"));
}

LoadedModel load_model_dir(const fs::path& path, const Backend& backend) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw InputError(cat("model directory ", path.string(), " does not exist (check the path)"));
  }
  // A llama.cpp GGUF file (docs/gguf.md) carries weights and tokenizer in one.
  if (is_gguf_file(path) || (fs::is_regular_file(path, ec) && path.extension() == ".gguf")) {
    LoadedModel loaded = load_gguf_model(path);
    if (&loaded.model->backend() != &backend) {  // e.g. sft --dtype bf16 from a GGUF base
      auto moved = std::make_unique<Model>(loaded.model->config(), backend);
      moved->copy_params_from(*loaded.model);
      loaded.model = std::move(moved);
    }
    return loaded;
  }
  if (!fs::is_directory(path, ec)) {
    throw InputError(
        cat(path.string(), " is not a directory (give a checkpoint, run or HF model directory)"));
  }
  fs::path dir = path;
  if (!fs::exists(dir / "config.json") && fs::is_directory(dir / "checkpoints")) {
    dir = newest_good_checkpoint(dir, /*need_trainer_state=*/false);
  }
  if (!fs::exists(dir / "config.json")) {
    throw FormatError(cat(dir.string(),
                          " has no config.json: not a model directory (expected "
                          "config.json, model.safetensors and tokenizer.json)"));
  }
  if (!fs::exists(dir / "tokenizer.json")) {
    throw FormatError(cat(dir.string(),
                          " has no tokenizer.json (copy the tokenizer used for training "
                          "into it)"));
  }
  const fs::path config_path = dir / "config.json";
  const ModelConfig config =
      ModelConfig::from_json(read_json_file(config_path), config_path.string());
  LoadedModel loaded;
  loaded.tokenizer = Tokenizer::load(dir / "tokenizer.json");
  if (loaded.tokenizer.vocab_size() > static_cast<std::uint32_t>(config.vocab_size)) {
    throw FormatError(cat(dir.string(), ": tokenizer.json has ", loaded.tokenizer.vocab_size(),
                          " tokens but config.json vocab_size is ", config.vocab_size,
                          " (tokenizer and model do not belong together)"));
  }
  // One model.safetensors or shards with an index; validated before the
  // model is allocated, so a broken directory fails fast.
  const SafetensorsSet weights = SafetensorsSet::open_dir(dir);
  loaded.model = std::make_unique<Model>(config, backend);
  load_model_weights(*loaded.model, weights);
  loaded.dir = dir;
  return loaded;
}

}  // namespace masque
