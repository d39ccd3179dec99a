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

#include "backend/dtype.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_dir.h"
#include "core/output_guard.h"
#include "core/rng.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "io/safetensors.h"
#include "persona/persona_vector.h"
#include "posttrain/lora.h"
#include "posttrain/lora_update.h"
#include "posttrain/peft.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/epoch_order.h"
#include "train/lr_schedule.h"
#include "train/train_loop.h"

namespace masque {
namespace fs = std::filesystem;
namespace {

Json sft_options_json(const SftOptions& o, int seq_len, std::int64_t steps) {
  Json options = {{"base", o.base.string()},
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
                  {"dtype", o.dtype},
                  {"lora_rank", o.lora_rank},
                  {"lora_alpha", o.lora_alpha},
                  {"lora_targets", o.lora_targets}};
  // Only when set, so runs saved before --lora-from existed still resume.
  if (!o.lora_from.empty()) options["lora_from"] = o.lora_from.string();
  if (!o.steer.empty()) {  // only when set, as lora_from
    Json steer = Json::array();
    for (const SftOptions::Steer& s : o.steer) {
      steer.push_back({{"vector", s.vector.string()},
                       {"layer", s.layer},
                       {"coef", s.coef},
                       {"ablate", s.ablate}});
    }
    options["steer"] = steer;
  }
  return options;
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
  // inf or 1e300 epochs would become an undefined step count.
  if (!(std::isfinite(o.epochs) && o.epochs <= 1e6)) {
    throw InputError(cat("--epochs ", o.epochs, " must be a finite number of at most 1e6"));
  }
  if (o.lora_rank < 0) {
    throw InputError(cat("--lora-rank ", o.lora_rank,
                         " must be >= 0 (0 = full fine-tuning, > 0 = LoRA of that rank)"));
  }
  if (o.lora_rank > 0 && !(std::isfinite(o.lora_alpha) && o.lora_alpha > 0)) {
    throw InputError(cat("--lora-alpha ", o.lora_alpha, " must be a finite number > 0"));
  }
  backend_for_dtype(o.dtype);  // unknown dtype, or bf16 on a CPU without AVX512_BF16
  check_output_dir_writable(o.out_dir, "--out");  // before minutes of loading and packing
}

// Micro-batches of packed rows: row (step - 1) * B * accum + micro * B + b
// of the epoch-wise permutation. Under mpirun a rank takes rows b in
// [first_row, first_row + rows) of each micro-batch (docs/distributed.md).
class PackedRows final : public BatchSource {
 public:
  PackedRows(const SftDataset& data, int batch_size, int grad_accum, std::uint64_t seed,
             int first_row, int rows)
      : data_(data),
        batch_size_(batch_size),
        grad_accum_(grad_accum),
        first_row_(first_row),
        rows_(rows),
        order_(data.rows(), seed) {}
  void next(std::int64_t step, int micro, Batch& batch) override {
    const int seq_len = data_.seq_len;
    batch.batch_size = rows_;
    batch.seq_len = seq_len;
    batch.tokens.resize(static_cast<std::size_t>(rows_) * seq_len);
    batch.targets.resize(batch.tokens.size());
    const std::int64_t rows_per_step = static_cast<std::int64_t>(batch_size_) * grad_accum_;
    for (int b = 0; b < rows_; ++b) {
      const std::int64_t index = (step - 1) * rows_per_step + micro * batch_size_ + first_row_ + b;
      const std::size_t row = static_cast<std::size_t>(order_.at(index)) * seq_len;
      std::copy_n(data_.tokens.begin() + row, seq_len, batch.tokens.begin() + b * seq_len);
      std::copy_n(data_.targets.begin() + row, seq_len, batch.targets.begin() + b * seq_len);
    }
  }

