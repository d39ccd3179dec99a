// Served persona vectors and the masque extension (see served_vectors.h).
#include "serve/served_vectors.h"

#include <cmath>

#include "serve/api_error.h"

namespace masque::serve {
namespace {

const ServedVector& find_vector(const std::vector<ServedVector>& vectors, const std::string& name,
                                const char* param) {
  for (const ServedVector& v : vectors) {
    if (v.name == name) return v;
  }
  std::string known;
  for (const ServedVector& v : vectors) known += (known.empty() ? "" : ", ") + v.name;
  throw ApiError(400,
                 cat("unknown vector '", name, "' (loaded: ",
                     known.empty() ? "none; start the server with --vector NAME=FILE" : known, ")"),
                 param);
}

const std::shared_ptr<const std::vector<float>>& layer_of(const ServedVector& v, int layer,
                                                          const char* param) {
  if (layer < 0 || layer >= static_cast<int>(v.layers.size()) || !v.layers[layer]) {
    std::string have;
    for (std::size_t i = 0; i < v.layers.size(); ++i)
      if (v.layers[i]) have += (have.empty() ? "" : ", ") + std::to_string(i);
    throw ApiError(400,
                   cat("vector '", v.name, "' has no layer ", layer, " (it has ", have,
                       layer == 0 ? "; layer 0, the token embedding, is present only in files "
                                    "whose embedding difference was nonzero"
                                  : "",
                       ")"),
                   param);
  }
  return v.layers[layer];
}

}  // namespace

ResolvedExtension resolve_extension(const MasqueExtension& ext,
                                    const std::vector<ServedVector>& vectors) {
  ResolvedExtension out;
  for (const SteerSpec& s : ext.steer) {
    const ServedVector& v = find_vector(vectors, s.vector, "masque.steer");
    const int layer = s.layer < 0 ? v.default_layer : s.layer;
    const auto& dir = layer_of(v, layer, "masque.steer");
    if (s.coefficient == 0) continue;  // a slider at zero steers nothing
    // JobSteer counts resid_post layers from 0 (block 1); -1 is the embedding.
    out.steer.push_back({layer - 1, dir, s.coefficient});
  }
  for (const std::string& name : ext.monitor) {
    const ServedVector& v = find_vector(vectors, name, "masque.monitor");
    const std::vector<float>& dir = *layer_of(v, v.default_layer, "masque.monitor");
    double norm = 0;
    for (float x : dir) norm += double(x) * x;
    norm = std::sqrt(norm);
    auto unit = std::make_shared<std::vector<float>>(dir.size());
    for (std::size_t i = 0; i < dir.size(); ++i)
      (*unit)[i] = norm > 0 ? static_cast<float>(dir[i] / norm) : 0.0f;
    out.monitor.push_back({v.default_layer - 1, std::move(unit)});  // -1: the embedding
  }
  return out;
}

Json vectors_json(const std::vector<ServedVector>& vectors) {
  Json data = Json::array();
  for (const ServedVector& v : vectors) {
    Json layers = Json::array();
    for (std::size_t i = 0; i < v.layers.size(); ++i)
      if (v.layers[i]) layers.push_back(i);
    data.push_back({{"id", v.name},
                    {"object", "vector"},
                    {"layers", layers},
                    {"default_layer", v.default_layer},
                    {"file", v.file}});
  }
  return {{"object", "list"}, {"data", data}};
}

}  // namespace masque::serve
