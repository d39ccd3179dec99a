// LoRA adapters in PEFT's format (Hugging Face `peft`): a directory with
// adapter_config.json ({"peft_type": "LORA", "r", "lora_alpha",
// "target_modules", ...}) and adapter_model.safetensors with tensors
//   base_model.model.<module>.lora_A.weight  [r, in]
//   base_model.model.<module>.lora_B.weight  [out, r]
// where <module> is the HF module path ("model.layers.0.self_attn.q_proj").
// PEFT computes W x + (lora_alpha / r) B A x, masque's W0 + s B A with
// s = alpha / r, so `PeftModel.from_pretrained(base, dir)` reproduces a
// masque LoRA run, and `masque sft --lora-from DIR` continues from an
// adapter PEFT trained. Reading is strict: a config field that would change
// the adapter's function (rslora, DoRA, biases, rank patterns, ...) is
// refused by name.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "posttrain/lora.h"

namespace masque {

struct PeftLoraConfig {
  int rank = 0;
  float alpha = 0;
  std::vector<std::string> target_modules;  // sorted module suffixes ("q_proj", ...)
};

// Reads and checks DIR/adapter_config.json; InputError naming the field.
PeftLoraConfig read_peft_config(const std::filesystem::path& dir);

// Writes adapter_config.json and adapter_model.safetensors into `dir` (an
// existing directory, e.g. a checkpoint's AtomicDir). base_model names the
// base model directory in the config (informational for PEFT).
void save_peft_adapter(const LoraAdapter& lora, float alpha,
                       const std::vector<std::string>& target_modules,
                       const std::string& base_model, const std::filesystem::path& dir);

// Loads adapter_model.safetensors of `dir` into `lora`, which must have been
// built with the config's rank and targets; FormatError naming a missing,
// unexpected or mis-shaped tensor.
void load_peft_adapter(LoraAdapter& lora, const std::filesystem::path& dir);

}  // namespace masque
