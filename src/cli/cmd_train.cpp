// `masque train`: pretrain a model on token shards (docs/training.md). Thin:
// flags -> TrainOptions -> train_model(); the loop lives in src/train.
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "dist/communicator.h"
#include "dist/launch.h"
#include "infer/model_dir.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace {

namespace fs = std::filesystem;
using namespace masque;

struct Opts {
  TrainOptions train;
  std::set<std::string> given;  // options keys of the flags on the command line
  std::string config_path;
  int depth = 0;
  std::string init_from;
  bool json = false;
  int nproc = 1;
  std::string reduce = "ordered";
};

// The model config: --config, --depth, or the config of --init-from / the
// run being resumed when neither is given.
ModelConfig resolve_config(const Opts& o) {
  if (!o.config_path.empty() && o.depth > 0) {
    throw InputError("give either --config or --depth, not both");
  }
  if (!o.config_path.empty()) {
    return ModelConfig::from_json(read_json_file(o.config_path), o.config_path);
  }
  if (o.depth > 0) {
    if (o.train.tokenizer_path.empty())
      throw InputError("--depth needs --tokenizer (it sets vocab_size)");
    const Tokenizer tokenizer = Tokenizer::load(o.train.tokenizer_path);
    ModelConfig config =
        ModelConfig::from_depth(o.depth, static_cast<int>(tokenizer.vocab_size()), o.train.seq_len);
    config.bos_token_id = static_cast<int>(tokenizer.bos_id());
    config.eos_token_id = static_cast<int>(tokenizer.eos_id());
    return config;
  }
  fs::path dir;
  if (!o.init_from.empty()) {
    dir = o.init_from;
  } else if (o.train.resume && !list_checkpoints(o.train.out_dir).empty()) {
    dir = o.train.out_dir;
  } else {
    throw InputError("give the model shape with --config model.json or --depth N");
  }
  if (!fs::exists(dir / "config.json") && fs::is_directory(dir / "checkpoints")) {
    dir = newest_good_checkpoint(dir, false);
  }
  const fs::path path = dir / "config.json";
  return ModelConfig::from_json(read_json_file(path), path.string());
}

// The flags whose value a resume takes from the run when they are left out,
// and their keys in trainer_state.json's options.
constexpr std::pair<const char*, const char*> kSavedFlags[] = {
    {"--data", "data_dir"},
    {"--tokenizer", "tokenizer_path"},
    {"--steps", "steps"},
    {"--batch-size", "batch_size"},
    {"--seq-len", "seq_len"},
    {"--grad-accum", "grad_accum"},
    {"--lr", "lr"},
    {"--min-lr-ratio", "min_lr_ratio"},
    {"--schedule", "schedule"},
    {"--warmup", "warmup_steps"},
    {"--wsd-decay", "wsd_decay_fraction"},
    {"--weight-decay", "weight_decay"},
    {"--beta1", "beta1"},
    {"--beta2", "beta2"},
    {"--grad-clip", "grad_clip"},
    {"--eval-every", "eval_every"},
    {"--eval-batches", "eval_batches"},
    {"--checkpoint-every", "checkpoint_every"},
    {"--keep", "keep_checkpoints"},
    {"--seed", "seed"},
    {"--dtype", "dtype"},
    {"--deterministic", "deterministic"},
};

void run(Opts& o) {
  // --nproc N re-runs this command under mpirun (never returns for N > 1).
  dist::exec_under_mpirun(o.nproc);
  o.train.reduction = dist::parse_reduction(o.reduce);
  if (dist::launched_as_rank() && cli::global_options().threads == 0) {
    set_num_threads(dist::default_threads_per_rank());
  }
  // --resume continues with the run's own settings: flags left out take the
  // saved values; a flag given with another value is refused (train_model)
  // unless --force.
  if (o.train.resume && !list_checkpoints(o.train.out_dir).empty()) {
    const fs::path newest = newest_good_checkpoint(o.train.out_dir, /*need_trainer_state=*/true);
    apply_saved_options(o.train, read_trainer_state(newest).options, o.given);
  }
  o.train.model = resolve_config(o);
  if (!o.init_from.empty()) o.train.init_from = fs::path(o.init_from);
  o.train.progress = !o.json;
  const TrainResult result = train_model(o.train);
  if (dist::launched_as_rank() && dist::world().rank() != 0) return;  // rank 0 reports
  if (o.json) {
    Json summary = {
        {"steps", result.steps_done},
        {"final_train_loss", result.final_train_loss},
        {"final_val_loss",
         std::isnan(result.final_val_loss) ? Json(nullptr) : Json(result.final_val_loss)},
        {"tokens_per_second", result.tokens_per_second},
        {"last_checkpoint", result.last_checkpoint.string()},
        {"parameters", o.train.model.num_parameters()}};
    std::printf("%s\n", json_line(summary).c_str());
  } else {
    std::printf("trained %lld steps: train loss %.4f", static_cast<long long>(result.steps_done),
                static_cast<double>(result.final_train_loss));
    if (!std::isnan(result.final_val_loss))
      std::printf(", val loss %.4f", static_cast<double>(result.final_val_loss));
    std::printf(", %.0f tok/s\ncheckpoint: %s\n", result.tokens_per_second,
                result.last_checkpoint.c_str());
  }
}

