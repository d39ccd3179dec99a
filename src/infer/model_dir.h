// Loading a model directory for inference or further training: a checkpoint
// written by masque (RUN_DIR/checkpoints/step-N), a RUN_DIR (its newest good
// checkpoint), or a Hugging Face LlamaForCausalLM directory written by
// transformers (config.json + model.safetensors + tokenizer.json).
#pragma once
#include <filesystem>
#include <memory>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace masque {

struct LoadedModel {
  std::unique_ptr<Model> model;
  Tokenizer tokenizer;
  std::filesystem::path dir;  // the directory actually loaded
};

// Throws FormatError/InputError naming the file and the fix.
LoadedModel load_model_dir(const std::filesystem::path& path);

}  // namespace masque
