// Loading a model directory for inference or further training: a checkpoint
// written by masque (RUN_DIR/checkpoints/step-N), a RUN_DIR (its newest good
// checkpoint), or a Hugging Face LlamaForCausalLM directory written by
// transformers (config.json + model.safetensors, or shards listed in
// model.safetensors.index.json, + tokenizer.json).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque {

struct LoadedModel {
  std::unique_ptr<Model> model;
  Tokenizer tokenizer;
  std::filesystem::path dir;  // the directory actually loaded
};

// Throws FormatError/InputError naming the file and the fix. backend: where
// the model lives (sft/dpo --dtype bf16 pass cpu_bf16_backend()).
LoadedModel load_model_dir(const std::filesystem::path& path,
                           const Backend& backend = default_backend());

// Checkpoints of a RUN_DIR (RUN_DIR/checkpoints/step-N), newest first.
// Temporary directories of interrupted saves (".step-N.*") are not listed.
struct CheckpointEntry {
  std::int64_t step = 0;
  std::filesystem::path dir;
};
std::vector<CheckpointEntry> list_checkpoints(const std::filesystem::path& run_dir);

// Whether a checkpoint directory is complete and readable: every file present,
// JSON files parse, safetensors files validate. `why` receives the problem.
// need_trainer_state: also require optimizer.safetensors + trainer_state.json.
bool checkpoint_is_complete(const std::filesystem::path& dir, bool need_trainer_state,
                            std::string* why);

// The newest complete checkpoint of a RUN_DIR (skipping broken ones with a
// warning on stderr); FormatError when there is none.
std::filesystem::path newest_good_checkpoint(const std::filesystem::path& run_dir,
                                             bool need_trainer_state);

}  // namespace masque
