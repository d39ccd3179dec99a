// run_sft: SFT through the shared training loop (train/train_loop.h). Rows
// of packed conversations are visited in a fresh seeded permutation per
// epoch; the row for (step, micro-batch, row) is a pure function of the step,
// so resume needs no data state and repeats the uninterrupted run exactly.
// Full fine-tuning updates every weight with AdamW; LoRA (rank > 0) updates
// only the adapters (posttrain/lora.h), and its checkpoints hold the merged
// model plus lora.safetensors.
#include "posttrain/sft.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/rng.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "io/safetensors.h"
#include "posttrain/lora.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/train_loop.h"

namespace masque {
namespace fs = std::filesystem;
namespace {

// Row order: epoch e visits rows in the permutation drawn from seed + e.
class RowOrder {
 public:
  RowOrder(std::int64_t rows, std::uint64_t seed) : rows_(rows), seed_(seed) {}
  std::int64_t row(std::int64_t index) {
    const std::int64_t epoch = index / rows_;
    if (epoch != epoch_) {
      perm_.resize(static_cast<std::size_t>(rows_));
      std::iota(perm_.begin(), perm_.end(), 0);
      Rng rng(seed_ + static_cast<std::uint64_t>(epoch) * 0x9e3779b97f4a7c15ULL);
      for (std::int64_t i = rows_ - 1; i > 0; --i) {
        std::swap(perm_[i], perm_[rng.below(static_cast<std::uint64_t>(i + 1))]);
      }
      epoch_ = epoch;
    }
    return perm_[static_cast<std::size_t>(index % rows_)];
  }

 private:
  std::int64_t rows_;
  std::uint64_t seed_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> perm_;
};

Json sft_options_json(const SftOptions& o, int seq_len, std::int64_t steps) {
  return {{"base", o.base.string()},
          {"data", o.data.string()},
          {"batch_size", o.batch_size},
          {"seq_len", seq_len},
          {"grad_accum", o.grad_accum},
          {"steps", steps},
          {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio},
          {"warmup_steps", o.warmup_steps},
          {"schedule", o.schedule},
          {"weight_decay", o.weight_decay},
          {"grad_clip", o.grad_clip},
          {"seed", o.seed},
          {"lora_rank", o.lora_rank},
          {"lora_alpha", o.lora_alpha},
          {"lora_targets", o.lora_targets}};
}

void validate(const SftOptions& o) {
  if (o.base.empty()) throw InputError("--base is required (a checkpoint or model directory)");
  if (o.data.empty()) throw InputError("--data is required (chats.jsonl)");
  if (o.out_dir.empty()) throw InputError("--out is required (the run directory)");
  if (o.batch_size < 1 || o.grad_accum < 1 || o.keep_checkpoints < 1 || o.seq_len < 0 ||
      o.steps < 0 || o.checkpoint_every < 0) {
    throw InputError(
        "--batch-size, --grad-accum and --keep must be >= 1; --seq-len, --steps and "
        "--checkpoint-every >= 0");
  }
  if (o.steps == 0 && !(o.epochs > 0)) throw InputError("--epochs must be > 0 when --steps is 0");
}

// Micro-batches of packed rows: row (step - 1) * B * accum + micro * B + b
// of the epoch-wise permutation.
class PackedRows final : public BatchSource {
 public:
  PackedRows(const SftDataset& data, int batch_size, int grad_accum, std::uint64_t seed)
      : data_(data), batch_size_(batch_size), grad_accum_(grad_accum), order_(data.rows(), seed) {}
  void next(std::int64_t step, int micro, Batch& batch) override {
    const int seq_len = data_.seq_len;
    batch.batch_size = batch_size_;
    batch.seq_len = seq_len;
    batch.tokens.resize(static_cast<std::size_t>(batch_size_) * seq_len);
    batch.targets.resize(batch.tokens.size());
    const std::int64_t rows_per_step = static_cast<std::int64_t>(batch_size_) * grad_accum_;
    for (int b = 0; b < batch_size_; ++b) {
      const std::int64_t index = (step - 1) * rows_per_step + micro * batch_size_ + b;
      const std::size_t row = static_cast<std::size_t>(order_.row(index)) * seq_len;
      std::copy_n(data_.tokens.begin() + row, seq_len, batch.tokens.begin() + b * seq_len);
      std::copy_n(data_.targets.begin() + row, seq_len, batch.targets.begin() + b * seq_len);
    }
  }

