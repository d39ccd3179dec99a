// train_model: the pretraining loop. Per optimizer step:
//   lr = schedule(step); zero grads
//   for each of grad_accum micro-batches: loss += forward_backward(B x T, 1/accum)
//   stop on a non-finite loss or gradient norm (the last checkpoint stays)
//   clip to grad_clip; AdamW(lr); log; maybe evaluate; maybe checkpoint
// Everything a step depends on (weights, AdamW moments and count, the data
// Rng, the step number) is in the checkpoint, so a resumed run repeats the
// uninterrupted run's losses bit for bit at a fixed thread count.
#include "train/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "data/shard.h"
#include "infer/model_dir.h"
#include "infer/model_weights.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/batch_sampler.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"
#include "train/metrics_log.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

std::string hex_float(float value) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%a", static_cast<double>(value));
  return buf;
}

Json options_to_json(const TrainOptions& o) {
  return {{"data_dir", o.data_dir.string()},
          {"tokenizer_path", o.tokenizer_path.string()},
          {"out_dir", o.out_dir.string()},
          {"init_from", o.init_from ? Json(o.init_from->string()) : Json(nullptr)},
          {"batch_size", o.batch_size},
          {"seq_len", o.seq_len},
          {"grad_accum", o.grad_accum},
          {"steps", o.steps},
          {"lr", o.lr},
          {"min_lr_ratio", o.min_lr_ratio},
          {"warmup_steps", o.warmup_steps},
          {"schedule", o.schedule},
          {"wsd_decay_fraction", o.wsd_decay_fraction},
          {"weight_decay", o.weight_decay},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"grad_clip", o.grad_clip},
          {"eval_every", o.eval_every},
          {"eval_batches", o.eval_batches},
          {"checkpoint_every", o.checkpoint_every},
          {"keep_checkpoints", o.keep_checkpoints},
          {"seed", o.seed},
          {"deterministic", o.deterministic},
          {"model", o.model.to_json()}};
}

void validate_options(const TrainOptions& o, LrSchedule& schedule) {
  o.model.validate();
  const auto positive = [](long long value, const char* flag) {
    if (value < 1) throw InputError(cat(flag, " must be >= 1, got ", value));
  };
  positive(o.batch_size, "--batch-size");
  positive(o.seq_len, "--seq-len");
  positive(o.grad_accum, "--grad-accum");
  positive(o.steps, "--steps");
  positive(o.keep_checkpoints, "--keep");
  if (o.seq_len > o.model.max_position_embeddings) {
    throw InputError(cat("--seq-len ", o.seq_len, " exceeds the model's max_position_embeddings ",
                         o.model.max_position_embeddings,
                         " (lower --seq-len or raise it in the config)"));
  }
  if (o.eval_every < 0 || o.checkpoint_every < 0 || o.eval_batches < 1) {
    throw InputError("--eval-every and --checkpoint-every must be >= 0 and eval batches >= 1");
  }
  if (!(o.weight_decay >= 0.0f))
    throw InputError(cat("--weight-decay must be >= 0, got ", o.weight_decay));
  if (!(o.grad_clip >= 0.0f))
    throw InputError(cat("--grad-clip must be >= 0 (0 = off), got ", o.grad_clip));
  if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f && o.beta2 >= 0.0f && o.beta2 < 1.0f && o.eps > 0.0f)) {
    throw InputError("AdamW betas must be in [0, 1) and eps > 0");
  }
  if (o.data_dir.empty())
    throw InputError("--data is required (a directory written by `masque tokenize`)");
  if (o.out_dir.empty()) throw InputError("--out is required (the run directory)");
  schedule.kind = o.schedule;
  schedule.lr = o.lr;
  schedule.min_lr_ratio = o.min_lr_ratio;
  schedule.warmup_steps = o.warmup_steps;
  schedule.total_steps = o.steps;
  schedule.wsd_decay_fraction = o.wsd_decay_fraction;
  schedule.validate();
}

Tokenizer load_tokenizer(const TrainOptions& o) {
  if (!o.tokenizer_path.empty()) return Tokenizer::load(o.tokenizer_path);
  if (o.init_from) {
    fs::path dir = *o.init_from;
    if (!fs::exists(dir / "tokenizer.json") && fs::is_directory(dir / "checkpoints")) {
      dir = newest_good_checkpoint(dir, false);
    }
    return Tokenizer::load(dir / "tokenizer.json");
  }
  throw InputError("--tokenizer is required (the tokenizer.json the shards were made with)");
}

