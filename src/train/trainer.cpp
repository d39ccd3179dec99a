// train_model: everything pretraining checks before the run directory is
// touched (flags, tokenizer, shards against the tokenizer and vocabulary),
// then the shared loop (train_loop.cpp) with the shard sampler as batch
// source, AdamW over every weight, and pretraining's resume rules (same
// config, tokenizer and, with --deterministic, thread count).
#include "train/trainer.h"

#include <cstdio>
#include <cstring>
#include <memory>

#include "backend/dtype.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/output_guard.h"
#include "core/threads.h"
#include "data/shard.h"
#include "infer/model_dir.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/batch_sampler.h"
#include "train/checkpoint.h"
#include "train/lr_schedule.h"

namespace masque {
namespace fs = std::filesystem;

namespace {

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
          {"dtype", o.dtype},
          {"deterministic", o.deterministic},
          {"model", o.model.to_json()}};
}

// Settings a resume must keep (they shape the trajectory), with their flags.
// Free to change: --steps (to extend a run; the schedule stretches with it),
// --eval-every, --eval-batches, --checkpoint-every, --keep, --deterministic,
// --tokenizer (its fingerprint is checked) and --init-from (unused on resume).
constexpr OptionFlag kResumeChecked[] = {
    {"data_dir", "--data"},
    {"batch_size", "--batch-size"},
    {"seq_len", "--seq-len"},
    {"grad_accum", "--grad-accum"},
    {"lr", "--lr"},
    {"min_lr_ratio", "--min-lr-ratio"},
    {"warmup_steps", "--warmup"},
    {"schedule", "--schedule"},
    {"wsd_decay_fraction", "--wsd-decay"},
    {"weight_decay", "--weight-decay"},
    {"beta1", "--beta1"},
    {"beta2", "--beta2"},
    {"eps", "eps"},
    {"grad_clip", "--grad-clip"},
    {"seed", "--seed"},
    {"dtype", "--dtype"},
};

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
  backend_for_dtype(o.dtype);  // unknown dtype, or bf16 on a CPU without AVX512_BF16
  if (o.data_dir.empty())
    throw InputError("--data is required (a directory written by `masque tokenize`)");
  if (o.out_dir.empty()) throw InputError("--out is required (the run directory)");
  // A run directory beside shards or a world would be deleted with them.
  check_output_kind(o.out_dir, ArtifactKind::TrainRun, "--out");
  check_not_input(o.out_dir, {o.data_dir, o.tokenizer_path}, "--out");
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

// Pretraining's batch source: random windows drawn by the sampler's Rng,
// whose state goes into every checkpoint.
class ShardBatches final : public BatchSource {
 public:
  explicit ShardBatches(BatchSampler& sampler) : sampler_(sampler) {}
  void next(std::int64_t /*step*/, int /*micro*/, Batch& batch) override { sampler_.next(batch); }
  std::array<std::uint64_t, 4> state() const override { return sampler_.rng_state(); }
  void restore(const std::array<std::uint64_t, 4>& state) override {
    sampler_.set_rng_state(state);
  }

 private:
  BatchSampler& sampler_;
};

}  // namespace

