// PersonaVector file I/O and the interventions built from it (see
// persona_vector.h). The safetensors form is strict both ways: save refuses
// what load would refuse, so a file masque writes always loads.
#include "persona/persona_vector.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/hash.h"
#include "io/safetensors.h"
#include "persona/control_vector_gguf.h"

namespace masque::persona {

namespace {

constexpr const char* kFormatKey = "masque.persona_vector";
constexpr const char* kFormatVersion = "1";

// Metadata keys masque writes itself; anything else round-trips via notes.
const char* const kOwnKeys[] = {
    "format",         kFormatKey,    "trait",       "method",
    "positions",      "pairs",       "config_hash", "tokenizer_fingerprint",
    "masque_version", "hidden_size", "num_layers",  "best_layer"};

bool is_own_key(const std::string& key) {
  for (const char* k : kOwnKeys) {
    if (key == k) return true;
  }
  return false;
}

std::string layer_name(int layer) { return cat("layers.", layer); }

// Throws `E` when a layer is NaN/inf or zero.
template <class E>
void check_values(std::span<const float> values, int layer, std::string_view where) {
  double norm2 = 0.0;
  for (float x : values) {
    if (!std::isfinite(x)) throw E(cat(where, ": layers.", layer, " holds a NaN or inf value"));
    norm2 += static_cast<double>(x) * x;
  }
  if (norm2 == 0.0) {
    throw E(cat(where, ": layers.", layer,
                " is a zero vector (it can neither steer nor give a direction); "
                "leave the layer out instead"));
  }
}

int parse_int(const std::map<std::string, std::string>& meta, const std::string& key,
              std::string_view where, int fallback) {
  auto it = meta.find(key);
  if (it == meta.end()) return fallback;
  try {
    std::size_t used = 0;
    const int value = std::stoi(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument(key);
    return value;
  } catch (const std::exception&) {
    throw FormatError(
        cat(where, ": metadata '", key, "' is '", it->second, "', expected an integer"));
  }
}

std::string get_or(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  return it == meta.end() ? std::string() : it->second;
}

bool file_starts_with(const std::filesystem::path& path, std::string_view magic) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(cat(path.string(), ": cannot open the vector file"));
  std::string head(magic.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in.gcount() == static_cast<std::streamsize>(head.size()) && head == magic;
}

PersonaVector load_safetensors(const std::filesystem::path& path) {
  const std::string where = path.string();
  const SafetensorsFile file(path);
  const auto& meta = file.metadata();
  if (get_or(meta, kFormatKey).empty()) {
    throw FormatError(cat(where,
                          ": not a masque persona vector (no 'masque.persona_vector' metadata); "
                          "write one with `masque vectors extract`"));
  }
  PersonaVector v;
  v.trait = get_or(meta, "trait");
  v.method = get_or(meta, "method");
  v.positions = get_or(meta, "positions");
  v.pairs = parse_int(meta, "pairs", where, 0);
  v.model.config_hash = get_or(meta, "config_hash");
  v.model.tokenizer = get_or(meta, "tokenizer_fingerprint");
  v.masque_version = get_or(meta, "masque_version");
  v.hidden_size = parse_int(meta, "hidden_size", where, 0);
  const int num_layers = parse_int(meta, "num_layers", where, -1);
  v.best_layer = parse_int(meta, "best_layer", where, -1);
  for (const auto& [key, value] : meta) {
    if (!is_own_key(key)) v.notes[key] = value;
  }
  if (num_layers < 0 || num_layers > 100000) {
    throw FormatError(cat(where, ": metadata 'num_layers' is missing or out of range"));
  }
  if (v.hidden_size <= 0) {
    throw FormatError(cat(where, ": metadata 'hidden_size' is missing or not positive"));
  }
  v.layers.assign(static_cast<std::size_t>(num_layers) + 1, {});
  int present = 0;
  for (const TensorInfo& info : file.tensors()) {
    const std::string& name = info.name;
    int layer = -1;
    if (name.rfind("layers.", 0) == 0) {
      try {
        std::size_t used = 0;
        layer = std::stoi(name.substr(7), &used);
        if (used != name.size() - 7) layer = -1;
      } catch (const std::exception&) {
        layer = -1;
      }
    }
    if (layer < 0 || layer > num_layers) {
      throw FormatError(cat(where, ": unexpected tensor '", name, "' (expected layers.0 .. layers.",
                            num_layers, ")"));
    }
    const std::vector<std::int64_t> shape = {v.hidden_size};
    v.layers[layer] = file.to_f32(name, &shape);
    check_values<FormatError>(v.layers[layer], layer, where);
    ++present;
  }
  if (present == 0) throw FormatError(cat(where, ": the vector file holds no layers"));
  if (v.best_layer != -1 && !v.has_layer(v.best_layer)) {
    throw FormatError(cat(where, ": best_layer ", v.best_layer, " is not a stored layer"));
  }
  return v;
}

}  // namespace

std::string ModelFingerprint::describe() const {
  if (!known()) return "unknown model";
  return cat("config ", config_hash.empty() ? "?" : config_hash, ", tokenizer ",
             tokenizer.empty() ? "?" : tokenizer);
}

ModelFingerprint model_fingerprint(const ModelConfig& config, const Tokenizer& tokenizer) {
  // Same digest as train/checkpoint.h's config_hash (trainer_state.json).
  Hasher64 hasher;
  hasher.add(config.to_json().dump());
  return {hasher.hex(), tokenizer.fingerprint()};
}

bool PersonaVector::has_layer(int layer) const {
  return layer >= 0 && layer < static_cast<int>(layers.size()) && !layers[layer].empty();
}

std::span<const float> PersonaVector::at(int layer) const {
  if (!has_layer(layer)) {
    std::string present;
    for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
      if (!layers[l].empty()) present += cat(present.empty() ? "" : ",", l);
    }
    throw InputError(cat("layer ", layer, " is not in this ", trait.empty() ? "" : trait + " ",
                         "vector (layers present: ", present.empty() ? "none" : present,
                         "; 0 = embeddings, L = after block L)"));
  }
  return layers[layer];
}

double PersonaVector::norm(int layer) const {
  double norm2 = 0.0;
  for (float x : at(layer)) norm2 += static_cast<double>(x) * x;
  return std::sqrt(norm2);
}

int PersonaVector::default_layer() const {
  if (best_layer < 0) {
    throw InputError(cat("the ", trait.empty() ? "" : trait + " ",
                         "vector records no best layer; give one (e.g. --steer FILE:LAYER)"));
  }
  return best_layer;
}

void check_vector_matches(const PersonaVector& vector, const ModelFingerprint& model,
                          const ModelConfig& config, std::string_view where) {
  if (vector.model.known() && !(vector.model == model)) {
    throw InputError(cat(where, ": this vector was extracted from another model (",
                         vector.model.describe(), "); the loaded model is ", model.describe(),
                         ". Extract a vector from this model with `masque vectors extract`"));
  }
  if (vector.hidden_size != config.hidden_size) {
    throw InputError(cat(where, ": the vector has hidden size ", vector.hidden_size,
                         " but the model's hidden_size is ", config.hidden_size));
  }
  if (vector.num_layers() > config.num_hidden_layers) {
    throw InputError(cat(where, ": the vector has layers up to ", vector.num_layers(),
                         " but the model has ", config.num_hidden_layers, " blocks"));
  }
}

void save_persona_vector(const PersonaVector& v, const std::filesystem::path& path) {
  const std::string where = path.string();
  if (v.hidden_size <= 0) throw InputError(cat(where, ": hidden_size must be positive"));
  if (v.layers.empty()) throw InputError(cat(where, ": the vector has no layers"));
  if (v.best_layer != -1 && !v.has_layer(v.best_layer)) {
    throw InputError(cat(where, ": best_layer ", v.best_layer, " is not a present layer"));
  }
  SafetensorsWriter writer;
  int present = 0;
  for (int layer = 0; layer < static_cast<int>(v.layers.size()); ++layer) {
    const std::vector<float>& values = v.layers[layer];
    if (values.empty()) continue;
    if (values.size() != static_cast<std::size_t>(v.hidden_size)) {
      throw InputError(cat(where, ": layers.", layer, " has ", values.size(),
                           " values, expected hidden_size ", v.hidden_size));
    }
    check_values<InputError>(values, layer, where);
    writer.add_f32(layer_name(layer), {v.hidden_size}, values.data());
    ++present;
  }
  if (present == 0) throw InputError(cat(where, ": every layer of the vector is absent"));
  for (const auto& [key, value] : v.notes) {
    if (is_own_key(key)) throw InputError(cat(where, ": note '", key, "' is a reserved key"));
    writer.set_metadata(key, value);
  }
  writer.set_metadata(kFormatKey, kFormatVersion);
  writer.set_metadata("trait", v.trait);
  writer.set_metadata("method", v.method);
  writer.set_metadata("positions", v.positions);
  writer.set_metadata("pairs", std::to_string(v.pairs));
  writer.set_metadata("config_hash", v.model.config_hash);
  writer.set_metadata("tokenizer_fingerprint", v.model.tokenizer);
  writer.set_metadata("masque_version", v.masque_version);
  writer.set_metadata("hidden_size", std::to_string(v.hidden_size));
  writer.set_metadata("num_layers", std::to_string(v.num_layers()));
  writer.set_metadata("best_layer", std::to_string(v.best_layer));
  writer.write(path);
}

PersonaVector load_persona_vector(const std::filesystem::path& path) {
  if (file_starts_with(path, "GGUF")) return read_control_vector_gguf(path);
  return load_safetensors(path);
}

PersonaVector load_persona_vector(const std::filesystem::path& path, const ModelConfig& config,
                                  const Tokenizer& tokenizer) {
  PersonaVector v = load_persona_vector(path);
  check_vector_matches(v, model_fingerprint(config, tokenizer), config, path.string());
  return v;
}

LayerSite layer_site(int layer, int num_layers) {
  if (layer < 0 || layer > num_layers) {
    throw InputError(cat("layer ", layer, " is out of range: this model has layers 0..", num_layers,
                         " (0 = embeddings, L = residual after block L)"));
  }
  if (layer == 0) return {InterventionSite::kEmbed, -1};
  return {InterventionSite::kResidPost, layer - 1};
}

PositionScope steer_positions_scope(std::string_view name, std::string_view flag) {
  if (name == "all") return PositionScope::kAll;
  if (name == "prompt") return PositionScope::kPrompt;
  // Not kResponse: that leaves the last prompt row, whose logits give the
  // first reply token, unsteered.
  if (name == "response") return PositionScope::kGeneration;
  throw InputError(cat(flag, " must be all, prompt or response, got '", name, "'"));
}

namespace {

Intervention at_layer(const PersonaVector& v, int layer, InterventionKind kind, PositionScope scope,
                      int batch_row) {
  const LayerSite site = layer_site(layer, v.num_layers());
  Intervention iv;
  iv.site = site.site;
  iv.layer = site.block;
  iv.kind = kind;
  const std::span<const float> values = v.at(layer);
  iv.vector.assign(values.begin(), values.end());
  iv.scope = scope;
  iv.batch_row = batch_row;
  return iv;
}

}  // namespace

Intervention steer_intervention(const PersonaVector& vector, int layer, float coef,
                                PositionScope scope, int batch_row) {
  Intervention iv = at_layer(vector, layer, InterventionKind::kAdd, scope, batch_row);
  iv.alpha = coef;
  return iv;
}

Intervention ablate_intervention(const PersonaVector& vector, int layer, PositionScope scope,
                                 int batch_row) {
  return at_layer(vector, layer, InterventionKind::kProjectOut, scope, batch_row);
}

Intervention observe_intervention(int layer, int num_layers, Observation* observation,
                                  PositionScope scope, int batch_row) {
  const LayerSite site = layer_site(layer, num_layers);
  Intervention iv;
  iv.site = site.site;
  iv.layer = site.block;
  iv.kind = InterventionKind::kObserve;
  iv.scope = scope;
  iv.batch_row = batch_row;
  iv.observation = observation;
  return iv;
}

double projection(std::span<const float> activation, std::span<const float> vector) {
  if (activation.size() != vector.size()) {
    throw InputError(cat("projection: activation has ", activation.size(),
                         " values but the vector has ", vector.size()));
  }
  double dot = 0.0, norm2 = 0.0;
  for (std::size_t i = 0; i < vector.size(); ++i) {
    dot += static_cast<double>(activation[i]) * vector[i];
    norm2 += static_cast<double>(vector[i]) * vector[i];
  }
  if (norm2 == 0.0) throw InputError("projection onto a zero vector");
  return dot / std::sqrt(norm2);
}

}  // namespace masque::persona
