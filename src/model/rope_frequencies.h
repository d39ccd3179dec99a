// RoPE inverse frequencies of a config, with the frequency scaling of
// transformers' ROPE_INIT_FUNCTIONS applied: "default" theta^(-2i/head_dim),
// "linear" divides them by the factor (positions interpolated), "llama3"
// (Llama 3.1) leaves high frequencies alone, divides low ones by the factor
// and blends smoothly in between. The model builds its cos/sin tables from
// these, so every backend sees the scaled rotation.
#pragma once
#include <vector>

#include "model/config.h"

namespace masque {

// [head_dim / 2] inverse frequencies in radians per position.
std::vector<double> rope_inv_freq(const ModelConfig& config);

}  // namespace masque
