// Supervised fine-tuning (`masque sft`): continue training a base model on
// conversations with loss only on the Assistant's tokens. It runs through the
// same loop as pretraining (train/train_loop.h), so it has the same
// guarantees: schedule, clipping, accumulation, the RUN_DIR lock,
// metrics.jsonl with loss_hex, the same divergence message, progress bar,
// atomic checkpoints (RUN_DIR/checkpoints/step-N, a Hugging Face directory),
// --resume that repeats the uninterrupted run bit for bit.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "posttrain/sft_data.h"
#include "train/train_loop.h"

namespace masque {

struct SftOptions {
  std::filesystem::path base;     // checkpoint dir, RUN_DIR or HF Llama dir
  std::filesystem::path data;     // chats.jsonl (OpenAI messages per line)
  std::filesystem::path out_dir;  // RUN_DIR
  int batch_size = 8;
  int seq_len = 0;  // 0 = the model's max_position_embeddings
  int grad_accum = 1;
  std::int64_t steps = 0;  // 0 = derived from epochs
  double epochs = 3.0;
  float lr = 1e-3f;
  float min_lr_ratio = 0.1f;
  int warmup_steps = 5;
  std::string schedule = "cosine";
  float weight_decay = 0.0f;
  float grad_clip = 1.0f;
  int checkpoint_every = 0;  // 0 = only at the end
  int keep_checkpoints = 2;
  std::uint64_t seed = 1234;
  // f32 | bf16: the linear layers' products (backend/dtype.h); saved with the
  // run, a resume must keep it.
  std::string dtype = "f32";
  bool resume = false;
  bool progress = true;
  // LoRA: rank 0 = full fine-tuning. Target modules by HF suffix (q_proj, ...).
  int lora_rank = 0;
  float lora_alpha = 16.0f;
  std::vector<std::string> lora_targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  // Start LoRA from a PEFT adapter directory (posttrain/peft.h): rank, alpha
  // and targets come from its adapter_config.json. Empty = fresh adapter.
  std::filesystem::path lora_from;
  // Preventative steering (docs/persona-vectors.md): during training only,
  // add coef * v at a persona-vector layer (ablate: project v out there), at
  // every position. The saved model is the unsteered one.
  struct Steer {
    std::filesystem::path vector;  // persona vector file of this base model
    int layer = -1;                // -1 = the vector's best layer
    float coef = 1.0f;
    bool ablate = false;
  };
  std::vector<Steer> steer;
  // Under mpirun (docs/distributed.md): batch_size is the global micro-batch,
  // split evenly over the ranks; how their gradients are summed.
  dist::Reduction reduction = dist::Reduction::ordered;
};

struct SftResult {
  std::int64_t steps_done = 0;
  float final_loss = 0;
  SftDataStats data;
  std::filesystem::path last_checkpoint;
  std::vector<std::pair<std::int64_t, float>> curve;
};

SftResult run_sft(const SftOptions& options, const StepCallback& on_step = {});

}  // namespace masque