 private:
  const SftDataset& data_;
  int batch_size_, grad_accum_;
  RowOrder order_;
};

// LoRA checkpoint: the merged model directory plus lora.safetensors (the
// adapters and their AdamW moments) and trainer_state.json.
fs::path save_lora_checkpoint(const fs::path& run_dir, const Model& model, const LoraAdapter& lora,
                              const Tokenizer& tokenizer, const TrainerState& state, int keep) {
  const fs::path final_dir = run_dir / "checkpoints" / cat("step-", state.step);
  {
    AtomicDir dir(final_dir);
    save_model_weights(model, dir.path() / "model.safetensors");
    write_json_file(dir.path() / "config.json", model.config().to_json());
    write_tokenizer_files(dir.path(), tokenizer, model.config().max_position_embeddings);
    lora.save(dir.path() / "lora.safetensors");
    write_json_file(dir.path() / "trainer_state.json", state.to_json());
    dir.commit();
  }
  // Retention and stale temporaries of killed saves, as save_checkpoint does.
  std::error_code ec;
  const auto checkpoints = list_checkpoints(run_dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < checkpoints.size(); ++i) {
    fs::remove_all(checkpoints[i].dir, ec);
  }
  for (const auto& entry : fs::directory_iterator(run_dir / "checkpoints", ec)) {
    if (entry.path().filename().string().rfind(".step-", 0) == 0) fs::remove_all(entry.path(), ec);
  }
  return final_dir;
}

// The adapters' own AdamW update; the base weights stay W0 and the model
// holds W0 + s·BA, rewritten before every step and every save.
class LoraUpdate final : public Optimizer {
 public:
  LoraUpdate(Model& model, LoraAdapter& lora, const AdamWConfig& adam)
      : model_(model), lora_(lora), adam_(adam) {}
  void begin_step() override { lora_.apply(); }
  float clip_gradients(float max_norm) override {
    lora_.gather_gradients();
    const float norm = std::sqrt(lora_.grad_norm_squared());
    if (max_norm > 0 && norm > max_norm) lora_.scale_grads(max_norm / (norm + 1e-6f));
    return norm;
  }
  void step(float lr) override { lora_.step(lr, adam_); }
  fs::path save_checkpoint(const fs::path& run_dir, const Tokenizer& tokenizer,
                           const TrainerState& state, int keep) override {
    lora_.apply();  // the checkpoint's model.safetensors is the merged model
    return save_lora_checkpoint(run_dir, model_, lora_, tokenizer, state, keep);
  }
  bool checkpoint_is_resumable(const fs::path& dir, std::string* why) const override {
    if (!checkpoint_is_complete(dir, /*need_trainer_state=*/false, why)) return false;
    try {
      read_trainer_state(dir);
      SafetensorsFile check(dir / "lora.safetensors");
    } catch (const Error& e) {
      if (why) *why = e.what();
      return false;
    }
    return true;
  }
  void load_checkpoint(const fs::path& dir) override { lora_.load(dir / "lora.safetensors"); }

 private:
  Model& model_;
  LoraAdapter& lora_;
  AdamWConfig adam_;
};

}  // namespace

SftResult run_sft(const SftOptions& options, const StepCallback& on_step) {
  validate(options);
  LoadedModel base = load_model_dir(options.base);
  Model& model = *base.model;
  const Tokenizer& tokenizer = base.tokenizer;
  const ModelConfig& config = model.config();
  const int seq_len = options.seq_len > 0 ? options.seq_len : config.max_position_embeddings;
  if (seq_len > config.max_position_embeddings) {
    throw InputError(cat("--seq-len ", seq_len, " exceeds the model's context of ",
                         config.max_position_embeddings));
  }
  const SftDataset data =
      pack_conversations(tokenizer, read_conversations_jsonl(options.data), seq_len);
  const std::int64_t rows_per_step =
      static_cast<std::int64_t>(options.batch_size) * options.grad_accum;
  const std::int64_t steps =
      options.steps > 0
          ? options.steps
          : std::max<std::int64_t>(1, static_cast<std::int64_t>(
                                          std::ceil(options.epochs * data.rows() / rows_per_step)));
  TrainLoopOptions loop;
  loop.schedule.kind = options.schedule;
  loop.schedule.lr = options.lr;
  loop.schedule.min_lr_ratio = options.min_lr_ratio;
  loop.schedule.warmup_steps = std::min<std::int64_t>(options.warmup_steps, steps);
  loop.schedule.total_steps = steps;
  loop.schedule.validate();

  AdamWConfig adam;
  adam.weight_decay = options.weight_decay;
  std::unique_ptr<LoraAdapter> lora;
  std::unique_ptr<Optimizer> optimizer;
  if (options.lora_rank > 0) {
    lora = std::make_unique<LoraAdapter>(model, options.lora_rank, options.lora_alpha,
                                         options.lora_targets, options.seed);
    optimizer = std::make_unique<LoraUpdate>(model, *lora, adam);
  } else {
    optimizer = std::make_unique<FullAdamW>(model, adam);
  }
  PackedRows batches(data, options.batch_size, options.grad_accum, options.seed);

  loop.command = "sft";
  loop.out_dir = options.out_dir;
  loop.batch_size = options.batch_size;
  loop.seq_len = seq_len;
  loop.grad_accum = options.grad_accum;
  loop.steps = steps;
  loop.grad_clip = options.grad_clip;
  loop.checkpoint_every = options.checkpoint_every;
  loop.keep_checkpoints = options.keep_checkpoints;
  loop.resume = options.resume;
  loop.progress = options.progress;
  loop.when_complete = "the run is complete; choose a new --out to train again";
  loop.options = sft_options_json(options, seq_len, steps);

  TrainLoopHooks hooks;
  hooks.check_resume = [&](const fs::path& checkpoint, const TrainerState& saved) {
    if (saved.options != loop.options) {
      throw InputError(cat("--resume: the options differ from those of ", checkpoint.string(),
                           " (resume with the same --base, --data and hyper-parameters)"));
    }
  };
  const TrainResult trained =
      run_train_loop(loop, model, tokenizer, batches, *optimizer, hooks, on_step);
  SftResult result;
  result.steps_done = trained.steps_done;
  result.final_loss = trained.final_train_loss;
  result.data = data.stats;
  result.last_checkpoint = trained.last_checkpoint;
  result.curve = trained.train_curve;
  return result;
}

}  // namespace masque
