// The training loop shared by pretraining (`masque train`, trainer.h) and
// supervised fine-tuning (`masque sft`, posttrain/sft.h). What differs
// between them is passed in: where micro-batches come from (BatchSource),
// what an optimizer step updates and how it is checkpointed (Optimizer:
// AdamW over every weight here, LoRA adapters in posttrain), how a run is
// validated, and what a resume must match. Everything else is written once,
// so both commands get the same guarantees: the RUN_DIR lock, metrics.jsonl
// with loss_hex, the divergence message, the progress bar and step callback,
// crash-safe checkpoints, bit-exact resume, and nothing written on refusal
// (docs/training.md).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "dist/communicator.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/batch_sampler.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"

namespace masque {

struct TrainResult {
  std::int64_t steps_done = 0;
  float final_train_loss = 0;
  float final_val_loss = 0;  // NaN if never evaluated
  double tokens_per_second = 0;
  std::filesystem::path last_checkpoint;
  std::vector<std::pair<std::int64_t, float>> train_curve;  // (step, loss)
  std::vector<std::pair<std::int64_t, float>> val_curve;
};

// Called after every optimizer step with (step, loss); for embedding callers
// (demo, experiments, tests) that report progress themselves. An exception
// from it stops the run like a kill would (the last checkpoint stays).
using StepCallback = std::function<void(std::int64_t step, float loss)>;

// Where the micro-batches of a run come from.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Micro-batch `micro` (0-based) of optimizer step `step` (1-based), B x T.
  virtual void next(std::int64_t step, int micro, Batch& batch) = 0;
  // Data state a checkpoint must hold for an exact resume (stored as
  // TrainerState::data_rng). A source whose order is a pure function of the
  // step keeps none.
  virtual std::array<std::uint64_t, 4> state() const { return {}; }
  virtual void restore(const std::array<std::uint64_t, 4>& /*state*/) {}
};

// What one optimizer step updates, and how that state is checkpointed and
// restored. The loop calls, per step: begin_step, (model.zero_grad, the
// micro-batches' forward_backward), clip_gradients, step.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Before the step's forward passes (LoRA writes W0 + s·BA into the model).
  virtual void begin_step() {}
  // Global L2 norm of the trained gradients before clipping; scales them to
  // max_norm when above it (0 = no clipping). NaN/inf propagate.
  virtual float clip_gradients(float max_norm) = 0;
  virtual void step(float lr) = 0;
  // Writes RUN_DIR/checkpoints/step-<state.step> atomically, keeps the newest
  // `keep`; returns the checkpoint directory.
  virtual std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir,
                                                const Tokenizer& tokenizer,
                                                const TrainerState& state, int keep) = 0;
  // Whether `dir` holds everything load_checkpoint needs (`why` gets the
  // problem), so resume can skip a broken newest checkpoint.
  virtual bool checkpoint_is_resumable(const std::filesystem::path& dir,
                                       std::string* why) const = 0;
  // Restores the trained weights and the optimizer state.
  virtual void load_checkpoint(const std::filesystem::path& dir) = 0;
};

// AdamW over every weight of the model (pretraining, full fine-tuning).
class FullAdamW final : public Optimizer {
 public:
  FullAdamW(Model& model, const AdamWConfig& config) : model_(model), adamw_(model, config) {}
  float clip_gradients(float max_norm) override;
  void step(float lr) override;
  std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir,
                                        const Tokenizer& tokenizer, const TrainerState& state,
                                        int keep) override;
  bool checkpoint_is_resumable(const std::filesystem::path& dir, std::string* why) const override;
  void load_checkpoint(const std::filesystem::path& dir) override;

 private:
  Model& model_;
  AdamW adamw_;
};

struct TrainLoopOptions {
  std::string command;            // "train" | "sft": the progress bar's label
  std::filesystem::path out_dir;  // RUN_DIR
  int batch_size = 0;             // B: rows this process computes per micro-batch
  int seq_len = 0;                // T
  int grad_accum = 1;
  std::int64_t steps = 0;
  LrSchedule schedule;       // validated by the caller
  float grad_clip = 0;       // 0 = off
  int eval_every = 0;        // 0 = never (also never without an evaluator)
  int checkpoint_every = 0;  // 0 = only at the end
  int keep_checkpoints = 2;
  bool resume = false;
  bool progress = true;
  // What to do when --resume finds the run already complete ("raise --steps
  // to train further").
  std::string when_complete;
  Json options = Json::object();  // run.json and TrainerState::options
  // Data parallelism (docs/distributed.md). With a communicator of N > 1
  // ranks this process computes batch_size of the global_batch_size rows of
  // every micro-batch (the BatchSource gives it its own rows), the
  // gradients and losses are summed over the ranks, each weighted by its
  // share of the micro-batch's target tokens, and only rank 0 touches
  // out_dir (lock, run.json, metrics, checkpoints). Null: one process.
  dist::Communicator* comm = nullptr;
  dist::Reduction reduction = dist::Reduction::ordered;
  int global_batch_size = 0;  // 0: batch_size
};

struct TrainLoopHooks {
  // Mean validation loss over fixed batches; empty = no validation.
  std::function<float()> evaluate;
  // Before a resume loads anything: throw InputError when the checkpoint
  // (its saved state given) does not belong to this run.
  std::function<void(const std::filesystem::path& checkpoint, const TrainerState& saved)>
      check_resume;
  // A fresh run (nothing to resume): initialize the trained weights. Empty =
  // keep the model as given. Runs under the lock, before anything is written.
  std::function<void()> init_fresh;
  // One micro-batch's loss and gradient (added with grad_scale), replacing
  // model.forward_backward; empty = the mean cross-entropy. DPO
  // (posttrain/dpo.h) scores pairs and weights tokens here.
  std::function<float(const Batch& batch, float grad_scale)> forward_backward;
  // Extra fields of each step's "train" metrics line, after the step.
  std::function<Json()> step_metrics;
};

// A setting in TrainerState::options and the flag that sets it, for resume
// messages ("--warmup: the run used 50, now 10").
struct OptionFlag {
  const char* key;
  const char* flag;
};

// Resume rules shared by train and sft: the first of `checked` whose saved
// value differs from the requested one, as "--warmup: the run used 50, now
// 10"; "" when all match. Keys the saved options lack (older runs) pass.
std::string resume_option_difference(const Json& saved, const Json& requested,
                                     std::span<const OptionFlag> checked);

// The strict rule of sft and dpo: every saved option must match. InputError
// naming the first differing flag of `checked` (or "the saved options
// differ"), the checkpoint, and `inputs` ("--base, --data") to resume with.
void refuse_changed_options(const std::filesystem::path& checkpoint, const Json& saved,
                            const Json& requested, std::span<const OptionFlag> checked,
                            std::string_view inputs);

// Runs steps 1..options.steps (or from the resumed checkpoint's step) in
// options.out_dir. Everything the caller can check without the run
// directory (data, config, flags) should be checked before: a refusal here
// (the lock, a run already there, a mismatched resume) removes a run
// directory it created and writes nothing.
TrainResult run_train_loop(const TrainLoopOptions& options, Model& model,
                           const Tokenizer& tokenizer, BatchSource& batches, Optimizer& optimizer,
                           const TrainLoopHooks& hooks = {}, const StepCallback& on_step = {});

}  // namespace masque
