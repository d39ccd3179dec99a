// Q8_0 GGUF files decode from their own Q8_0 blocks (model/model_q8.h):
// the copies are exactly the file's blocks in HF row order (their dequantized
// values equal the float32 parameters bit for bit, Q/K permutation included),
// logits through the Q8_0 kernels equal the float32 path's up to summation
// order, quantize_q8 is what a Q8_0 export and reload gives, and any
// write to the parameters drops the copies; linear_forward reads the copy at
// decoding's row counts only.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/q8_matmul.h"
#include "core/rng.h"
#include "infer/gguf_model.h"
#include "model/model_impl.h"
#include "model/model_q8.h"
#include "tiny_world.h"

namespace masque {
namespace {

namespace fs = std::filesystem;

LoadedModel tiny_loaded(const test_world::TinyWorld& w, bool tied, std::uint64_t seed) {
  ModelConfig c = w.config;
  c.tie_word_embeddings = tied;
  LoadedModel loaded;
  loaded.model = std::make_unique<Model>(c);
  loaded.model->init_weights(seed);
  loaded.tokenizer = Tokenizer::from_json_text(w.tokenizer.to_json_text(), "tiny");
  loaded.dir = w.dir / "no-such-model";
  return loaded;
}

std::vector<float> logits_of(const Model& model, const std::vector<std::int32_t>& ids) {
  std::vector<float> out(ids.size() * model.config().vocab_size);
  model.forward_logits(ids.data(), 1, static_cast<int>(ids.size()), out.data());
  return out;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// The Q8_0 copy dequantizes to exactly the float32 weight it stands for.
void expect_copy_is_weight(const Q8Matrix* q8, const float* weight, const char* what) {
  ASSERT_NE(q8, nullptr) << what;
  const std::vector<float> deq = cpu::q8_dequantize(*q8);
  for (std::size_t i = 0; i < deq.size(); ++i) {
    ASSERT_EQ(deq[i], weight[i]) << what << " element " << i;
  }
}

TEST(GgufQ8, LoadKeepsTheFilesBlocksAndDecodesLikeFloat32) {
  const auto w = test_world::make_tiny_world("gguf_q8");
  const std::vector<std::int32_t> ids{1, 2, 3, 50, 60, 70, 80, 90};
  for (bool tied : {false, true}) {
    const LoadedModel src = tiny_loaded(w, tied, 7);
    const fs::path path = w.dir / (tied ? "tied-q8.gguf" : "untied-q8.gguf");
    GgufExportOptions o;
    o.type = GgmlType::Q8_0;
    export_gguf(src, path, o);
    const LoadedModel q = load_gguf_model(path);
    ASSERT_TRUE(has_q8_weights(*q.model));
    const Model::Impl& m = q.model->impl();
    for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
      expect_copy_is_weight(m.w[l].q8_wqkv, m.w[l].wqkv, "wqkv");
      expect_copy_is_weight(m.w[l].q8_wo, m.w[l].wo, "wo");
      expect_copy_is_weight(m.w[l].q8_wgu, m.w[l].wgu, "wgu");
      expect_copy_is_weight(m.w[l].q8_wdown, m.w[l].wdown, "wdown");
    }
    expect_copy_is_weight(m.q8_lm_head, m.lm_head, "lm_head");
    // 8 rows (<= kQ8MaxRows: the Q8_0 kernels) against the float32 path on
    // the same weights. No activation rounding: float32 summation order only.
    const std::vector<float> got = logits_of(*q.model, ids);
    const std::vector<float> one = logits_of(*q.model, {ids[0]});
    drop_q8_weights(*q.model);
    EXPECT_FALSE(has_q8_weights(*q.model));
    const std::vector<float> ref = logits_of(*q.model, ids);
    EXPECT_LT(relative_error(got, ref), 1e-5) << "tied " << tied;
    EXPECT_LT(relative_error(one, logits_of(*q.model, {ids[0]})), 1e-5) << "tied " << tied;
  }
}

TEST(GgufQ8, QuantizeAtLoadEqualsAQ8Export) {
  const auto w = test_world::make_tiny_world("gguf_q8_quantize");
  const LoadedModel src = tiny_loaded(w, true, 3);
  const fs::path path = w.dir / "q8.gguf";
  GgufExportOptions o;
  o.type = GgmlType::Q8_0;
  export_gguf(src, path, o);
  const LoadedModel file = load_gguf_model(path);
  quantize_q8(*src.model);
  ASSERT_TRUE(has_q8_weights(*src.model));
  std::vector<float> a, b;
  for (const ParamView& p : src.model->params()) {
    a.resize(p.numel);
    b.resize(p.numel);
    src.model->read_param(p, a.data());
    file.model->read_param(file.model->param(p.name), b.data());
    ASSERT_EQ(a, b) << p.name;
  }
  const std::vector<std::int32_t> ids{4, 5, 6};
  EXPECT_LT(relative_error(logits_of(*src.model, ids), logits_of(*file.model, ids)), 1e-5);
}

TEST(GgufQ8, WritingParametersDropsTheCopies) {
  const auto w = test_world::make_tiny_world("gguf_q8_drop");
  LoadedModel src = tiny_loaded(w, false, 1);
  quantize_q8(*src.model);
  ASSERT_TRUE(has_q8_weights(*src.model));
  const ParamView& p = src.model->param("model.layers.0.mlp.up_proj.weight");
  std::vector<float> host(p.numel, 0.5f);
  src.model->write_param(p, host.data());
  EXPECT_FALSE(has_q8_weights(*src.model));
  quantize_q8(*src.model);
  src.model->param_data();  // the optimizer's writable view
  EXPECT_FALSE(has_q8_weights(*src.model));
}

// With a float32 weight deliberately different from the Q8_0 copy, each row
// count shows which one linear_forward read.
TEST(GgufQ8, LinearForwardReadsTheCopyForFewRowsOnly) {
  Rng rng(9);
  const int in = 64, out_dim = 8;
  std::vector<float> wf(static_cast<std::size_t>(out_dim) * in);
  for (float& x : wf) x = static_cast<float>(rng.normal());
  const Q8Matrix w = cpu::q8_quantize(wf.data(), out_dim, in);
  const std::vector<float> deq = cpu::q8_dequantize(w);
  const std::vector<float> zero_weight(wf.size(), 0.0f);
  for (int rows : {1, cpu::kQ8MaxRows, cpu::kQ8MaxRows + 1}) {
    std::vector<float> a(static_cast<std::size_t>(rows) * in);
    for (float& x : a) x = static_cast<float>(rng.normal());
    std::vector<float> out(static_cast<std::size_t>(rows) * out_dim, 1.0f);
    linear_forward(cpu_backend(), out.data(), a.data(), zero_weight.data(), &w, rows, in, out_dim,
                   true);
    std::vector<float> want(out.size(), 1.0f);
    if (rows <= cpu::kQ8MaxRows) {
      for (int r = 0; r < rows; ++r)
        for (int n = 0; n < out_dim; ++n) {
          double s = 1.0;
          for (int k = 0; k < in; ++k) s += static_cast<double>(a[r * in + k]) * deq[n * in + k];
          want[r * out_dim + n] = static_cast<float>(s);
        }
    }
    EXPECT_LT(relative_error(out, want), 1e-5) << rows;  // > kQ8MaxRows: float32 zero weight
  }
}

}  // namespace
}  // namespace masque
