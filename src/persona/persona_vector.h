// PersonaVector: a trait direction in a model's residual stream, one float32
// vector per layer, and its file (docs/persona-vectors.md). Extraction,
// monitoring, steering (sample/chat/eval/serve), preventative steering and
// data screening all read and write this type, so it stays small and stable.
//
// Layer convention (HF `hidden_states[L]`): L = 0 is the token embedding,
// L in 1..num_layers is the residual stream after block L (1-based), i.e.
// intervention site `embed` for L = 0 and `resid_post` at block L-1
// otherwise. llama.cpp adds a control vector's `direction.k` to the output
// of its 0-based block k, which is our layer k + 1 (there is no direction.0).
//
// File: safetensors with one F32 tensor `layers.L` of shape [hidden_size]
// per present layer and string metadata (trait, method, positions, pairs,
// config_hash, tokenizer_fingerprint, masque_version, ...). A layer may be
// absent (its difference was exactly zero, e.g. the embedding of a shared
// last prompt token); a present layer is never zero, NaN or inf.
#pragma once
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "model/intervention.h"
#include "tokenizer/tokenizer.h"

namespace masque::persona {

// Which model a vector belongs to. Both parts empty = unknown (a vector read
// from a llama.cpp control-vector GGUF): only the shape is then checked.
struct ModelFingerprint {
  std::string config_hash;  // Hasher64 of ModelConfig::to_json().dump() (as checkpoints store it)
  std::string tokenizer;    // Tokenizer::fingerprint()
  bool known() const { return !config_hash.empty() || !tokenizer.empty(); }
  std::string describe() const;  // "config 0123.., tokenizer 4567.." or "unknown"
  bool operator==(const ModelFingerprint&) const = default;
};
ModelFingerprint model_fingerprint(const ModelConfig& config, const Tokenizer& tokenizer);

struct PersonaVector {
  std::string trait;                   // "kindness", or the name given for ready-text pairs
  std::string method = "mean-diff";    // "mean-diff" | "pca" | "gguf" (imported)
  std::string positions = "response";  // "response" | "prompt-last" | "prompt"
  int pairs = 0;                       // contrast pairs the vector was computed from
  ModelFingerprint model;
  std::string masque_version;  // of the masque that wrote it
  int hidden_size = 0;
  int best_layer = -1;  // default steering/monitoring layer (-1 = none recorded)
  // layers[L] for L = 0..num_layers; empty = absent.
  std::vector<std::vector<float>> layers;
  // Free-form extra metadata (e.g. "model_hint", "kept_pairs", "separation.L").
  std::map<std::string, std::string> notes;

  int num_layers() const { return static_cast<int>(layers.size()) - 1; }
  bool has_layer(int layer) const;
  // The vector at `layer`; InputError naming the valid layers when it is out
  // of range or absent.
  std::span<const float> at(int layer) const;
  double norm(int layer) const;
  // best_layer when recorded, else InputError asking for an explicit layer.
  int default_layer() const;
};

// Throws InputError when the vector cannot be used with this model: another
// model (the message names both fingerprints), or another hidden size or
// layer count. `where` names the vector (its file) in the message.
void check_vector_matches(const PersonaVector& vector, const ModelFingerprint& model,
                          const ModelConfig& config, std::string_view where);

// Validates (finite, nonzero, sizes, at least one layer) and writes the
// safetensors file atomically; nothing is written on error.
void save_persona_vector(const PersonaVector& vector, const std::filesystem::path& path);

// Reads a vector file: masque's safetensors, or a llama.cpp control-vector
// GGUF (control_vector_gguf.h: method "gguf", unknown fingerprint,
// direction.k -> layer k + 1, no best layer).
// FormatError naming the file for a malformed file, a NaN/inf or zero layer,
// or tensors of different sizes.
PersonaVector load_persona_vector(const std::filesystem::path& path);
// Same, then check_vector_matches against the model.
PersonaVector load_persona_vector(const std::filesystem::path& path, const ModelConfig& config,
                                  const Tokenizer& tokenizer);

// --- Interventions built from a vector (per call, see model/intervention.h) ---

// Where persona-vector layer L lives: {kEmbed, -1} for L = 0, else
// {kResidPost, L - 1}. InputError for L outside [0, num_layers].
struct LayerSite {
  InterventionSite site = InterventionSite::kResidPost;
  int block = 0;
};
LayerSite layer_site(int layer, int num_layers);

// The rows `--steer-positions NAME` steers, with persona_vectors' semantics
// (Chen et al. 2025): "all" every row, "prompt" the prompt rows, "response"
// the rows whose logits pick response tokens: the last prompt row (in a KV
// cache decode, the first reply token's distribution comes from it) and
// every generated row (PositionScope::kGeneration). InputError naming
// `flag` for another name.
PositionScope steer_positions_scope(std::string_view name, std::string_view flag);

// "add coef * v at layer L on scope": steering (and preventative steering).
Intervention steer_intervention(const PersonaVector& vector, int layer, float coef,
                                PositionScope scope = PositionScope::kAll, int batch_row = -1);
// "project v out at layer L": directional ablation.
Intervention ablate_intervention(const PersonaVector& vector, int layer,
                                 PositionScope scope = PositionScope::kAll, int batch_row = -1);
// "observe layer L" into a caller-owned Observation (num_layers of the model).
Intervention observe_intervention(int layer, int num_layers, Observation* observation,
                                  PositionScope scope = PositionScope::kAll, int batch_row = -1);

// (a . v) / |v|: the projection persona vectors monitor with.
double projection(std::span<const float> activation, std::span<const float> vector);

}  // namespace masque::persona
