// `masque dpo`: preference tuning on prompt/chosen/rejected JSONL
// (posttrain/dpo.h).
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "core/error.h"
#include "core/json_util.h"
#include "posttrain/dpo.h"

namespace {

masque::cli::CommandRegistrar reg("dpo", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "dpo", "Preference-tune a model with DPO against a frozen reference (docs/dpo.md)");
  auto o = std::make_shared<masque::DpoOptions>();
  auto json = std::make_shared<bool>(false);
  auto dump = std::make_shared<std::string>();
  auto targets = std::make_shared<std::string>("q_proj,k_proj,v_proj,o_proj");
  cmd->add_option("--base", o->base, "Model to tune: checkpoint dir, RUN_DIR or HF Llama dir")
      ->required();
  cmd->add_option("--data", o->data,
                  "Pairs, JSONL: {\"prompt\": [messages], \"chosen\": [assistant message], "
                  "\"rejected\": [assistant message]}")
      ->required();
  cmd->add_option("--out", o->out_dir, "Run directory (checkpoints, metrics.jsonl)");
  cmd->add_option("--ref", o->ref, "Frozen reference model (default: the base)");
  cmd->add_option("--beta", o->beta, "DPO temperature beta")->capture_default_str();
  cmd->add_option("--loss", o->loss, "sigmoid (DPO) | ipo")->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Pairs per micro-batch")->capture_default_str();
  cmd->add_option("--seq-len", o->seq_len, "Row length (0 = longest sequence, up to the context)")
      ->capture_default_str();
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per step")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Optimizer steps (0 = from --epochs)")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the pairs when --steps is 0")
      ->capture_default_str();
  cmd->add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--schedule", o->schedule, "cosine | linear | wsd | constant")
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup_steps, "Warmup steps")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--grad-clip", o->grad_clip, "Gradient norm clip (0 = off)")
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "Steps between checkpoints (0 = end)")
      ->capture_default_str();
  cmd->add_option("--keep", o->keep_checkpoints, "Checkpoints to keep")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Pair order seed (and LoRA init)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype,
                  "f32, or bf16: the linear layers' products in bfloat16 with float32 "
                  "accumulation, policy and reference alike (CPUs with AVX512_BF16)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue the run in --out from its newest checkpoint");
  cmd->add_option("--lora-rank", o->lora_rank, "LoRA rank (0 = full fine-tuning)")
      ->capture_default_str();
  cmd->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha (scale = alpha / rank)")
      ->capture_default_str();
  cmd->add_option("--lora-targets", *targets, "LoRA target modules, comma-separated")
      ->capture_default_str();
  cmd->add_option("--lora-from", o->lora_from,
                  "Start LoRA from a PEFT adapter directory; its rank, alpha and targets are used");
  cmd->add_option("--dump-grads", *dump,
                  "Instead of training: write d(loss)/d(param) (with LoRA: the adapters', PEFT "
                  "names) of all pairs as one batch at the start weights to this safetensors "
                  "file; print the loss as JSON");
  cmd->add_flag("--json", *json, "Print a JSON summary");
  cmd->callback([o, json, dump, targets] {
    o->lora_targets = masque::cli::split_commas(*targets);
    o->progress = !*json;
    if (!dump->empty()) {
      std::printf("%s\n", masque::json_line(masque::dpo_dump_gradients(*o, *dump)).c_str());
      return;
    }
    if (o->out_dir.empty()) throw masque::InputError("--out is required (the run directory)");
    masque::DpoResult r = masque::run_dpo(*o);
    masque::Json summary = {{"steps", r.steps_done},
                            {"final_loss", r.final_loss},
                            {"checkpoint", r.last_checkpoint.string()},
                            {"pairs", r.data.pairs},
                            {"kept", r.data.kept},
                            {"truncated", r.data.truncated},
                            {"dropped", r.data.dropped},
                            {"response_tokens", r.data.response_tokens}};
    if (*json) {
      std::printf("%s\n", masque::json_line(summary).c_str());
    } else {
      std::printf(
          "dpo: %lld steps, final loss %.4f; %lld pairs (%lld truncated, %lld dropped)\n"
          "checkpoint: %s\n",
          static_cast<long long>(r.steps_done), r.final_loss, static_cast<long long>(r.data.pairs),
          static_cast<long long>(r.data.truncated), static_cast<long long>(r.data.dropped),
          r.last_checkpoint.c_str());
    }
  });
});

}  // namespace
