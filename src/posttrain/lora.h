// LoRA adapters (Hu et al. 2021) kept outside the model: for each target
// weight W0 [out, in], trainable A [r, in] and B [out, r] with
//   W = W0 + s * B A,   s = alpha / r.
// Before each step the effective W is written into the model; the model's
// ordinary backward gives dL/dW, from which the exact adapter gradients are
//   dB = s * dW A^T,   dA = s * B^T dW.
// So LoRA needs no change to the model or its kernels, and a checkpoint's
// model.safetensors is the merged model any client can load, with the small
// adapter (and its optimizer state) beside it in lora.safetensors.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/model.h"

namespace masque {

class LoraAdapter {
 public:
  // Targets are HF module suffixes ("q_proj", "down_proj", ...); InputError
  // for an unknown suffix or rank outside [1, min(out, in)].
  LoraAdapter(Model& model, int rank, float alpha, const std::vector<std::string>& targets,
              std::uint64_t seed);

  void apply();             // model weights := W0 + s * B A
  void gather_gradients();  // adapter grads from the model's dL/dW

  std::size_t size() const { return params_.size(); }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  float* m() { return m_.data(); }
  float* v() { return v_.data(); }
  std::int64_t steps = 0;

  // Adapter tensors ("<param>.lora_A", ".lora_B") and their AdamW moments.
  void save(const std::filesystem::path& path) const;
  void load(const std::filesystem::path& path);  // FormatError on mismatch
  float grad_norm_squared() const;
  void scale_grads(float factor);

 private:
  struct Target {
    ParamView* weight;
    std::vector<float> base;  // W0
    std::size_t a_offset, b_offset;
  };
  Model& model_;
  int rank_;
  float scale_;
  std::vector<Target> targets_;
  std::vector<float> params_, grads_, m_, v_;
};

}  // namespace masque
