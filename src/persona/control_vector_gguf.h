// llama.cpp control vectors (GGUF, general.architecture = "controlvector")
// as PersonaVectors. llama.cpp adds direction.k (k >= 1) to the output of
// its 0-based block k, which is persona-vector layer k + 1
// (docs/persona-vectors.md); repeng writes the same convention. Layers 0
// (embeddings) and 1 have no llama.cpp counterpart. Files are read and
// written with io/gguf.h.
#pragma once
#include <filesystem>
#include <string>

#include "persona/persona_vector.h"

namespace masque::persona {

// method "gguf", unknown fingerprint, best_layer -1 (steering without a layer
// applies every direction, as llama.cpp does). FormatError naming the file
// for a malformed or foreign GGUF: another architecture, tensors other than
// direction.k (k >= 1), non-1-D or differently sized directions, NaN/inf.
PersonaVector read_control_vector_gguf(const std::filesystem::path& path);

// Writes direction.(L-1) for every present layer L >= 2, general.architecture
// "controlvector", controlvector.model_hint and controlvector.layer_count
// (u32, the number of directions written). InputError when the vector has no
// layer >= 2. Atomic; returns the number of directions written.
int write_control_vector_gguf(const PersonaVector& vector, const std::string& model_hint,
                              const std::filesystem::path& path);

}  // namespace masque::persona
