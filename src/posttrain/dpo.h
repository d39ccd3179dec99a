// Direct Preference Optimization (`masque dpo`): tune a model on preference
// pairs against a frozen reference (default: the base). The objective and
// its per-token gradient weights are posttrain/dpo_loss.h; the data format
// posttrain/dpo_data.h. It runs through the shared training loop
// (train/train_loop.h), so it has sft's guarantees: the RUN_DIR lock,
// metrics.jsonl with loss_hex (plus reward margin, accuracy and log-probs),
// the divergence message, atomic checkpoints, bit-exact --resume, nothing
// written on refusal. Full fine-tuning or LoRA (--lora-rank).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "posttrain/dpo_data.h"
#include "train/train_loop.h"

namespace masque {

struct DpoOptions {
  std::filesystem::path base;     // checkpoint dir, RUN_DIR or HF Llama dir
  std::filesystem::path ref;      // frozen reference; empty = the base
  std::filesystem::path data;     // prefs.jsonl
  std::filesystem::path out_dir;  // RUN_DIR
  double beta = 0.1;
  std::string loss = "sigmoid";  // sigmoid | ipo
  int batch_size = 4;            // pairs per micro-batch (2x rows)
  int seq_len = 0;               // 0 = the longest sequence, at most the context
  int grad_accum = 1;
  std::int64_t steps = 0;  // 0 = derived from epochs
  double epochs = 1.0;
  float lr = 1e-4f;
  float min_lr_ratio = 0.1f;
  int warmup_steps = 0;
  std::string schedule = "cosine";
  float weight_decay = 0.0f;
  float grad_clip = 1.0f;
  int checkpoint_every = 0;  // 0 = only at the end
  int keep_checkpoints = 2;
  std::uint64_t seed = 1234;
  // f32 | bf16 (backend/dtype.h), policy and reference alike, so the
  // log-ratios start at 0; saved with the run, a resume must keep it.
  std::string dtype = "f32";
  bool resume = false;
  bool progress = true;
  int lora_rank = 0;  // 0 = full fine-tuning
  float lora_alpha = 16.0f;
  std::vector<std::string> lora_targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  // Start LoRA from a PEFT adapter directory (posttrain/peft.h): rank, alpha
  // and targets come from its adapter_config.json. The reference stays the
  // base without the adapter (or --ref).
  std::filesystem::path lora_from;
};

struct DpoResult {
  std::int64_t steps_done = 0;
  float final_loss = 0;
  DpoDataStats data;
  std::filesystem::path last_checkpoint;
  std::vector<std::pair<std::int64_t, float>> curve;
};

DpoResult run_dpo(const DpoOptions& options, const StepCallback& on_step = {});

// Loss and metrics of every pair of --data as one batch at the base weights,
// with d(loss)/d(param) for every parameter written to `grads` (safetensors,
// HF names), or with LoRA the adapters' gradients under PEFT's names
// (base_model.model.<module>.lora_A.weight, ...). No run directory. For
// checks against other implementations (tests/python/test_dpo_torch.py).
Json dpo_dump_gradients(const DpoOptions& options, const std::filesystem::path& grads);

}  // namespace masque
