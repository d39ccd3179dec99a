// run_sft: the SFT loop. Rows of packed conversations are visited in a fresh
// seeded permutation per epoch; the row for (step, micro-batch, row) is a pure
// function of the step, so resume needs no data state and repeats the
// uninterrupted run exactly. Full fine-tuning updates every weight with
// AdamW; LoRA (rank > 0) updates only the adapters (posttrain/lora.h).
#include "posttrain/sft.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/threads.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "posttrain/lora.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"

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
  return {{"base", o.base.string()}, {"data", o.data.string()}, {"batch_size", o.batch_size},
          {"seq_len", seq_len}, {"grad_accum", o.grad_accum}, {"steps", steps}, {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio}, {"warmup_steps", o.warmup_steps},
          {"schedule", o.schedule}, {"weight_decay", o.weight_decay}, {"grad_clip", o.grad_clip},
          {"seed", o.seed}, {"lora_rank", o.lora_rank}, {"lora_alpha", o.lora_alpha},
          {"lora_targets", o.lora_targets}};
}

void validate(const SftOptions& o) {
  if (o.base.empty()) throw InputError("--base is required (a checkpoint or model directory)");
  if (o.data.empty()) throw InputError("--data is required (chats.jsonl)");
  if (o.out_dir.empty()) throw InputError("--out is required (the run directory)");
  if (o.batch_size < 1 || o.grad_accum < 1 || o.keep_checkpoints < 1 || o.seq_len < 0 ||
      o.steps < 0 || o.checkpoint_every < 0) {
    throw InputError("--batch-size, --grad-accum and --keep must be >= 1; --seq-len, --steps and "
                     "--checkpoint-every >= 0");
  }
  if (o.steps == 0 && !(o.epochs > 0)) throw InputError("--epochs must be > 0 when --steps is 0");
}

