// run_dpo: DPO through the shared training loop (see dpo.h). Pairs are
// visited in a fresh seeded permutation per epoch; the pair for (step,
// micro-batch, slot) is a pure function of the step, so resume needs no data
// state and repeats the uninterrupted run exactly. The reference model is a
// second, never-updated copy; its log-probs are computed per micro-batch
// without gradients.
#include "posttrain/dpo.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "backend/dtype.h"
#include "core/error.h"
#include "core/output_dir.h"
#include "core/output_guard.h"
#include "core/rng.h"
#include "infer/model_dir.h"
#include "io/safetensors.h"
#include "posttrain/dpo_loss.h"
#include "posttrain/lora.h"
#include "posttrain/lora_update.h"
#include "posttrain/peft.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/epoch_order.h"

namespace masque {
namespace fs = std::filesystem;
namespace {

// The inputs an output must not overwrite (--ref only when given).
std::vector<fs::path> inputs_of(const DpoOptions& o) {
  std::vector<fs::path> inputs = {o.base, o.data};
  if (!o.ref.empty()) inputs.push_back(o.ref);
  if (!o.lora_from.empty()) inputs.push_back(o.lora_from);
  return inputs;
}

// Micro-batches of B pairs = 2B rows (chosen, rejected, chosen, ...).
class PairRows final : public BatchSource {
 public:
  PairRows(const DpoDataset& data, int pairs_per_batch, int grad_accum, std::uint64_t seed)
      : data_(data), pairs_(pairs_per_batch), grad_accum_(grad_accum), order_(data.pairs(), seed) {}
  void next(std::int64_t step, int micro, Batch& batch) override {
    const int T = data_.seq_len;
    batch.batch_size = 2 * pairs_;
    batch.seq_len = T;
    batch.tokens.resize(static_cast<std::size_t>(2 * pairs_) * T);
    batch.targets.resize(batch.tokens.size());
    const std::int64_t per_step = static_cast<std::int64_t>(pairs_) * grad_accum_;
    for (int b = 0; b < pairs_; ++b) {
      const std::int64_t index = (step - 1) * per_step + micro * pairs_ + b;
      const std::size_t src = static_cast<std::size_t>(order_.at(index)) * 2 * T;
      const std::size_t dst = static_cast<std::size_t>(b) * 2 * T;
      std::copy_n(data_.tokens.begin() + src, 2 * T, batch.tokens.begin() + dst);
      std::copy_n(data_.targets.begin() + src, 2 * T, batch.targets.begin() + dst);
    }
  }

