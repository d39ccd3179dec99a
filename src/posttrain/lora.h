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

#include "backend/backend.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "train/adamw.h"

namespace masque {

class LoraAdapter {
 public:
  // Targets are HF module suffixes ("q_proj", "down_proj", ...); InputError
  // for an unknown suffix or rank outside [1, min(out, in)].
  LoraAdapter(Model& model, int rank, float alpha, const std::vector<std::string>& targets,
              std::uint64_t seed);

  void apply();             // model weights := W0 + s * B A
  void gather_gradients();  // adapter grads from the model's dL/dW

  // The adapter's flat buffers on the model's backend (device pointers).
  std::size_t size() const { return size_; }
  float* params() { return params_.f32(); }
  float* grads() { return grads_.f32(); }
  float* m() { return m_.f32(); }
  float* v() { return v_.f32(); }
  std::int64_t steps = 0;
  // One AdamW update of the adapter (no weight decay mask: every entry decays by config).
  void step(float lr, const AdamWConfig& config);

  // Adapter tensors ("<param>.lora_A", ".lora_B") and their AdamW moments.
  void save(const std::filesystem::path& path) const;
  void load(const std::filesystem::path& path);  // FormatError on mismatch

  // The adapter as plain tensors, for other formats (posttrain/peft.h).
  struct TargetInfo {
    std::string weight_name;  // the model parameter, "model.layers.0.self_attn.q_proj.weight"
    std::int64_t out = 0, in = 0;
    std::size_t a_offset = 0, b_offset = 0;  // A [rank, in], B [out, rank] in params_host()
  };
  int rank() const { return rank_; }
  float scale() const { return scale_; }
  std::vector<TargetInfo> target_info() const;
  std::vector<float> params_host() const;  // [size()]
  // Replaces A and B (host [size()]); the AdamW moments restart at zero.
  void set_params_host(const std::vector<float>& host);
  float grad_norm_squared() const;
  void scale_grads(float factor);

 private:
  struct Target {
    ParamView* weight;
    DeviceBuffer base;  // W0
    std::size_t a_offset, b_offset;
  };
  const Backend& backend_;
  int rank_;
  float scale_;
  std::vector<Target> targets_;
  std::size_t size_ = 0;
  DeviceBuffer params_, grads_, m_, v_;
};

}  // namespace masque
