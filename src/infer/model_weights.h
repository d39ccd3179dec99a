// Model weights <-> model.safetensors with Hugging Face LlamaForCausalLM
// tensor names. Saving writes float32 (the checkpoint is exact); loading
// accepts F32, BF16, F16 or F64 (transformers may save any of them),
// converted to float32, from one file or sharded with an index, and
// requires the tensor set to match the config exactly.
#pragma once
#include <filesystem>
#include <map>
#include <string>

#include "io/safetensors.h"
#include "io/safetensors_index.h"
#include "model/model.h"

namespace masque {

// Writes every parameter (lm_head omitted when tied, as transformers does).
void save_model_weights(const Model& model, const std::filesystem::path& path,
                        const std::map<std::string, std::string>& metadata = {});

// Copies the file's tensors into the model. FormatError listing missing and
// unexpected tensors, or naming the first tensor whose shape differs. A tied
// model ignores an lm_head.weight in the file, and rotary inv_freq buffers
// (old transformers versions) are ignored.
void load_model_weights(Model& model, const SafetensorsSet& file);
void load_model_weights(Model& model, const std::filesystem::path& path);  // one file

}  // namespace masque
