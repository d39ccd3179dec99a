// InterventionPass: one call's interventions bound to its rows. Built per
// forward call from the caller's Interventions and the rows' sequence,
// position and prompt/response labels; the decoder calls forward() at each
// site and, in training, backward() on the way back.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model/intervention.h"

namespace masque {

// What each row of a forward call is: its sequence (batch row), absolute
// position and (optionally) whether it is a response token.
struct CallRows {
  std::vector<std::int32_t> seq;
  std::vector<std::int32_t> pos;
  std::vector<std::uint8_t> response;  // empty: the call has no prompt/response split
  int size() const { return static_cast<int>(seq.size()); }
};

class InterventionPass {
 public:
  // set may be null (no interventions). InputError when a prompt/response
  // scope meets a call without the split.
  InterventionPass(const Interventions* set, const Backend& backend, const CallRows& rows, int dim);
  bool active() const { return !bound_.empty(); }
  bool at(InterventionSite site, int layer) const;
  bool modifies_at(InterventionSite site, int layer) const;
  // x: [rows, dim] activation at the site (device). Applies in list order.
  void forward(InterventionSite site, int layer, float* x) const;
  // dx: gradient at the site; project_out maps it through the projection,
  // in reverse order (add and observe pass it through).
  void backward(InterventionSite site, int layer, float* dx) const;

 private:
  struct Bound {
    const Intervention* spec;
    std::vector<std::int32_t> rows;  // selected row indices
    DeviceBuffer vector;             // add / project_out on the device
  };
  const Backend& backend_;
  const CallRows& call_;
  int dim_;
  std::vector<Bound> bound_;
};

}  // namespace masque