TrainResult train_model(const TrainOptions& options, const StepCallback& on_step) {
  TrainLoopOptions loop;
  validate_options(options, loop.schedule);
  // One process, or this rank's share of every batch under mpirun.
  dist::Communicator& comm = dist::world();
  const int ranks = comm.size();
  if (options.batch_size % ranks != 0) {
    throw InputError(cat("--batch-size ", options.batch_size,
                         " is the global micro-batch and must be divisible by the ", ranks,
                         " processes (each computes batch-size / processes rows); use a multiple "
                         "of ",
                         ranks));
  }
  const int rank_rows = options.batch_size / ranks;
  const int first_row = comm.rank() * rank_rows;
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
  train_batches.set_rank_rows(first_row, rank_rows);
  std::unique_ptr<BatchSampler> val_batches;
  if (val_split && val_split->num_tokens() > static_cast<std::uint64_t>(options.seq_len)) {
    val_batches = std::make_unique<BatchSampler>(*val_split, options.batch_size, options.seq_len, 0,
                                                 config.vocab_size,
                                                 cat("val split of ", options.data_dir.string()));
    val_batches->set_rank_rows(first_row, rank_rows);
  } else if (options.eval_every > 0) {
    std::fprintf(stderr,
                 "masque: warning: the val split of %s has fewer than %d tokens; no validation\n",
                 options.data_dir.c_str(), options.seq_len + 1);
  }

  Model model(config, backend_for_dtype(options.dtype));
  AdamWConfig adam;
  adam.beta1 = options.beta1;
  adam.beta2 = options.beta2;
  adam.eps = options.eps;
  adam.weight_decay = options.weight_decay;
  FullAdamW optimizer(model, adam);
  ShardBatches batches(train_batches);

  loop.command = "train";
  loop.out_dir = options.out_dir;
  loop.batch_size = rank_rows;
  loop.global_batch_size = options.batch_size;
  loop.comm = &comm;
  loop.reduction = options.reduction;
  loop.seq_len = options.seq_len;
  loop.grad_accum = options.grad_accum;
  loop.steps = options.steps;
  loop.grad_clip = options.grad_clip;
  loop.eval_every = options.eval_every;
  loop.checkpoint_every = options.checkpoint_every;
  loop.keep_checkpoints = options.keep_checkpoints;
  loop.resume = options.resume;
  loop.progress = options.progress;
  loop.when_complete = "raise --steps to train further";
  loop.options = options_to_json(options);

  TrainLoopHooks hooks;
  if (val_batches) {
    hooks.evaluate = [&]() -> float {
      Batch batch;
      double total = 0.0;
      for (int b = 0; b < options.eval_batches; ++b) {
        val_batches->fixed(static_cast<std::int64_t>(b) * options.batch_size,
                           static_cast<std::int64_t>(options.eval_batches) * options.batch_size,
                           batch);
        const double loss = model.forward_loss(batch.tokens.data(), batch.targets.data(), rank_rows,
                                               options.seq_len);
        // Each rank holds an equal share of the batch's (all valid) targets.
        total += ranks == 1 ? loss : loss * rank_rows / options.batch_size;
      }
      comm.sum_doubles(&total, 1);
      return static_cast<float>(total / options.eval_batches);
    };
  }
  hooks.check_resume = [&](const fs::path& checkpoint, const TrainerState& saved) {
    const fs::path config_path = checkpoint / "config.json";
    const ModelConfig saved_config =
        ModelConfig::from_json(read_json_file(config_path), config_path.string());
    const std::string diff = first_config_difference(saved_config, config);
    if (!diff.empty()) {
      throw InputError(cat("--resume: the model config differs from the checkpoint ",
                           checkpoint.string(), " in ", diff,
                           "; resume with the same --config/--depth, or train into a new --out"));
    }
    if (saved.tokenizer_fingerprint != tokenizer.fingerprint()) {
      throw InputError(cat("--resume: the tokenizer differs from the one in ", checkpoint.string(),
                           " (pass the same --tokenizer)"));
    }
    const std::string changed =
        resume_option_difference(saved.options, options_to_json(options), kResumeChecked);
    if (!changed.empty()) {
      if (!options.force) {
        throw InputError(cat("--resume: ", changed, " (", checkpoint.string(),
                             "); leave the flag out to continue with the run's value, or pass "
                             "--force to change it"));
      }
      std::fprintf(stderr, "masque: warning: --force: continuing with a changed setting: %s\n",
                   changed.c_str());
    }
    if (options.deterministic && saved.world_size != ranks && !options.force) {
      throw InputError(cat("--resume --deterministic: the run was trained by ", saved.world_size,
                           " processes but this one has ", ranks,
                           "; the gradient sums would be split differently (not bit-identical). "
                           "Resume with --nproc ",
                           saved.world_size, ", or pass --force to continue anyway"));
    }
    if (options.deterministic && saved.num_threads != num_threads()) {
      throw InputError(cat("--resume --deterministic: the run used ", saved.num_threads,
                           " threads but this process has ", num_threads(), " (pass --threads ",
                           saved.num_threads, " for a bit-identical continuation)"));
    }
  };
  // A new run starts from another model's weights or from the seeded init.
  hooks.init_fresh = [&] {
    if (!options.init_from) {
      model.init_weights(options.seed);
      return;
    }
    LoadedModel init = load_model_dir(*options.init_from);
    const std::string diff = first_config_difference(init.model->config(), config);
    if (!diff.empty()) {
      throw InputError(cat("--init-from ", options.init_from->string(), ": its config differs in ",
                           diff, " (omit --config/--depth to use the model's own config)"));
    }
    model.copy_params_from(*init.model);
  };
  return run_train_loop(loop, model, tokenizer, batches, optimizer, hooks, on_step);
}

void apply_saved_options(TrainOptions& o, const Json& saved, const std::set<std::string>& given) {
  if (!saved.is_object()) return;
  const std::string where = "the run's saved options (trainer_state.json)";
  const auto take = [&](const char* key, auto& value) {
    if (given.count(key) || !saved.contains(key) || saved.at(key).is_null()) return;
    value = get_field<std::decay_t<decltype(value)>>(saved, key, where);
  };
  std::string data_dir = o.data_dir.string();
  take("data_dir", data_dir);
  o.data_dir = data_dir;
  std::string tokenizer_path = o.tokenizer_path.string();
  take("tokenizer_path", tokenizer_path);
  o.tokenizer_path = tokenizer_path;
  take("batch_size", o.batch_size);
  take("seq_len", o.seq_len);
  take("grad_accum", o.grad_accum);
  take("steps", o.steps);
  take("lr", o.lr);
  take("min_lr_ratio", o.min_lr_ratio);
  take("warmup_steps", o.warmup_steps);
  take("schedule", o.schedule);
  take("wsd_decay_fraction", o.wsd_decay_fraction);
  take("weight_decay", o.weight_decay);
  take("beta1", o.beta1);
  take("beta2", o.beta2);
  take("eps", o.eps);
  take("grad_clip", o.grad_clip);
  take("eval_every", o.eval_every);
  take("eval_batches", o.eval_batches);
  take("checkpoint_every", o.checkpoint_every);
  take("keep_checkpoints", o.keep_checkpoints);
  take("seed", o.seed);
  take("dtype", o.dtype);
  take("deterministic", o.deterministic);
}

}  // namespace masque
