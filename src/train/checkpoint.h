// Checkpoints (docs/checkpoints.md): RUN_DIR/checkpoints/step-N/ is a
// Hugging Face model directory (model.safetensors, config.json,
// generation_config.json, tokenizer.json, tokenizer_config.json) plus the
// trainer's own files (optimizer.safetensors, trainer_state.json). A
// checkpoint is built in a hidden temporary directory, fsynced and renamed
// into place, so a kill -9 at any moment leaves the previous one intact.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/json_util.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"

namespace masque {

struct TrainerState {
  std::int64_t step = 0;                    // optimizer steps completed
  std::array<std::uint64_t, 4> data_rng{};  // BatchSampler Rng after `step`
  std::uint64_t tokens_seen = 0;
  double elapsed_seconds = 0;
  int num_threads = 0;
  std::string config_hash;  // Hasher64 of config.json text
  std::string tokenizer_fingerprint;
  float train_loss = 0;           // loss of step `step`
  Json options = Json::object();  // the TrainOptions used

  Json to_json() const;
  static TrainerState from_json(const Json& json, std::string_view where);
};

// Hex digest of the model config (ModelConfig::to_json), stored in trainer
// state so a resume with another config is caught.
std::string config_hash(const ModelConfig& config);

// Writes tokenizer.json and tokenizer_config.json (PreTrainedTokenizerFast,
// bos/eos/pad, model_max_length) into dir (plain writes: the caller's
// AtomicDir makes them durable).
void write_tokenizer_files(const std::filesystem::path& dir, const Tokenizer& tokenizer,
                           int model_max_length);

// Writes RUN_DIR/checkpoints/step-<state.step> atomically, then deletes all
// but the newest `keep` checkpoints and stale temporaries of interrupted
// saves. Returns the checkpoint directory.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const Model& model,
                                      AdamW& optimizer, const Tokenizer& tokenizer,
                                      const TrainerState& state, int keep);

// Restores optimizer moments and step count; FormatError if the file does
// not match the model's parameters.
void load_optimizer_state(const std::filesystem::path& checkpoint_dir, const Model& model,
                          AdamW& optimizer);

TrainerState read_trainer_state(const std::filesystem::path& checkpoint_dir);

// The first field in which two configs differ ("" when equal), for resume
// errors that say what changed.
std::string first_config_difference(const ModelConfig& a, const ModelConfig& b);

}  // namespace masque
