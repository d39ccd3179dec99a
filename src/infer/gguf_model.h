// A masque model as a llama.cpp GGUF file and back (docs/gguf.md): the
// llama.* hyperparameters, the byte-level BPE tokenizer as tokenizer.ggml.*
// metadata, and the weights under llama.cpp's tensor names with Q/K rows in
// its RoPE layout. Export refuses what llama.cpp's llama architecture cannot
// represent; import reads what export writes (and llama-family GGUFs of the
// same shape: gpt2-style BPE tokenizers, F32/F16/BF16/Q8_0 tensors, which are
// dequantized to float32 on load since masque computes in float32).
#pragma once
#include <filesystem>
#include <string>

#include "infer/model_dir.h"
#include "io/gguf.h"

namespace masque {

struct GgufExportOptions {
  GgmlType type = GgmlType::F32;  // for 2-D weights; norms are always F32
  std::string name;               // general.name; defaults to the model dir's name
};

// What an export wrote, for the CLI's summary.
struct GgufExportSummary {
  std::size_t tensors = 0;
  std::size_t tokens = 0;
  std::string pre_tokenizer;  // tokenizer.ggml.pre
  bool chat_template = false;
};

// Writes `loaded` as GGUF v3 to `out` atomically. InputError naming the field
// when llama.cpp's llama architecture cannot represent the model (a model
// type other than llama/qwen2, a tokenizer that is not byte-level BPE with
// the cl100k or GPT-2 split, a Q8_0 row not a multiple of 32).
GgufExportSummary export_gguf(const LoadedModel& loaded, const std::filesystem::path& out,
                              const GgufExportOptions& options);

// Loads model + tokenizer from a GGUF file; FormatError naming the key or
// tensor when the file is not a llama GGUF masque can run.
LoadedModel load_gguf_model(const std::filesystem::path& path);

// True when `path` is a regular file starting with the GGUF magic.
bool is_gguf_file(const std::filesystem::path& path);

// llama.cpp's rope_freqs tensor for Llama 3 RoPE scaling (its converter's
// generate_extra_tensors): per rotary pair, the divisor of the unscaled
// frequency. [head_dim / 2].
std::vector<float> llama3_rope_factors(const ModelConfig& cfg);

// llama.cpp's Q/K row order: HF stores each head's rotary pairs as halves
// (i, i + head_dim/2); llama.cpp's RoPE rotates adjacent rows (2i, 2i+1).
// rows = n_heads * head_dim, row-major [rows, cols]. unpermute inverts it.
void permute_qk_rows(const float* in, float* out, int n_heads, int head_dim, int cols);
void unpermute_qk_rows(const float* in, float* out, int n_heads, int head_dim, int cols);

}  // namespace masque
