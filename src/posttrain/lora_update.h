// LoraUpdate: the train-loop Optimizer (train/train_loop.h) that updates only
// LoRA adapters (posttrain/lora.h) and checkpoints the merged model plus
// lora.safetensors and a PEFT adapter. Used by `masque sft` and `masque dpo`.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "posttrain/lora.h"
#include "train/train_loop.h"

namespace masque {

struct LoraCheckpointInfo {
  float alpha = 16.0f;
  std::vector<std::string> targets;
  std::filesystem::path base;  // written into adapter_config.json
};

class LoraUpdate final : public Optimizer {
 public:
  LoraUpdate(Model& model, LoraAdapter& lora, const AdamWConfig& adam, LoraCheckpointInfo info)
      : model_(model), lora_(lora), adam_(adam), info_(std::move(info)) {}
  void begin_step() override { lora_.apply(); }
  float clip_gradients(float max_norm) override;
  void step(float lr) override { lora_.step(lr, adam_); }
  std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir,
                                        const Tokenizer& tokenizer, const TrainerState& state,
                                        int keep) override;
  bool checkpoint_is_resumable(const std::filesystem::path& dir, std::string* why) const override;
  void load_checkpoint(const std::filesystem::path& dir) override;

 private:
  Model& model_;
  LoraAdapter& lora_;
  AdamWConfig adam_;
  LoraCheckpointInfo info_;
};

}  // namespace masque
