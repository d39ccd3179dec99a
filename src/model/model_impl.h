// Model::Impl: the parameter layout (offsets into the flat device buffers),
// the training activation arena planned by reserve(), and the forward paths
// shared by training (model_step.cpp), scoring (Model::forward_logits) and
// the inference engine (inference_engine.cpp).
//
// Parameter order is the Hugging Face state_dict order of LlamaForCausalLM:
// embed_tokens, then per layer q,k,v,o, gate,up,down, input_layernorm,
// post_attention_layernorm, then norm and (untied) lm_head. That order puts
// q|k|v and gate|up next to each other, so each pair is one [out, in] matrix
// for the GEMM: one for the three attention projections, one for the MLP's
// two input projections.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "model/decoder_block.h"
#include "model/model.h"

namespace masque {

// Host int32 data as a device pointer: the host array itself where the
// backend addresses host memory, else a copy in `staging` (>= n ints).
inline const std::int32_t* device_ints(const Backend& be, const std::int32_t* host, std::size_t n,
                                       std::int32_t* staging) {
  if (be.host_addressable()) return host;
  be.upload(staging, host, n * sizeof(std::int32_t));
  return staging;
}

// The shapes a forward needs, cut from the config once.
struct ModelLayout {
  BlockDims dims;
  int vocab = 0;
  int layers = 0;
  bool biases = false;  // any bias: forwards then need a column of ones
};

// Device [n] of 1.0f (the bias GEMMs' column of ones, see BlockContext).
DeviceBuffer make_ones(const Backend& be, std::size_t n);

// Activations of a forward pass that keeps nothing for a backward (scoring,
// prefill, decoding): every layer reuses one BlockActs. Grown on demand.
struct InferenceScratch {
  explicit InferenceScratch(const Backend& backend) : workspace(backend) {}
  int rows = 0;            // capacity
  int used = 0;            // rows of the last forward_rows call
  DeviceBuffer buffer;     // x, mid, norm, qkv, att, gu, h, site
  DeviceBuffer positions;  // int32 [rows]
  DeviceBuffer tokens;     // int32 [rows]
  DeviceBuffer logits;     // [logit_rows, V] (device backends only)
  DeviceBuffer ones;       // [rows] of 1.0f when the model has biases
  int logit_rows = 0;
  BlockActs acts;  // resid = x (the running residual stream)
  BlockScratch scratch;
  Workspace workspace;
  void ensure(const ModelLayout& layout, int rows);
};

struct Model::Impl {
  const Backend& be;
  ModelConfig cfg;
  ModelLayout layout;
  int d = 0, ff = 0, q_dim = 0, kv_dim = 0, qkv_dim = 0;

  DeviceBuffer params, grads;
  std::vector<ParamView> views;
  std::unordered_map<std::string, std::size_t> view_index;
  float* embed = nullptr;          // [V, d]
  float* norm_f = nullptr;         // [d]
  float* lm_head = nullptr;        // [V, d] (== embed when tied)
  std::vector<BlockWeights> w, g;  // weights and their gradients (same offsets)
  float* d_embed = nullptr;
  float* d_norm_f = nullptr;
  float* d_lm_head = nullptr;
  DeviceBuffer rope_cos, rope_sin;  // [max_pos, head_dim / 2]
  // Q8_0 copies for decoding (model_q8.h); w[l].q8_* point here.
  std::vector<std::unique_ptr<Q8Matrix>> q8;
  const Q8Matrix* q8_lm_head = nullptr;
  void drop_q8();

  // Training arena, sized by reserve(B, T) for up to cap_rows = B*T rows.
  int cap_rows = 0, cap_T = 0;
  DeviceBuffer arena;
  DeviceBuffer int_arena;   // positions, tokens, targets [cap_rows] each
  DeviceBuffer train_ones;  // [cap_rows] of 1.0f when the model has biases
  std::vector<BlockActs> acts;
  float* resid_final = nullptr;  // [N, d] output of the last block
  float* rstd_f = nullptr;       // [N]
  float* dres = nullptr;         // [N, d] gradient of the residual stream
  // Host [cap_rows]: the LM head's per-row losses and gradient weights
  // (Backend::lm_head_loss, which keeps its logits chunk in train_workspace).
  std::vector<float> head_losses, head_scales;
  BlockScratch
      train_scratch;  // norm (final normalized stream after forward), h, site, dnorm, dqkv, datt
  std::int32_t* dev_positions = nullptr;
  std::int32_t* dev_tokens = nullptr;
  std::int32_t* dev_targets = nullptr;
  const std::int32_t* forward_tokens = nullptr;  // device token ids of the last training forward
  std::unique_ptr<Workspace> train_workspace;

  Impl(const ModelConfig& config, const Backend& backend);
  void reserve(int B, int T);
  void check_tokens(const std::int32_t* tokens, const std::int32_t* targets, int B, int T) const;
  CallRows training_rows(int B, int T, const std::uint8_t* response_mask) const;

  // Training: forward through the blocks and the final norm for N = B*T rows,
  // keeping every layer's activations (train_scratch.norm = final normalized stream).
  void forward_blocks(const std::int32_t* tokens, int B, int T, const InterventionPass& iv);
  // Fused LM head + cross-entropy over train_scratch.norm. With backward,
  // writes dnorm and accumulates the LM head gradient, scaled by
  // grad_scale / n_valid. Returns the mean loss over non-ignored targets.
  float head_loss(const std::int32_t* targets_host, int rows, bool backward, float grad_scale,
                  const CallOptions& call = {});
  // Backward through the final norm, the blocks and the embedding, from dnorm.
  void backward_blocks(int B, int T, const InterventionPass& iv);

  // Inference: embed tokens_host (rows of them, at positions_host) and run
  // every block into s.acts.resid (the final residual, before the last norm).
  void forward_rows(InferenceScratch& s, const std::int32_t* tokens_host,
                    const std::int32_t* positions_host, int rows, KvBinding& kv,
                    const InterventionPass& iv) const;
  // logits_host [picked.size(), V] = lm_head(rms(x[picked])) for rows `picked` of s.
  void logits_of_rows(InferenceScratch& s, std::span<const std::int32_t> picked,
                      float* logits_host) const;
};

}  // namespace masque
