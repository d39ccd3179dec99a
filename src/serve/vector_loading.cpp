// Loading --vector files for the server (see vector_loading.h).
#include "serve/vector_loading.h"

#include <cctype>
#include <set>

#include "core/error.h"
#include "persona/persona_vector.h"

namespace masque::serve {

VectorArg parse_vector_arg(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw InputError(cat("--vector '", text, "': expected NAME=FILE or NAME=FILE:LAYER"));
  VectorArg arg;
  arg.name = text.substr(0, eq);
  for (char c : arg.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      throw InputError(cat("--vector '", text, "': the name may hold letters, digits, _ - ."));
  }
  arg.file = text.substr(eq + 1);
  // A trailing ":digits" is the layer; other colons belong to the path.
  const std::size_t colon = arg.file.rfind(':');
  if (colon != std::string::npos && colon + 1 < arg.file.size() &&
      arg.file.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
    arg.layer = std::stoi(arg.file.substr(colon + 1));
    arg.file.resize(colon);
  }
  return arg;
}

std::vector<ServedVector> load_vectors(const std::vector<VectorArg>& args,
                                       const ModelConfig& config, const Tokenizer& tokenizer) {
  std::vector<ServedVector> out;
  std::set<std::string> names;
  for (const VectorArg& arg : args) {
    if (!names.insert(arg.name).second)
      throw InputError(cat("--vector: the name '", arg.name, "' is given twice"));
    const persona::PersonaVector pv = persona::load_persona_vector(arg.file, config, tokenizer);
    ServedVector sv;
    sv.name = arg.name;
    sv.file = arg.file;
    sv.layers.resize(static_cast<std::size_t>(config.num_hidden_layers) + 1);
    for (int layer = 0; layer <= config.num_hidden_layers; ++layer) {
      if (!pv.has_layer(layer)) continue;
      const std::span<const float> v = pv.at(layer);
      sv.layers[layer] = std::make_shared<const std::vector<float>>(v.begin(), v.end());
    }
    sv.default_layer = arg.layer >= 0 ? arg.layer : pv.default_layer();
    if (sv.default_layer < 0 || sv.default_layer > config.num_hidden_layers ||
        !sv.layers[sv.default_layer]) {
      throw InputError(cat("--vector ", arg.name, ": ", arg.file, " has no layer ",
                           sv.default_layer, " in 0..", config.num_hidden_layers,
                           " (0 is the token embedding, L the residual after block L; give "
                           "NAME=FILE:LAYER)"));
    }
    out.push_back(std::move(sv));
  }
  return out;
}

}  // namespace masque::serve