 private:
  const DpoDataset& data_;
  int pairs_, grad_accum_;
  EpochOrder order_;
};

Json dpo_options_json(const DpoOptions& o, int seq_len, std::int64_t steps) {
  return {{"base", o.base.string()},
          {"ref", o.ref.string()},
          {"data", o.data.string()},
          {"beta", o.beta},
          {"loss", o.loss},
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
          {"lora_targets", o.lora_targets},
          {"lora_from", o.lora_from.string()}};
}

void validate(const DpoOptions& o, bool need_out) {
  if (o.base.empty()) throw InputError("--base is required (a checkpoint or model directory)");
  if (o.data.empty()) throw InputError("--data is required (prefs.jsonl)");
  if (need_out && o.out_dir.empty()) throw InputError("--out is required (the run directory)");
  if (!(std::isfinite(o.beta) && o.beta > 0)) {
    throw InputError(cat("--beta ", o.beta, " must be a finite number > 0 (0.1 is usual)"));
  }
  parse_dpo_loss(o.loss);
  if (o.batch_size < 1 || o.grad_accum < 1 || o.keep_checkpoints < 1 || o.seq_len < 0 ||
      o.steps < 0 || o.checkpoint_every < 0) {
    throw InputError(
        "--batch-size, --grad-accum and --keep must be >= 1; --seq-len, --steps and "
        "--checkpoint-every >= 0");
  }
  if (o.steps == 0 && !(o.epochs > 0 && std::isfinite(o.epochs) && o.epochs <= 1e6)) {
    throw InputError("--epochs must be a finite number in (0, 1e6] when --steps is 0");
  }
  if (o.lora_rank < 0) {
    throw InputError(cat("--lora-rank ", o.lora_rank,
                         " must be >= 0 (0 = full fine-tuning, > 0 = LoRA of that rank)"));
  }
  if (o.lora_rank > 0 && !(std::isfinite(o.lora_alpha) && o.lora_alpha > 0)) {
    throw InputError(cat("--lora-alpha ", o.lora_alpha, " must be a finite number > 0"));
  }
  backend_for_dtype(o.dtype);  // unknown dtype, or bf16 on a CPU without AVX512_BF16
  if (need_out) check_output_dir_writable(o.out_dir, "--out");
}

// The frozen reference: --ref, or a second copy of the base. It must score
// the same token ids with the same architecture, or the log-ratios are
// meaningless.
std::unique_ptr<Model> load_reference(const DpoOptions& o, const LoadedModel& base) {
  LoadedModel ref = load_model_dir(o.ref.empty() ? o.base : o.ref, backend_for_dtype(o.dtype));
  if (!o.ref.empty()) {
    if (ref.tokenizer.fingerprint() != base.tokenizer.fingerprint()) {
      throw InputError(cat("--ref ", o.ref.string(), " has another tokenizer than --base ",
                           o.base.string(), "; DPO compares log-probs of the same token ids, ",
                           "so use a reference trained with the base's tokenizer"));
    }
    if (config_hash(ref.model->config()) != config_hash(base.model->config())) {
      throw InputError(cat("--ref ", o.ref.string(), " has another model config than --base ",
                           o.base.string(), " (config.json differs); use the base or a ",
                           "checkpoint of the same architecture as the reference"));
    }
  }
  return std::move(ref.model);
}

// --lora-from: the adapter's own rank, alpha and targets replace the flags.
DpoOptions with_peft_config(DpoOptions o) {
  if (o.lora_from.empty()) return o;
  const PeftLoraConfig peft = read_peft_config(o.lora_from);
  if (o.lora_rank > 0 && o.lora_rank != peft.rank) {
    throw InputError(cat("--lora-rank ", o.lora_rank, " differs from the rank ", peft.rank,
                         " of the adapter in ", o.lora_from.string(),
                         " (omit --lora-rank with --lora-from)"));
  }
  o.lora_rank = peft.rank;
  o.lora_alpha = peft.alpha;
  o.lora_targets = peft.target_modules;
  return o;
}

std::unique_ptr<LoraAdapter> make_lora(Model& model, const DpoOptions& o) {
  if (o.lora_rank == 0) return nullptr;
  auto lora =
      std::make_unique<LoraAdapter>(model, o.lora_rank, o.lora_alpha, o.lora_targets, o.seed);
  if (!o.lora_from.empty()) load_peft_adapter(*lora, o.lora_from);
  return lora;
}

struct Loaded {
  LoadedModel base;
  std::unique_ptr<Model> reference;
  DpoDataset data;
};

Loaded load_inputs(const DpoOptions& o) {
  Loaded in;
  in.base = load_model_dir(o.base, backend_for_dtype(o.dtype));
  const auto pairs = read_preference_jsonl(o.data);  // bad data fails before the second load
  in.data = pack_preferences(in.base.tokenizer, pairs, o.seq_len,
                             in.base.model->config().max_position_embeddings);
  in.reference = load_reference(o, in.base);
  return in;
}

}  // namespace

DpoResult run_dpo(const DpoOptions& requested, const StepCallback& on_step) {
  const DpoOptions options = with_peft_config(requested);
  validate(options, /*need_out=*/true);
  check_output_kind(options.out_dir, ArtifactKind::TrainRun, "--out");
  check_not_input(options.out_dir, inputs_of(options), "--out");
  Loaded in = load_inputs(options);
  Model& model = *in.base.model;
  const Tokenizer& tokenizer = in.base.tokenizer;
  const DpoDataset& data = in.data;
  const std::int64_t pairs_per_step =
      static_cast<std::int64_t>(options.batch_size) * options.grad_accum;
  const std::int64_t steps =
      options.steps > 0
          ? options.steps
          : std::max<std::int64_t>(
                1, static_cast<std::int64_t>(std::ceil(options.epochs * data.pairs() /
                                                       static_cast<double>(pairs_per_step))));
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
    lora = make_lora(model, options);
    optimizer = std::make_unique<LoraUpdate>(
        model, *lora, adam,
        LoraCheckpointInfo{options.lora_alpha, options.lora_targets, options.base});
  } else {
    optimizer = std::make_unique<FullAdamW>(model, adam);
  }
  PairRows batches(data, options.batch_size, options.grad_accum, options.seed);
  DpoStep dpo(model, *in.reference, options.beta, parse_dpo_loss(options.loss));