// LoRA checkpoint: the merged model directory plus lora.safetensors.
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
  const auto checkpoints = list_checkpoints(run_dir);
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < checkpoints.size(); ++i) {
    std::error_code ec;
    fs::remove_all(checkpoints[i].dir, ec);
  }
  return final_dir;
}

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
  SftDataset data = pack_conversations(tokenizer, read_conversations_jsonl(options.data), seq_len);
  const std::int64_t rows_per_step =
      static_cast<std::int64_t>(options.batch_size) * options.grad_accum;
  const std::int64_t steps =
      options.steps > 0 ? options.steps
                        : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(
                                                        options.epochs * data.rows() / rows_per_step)));
  LrSchedule schedule;
  schedule.kind = options.schedule;
  schedule.lr = options.lr;
  schedule.min_lr_ratio = options.min_lr_ratio;
  schedule.warmup_steps = std::min<std::int64_t>(options.warmup_steps, steps);
  schedule.total_steps = steps;
  schedule.validate();

  AdamWConfig adam;
  adam.weight_decay = options.weight_decay;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<LoraAdapter> lora;
  if (options.lora_rank > 0) {
    lora = std::make_unique<LoraAdapter>(model, options.lora_rank, options.lora_alpha,
                                         options.lora_targets, options.seed);
  } else {
    optimizer = std::make_unique<AdamW>(model, adam);
  }

  const Json options_json = sft_options_json(options, seq_len, steps);
  std::int64_t start_step = 0;
  const bool has_checkpoints = !list_checkpoints(options.out_dir).empty();
  if (has_checkpoints && !options.resume) {
    throw InputError(cat(options.out_dir.string(), " already holds a run; pass --resume to continue ",
                         "it or choose a new --out"));
  }
  if (options.resume && has_checkpoints) {
    const fs::path last = newest_good_checkpoint(options.out_dir, /*need_trainer_state=*/false);
    TrainerState saved = read_trainer_state(last);
    if (saved.options != options_json) {
      throw InputError(cat("--resume: the options differ from those of ", last.string(),
                           " (resume with the same --base, --data and hyper-parameters)"));
    }
    start_step = saved.step;
    if (lora) {
      lora->load(last / "lora.safetensors");
    } else {
      load_model_weights(model, last / "model.safetensors");
      load_optimizer_state(last, model, *optimizer);
    }
  }
  fs::create_directories(options.out_dir);
  write_json_file(options.out_dir / "run.json", options_json);
  MetricsLog metrics(options.out_dir / "metrics.jsonl", start_step > 0 ? start_step : -1);

  TrainerState state;
  state.num_threads = num_threads();
  state.config_hash = config_hash(config);
  state.tokenizer_fingerprint = tokenizer.fingerprint();
  state.options = options_json;

  model.reserve(options.batch_size, seq_len);
  RowOrder order(data.rows(), options.seed);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(options.batch_size) * seq_len);
  std::vector<std::int32_t> targets(tokens.size());
  SftResult result;
  result.data = data.stats;
  std::unique_ptr<ProgressBar> bar;
  if (options.progress && progress_enabled()) {
    bar = std::make_unique<ProgressBar>("sft", static_cast<std::uint64_t>(steps - start_step), "step");
  }
  const float grad_scale = 1.0f / static_cast<float>(options.grad_accum);
  for (std::int64_t step = start_step + 1; step <= steps; ++step) {
    const float lr = schedule.at(step);
    if (lora) lora->apply();
    model.zero_grad();
    double loss_sum = 0.0;
    for (int micro = 0; micro < options.grad_accum; ++micro) {
      for (int b = 0; b < options.batch_size; ++b) {
        const std::int64_t index = (step - 1) * rows_per_step + micro * options.batch_size + b;
        const std::size_t row = static_cast<std::size_t>(order.row(index)) * seq_len;
        std::copy_n(data.tokens.begin() + row, seq_len, tokens.begin() + b * seq_len);
        std::copy_n(data.targets.begin() + row, seq_len, targets.begin() + b * seq_len);
      }
      loss_sum += model.forward_backward(tokens.data(), targets.data(), options.batch_size, seq_len,
                                         grad_scale);
    }
    const float loss = static_cast<float>(loss_sum / options.grad_accum);
    float grad_norm;
    if (lora) {
      lora->gather_gradients();
      grad_norm = std::sqrt(lora->grad_norm_squared());
      if (options.grad_clip > 0 && grad_norm > options.grad_clip) {
        lora->scale_grads(options.grad_clip / (grad_norm + 1e-6f));
      }
    } else {
      grad_norm = clip_grad_norm(model, options.grad_clip);
    }
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      throw NumericError(cat("SFT diverged at step ", step, " (loss ", loss, ", gradient norm ",
                             grad_norm, "); lower --lr (now ", options.lr, ") and start again"));
    }
    if (lora) {
      ++lora->steps;
      adamw_update(lora->params(), lora->grads(), lora->m(), lora->v(), nullptr, lora->size(), lr,
                   adam, lora->steps);
    } else {
      optimizer->step(lr);
    }
    metrics.append({{"type", "train"}, {"step", step}, {"loss", loss}, {"lr", lr},
                    {"grad_norm", grad_norm}});
    result.curve.emplace_back(step, loss);
    result.final_loss = loss;
    result.steps_done = step;
    const bool last_step = step == steps;
    if (last_step || (options.checkpoint_every > 0 && step % options.checkpoint_every == 0)) {
      state.step = step;
      state.train_loss = loss;
      state.tokens_seen = static_cast<std::uint64_t>(step * rows_per_step * seq_len);
      if (lora) {
        lora->apply();  // the checkpoint's model.safetensors is the merged model
        result.last_checkpoint = save_lora_checkpoint(options.out_dir, model, *lora, tokenizer,
                                                      state, options.keep_checkpoints);
      } else {
        result.last_checkpoint = save_checkpoint(options.out_dir, model, *optimizer, tokenizer,
                                                 state, options.keep_checkpoints);
      }
    }
    if (bar) {
      bar->set_postfix(cat("loss ", loss));
      bar->set(static_cast<std::uint64_t>(step - start_step));
    }
    if (on_step) on_step(step, loss);
  }
  if (bar) bar->finish();
  return result;
}

}  // namespace masque
