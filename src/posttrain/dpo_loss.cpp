// The DPO objective and its weighted training step (see dpo_loss.h).
#include "posttrain/dpo_loss.h"

#include <cmath>

#include "core/error.h"

namespace masque {

DpoLossKind parse_dpo_loss(const std::string& name) {
  if (name == "sigmoid") return DpoLossKind::kSigmoid;
  if (name == "ipo") return DpoLossKind::kIpo;
  throw InputError(cat("--loss '", name, "' is not a DPO loss (use sigmoid or ipo)"));
}

DpoBatchResult dpo_objective(const DpoPairScores& s, double beta, DpoLossKind kind) {
  const std::size_t P = s.policy.size() / 2;
  DpoBatchResult r;
  r.dloss_dchosen.resize(P);
  for (std::size_t p = 0; p < P; ++p) {
    const double pc = s.policy[2 * p], pr = s.policy[2 * p + 1];
    const double rc = pc - s.reference[2 * p], rr = pr - s.reference[2 * p + 1];
    const double h = rc - rr;
    double loss = 0, dh = 0;  // per pair: loss and dloss/dh
    if (kind == DpoLossKind::kSigmoid) {
      const double z = beta * h;
      // -log sigmoid(z) = softplus(-z), stable for both signs.
      loss = std::max(-z, 0.0) + std::log1p(std::exp(-std::abs(z)));
      dh = -beta / (1.0 + std::exp(z));  // -beta * sigmoid(-z)
    } else {
      const double gap = h - 1.0 / (2.0 * beta);
      loss = gap * gap;
      dh = 2.0 * gap;
    }
    r.loss += loss / P;
    r.dloss_dchosen[p] = dh / P;
    r.reward_margin += beta * h / P;
    r.reward_accuracy += (h > 0 ? 1.0 : 0.0) / P;
    r.chosen_logp += pc / P;
    r.rejected_logp += pr / P;
    r.chosen_reward += beta * rc / P;
    r.rejected_reward += beta * rr / P;
  }
  return r;
}

std::vector<double> sequence_logprobs(Model& model, const std::int32_t* tokens,
                                      const std::int32_t* targets, int rows, int T) {
  std::vector<float> token_losses(static_cast<std::size_t>(rows) * T);
  CallOptions call;
  call.token_losses = token_losses.data();
  model.forward_loss(tokens, targets, rows, T, call);
  std::vector<double> out(static_cast<std::size_t>(rows), 0.0);
  for (int r = 0; r < rows; ++r) {
    for (int t = 0; t < T; ++t) out[r] -= token_losses[static_cast<std::size_t>(r) * T + t];
  }
  return out;
}

float DpoStep::forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int rows,
                                int T, float grad_scale) {
  if (rows % 2 != 0) throw Error("DPO batch must hold chosen/rejected row pairs");
  DpoPairScores scores;
  scores.reference = sequence_logprobs(reference_, tokens, targets, rows, T);
  scores.policy = sequence_logprobs(policy_, tokens, targets, rows, T);
  const DpoBatchResult r = dpo_objective(scores, beta_, kind_);
  // d(CE_token) weight = dL/d(-pi) = -dL/dpi for the row's reply tokens.
  weights_.assign(static_cast<std::size_t>(rows) * T, 0.0f);
  for (int row = 0; row < rows; ++row) {
    const double dpi = row % 2 == 0 ? r.dloss_dchosen[row / 2] : -r.dloss_dchosen[row / 2];
    const float w = static_cast<float>(-dpi);
    for (int t = 0; t < T; ++t) {
      const std::size_t i = static_cast<std::size_t>(row) * T + t;
      if (targets[i] >= 0) weights_[i] = w;
    }
  }
  CallOptions call;
  call.loss_weights = weights_.data();
  policy_.forward_backward(tokens, targets, rows, T, grad_scale, call);
  ++count_;
  sum_.loss += r.loss;
  sum_.reward_margin += r.reward_margin;
  sum_.reward_accuracy += r.reward_accuracy;
  sum_.chosen_logp += r.chosen_logp;
  sum_.rejected_logp += r.rejected_logp;
  sum_.chosen_reward += r.chosen_reward;
  sum_.rejected_reward += r.rejected_reward;
  return static_cast<float>(r.loss);
}

Json DpoStep::take_metrics() {
  const double n = count_ > 0 ? count_ : 1;
  Json out = {{"dpo_loss", sum_.loss / n},
              {"reward_margin", sum_.reward_margin / n},
              {"reward_accuracy", sum_.reward_accuracy / n},
              {"chosen_logp", sum_.chosen_logp / n},
              {"rejected_logp", sum_.rejected_logp / n},
              {"chosen_reward", sum_.chosen_reward / n},
              {"rejected_reward", sum_.rejected_reward / n}};
  count_ = 0;
  sum_ = {};
  return out;
}

}  // namespace masque
