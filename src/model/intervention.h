// Interventions: what a caller asks one forward pass (or one training step)
// to do to the residual stream, passed per call and never stored on the
// model, so steering one chat never touches another or a training run.
//
//   observe     copy the activation of each selected row into a caller-owned
//               Observation (per-row values and a running sum)
//   add         x += alpha * v                       (steering, preventative steering)
//   project_out x -= (x . u) u, u = v / |v|          (directional ablation)
//
// Sites (TransformerLens names in brackets):
//   embed       residual after the token embedding   [blocks.0.hook_resid_pre]
//   attn_out    attention output (after o_proj), layer l, before it joins the residual
//   mlp_out     MLP output (after down_proj), layer l, before it joins the residual
//   resid_post  residual after block l               [blocks.l.hook_resid_post]
// A position scope selects rows: all, prompt, response (rows the caller
// marked as response), generation (the rows whose logits pick response
// tokens: each sequence's last prompt row before its response, or at the
// end of a prompt-only call such as a prefill, and every response row; the
// persona-vectors "response" steering, docs/persona-vectors.md), or
// explicit absolute positions; batch_row limits it to one sequence of the
// call. In training the backward pass is exact: add
// and observe pass the gradient through; project_out maps it through the
// same (symmetric) projection.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/json_util.h"

namespace masque {

enum class InterventionSite { kEmbed, kAttnOut, kMlpOut, kResidPost };
enum class InterventionKind { kObserve, kAdd, kProjectOut };
enum class PositionScope { kAll, kPrompt, kResponse, kExplicit, kGeneration };

std::string_view site_name(InterventionSite site);
std::string_view kind_name(InterventionKind kind);
std::string_view scope_name(PositionScope scope);

// Where observed rows go (caller-owned; calls append to it).
struct Observation {
  int dim = 0;
  bool keep_rows = true;          // false: only sum and count (cheap for long runs)
  std::vector<std::int32_t> seq;  // batch row of each kept row within its call
  std::vector<std::int32_t> pos;  // absolute position of each kept row
  std::vector<float> values;      // [rows, dim]
  std::vector<double> sum;        // [dim], over every observed row
  std::int64_t count = 0;

  std::vector<double> mean() const;  // sum / count (empty when count == 0)
  void clear();
};

struct Intervention {
  InterventionSite site = InterventionSite::kResidPost;
  int layer = 0;  // ignored for kEmbed
  InterventionKind kind = InterventionKind::kObserve;
  std::vector<float> vector;  // add: v; project_out: direction (normalized when added)
  float alpha = 1.0f;         // add: scale of v
  PositionScope scope = PositionScope::kAll;
  std::vector<std::int32_t> positions;  // kExplicit: absolute positions
  int batch_row = -1;                   // -1: every sequence of the call
  Observation* observation = nullptr;   // observe: where rows go
};

// The set passed to one call; validated against the model's shape.
class Interventions {
 public:
  // InputError naming the field: layer outside [0, L), vector of the wrong
  // size, zero direction, observe without an Observation, explicit scope
  // without positions.
  Interventions& add(Intervention intervention, int num_layers, int hidden_size);
  bool empty() const { return list_.empty(); }
  bool any_at(InterventionSite site, int layer) const;
  bool any_modifies() const;  // add or project_out anywhere
  std::span<const Intervention> list() const { return list_; }

 private:
  std::vector<Intervention> list_;
};

// One intervention from JSON, for CLIs and tests:
//   {"site": "resid_post", "layer": 1, "kind": "add", "vector": [...],
//    "alpha": 4, "positions": "all" | "prompt" | "response" | [3, 4], "batch_row": 0}
// (observe needs an Observation attached by the caller afterwards).
Intervention intervention_from_json(const Json& value, std::string_view where);

}  // namespace masque
