// The DPO objective on a batch of preference pairs (Rafailov et al. 2023).
// Rows 2p / 2p+1 of a batch hold pair p's chosen / rejected sequence with
// targets on the reply only. With pi and ref the summed reply log-probs
// under the policy and the frozen reference, and
//   h = (pi_c - ref_c) - (pi_r - ref_r)
//   sigmoid: L = -mean log sigmoid(beta * h)
//   ipo:     L =  mean (h - 1/(2 beta))^2      (on summed log-probs)
// dL/dpi_c = -dL/dpi_r, so the gradient is the cross-entropy gradient with a
// per-token weight w_c = -dL/dpi_c on chosen tokens and -w_c on rejected
// ones (Model CallOptions::loss_weights). A step is: reference forward (no
// gradient), policy forward for pi, then the weighted forward+backward.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "model/model.h"

namespace masque {

enum class DpoLossKind { kSigmoid, kIpo };
DpoLossKind parse_dpo_loss(const std::string& name);  // InputError on others

struct DpoPairScores {
  std::vector<double> policy;     // [2P] summed reply log-probs, rows as in the batch
  std::vector<double> reference;  // [2P]
};

struct DpoBatchResult {
  double loss = 0;                            // mean over pairs
  std::vector<double> dloss_dchosen;          // [P] dL/dpi_c (dL/dpi_r is its negative)
  double reward_margin = 0;                   // mean beta*(h)
  double reward_accuracy = 0;                 // fraction with h > 0
  double chosen_logp = 0, rejected_logp = 0;  // mean policy log-probs
  double chosen_reward = 0, rejected_reward = 0;
};

// The loss and its derivatives from the scores (pure; tested on its own).
DpoBatchResult dpo_objective(const DpoPairScores& scores, double beta, DpoLossKind kind);

// Summed target log-probs per row: -sum of the rows' token cross-entropies.
std::vector<double> sequence_logprobs(Model& model, const std::int32_t* tokens,
                                      const std::int32_t* targets, int rows, int T);

class DpoStep {
 public:
  // `reference` is never written; it may be null when ref_scores are given.
  DpoStep(Model& policy, Model& reference, double beta, DpoLossKind kind)
      : policy_(policy), reference_(reference), beta_(beta), kind_(kind) {}
  // Loss of the micro-batch (mean over its pairs); adds grad_scale * dL/dparam
  // into the policy's gradients.
  float forward_backward(const std::int32_t* tokens, const std::int32_t* targets, int rows, int T,
                         float grad_scale);
  // Means of the metrics over the micro-batches since the last call.
  Json take_metrics();

 private:
  Model& policy_;
  Model& reference_;
  double beta_;
  DpoLossKind kind_;
  std::vector<float> weights_;
  int count_ = 0;
  DpoBatchResult sum_;
};

}  // namespace masque
