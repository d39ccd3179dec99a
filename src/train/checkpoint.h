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
#include <initializer_list>
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
  int world_size = 1;       // data-parallel processes (docs/distributed.md); 1 in older checkpoints
  std::string config_hash;  // Hasher64 of config.json text
  std::string tokenizer_fingerprint;
  float train_loss = 0;           // loss of step `step`
  Json options = Json::object();  // the TrainOptions used
  // Random id drawn when a run starts and kept by its resumes; also in
  // optimizer.safetensors' metadata, so files of another run are refused.
  std::string run_id;
  // CRC-32 (hex) of each file of the checkpoint, {"model.safetensors": ..};
  // empty in checkpoints written before checksums (loaded with a note).
  Json checksums = Json::object();

  // to_json adds "state_checksum", a CRC-32 over the other fields, which
  // from_json verifies (when present) along with the fields' ranges.
  Json to_json() const;
  static TrainerState from_json(const Json& json, std::string_view where);
};

// A fresh random run id (16 hex digits).
std::string new_run_id();

// CRC-32 (hex) of each named file in `dir`, for TrainerState::checksums.
Json file_checksums(const std::filesystem::path& dir, std::initializer_list<const char*> names);

// Verifies a checkpoint's files against its trainer state: each file listed
// in state.checksums must exist with that CRC-32, and optimizer.safetensors
// must carry the state's run id. FormatError naming the file and what is
// wrong (changed after the save, or copied from another run). A state
// without checksums (an older masque) passes with a note on stderr.
void verify_checkpoint_files(const std::filesystem::path& dir, const TrainerState& state);

// Name of the first parameter holding a NaN or an infinity, "" when all are
// finite: a loaded checkpoint is checked with it, and a non-finite loss is
// traced to corrupt weights rather than the learning rate.
std::string first_nonfinite_param(const Model& model);

// Hex digest of the model config (ModelConfig::to_json), stored in trainer
// state so a resume with another config is caught.
std::string config_hash(const ModelConfig& config);

// Writes tokenizer.json and tokenizer_config.json (PreTrainedTokenizerFast,
// bos/eos/pad, model_max_length) into dir (plain writes: the caller's
// AtomicDir makes them durable).
void write_tokenizer_files(const std::filesystem::path& dir, const Tokenizer& tokenizer,
                           int model_max_length);

// generation_config.json with every stop token, so HF generate() stops where
// masque does: eos_token_id lists the config's end-of-text ids and the
// tokenizer's end-of-turn token <|end|> (when it has one); pad_token_id is
// the tokenizer's <|pad|>.
void write_generation_config(const std::filesystem::path& dir, const ModelConfig& config,
                             const Tokenizer& tokenizer);

// Writes RUN_DIR/checkpoints/step-<state.step> atomically, then deletes all
// but the newest `keep` checkpoints and stale temporaries of interrupted
// saves. Returns the checkpoint directory.
std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const Model& model,
                                      AdamW& optimizer, const Tokenizer& tokenizer,
                                      const TrainerState& state, int keep);

// Restores optimizer moments and step count; FormatError if the file does
// not match the model's parameters, or holds a non-finite moment, a negative
// second moment or a negative step (a corrupt file).
void load_optimizer_state(const std::filesystem::path& checkpoint_dir, const Model& model,
                          AdamW& optimizer);

TrainerState read_trainer_state(const std::filesystem::path& checkpoint_dir);

// The first field in which two configs differ ("" when equal), for resume
// errors that say what changed.
std::string first_config_difference(const ModelConfig& a, const ModelConfig& b);

}  // namespace masque
