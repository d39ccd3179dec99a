// InterventionPass: row selection and application (see intervention_pass.h).
#include "model/intervention_pass.h"

#include <algorithm>

#include "core/error.h"

namespace masque {
namespace {

bool matches(const Intervention& iv, const CallRows& call, int r) {
  if (iv.batch_row >= 0 && call.seq[r] != iv.batch_row) return false;
  switch (iv.scope) {
    case PositionScope::kAll:
      return true;
    case PositionScope::kPrompt:
      return call.response[r] == 0;
    case PositionScope::kResponse:
      return call.response[r] != 0;
    case PositionScope::kExplicit:
      return std::binary_search(iv.positions.begin(), iv.positions.end(), call.pos[r]);
    case PositionScope::kGeneration: {
      // Response rows, and the prompt row whose logits pick the first
      // response token: the last prompt row before a response row of the
      // same sequence, or the last row of a sequence in the call (a prefill,
      // whose last logits the generator samples from).
      if (call.response[r] != 0) return true;
      const bool last_of_seq = r + 1 == call.size() || call.seq[r + 1] != call.seq[r];
      return last_of_seq || call.response[r + 1] != 0;
    }
  }
  return false;
}

bool site_matches(const Intervention& iv, InterventionSite site, int layer) {
  return iv.site == site && (site == InterventionSite::kEmbed || iv.layer == layer);
}

}  // namespace

InterventionPass::InterventionPass(const Interventions* set, const Backend& backend,
                                   const CallRows& rows, int dim)
    : backend_(backend), call_(rows), dim_(dim) {
  if (set == nullptr) return;
  for (const Intervention& iv : set->list()) {
    if ((iv.scope == PositionScope::kPrompt || iv.scope == PositionScope::kResponse ||
         iv.scope == PositionScope::kGeneration) &&
        rows.response.empty()) {
      throw InputError(
          cat("an intervention scoped to ", scope_name(iv.scope),
              " positions needs calls that mark response tokens (this call has no prompt/response "
              "split; use positions \"all\" or explicit positions)"));
    }
    Bound b{&iv, {}, {}};
    for (int r = 0; r < rows.size(); ++r) {
      if (matches(iv, rows, r)) b.rows.push_back(r);
    }
    if (b.rows.empty()) continue;
    if (iv.kind != InterventionKind::kObserve) {
      b.vector = DeviceBuffer::floats(backend, iv.vector.size());
      b.vector.upload(iv.vector.data(), iv.vector.size() * sizeof(float));
    }
    bound_.push_back(std::move(b));
  }
}

bool InterventionPass::at(InterventionSite site, int layer) const {
  return std::any_of(bound_.begin(), bound_.end(),
                     [&](const Bound& b) { return site_matches(*b.spec, site, layer); });
}

bool InterventionPass::modifies_at(InterventionSite site, int layer) const {
  return std::any_of(bound_.begin(), bound_.end(), [&](const Bound& b) {
    return site_matches(*b.spec, site, layer) && b.spec->kind != InterventionKind::kObserve;
  });
}

void InterventionPass::forward(InterventionSite site, int layer, float* x) const {
  for (const Bound& b : bound_) {
    const Intervention& iv = *b.spec;
    if (!site_matches(iv, site, layer)) continue;
    switch (iv.kind) {
      case InterventionKind::kAdd:
        backend_.add_vector_rows(x, dim_, b.rows, b.vector.f32(), iv.alpha);
        break;
      case InterventionKind::kProjectOut:
        backend_.project_out_rows(x, dim_, b.rows, b.vector.f32());
        break;
      case InterventionKind::kObserve: {
        Observation& o = *iv.observation;
        std::vector<float> host(b.rows.size() * static_cast<std::size_t>(dim_));
        backend_.gather_rows(host.data(), x, dim_, b.rows);
        for (std::size_t i = 0; i < b.rows.size(); ++i) {
          const float* row = host.data() + i * dim_;
          for (int j = 0; j < dim_; ++j) o.sum[j] += row[j];
          if (o.keep_rows) {
            o.seq.push_back(call_.seq[b.rows[i]]);
            o.pos.push_back(call_.pos[b.rows[i]]);
          }
        }
        if (o.keep_rows) o.values.insert(o.values.end(), host.begin(), host.end());
        o.count += static_cast<std::int64_t>(b.rows.size());
        break;
      }
    }
  }
}

void InterventionPass::backward(InterventionSite site, int layer, float* dx) const {
  for (auto it = bound_.rbegin(); it != bound_.rend(); ++it) {
    const Intervention& iv = *it->spec;
    if (site_matches(iv, site, layer) && iv.kind == InterventionKind::kProjectOut) {
      backend_.project_out_rows(dx, dim_, it->rows, it->vector.f32());
    }
  }
}

}  // namespace masque