 private:
  const SftDataset& data_;
  int batch_size_, grad_accum_, first_row_, rows_;
  EpochOrder order_;
};

}  // namespace

// --lora-from: the adapter's own rank, alpha and targets replace the flags.
SftOptions with_peft_config(SftOptions options) {
  if (options.lora_from.empty()) return options;
  const PeftLoraConfig peft = read_peft_config(options.lora_from);
  if (options.lora_rank > 0 && options.lora_rank != peft.rank) {
    throw InputError(cat("--lora-rank ", options.lora_rank, " differs from the rank ", peft.rank,
                         " of the adapter in ", options.lora_from.string(),
                         " (omit --lora-rank with --lora-from)"));
  }
  options.lora_rank = peft.rank;
  options.lora_alpha = peft.alpha;
  options.lora_targets = peft.target_modules;
  return options;
}

SftResult run_sft(const SftOptions& requested, const StepCallback& on_step) {
  const SftOptions options = with_peft_config(requested);
  validate(options);
  // Never into the base model, the data, or a directory of another kind.
  check_output_kind(options.out_dir, ArtifactKind::TrainRun, "--out");
  check_not_input(options.out_dir, {options.base, options.data}, "--out");
  LoadedModel base = load_model_dir(options.base, backend_for_dtype(options.dtype));
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
    if (!options.lora_from.empty()) load_peft_adapter(*lora, options.lora_from);
    optimizer = std::make_unique<LoraUpdate>(
        model, *lora, adam,
        LoraCheckpointInfo{options.lora_alpha, options.lora_targets, options.base});
  } else {
    optimizer = std::make_unique<FullAdamW>(model, adam);
  }
  dist::Communicator& comm = dist::world();
  if (options.batch_size % comm.size() != 0) {
    throw InputError(cat("--batch-size ", options.batch_size,
                         " is the global micro-batch and must be divisible by the ", comm.size(),
                         " processes (each computes batch-size / processes rows)"));
  }
  const int rank_rows = options.batch_size / comm.size();
  PackedRows batches(data, options.batch_size, options.grad_accum, options.seed,
                     comm.rank() * rank_rows, rank_rows);

  loop.command = "sft";
  loop.out_dir = options.out_dir;
  loop.batch_size = rank_rows;
  loop.global_batch_size = options.batch_size;
  loop.comm = &comm;
  loop.reduction = options.reduction;
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
  // --steer / --ablate: per-call interventions in every training step (the
  // backward is exact: add passes the gradient, project_out projects it).
  Interventions steering;
  for (const SftOptions::Steer& s : options.steer) {
    const persona::PersonaVector v = persona::load_persona_vector(s.vector, config, tokenizer);
    const std::string flag = cat(s.ablate ? "--ablate " : "--steer ", s.vector.string());
    try {
      const int layer = s.layer < 0 ? v.default_layer() : s.layer;
      steering.add(s.ablate ? persona::ablate_intervention(v, layer)
                            : persona::steer_intervention(v, layer, s.coef),
                   config.num_hidden_layers, config.hidden_size);
    } catch (const InputError& e) {
      throw InputError(cat(flag, ": ", e.what()));
    }
  }
  if (!steering.empty()) {
    hooks.forward_backward = [&](const Batch& batch, float grad_scale) {
      return model.forward_backward(batch.tokens.data(), batch.targets.data(), batch.batch_size,
                                    batch.seq_len, grad_scale, CallOptions{&steering, nullptr});
    };
  }
  hooks.check_resume = [&](const fs::path& checkpoint, const TrainerState& saved) {
    // Every setting must match (steps too: it was derived from --epochs).
    static const OptionFlag kFlags[] = {{"base", "--base"},
                                        {"data", "--data"},
                                        {"batch_size", "--batch-size"},
                                        {"seq_len", "--seq-len"},
                                        {"grad_accum", "--grad-accum"},
                                        {"steps", "--steps/--epochs"},
                                        {"lr", "--lr"},
                                        {"min_lr_ratio", "min_lr_ratio"},
                                        {"warmup_steps", "--warmup"},
                                        {"schedule", "--schedule"},
                                        {"weight_decay", "--weight-decay"},
                                        {"grad_clip", "--grad-clip"},
                                        {"seed", "--seed"},
                                        {"dtype", "--dtype"},
                                        {"lora_rank", "--lora-rank"},
                                        {"lora_alpha", "--lora-alpha"},
                                        {"lora_targets", "--lora-targets"},
                                        {"lora_from", "--lora-from"},
                                        {"steer", "--steer/--ablate"}};
    Json saved_options = saved.options;
    // Runs saved before --dtype existed were float32.
    if (saved_options.is_object() && !saved_options.contains("dtype"))
      saved_options["dtype"] = "f32";
    refuse_changed_options(checkpoint, saved_options, loop.options, kFlags, "--base, --data");
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