  loop.command = "dpo";
  loop.out_dir = options.out_dir;
  loop.batch_size = 2 * options.batch_size;
  loop.seq_len = data.seq_len;
  loop.grad_accum = options.grad_accum;
  loop.steps = steps;
  loop.grad_clip = options.grad_clip;
  loop.checkpoint_every = options.checkpoint_every;
  loop.keep_checkpoints = options.keep_checkpoints;
  loop.resume = options.resume;
  loop.progress = options.progress;
  loop.when_complete = "the run is complete; choose a new --out to train again";
  loop.options = dpo_options_json(options, data.seq_len, steps);

  TrainLoopHooks hooks;
  hooks.check_resume = [&](const fs::path& checkpoint, const TrainerState& saved) {
    static const OptionFlag kFlags[] = {{"base", "--base"},
                                        {"ref", "--ref"},
                                        {"data", "--data"},
                                        {"beta", "--beta"},
                                        {"loss", "--loss"},
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
                                        {"lora_from", "--lora-from"}};
    Json saved_options = saved.options;
    // Runs saved before --dtype existed were float32.
    if (saved_options.is_object() && !saved_options.contains("dtype"))
      saved_options["dtype"] = "f32";
    refuse_changed_options(checkpoint, saved_options, loop.options, kFlags,
                           "--base, --ref, --data");
  };
  hooks.forward_backward = [&](const Batch& batch, float grad_scale) {
    return dpo.forward_backward(batch.tokens.data(), batch.targets.data(), batch.batch_size,
                                batch.seq_len, grad_scale);
  };
  hooks.step_metrics = [&] { return dpo.take_metrics(); };
  const TrainResult trained =
      run_train_loop(loop, model, tokenizer, batches, *optimizer, hooks, on_step);
  DpoResult result;
  result.steps_done = trained.steps_done;
  result.final_loss = trained.final_train_loss;
  result.data = data.stats;
  result.last_checkpoint = trained.last_checkpoint;
  result.curve = trained.train_curve;
  return result;
}

Json dpo_dump_gradients(const DpoOptions& requested, const fs::path& grads) {
  const DpoOptions options = with_peft_config(requested);
  validate(options, /*need_out=*/false);
  check_not_input(grads, inputs_of(options), "--dump-grads");
  Loaded in = load_inputs(options);
  Model& model = *in.base.model;
  const int rows = static_cast<int>(2 * in.data.pairs());
  const int T = in.data.seq_len;
  const std::unique_ptr<LoraAdapter> lora = make_lora(model, options);
  if (lora) lora->apply();
  DpoStep dpo(model, *in.reference, options.beta, parse_dpo_loss(options.loss));
  model.zero_grad();
  const float loss =
      dpo.forward_backward(in.data.tokens.data(), in.data.targets.data(), rows, T, 1.0f);
  SafetensorsWriter writer;
  std::vector<float> host;
  if (lora) {
    lora->gather_gradients();
    host.resize(lora->size());
    model.backend().download(host.data(), lora->grads(), sizeof(float) * host.size());
    const std::int64_t r = lora->rank();
    for (const auto& t : lora->target_info()) {
      // PEFT's key: base_model.model.<module>.lora_A.weight (posttrain/peft.h).
      const std::string module = t.weight_name.substr(0, t.weight_name.rfind(".weight"));
      writer.add_f32(cat("base_model.model.", module, ".lora_A.weight"), {r, t.in},
                     host.data() + t.a_offset);
      writer.add_f32(cat("base_model.model.", module, ".lora_B.weight"), {t.out, r},
                     host.data() + t.b_offset);
    }
  } else {
    for (const ParamView& p : model.params()) {
      host.resize(p.numel);
      model.read_grad(p, host.data());
      writer.add_f32(p.name, p.shape, host.data());
    }
  }
  writer.write(grads);  // atomic (SafetensorsWriter::write)
  Json out = dpo.take_metrics();
  out["loss"] = loss;
  out["pairs"] = in.data.pairs();
  out["seq_len"] = T;
  out["grads"] = grads.string();
  return out;
}

}  // namespace masque