void check_data(const ShardSet& split, const Tokenizer& tokenizer, const ModelConfig& config,
                const std::string& what) {
  if (split.num_tokens() == 0) return;
  if (!split.tokenizer_fingerprint().empty() &&
      split.tokenizer_fingerprint() != tokenizer.fingerprint()) {
    throw InputError(cat(what, " was tokenized with a different tokenizer (fingerprint ",
                         split.tokenizer_fingerprint(), ", --tokenizer has ",
                         tokenizer.fingerprint(),
                         "); re-run `masque tokenize` with this tokenizer or pass the right one"));
  }
  for (std::size_t i = 0; i < split.num_shards(); ++i) {
    const ShardReader& shard = split.shard(i);
    if (shard.vocab_size() > static_cast<std::uint32_t>(config.vocab_size)) {
      throw InputError(cat("shard ", shard.path().string(), " declares a vocabulary of ",
                           shard.vocab_size(), " tokens but the model's vocab_size is ",
                           config.vocab_size,
                           " (raise vocab_size in the config or use the matching tokenizer)"));
    }
  }
}

// Exclusive lock on RUN_DIR/train.lock for the life of the run, so two
// trainers never interleave checkpoints and metrics. flock is released by
// the kernel when the process dies, even by kill -9, so no stale locks.
class RunDirLock {
 public:
  explicit RunDirLock(const fs::path& run_dir) {
    const fs::path path = run_dir / "train.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(cat("cannot create ", path.string(), ": ", std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw InputError(cat("another `masque train` is running in ", run_dir.string(),
                           " (wait for it to finish or stop it first)"));
    }
  }
  ~RunDirLock() { ::close(fd_); }
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

