// Output guards: a command must never write onto one of its own inputs, nor
// replace or add to a directory that holds another kind of masque artifact
// (tokenize over a training run deletes its checkpoints; world chats onto
// world.json destroys the ground truth). Commands call these before any work.
#pragma once
#include <filesystem>
#include <string_view>
#include <vector>

namespace masque {

// Output directories masque writes, recognized by the marker files in them.
enum class ArtifactKind {
  Shards,      // `tokenize`: meta.json
  World,       // `world generate`: world.json
  TrainRun,    // `train`, `sft`: run.json, checkpoints/, train.lock
  Experiment,  // `experiment run`: recipe.json, results.json
  ModelDir,    // a checkpoint or HF model: config.json, model.safetensors
};

std::string_view artifact_kind_name(ArtifactKind kind);  // "token shards", ...

// The kinds whose markers `dir` holds; empty for a missing or plain directory.
std::vector<ArtifactKind> artifact_kinds(const std::filesystem::path& dir);

// InputError naming `flag` unless `out` is missing, a directory, and holds no
// artifact other than `kind` (a run directory may not hold shards, ...).
void check_output_kind(const std::filesystem::path& out, ArtifactKind kind, std::string_view flag);

// InputError naming `flag` when `out` is one of `inputs` (same file, through
// any path or link) or, when the output is a directory replaced whole
// (`replaces_dir`), holds one of them.
void check_not_input(const std::filesystem::path& out,
                     const std::vector<std::filesystem::path>& inputs, std::string_view flag,
                     bool replaces_dir = false);

// True when `a` and `b` name the same existing file or directory.
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace masque
