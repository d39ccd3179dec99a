// `masque sft`: supervised fine-tuning on chat JSONL (posttrain/sft.h).
#include <cstdio>
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "cli/steer_options.h"
#include "core/json_util.h"
#include "core/threads.h"
#include "dist/communicator.h"
#include "dist/launch.h"
#include "posttrain/sft.h"

namespace {

masque::cli::CommandRegistrar reg("sft", [](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "sft", "Fine-tune a model on conversations (loss on Assistant tokens only)");
  auto o = std::make_shared<masque::SftOptions>();
  auto json = std::make_shared<bool>(false);
  auto targets = std::make_shared<std::string>("q_proj,k_proj,v_proj,o_proj");
  cmd->add_option("--base", o->base, "Base model: checkpoint dir, RUN_DIR or HF Llama dir")
      ->required();
  cmd->add_option("--data", o->data, "Conversations, JSONL: {\"messages\": [{role, content}, ...]}")
      ->required();
  cmd->add_option("--out", o->out_dir, "Run directory (checkpoints, metrics.jsonl)")->required();
  cmd->add_option("--batch-size", o->batch_size, "Rows per micro-batch")->capture_default_str();
  cmd->add_option("--seq-len", o->seq_len, "Row length (0 = model context)")->capture_default_str();
  cmd->add_option("--grad-accum", o->grad_accum, "Micro-batches per step")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Optimizer steps (0 = from --epochs)")
      ->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Passes over the data when --steps is 0")
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
  cmd->add_option("--seed", o->seed, "Data order seed (and LoRA init)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype,
                  "f32, or bf16: the linear layers' products in bfloat16 with float32 "
                  "accumulation and float32 weights and optimizer state (CPUs with AVX512_BF16)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue the run in --out from its newest checkpoint");
  cmd->add_option("--lora-rank", o->lora_rank, "LoRA rank (0 = full fine-tuning)")
      ->capture_default_str();
  cmd->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha (scale = alpha / rank)")
      ->capture_default_str();
  cmd->add_option("--lora-targets", *targets, "LoRA target modules, comma-separated")
      ->capture_default_str();
  cmd->add_option("--lora-from", o->lora_from,
                  "Start LoRA from a PEFT adapter directory (adapter_config.json + "
                  "adapter_model.safetensors); its rank, alpha and targets are used");
  auto steer = std::make_shared<std::vector<std::string>>();
  auto ablate = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--steer", *steer,
                  "Preventative steering: add COEF * v at LAYER during training only, "
                  "V[:LAYER[:COEF]] (repeatable; docs/persona-vectors.md)");
  cmd->add_option("--ablate", *ablate,
                  "Project a persona vector's direction out at LAYER during training, V[:LAYER]");
  cmd->add_flag("--json", *json, "Print a JSON summary");
  auto nproc = std::make_shared<int>(1);
  auto reduce = std::make_shared<std::string>("ordered");
  cmd->add_option("--nproc", *nproc,
                  "Data-parallel processes on this machine: re-runs the command under "
                  "`mpirun -np N`; --batch-size stays the global batch (docs/distributed.md)")
      ->capture_default_str();
  cmd->add_option("--reduce", *reduce,
                  "Gradient sum over processes: ordered (fixed order) or mpi (MPI_Allreduce)")
      ->capture_default_str();
  cmd->callback([o, json, targets, steer, ablate, nproc, reduce] {
    masque::dist::exec_under_mpirun(*nproc);  // returns only for one process
    o->reduction = masque::dist::parse_reduction(*reduce);
    if (masque::dist::launched_as_rank() && masque::cli::global_options().threads == 0) {
      masque::set_num_threads(masque::dist::default_threads_per_rank());
    }
    o->lora_targets = masque::cli::split_commas(*targets);
    for (const std::string& text : *steer) {
      const masque::cli::SteerSpec s = masque::cli::parse_steer_spec(text, "--steer");
      o->steer.push_back({s.path, s.layer, s.coef, false});
    }
    for (const std::string& text : *ablate) {
      const masque::cli::SteerSpec s = masque::cli::parse_steer_spec(text, "--ablate", false);
      o->steer.push_back({s.path, s.layer, 0.0f, true});
    }
    o->progress = !*json;
    masque::SftResult r = masque::run_sft(*o);
    if (masque::dist::launched_as_rank() && masque::dist::world().rank() != 0) return;
    masque::Json summary = {{"steps", r.steps_done},
                            {"final_loss", r.final_loss},
                            {"checkpoint", r.last_checkpoint.string()},
                            {"conversations", r.data.conversations},
                            {"truncated", r.data.truncated},
                            {"dropped", r.data.dropped},
                            {"rows", r.data.rows},
                            {"assistant_tokens", r.data.assistant_tokens}};
    if (*json) {
      std::printf("%s\n", masque::json_line(summary).c_str());
    } else {
      std::printf(
          "sft: %lld steps, final loss %.4f; %lld conversations (%lld truncated, %lld "
          "dropped)\ncheckpoint: %s\n",
          static_cast<long long>(r.steps_done), r.final_loss,
          static_cast<long long>(r.data.conversations), static_cast<long long>(r.data.truncated),
          static_cast<long long>(r.data.dropped), r.last_checkpoint.c_str());
    }
  });
});

}  // namespace
