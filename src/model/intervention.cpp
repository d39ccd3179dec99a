// Intervention specs: names, validation and the JSON form (see intervention.h).
#include "model/intervention.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace masque {

std::string_view site_name(InterventionSite site) {
  switch (site) {
    case InterventionSite::kEmbed:
      return "embed";
    case InterventionSite::kAttnOut:
      return "attn_out";
    case InterventionSite::kMlpOut:
      return "mlp_out";
    case InterventionSite::kResidPost:
      return "resid_post";
  }
  return "?";
}

std::string_view kind_name(InterventionKind kind) {
  switch (kind) {
    case InterventionKind::kObserve:
      return "observe";
    case InterventionKind::kAdd:
      return "add";
    case InterventionKind::kProjectOut:
      return "project_out";
  }
  return "?";
}

std::string_view scope_name(PositionScope scope) {
  switch (scope) {
    case PositionScope::kAll:
      return "all";
    case PositionScope::kPrompt:
      return "prompt";
    case PositionScope::kResponse:
      return "response";
    case PositionScope::kExplicit:
      return "explicit";
    case PositionScope::kGeneration:
      return "generation";
  }
  return "?";
}

std::vector<double> Observation::mean() const {
  if (count == 0) return {};
  std::vector<double> out(sum);
  for (double& x : out) x /= static_cast<double>(count);
  return out;
}

void Observation::clear() {
  seq.clear();
  pos.clear();
  values.clear();
  sum.assign(static_cast<std::size_t>(dim), 0.0);
  count = 0;
}

Interventions& Interventions::add(Intervention iv, int num_layers, int hidden_size) {
  const std::string what =
      cat("intervention ", list_.size(), " (", kind_name(iv.kind), " at ", site_name(iv.site),
          iv.site == InterventionSite::kEmbed ? std::string() : cat(" layer ", iv.layer), ")");
  if (iv.site != InterventionSite::kEmbed && (iv.layer < 0 || iv.layer >= num_layers)) {
    throw InputError(cat(what, ": layer must be in [0, ", num_layers, ") for this model"));
  }
  if (iv.site == InterventionSite::kEmbed) iv.layer = -1;
  if (iv.batch_row < -1)
    throw InputError(cat(what, ": batch_row must be >= 0, or -1 for every sequence"));
  if (iv.scope == PositionScope::kExplicit) {
    if (iv.positions.empty()) throw InputError(cat(what, ": explicit positions are empty"));
    for (std::int32_t p : iv.positions) {
      if (p < 0) throw InputError(cat(what, ": position ", p, " is negative"));
    }
    std::sort(iv.positions.begin(), iv.positions.end());
  }
  if (iv.kind == InterventionKind::kObserve) {
    if (iv.observation == nullptr)
      throw InputError(cat(what, ": observe needs an Observation to write to"));
    Observation& o = *iv.observation;
    if (o.dim != hidden_size || o.sum.size() != static_cast<std::size_t>(hidden_size)) {
      o.dim = hidden_size;
      o.clear();
    }
  } else {
    if (iv.vector.size() != static_cast<std::size_t>(hidden_size)) {
      throw InputError(cat(what, ": the vector has ", iv.vector.size(),
                           " values but the model's hidden_size is ", hidden_size));
    }
    double norm2 = 0.0;
    for (float x : iv.vector) {
      if (!std::isfinite(x)) throw InputError(cat(what, ": the vector holds a non-finite value"));
      norm2 += static_cast<double>(x) * x;
    }
    if (!std::isfinite(iv.alpha)) throw InputError(cat(what, ": alpha is not finite"));
    if (iv.kind == InterventionKind::kProjectOut) {
      if (norm2 == 0.0) throw InputError(cat(what, ": cannot project out a zero direction"));
      const double inv = 1.0 / std::sqrt(norm2);
      for (float& x : iv.vector) x = static_cast<float>(x * inv);
    }
  }
  list_.push_back(std::move(iv));
  return *this;
}

bool Interventions::any_at(InterventionSite site, int layer) const {
  return std::any_of(list_.begin(), list_.end(), [&](const Intervention& iv) {
    return iv.site == site && (site == InterventionSite::kEmbed || iv.layer == layer);
  });
}

bool Interventions::any_modifies() const {
  return std::any_of(list_.begin(), list_.end(),
                     [](const Intervention& iv) { return iv.kind != InterventionKind::kObserve; });
}

Intervention intervention_from_json(const Json& value, std::string_view where) {
  reject_unknown_fields(
      value, {"site", "layer", "kind", "vector", "alpha", "positions", "batch_row"}, where);
  Intervention iv;
  const std::string site = get_field<std::string>(value, "site", where);
  if (site == "embed") {
    iv.site = InterventionSite::kEmbed;
  } else if (site == "attn_out") {
    iv.site = InterventionSite::kAttnOut;
  } else if (site == "mlp_out") {
    iv.site = InterventionSite::kMlpOut;
  } else if (site == "resid_post") {
    iv.site = InterventionSite::kResidPost;
  } else {
    throw InputError(
        cat(where, ": unknown site '", site, "' (use embed, attn_out, mlp_out or resid_post)"));
  }
  iv.layer = iv.site == InterventionSite::kEmbed ? -1 : get_field<int>(value, "layer", where);
  const std::string kind = get_field<std::string>(value, "kind", where);
  if (kind == "observe") {
    iv.kind = InterventionKind::kObserve;
  } else if (kind == "add") {
    iv.kind = InterventionKind::kAdd;
  } else if (kind == "project_out") {
    iv.kind = InterventionKind::kProjectOut;
  } else {
    throw InputError(cat(where, ": unknown kind '", kind, "' (use observe, add or project_out)"));
  }
  if (iv.kind != InterventionKind::kObserve) {
    const Json& vec = value.contains("vector") ? value.at("vector") : Json();
    if (!vec.is_array())
      throw InputError(cat(where, ": '", kind, "' needs 'vector', an array of numbers"));
    for (const Json& x : vec) {
      if (!x.is_number())
        throw InputError(cat(where, ": 'vector' must hold only numbers, got ", x.dump()));
      iv.vector.push_back(x.get<float>());
    }
  } else if (value.contains("vector")) {
    throw InputError(cat(where, ": 'observe' takes no 'vector'"));
  }
  iv.alpha = get_field_or<float>(value, "alpha", where, 1.0f);
  iv.batch_row = get_field_or<int>(value, "batch_row", where, -1);
  if (value.contains("positions")) {
    const Json& p = value.at("positions");
    if (p.is_string()) {
      const std::string s = p.get<std::string>();
      if (s == "all") {
        iv.scope = PositionScope::kAll;
      } else if (s == "prompt") {
        iv.scope = PositionScope::kPrompt;
      } else if (s == "response") {
        iv.scope = PositionScope::kResponse;
      } else if (s == "generation") {
        iv.scope = PositionScope::kGeneration;
      } else {
        throw InputError(cat(where, ": positions '", s,
                             "' must be all, prompt, response, generation or a list of positions"));
      }
    } else if (p.is_array()) {
      iv.scope = PositionScope::kExplicit;
      for (const Json& x : p) {
        iv.positions.push_back(json_to_int<std::int32_t>(x, cat(where, ": positions entry")));
      }
    } else {
      throw InputError(cat(
          where, ": positions must be \"all\", \"prompt\", \"response\" or a list of integers"));
    }
  }
  return iv;
}

}  // namespace masque
