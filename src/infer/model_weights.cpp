// Model <-> safetensors: the only place that knows how parameter views map to
// tensors in a file (names are already HF's, so this is a checked copy).
// Tensors pass through a host buffer, so weights on any backend load and save.
#include "infer/model_weights.h"

#include <set>
#include <vector>

#include "core/error.h"

namespace masque {
namespace {

bool ignorable(const std::string& name, bool tied) {
  if (tied && name == "lm_head.weight") return true;
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join_limited(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 8) out += cat(", ... (", names.size(), " in all)");
  return out;
}

}  // namespace

void save_model_weights(const Model& model, const std::filesystem::path& path,
                        const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer;
  std::vector<float> host;
  for (const ParamView& p : model.params()) {
    host.resize(p.numel);
    model.read_param(p, host.data());
    writer.add_f32(p.name, p.shape, host.data());
  }
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  writer.write(path);
}

void load_model_weights(Model& model, const SafetensorsSet& file) {
  const bool tied = model.config().tie_word_embeddings;
  std::set<std::string> expected;
  for (const ParamView& p : model.params()) expected.insert(p.name);
  std::vector<std::string> missing, unexpected;
  for (const std::string& name : expected) {
    if (!file.contains(name)) missing.push_back(name);
  }
  for (const std::string& name : file.names()) {
    if (!expected.count(name) && !ignorable(name, tied)) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty()) {
    std::string msg = cat(file.source().string(), " does not match the model config:");
    if (!missing.empty()) msg += cat(" missing tensors: ", join_limited(missing), ";");
    if (!unexpected.empty()) msg += cat(" unexpected tensors: ", join_limited(unexpected), ";");
    msg +=
        " (check that config.json belongs to these weights, e.g. num_hidden_layers, "
        "tie_word_embeddings, attention_bias, mlp_bias and model_type)";
    throw FormatError(msg);
  }
  std::vector<float> host;
  for (const ParamView& p : model.params()) {
    const TensorInfo& t = file.info(p.name);
    if (t.shape != p.shape) {
      throw FormatError(cat(file.source().string(), ": tensor '", p.name, "' has shape ",
                            Json(t.shape).dump(), " but the config implies ", Json(p.shape).dump(),
                            " (config.json and weights disagree)"));
    }
    host.resize(p.numel);
    file.read_f32(p.name, host.data(), p.numel);
    model.write_param(p, host.data());
  }
}

void load_model_weights(Model& model, const std::filesystem::path& path) {
  load_model_weights(model, SafetensorsSet(path));
}

}  // namespace masque
