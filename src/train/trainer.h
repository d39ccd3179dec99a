// Pretraining (`masque train`): random windows of token shards, AdamW over
// every weight, validation on fixed windows of the val split, through the
// shared loop of train_loop.h (schedule, clipping, accumulation, JSONL
// metrics, progress bar, crash-safe checkpoints with bit-exact resume;
// docs/training.md, docs/checkpoints.md).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "model/config.h"
#include "train/train_loop.h"

namespace masque {

struct TrainOptions {
  ModelConfig model;                               // validated before anything is written
  std::filesystem::path data_dir;                  // written by `masque tokenize`
  std::filesystem::path tokenizer_path;            // tokenizer.json (copied into checkpoints)
  std::filesystem::path out_dir;                   // RUN_DIR
  std::optional<std::filesystem::path> init_from;  // start from a checkpoint/HF dir's weights

  int batch_size = 16;  // B, over all ranks of a data-parallel run
  int seq_len = 256;    // T
  int grad_accum = 1;
  std::int64_t steps = 1000;
  float lr = 3e-3f;
  float min_lr_ratio = 0.1f;
  int warmup_steps = 50;
  std::string schedule = "cosine";  // cosine | linear | wsd | constant
  float wsd_decay_fraction = 0.2f;  // last fraction of steps that decays (wsd)
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float grad_clip = 1.0f;  // 0 = off
  int eval_every = 100;    // 0 = never
  int eval_batches = 8;
  int checkpoint_every = 500;  // 0 = only at the end
  int keep_checkpoints = 2;
  std::uint64_t seed = 1337;
  std::string dtype = "f32";   // f32 | bf16: the linear layers' products (backend/dtype.h)
  bool deterministic = false;  // bit-identical run to run (fixed reduction order)
  bool resume = false;         // continue from the newest good checkpoint in out_dir
  // With resume: accept settings that differ from the run's saved ones (the
  // run then continues under the new ones). Without it such a resume is an
  // InputError naming the flag.
  bool force = false;
  bool progress = true;
  // Under mpirun (docs/distributed.md): batch_size is the global micro-batch,
  // split evenly over the ranks; how their gradients are summed.
  dist::Reduction reduction = dist::Reduction::ordered;
};

TrainResult train_model(const TrainOptions& options, const StepCallback& on_step = {});

// For `train --resume`: every setting whose options key is not in `given`
// (the ones the user set explicitly) takes the run's saved value (the
// "options" of its trainer_state.json), so a flag left out means "as the run
// was started", not the CLI default. Keys: those of trainer_state.json's
// options (batch_size, warmup_steps, ...).
void apply_saved_options(TrainOptions& options, const Json& saved,
                         const std::set<std::string>& given);

}  // namespace masque
