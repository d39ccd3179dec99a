// `--vector NAME=FILE[:LAYER]`: persona-vector files (persona/persona_vector.h)
// loaded at start for steering and the meter, each checked against the
// served model (another model's vector is a start-up error, not a 400 later).
#pragma once
#include <string>
#include <vector>

#include "model/config.h"
#include "serve/served_vectors.h"
#include "tokenizer/tokenizer.h"

namespace masque::serve {

struct VectorArg {
  std::string name;
  std::string file;
  int layer = -1;  // -1: the file's recorded best layer
};

// InputError for a missing '=', an empty or non-identifier name, or a bad layer.
VectorArg parse_vector_arg(const std::string& text);

// FormatError/InputError naming the file: unreadable, malformed, another
// model, a layer the file lacks, a duplicate name.
std::vector<ServedVector> load_vectors(const std::vector<VectorArg>& args,
                                       const ModelConfig& config, const Tokenizer& tokenizer);

}  // namespace masque::serve
