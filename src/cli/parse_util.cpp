// The --interventions file shared by `masque debug forward`, `sample` and
// `chat` (see parse_util.h). Every error names the file and the entry, so a
// script with many steering files can tell which one is wrong.
#include "cli/parse_util.h"

#include "core/json_util.h"

namespace masque::cli {

Interventions InterventionsFile::modifying(int num_layers, int hidden_size) const {
  Interventions out;
  for (const Intervention& spec : specs) {
    if (spec.kind != InterventionKind::kObserve) out.add(spec, num_layers, hidden_size);
  }
  return out;
}

InterventionsFile load_interventions_file(const std::string& path, int num_layers, int hidden_size,
                                          bool allow_observe, bool has_response_split) {
  const Json doc = read_json_file(path);
  if (!doc.is_array()) {
    throw InputError(cat("--interventions ", path,
                         ": expected a JSON array of intervention specs, got ", json_type_name(doc),
                         " (see docs/interventions.md)"));
  }
  InterventionsFile file;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const std::string where = cat("--interventions ", path, ", entry ", i);
    Intervention spec = intervention_from_json(doc[i], where);
    if (spec.kind == InterventionKind::kObserve && !allow_observe) {
      throw InputError(
          cat(where,
              ": kind 'observe' is for `masque debug forward`, which dumps what it observes; "
              "here only 'add' and 'project_out' act"));
    }
    if ((spec.scope == PositionScope::kPrompt || spec.scope == PositionScope::kResponse ||
         spec.scope == PositionScope::kGeneration) &&
        !has_response_split) {
      throw InputError(cat(where, ": positions \"", scope_name(spec.scope),
                           "\" needs response tokens marked (give --response-from N)"));
    }
    file.observations.push_back(
        spec.kind == InterventionKind::kObserve ? std::make_unique<Observation>() : nullptr);
    spec.observation = file.observations.back().get();
    try {
      // add() validates against the model (layer range, vector size, zero
      // direction) and normalizes project_out directions; keep its copy.
      file.all.add(spec, num_layers, hidden_size);
    } catch (const InputError& e) {
      throw InputError(cat(where, ": ", e.what()));
    }
    file.specs.push_back(file.all.list().back());
  }
  return file;
}

}  // namespace masque::cli