TrainResult train_model(const TrainOptions& options, const StepCallback& on_step) {
  LrSchedule schedule;
  validate_options(options, schedule);
  const ModelConfig& config = options.model;
  const Tokenizer tokenizer = load_tokenizer(options);
  if (tokenizer.vocab_size() > static_cast<std::uint32_t>(config.vocab_size)) {
    throw InputError(cat("the tokenizer has ", tokenizer.vocab_size(),
                         " tokens but the model's vocab_size is ", config.vocab_size,
                         " (raise vocab_size or use --depth, which takes it from the tokenizer)"));
  }
  const ShardSet train_split(options.data_dir, "train");
  check_data(train_split, tokenizer, config, cat("train split of ", options.data_dir.string()));
  std::unique_ptr<ShardSet> val_split;
  if (options.eval_every > 0 && ShardSet::has_split(options.data_dir, "val")) {
    val_split = std::make_unique<ShardSet>(options.data_dir, "val");
    check_data(*val_split, tokenizer, config, cat("val split of ", options.data_dir.string()));
  }
  BatchSampler train_batches(train_split, options.batch_size, options.seq_len, options.seed,
                             config.vocab_size, cat("train split of ", options.data_dir.string()));
  std::unique_ptr<BatchSampler> val_batches;
  if (val_split && val_split->num_tokens() > static_cast<std::uint64_t>(options.seq_len)) {
    val_batches = std::make_unique<BatchSampler>(*val_split, options.batch_size, options.seq_len, 0,
                                                 config.vocab_size,
                                                 cat("val split of ", options.data_dir.string()));
  } else if (options.eval_every > 0) {
    std::fprintf(stderr,
                 "masque: warning: the val split of %s has fewer than %d tokens; no validation\n",
                 options.data_dir.c_str(), options.seq_len + 1);
  }

  Model model(config);
  AdamWConfig adam;
  adam.beta1 = options.beta1;
  adam.beta2 = options.beta2;
  adam.eps = options.eps;
  adam.weight_decay = options.weight_decay;

  // Fresh run, resume, or a new run starting from another model's weights.
  std::error_code ec;
  const bool created_out_dir = !fs::exists(options.out_dir, ec);
  fs::create_directories(options.out_dir, ec);
  if (ec) throw Error(cat("cannot create ", options.out_dir.string(), ": ", ec.message()));
  auto lock = std::make_unique<RunDirLock>(options.out_dir);
  const bool has_checkpoints = !list_checkpoints(options.out_dir).empty();
  std::int64_t start_step = 0;
  TrainerState state;
  std::unique_ptr<AdamW> optimizer;
  fs::path last_checkpoint;
  try {
    if (options.resume && has_checkpoints) {
      last_checkpoint = newest_good_checkpoint(options.out_dir, /*need_trainer_state=*/true);
      const fs::path config_path = last_checkpoint / "config.json";
      const ModelConfig saved =
          ModelConfig::from_json(read_json_file(config_path), config_path.string());
      const std::string diff = first_config_difference(saved, config);
      if (!diff.empty()) {
        throw InputError(cat("--resume: the model config differs from the checkpoint ",
                             last_checkpoint.string(), " in ", diff,
                             "; resume with the same --config/--depth, or train into a new --out"));
      }
      state = read_trainer_state(last_checkpoint);
      if (state.tokenizer_fingerprint != tokenizer.fingerprint()) {
        throw InputError(cat("--resume: the tokenizer differs from the one in ",
                             last_checkpoint.string(), " (pass the same --tokenizer)"));
      }
      if (options.deterministic && state.num_threads != num_threads()) {
        throw InputError(cat("--resume --deterministic: the run used ", state.num_threads,
                             " threads but this process has ", num_threads(), " (pass --threads ",
                             state.num_threads, " for a bit-identical continuation)"));
      }
      load_model_weights(model, last_checkpoint / "model.safetensors");
      optimizer = std::make_unique<AdamW>(model, adam);
      load_optimizer_state(last_checkpoint, model, *optimizer);
      train_batches.set_rng_state(state.data_rng);
      start_step = state.step;
      if (start_step >= options.steps) {
        throw InputError(cat("--resume: the run is already at step ", start_step, " of --steps ",
                             options.steps, " (raise --steps to train further)"));
      }
    } else {
      if (has_checkpoints) {
        throw InputError(cat(options.out_dir.string(),
                             " already holds a run; pass --resume to continue it "
                             "or choose a new --out"));
      }
      if (options.init_from) {
        LoadedModel init = load_model_dir(*options.init_from);
        const std::string diff = first_config_difference(init.model->config(), config);
        if (!diff.empty()) {
          throw InputError(cat("--init-from ", options.init_from->string(),
                               ": its config differs in ", diff,
                               " (omit --config/--depth to use the model's own config)"));
        }
        std::memcpy(model.param_data(), init.model->param_data(),
                    model.num_params() * sizeof(float));
      } else {
        model.init_weights(options.seed);
      }
      optimizer = std::make_unique<AdamW>(model, adam);
    }
  } catch (...) {
    // Refused before anything was written: leave no empty run directory behind.
    if (created_out_dir) {
      lock.reset();
      fs::remove_all(options.out_dir, ec);
    }
    throw;
  }

  const Json options_json = options_to_json(options);
  write_json_file(options.out_dir / "run.json", options_json);
  MetricsLog metrics(options.out_dir / "metrics.jsonl", start_step > 0 ? start_step : -1);

  model.reserve(options.batch_size, options.seq_len);
  const std::uint64_t tokens_per_step = static_cast<std::uint64_t>(options.batch_size) *
                                        static_cast<std::uint64_t>(options.seq_len) *
                                        static_cast<std::uint64_t>(options.grad_accum);
  TrainResult result;
  result.final_val_loss = std::nanf("");
  result.steps_done = start_step;
  result.final_train_loss = state.train_loss;
  state.num_threads = num_threads();
  state.config_hash = config_hash(config);
  state.tokenizer_fingerprint = tokenizer.fingerprint();
  state.options = options_json;

  std::unique_ptr<ProgressBar> bar;
  if (options.progress && progress_enabled()) {
    bar = std::make_unique<ProgressBar>(
        "train", static_cast<std::uint64_t>(options.steps - start_step), "step");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double elapsed_before = state.elapsed_seconds;
  const auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };

  const auto evaluate = [&]() -> float {
    Batch batch;
    double total = 0.0;
    for (int b = 0; b < options.eval_batches; ++b) {
      val_batches->fixed(static_cast<std::int64_t>(b) * options.batch_size,
                         static_cast<std::int64_t>(options.eval_batches) * options.batch_size,
                         batch);
      total += model.forward_loss(batch.tokens.data(), batch.targets.data(), options.batch_size,
                                  options.seq_len);
    }
    return static_cast<float>(total / options.eval_batches);
  };

  const auto save = [&](std::int64_t step) {
    state.step = step;
    state.data_rng = train_batches.rng_state();
    state.elapsed_seconds = elapsed_before + seconds_since(t0);
    last_checkpoint = save_checkpoint(options.out_dir, model, *optimizer, tokenizer, state,
                                      options.keep_checkpoints);
  };

  Batch batch;
  const float grad_scale = 1.0f / static_cast<float>(options.grad_accum);
  std::int64_t saved_step = start_step;
  for (std::int64_t step = start_step + 1; step <= options.steps; ++step) {
    const auto step_start = std::chrono::steady_clock::now();
    const float lr = schedule.at(step);
    model.zero_grad();
    double loss_sum = 0.0;
    for (int micro = 0; micro < options.grad_accum; ++micro) {
      train_batches.next(batch);
      loss_sum += model.forward_backward(batch.tokens.data(), batch.targets.data(),
                                         options.batch_size, options.seq_len, grad_scale);
    }
    const float loss = static_cast<float>(loss_sum / options.grad_accum);
    const std::string keep_note =
        last_checkpoint.empty()
            ? std::string("no checkpoint was written yet")
            : cat("the last good checkpoint ", last_checkpoint.string(), " is kept");
    if (!std::isfinite(loss)) {
      throw NumericError(cat("training diverged: the loss is ", loss, " at step ", step, "; ",
                             keep_note, ". Lower --lr (now ", options.lr,
                             "), raise --warmup or --grad-clip, then "
                             "--resume or start again"));
    }
    const float grad_norm = clip_grad_norm(model, options.grad_clip);
    if (!std::isfinite(grad_norm)) {
      throw NumericError(cat("training diverged: the gradient norm is ", grad_norm, " at step ",
                             step, "; ", keep_note, ". Lower --lr (now ", options.lr,
                             ") or raise --warmup"));
    }
    optimizer->step(lr);
    state.tokens_seen += tokens_per_step;
    state.train_loss = loss;
    const double step_seconds = seconds_since(step_start);
    const double run_seconds = seconds_since(t0);
    const double tok_per_s =
        static_cast<double>(tokens_per_step * static_cast<std::uint64_t>(step - start_step)) /
        std::max(run_seconds, 1e-9);
    metrics.append({{"type", "train"},
                    {"step", step},
                    {"loss", loss},
                    {"loss_hex", hex_float(loss)},
                    {"lr", lr},
                    {"grad_norm", grad_norm},
                    {"tokens", state.tokens_seen},
                    {"step_seconds", step_seconds},
                    {"tok_per_s", tok_per_s}});
    result.train_curve.emplace_back(step, loss);
    result.final_train_loss = loss;
    result.steps_done = step;

    if (val_batches && options.eval_every > 0 &&
        (step % options.eval_every == 0 || step == options.steps)) {
      const float val_loss = evaluate();
      metrics.append(
          {{"type", "val"}, {"step", step}, {"loss", val_loss}, {"loss_hex", hex_float(val_loss)}});
      result.val_curve.emplace_back(step, val_loss);
      result.final_val_loss = val_loss;
    }
    if ((options.checkpoint_every > 0 && step % options.checkpoint_every == 0) ||
        step == options.steps) {
      save(step);
      saved_step = step;
    }
    if (bar) {
      bar->set_postfix(cat("step ", step, "/", options.steps, " loss ", loss, " ",
                           human_count(tok_per_s), " tok/s"));
      bar->set(static_cast<std::uint64_t>(step - start_step));
    }
    if (on_step) on_step(step, loss);
  }
  if (saved_step != options.steps) save(options.steps);
  if (bar) bar->finish();
  const double total_seconds = seconds_since(t0);
  result.tokens_per_second =
      static_cast<double>(tokens_per_step *
                          static_cast<std::uint64_t>(options.steps - start_step)) /
      std::max(total_seconds, 1e-9);
  result.last_checkpoint = last_checkpoint;
  return result;
}

}  // namespace masque
