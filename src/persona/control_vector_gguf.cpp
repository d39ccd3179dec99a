// Control-vector GGUF files (see control_vector_gguf.h).
#include "persona/control_vector_gguf.h"

#include <cmath>

#include "core/error.h"
#include "io/gguf.h"

namespace masque::persona {

PersonaVector read_control_vector_gguf(const std::filesystem::path& path) {
  const std::string where = path.string();
  const GgufFile file(path);
  const GgufValue* arch = file.find("general.architecture");
  if (arch == nullptr || arch->type() != GgufType::STRING ||
      arch->as_string("general.architecture") != "controlvector") {
    throw FormatError(cat(where,
                          ": not a control vector (general.architecture must be "
                          "\"controlvector\"); model GGUF files cannot steer"));
  }
  PersonaVector v;
  v.method = "gguf";
  v.positions = "all";
  if (const GgufValue* hint = file.find("controlvector.model_hint");
      hint != nullptr && hint->type() == GgufType::STRING) {
    v.notes["model_hint"] = hint->as_string("controlvector.model_hint");
    v.trait = v.notes["model_hint"];
  }
  if (file.tensors().empty()) throw FormatError(cat(where, ": the control vector has no tensors"));
  for (const GgufTensorInfo& t : file.tensors()) {
    int k = -1;
    if (t.name.rfind("direction.", 0) == 0) {
      try {
        std::size_t used = 0;
        k = std::stoi(t.name.substr(10), &used);
        if (used != t.name.size() - 10) k = -1;
      } catch (const std::exception&) {
        k = -1;
      }
    }
    if (k < 1 || k > 100000) {
      throw FormatError(cat(where, ": unexpected tensor '", t.name,
                            "' (a control vector holds direction.k, k >= 1)"));
    }
    if (t.dims.size() != 1 || t.dims[0] == 0) {
      throw FormatError(cat(where, ": ", t.name, " must be a 1-D vector"));
    }
    const int hidden = static_cast<int>(t.dims[0]);
    if (v.hidden_size != 0 && hidden != v.hidden_size) {
      throw FormatError(
          cat(where, ": ", t.name, " has ", hidden, " values, other directions ", v.hidden_size));
    }
    v.hidden_size = hidden;
    const int layer = k + 1;
    if (static_cast<int>(v.layers.size()) <= layer) v.layers.resize(layer + 1);
    if (!v.layers[layer].empty()) throw FormatError(cat(where, ": ", t.name, " appears twice"));
    v.layers[layer] = file.tensor_f32(t.name);
    double norm2 = 0;
    for (float x : v.layers[layer]) {
      if (!std::isfinite(x)) throw FormatError(cat(where, ": ", t.name, " holds a NaN or inf"));
      norm2 += double(x) * x;
    }
    // llama.cpp skips zero directions; an all-zero tensor is simply absent.
    if (norm2 == 0.0) v.layers[layer].clear();
  }
  bool any = false;
  for (const auto& l : v.layers) any = any || !l.empty();
  if (!any) throw FormatError(cat(where, ": every direction of the control vector is zero"));
  return v;
}

int write_control_vector_gguf(const PersonaVector& vector, const std::string& model_hint,
                              const std::filesystem::path& path) {
  std::vector<GgufF32Tensor> tensors;
  for (int layer = 2; layer <= vector.num_layers(); ++layer) {
    if (!vector.has_layer(layer)) continue;
    const std::span<const float> values = vector.at(layer);
    tensors.push_back({cat("direction.", layer - 1),
                       {static_cast<std::uint64_t>(values.size())},
                       std::vector<float>(values.begin(), values.end())});
  }
  if (tensors.empty()) {
    throw InputError(cat(path.string(),
                         ": the vector has no layer >= 2; llama.cpp control "
                         "vectors start at the output of block 1 (layer 2)"));
  }
  write_gguf_f32(
      path,
      {{"general.architecture", GgufValue::string("controlvector")},
       {"controlvector.model_hint", GgufValue::string(model_hint)},
       {"controlvector.layer_count", GgufValue::u32(static_cast<std::uint32_t>(tensors.size()))}},
      tensors);
  return static_cast<int>(tensors.size());
}

}  // namespace masque::persona
