// Inference-only Q8_0 copies of a model's linear weights (docs/gguf.md):
// decoding on the CPU reads them instead of the float32 parameters, ~3.6x
// fewer bytes (linear_forward in decoder_block.h, kernels in
// backend/cpu/q8_matmul.h). Each copy holds exactly the values of the float32
// parameter it stands for, which stays (prefill's GEMM and everything else
// read it). Any write to the parameters (Model::write_param, non-const
// param_data, init_weights, copy_params_from) drops the copies, so they never
// go stale.
#pragma once
#include <map>
#include <string>

#include "backend/q8_matrix.h"
#include "model/model.h"

namespace masque {

// Keyed by parameter name (2-D weights). q|k|v and gate|up are used only
// when all their parts are given; the LM head is model.embed_tokens.weight
// when tied. A no-op on a backend that does not address host memory. Error
// on an unknown name or a shape that differs from the parameter's.
void set_q8_weights(Model& model, std::map<std::string, Q8Matrix> weights);

// Quantizes every linear weight (and a tied embedding) to Q8_0 as ggml does,
// sets the float32 parameters to the quantized values (as a Q8_0 GGUF export
// and reload would) and keeps the copies; rows not a multiple of 32 stay
// float32 only.
void quantize_q8(Model& model);

void drop_q8_weights(Model& model);
bool has_q8_weights(const Model& model);

}  // namespace masque
