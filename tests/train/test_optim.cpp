// AdamW, gradient clipping and LR schedules against hand-computed references.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"
#include "train/adamw.h"
#include "train/lr_schedule.h"

using namespace masque;

namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.max_position_embeddings = 16;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  return c;
}

void fill_grads(Model& model, std::uint64_t seed) {
  Rng rng(seed);
  float* g = model.grad_data();
  for (std::size_t i = 0; i < model.num_params(); ++i) g[i] = static_cast<float>(rng.normal());
}

}  // namespace

// Two steps of AdamW against a double-precision transcription of
// torch.optim.AdamW, element by element, including the no-decay mask.
TEST(AdamW, MatchesReferenceAndSkipsDecayOnNorms) {
  Model model(small_config());
  model.init_weights(3);
  AdamWConfig cfg;
  cfg.weight_decay = 0.5f;
  AdamW opt(model, cfg);
  const std::size_t n = model.num_params();
  std::vector<double> p(model.param_data(), model.param_data() + n), m(n, 0.0), v(n, 0.0);
  std::vector<double> mask(n, 0.0);
  bool saw_no_decay = false;
  for (const ParamView& view : model.params()) {
    saw_no_decay |= !view.weight_decay;
    for (std::size_t i = 0; i < view.numel; ++i)
      mask[view.offset + i] = view.weight_decay ? 1.0 : 0.0;
  }
  ASSERT_TRUE(saw_no_decay) << "norm weights must be excluded from weight decay";
  const double lr = 0.01;
  for (int t = 1; t <= 2; ++t) {
    fill_grads(model, 100 + t);
    const float* g = model.grad_data();
    for (std::size_t i = 0; i < n; ++i) {
      p[i] *= 1.0 - lr * cfg.weight_decay * mask[i];
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.95 * v[i] + 0.05 * static_cast<double>(g[i]) * g[i];
      const double mhat = m[i] / (1.0 - std::pow(0.9, t));
      const double vhat = v[i] / (1.0 - std::pow(0.95, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + 1e-8);
    }
    opt.step(static_cast<float>(lr));
  }
  EXPECT_EQ(opt.steps(), 2);
  double max_err = 0;
  for (std::size_t i = 0; i < n; ++i)
    max_err = std::max(max_err, std::abs(p[i] - model.param_data()[i]));
  EXPECT_LT(max_err, 1e-5);
}

TEST(AdamW, ZeroGradientOnlyDecaysMatrices) {
  Model model(small_config());
  model.init_weights(5);
  std::vector<float> before(model.param_data(), model.param_data() + model.num_params());
  AdamWConfig cfg;
  cfg.weight_decay = 0.1f;
  AdamW opt(model, cfg);
  model.zero_grad();
  opt.step(0.5f);
  for (const ParamView& view : model.params()) {
    const float expected = view.weight_decay ? 1.0f - 0.05f : 1.0f;
    EXPECT_FLOAT_EQ(view.data[0], before[view.offset] * expected) << view.name;
  }
}

TEST(ClipGradNorm, ScalesToMaxAndIsThreadIndependent) {
  Model model(small_config());
  fill_grads(model, 9);
  double sum = 0;
  for (std::size_t i = 0; i < model.num_params(); ++i)
    sum += double(model.grad_data()[i]) * model.grad_data()[i];
  const std::vector<float> grads(model.grad_data(), model.grad_data() + model.num_params());

  set_num_threads(1);
  const float norm1 = clip_grad_norm(model, 0.0f);  // 0 = measure only
  std::copy(grads.begin(), grads.end(), model.grad_data());
  set_num_threads(2);
  const float norm2 = clip_grad_norm(model, 0.0f);
  set_num_threads(0);
  EXPECT_EQ(norm1, norm2) << "fixed-order reduction must not depend on the thread count";
  EXPECT_NEAR(norm1, std::sqrt(sum), 1e-3 * std::sqrt(sum));
  EXPECT_EQ(model.grad_data()[3], grads[3]) << "max_norm 0 must not scale";

  const float norm = clip_grad_norm(model, 1.0f);
  EXPECT_EQ(norm, norm1);
  double after = 0;
  for (std::size_t i = 0; i < model.num_params(); ++i)
    after += double(model.grad_data()[i]) * model.grad_data()[i];
  EXPECT_NEAR(std::sqrt(after), 1.0, 1e-4);

  model.grad_data()[7] = NAN;
  EXPECT_TRUE(std::isnan(clip_grad_norm(model, 1.0f)));
}

TEST(LrSchedule, WarmupThenDecays) {
  LrSchedule s;
  s.lr = 1.0f;
  s.min_lr_ratio = 0.1f;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.kind = "cosine";
  EXPECT_FLOAT_EQ(s.at(1), 0.1f);
  EXPECT_FLOAT_EQ(s.at(10), 1.0f);
  EXPECT_NEAR(s.at(60), 0.55f, 1e-6);  // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(s.at(110), 0.1f, 1e-6);
  s.kind = "linear";
  EXPECT_NEAR(s.at(60), 0.55f, 1e-6);
  EXPECT_NEAR(s.at(35), 1.0f - 0.9f * 0.25f, 1e-6);
  s.kind = "constant";
  EXPECT_FLOAT_EQ(s.at(100), 1.0f);
  s.kind = "wsd";
  s.wsd_decay_fraction = 0.2f;  // decays over the last 22 steps
  EXPECT_FLOAT_EQ(s.at(88), 1.0f);
  EXPECT_NEAR(s.at(99), 1.0f - 0.9f * 0.5f, 1e-6);
  EXPECT_NEAR(s.at(110), 0.1f, 1e-6);
  s.kind = "step";
  EXPECT_THROW(s.validate(), InputError);
  s.kind = "cosine";
  s.lr = -1;
  EXPECT_THROW(s.validate(), InputError);
}