masque::cli::CommandRegistrar reg("train", [](CLI::App& app) {
  auto* cmd =
      app.add_subcommand("train", "Pretrain a model on token shards (AdamW, checkpoints, resume)");
  auto o = std::make_shared<Opts>();
  TrainOptions& t = o->train;
  cmd->add_option("--config", o->config_path, "Model config (HF LlamaConfig config.json)");
  cmd->add_option("--depth", o->depth, "Model size preset instead of --config (width 64*depth)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--data", t.data_dir, "Shard directory written by `masque tokenize`")->required();
  cmd->add_option("--tokenizer", t.tokenizer_path, "tokenizer.json the shards were made with");
  cmd->add_option("--out", t.out_dir, "Run directory (checkpoints, metrics.jsonl, run.json)")
      ->required();
  cmd->add_option("--init-from", o->init_from,
                  "Start from the weights of a checkpoint, run or HF directory");
  cmd->add_option("--steps", t.steps, "Optimizer steps")->capture_default_str();
  cmd->add_option("--batch-size", t.batch_size, "Sequences per micro-batch (B)")
      ->capture_default_str();
  cmd->add_option("--seq-len", t.seq_len, "Tokens per sequence (T)")->capture_default_str();
  cmd->add_option("--grad-accum", t.grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  cmd->add_option("--lr", t.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--min-lr-ratio", t.min_lr_ratio, "Final LR as a fraction of --lr")
      ->capture_default_str();
  cmd->add_option("--schedule", t.schedule, "cosine | linear | wsd | constant")
      ->capture_default_str();
  cmd->add_option("--warmup", t.warmup_steps, "Linear warmup steps")->capture_default_str();
  cmd->add_option("--wsd-decay", t.wsd_decay_fraction, "Fraction of steps that decay (wsd)")
      ->capture_default_str();
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW decoupled weight decay (not on norms)")
      ->capture_default_str();
  cmd->add_option("--beta1", t.beta1, "AdamW beta1")->capture_default_str();
  cmd->add_option("--beta2", t.beta2, "AdamW beta2")->capture_default_str();
  cmd->add_option("--grad-clip", t.grad_clip, "Clip the global gradient norm (0 = off)")
      ->capture_default_str();
  cmd->add_option("--eval-every", t.eval_every, "Validation loss every N steps (0 = never)")
      ->capture_default_str();
  cmd->add_option("--eval-batches", t.eval_batches, "Batches per validation")
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", t.checkpoint_every,
                  "Checkpoint every N steps (0 = only at the end)")
      ->capture_default_str();
  cmd->add_option("--keep", t.keep_checkpoints, "Checkpoints to keep")->capture_default_str();
  cmd->add_option("--seed", t.seed, "Seed for init and data order")->capture_default_str();
  cmd->add_option("--dtype", t.dtype,
                  "f32, or bf16: the linear layers' products in bfloat16 with float32 "
                  "accumulation and float32 weights and optimizer state (CPUs with AVX512_BF16)")
      ->capture_default_str();
  cmd->add_flag("--deterministic", t.deterministic,
                "Bit-identical runs and resumes (requires the same --threads on resume)");
  cmd->add_flag("--resume", t.resume,
                "Continue from the newest good checkpoint in --out, with the run's saved "
                "settings for every flag left out");
  cmd->add_flag("--force", t.force,
                "With --resume: accept flags whose value differs from the run's saved one");
  cmd->add_flag("--json", o->json, "Print a JSON summary (no progress bar)");
  cmd->add_option("--nproc", o->nproc,
                  "Data-parallel processes on this machine: re-runs the command under "
                  "`mpirun -np N`; --batch-size stays the global batch (docs/distributed.md)")
      ->capture_default_str();
  cmd->add_option("--reduce", o->reduce,
                  "Gradient sum over processes: ordered (fixed order, bit-identical runs) or mpi "
                  "(MPI_Allreduce)")
      ->capture_default_str();
  cmd->callback([o, cmd] {
    for (const auto& [flag, key] : kSavedFlags) {
      if (cmd->count(flag) > 0) o->given.insert(key);
    }
    run(*o);
  });
});

}  // namespace
