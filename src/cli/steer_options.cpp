// --steer / --steer-positions / --monitor (see steer_options.h).
#include "cli/steer_options.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace masque::cli {

void add_steer_flags(CLI::App* cmd, SteerFlags& flags, bool with_monitor) {
  cmd->add_option("--steer", flags.steer,
                  "Persona vector to add while generating: FILE[:LAYER[:COEF]] (repeatable; "
                  "default layer: the vector's best, coefficient 1; .safetensors or llama.cpp "
                  ".gguf; docs/persona-vectors.md)");
  cmd->add_option("--steer-positions", flags.positions,
                  "Where --steer adds: all, prompt (prefill) or response (generated tokens)")
      ->capture_default_str();
  if (with_monitor) {
    cmd->add_option("--monitor", flags.monitor,
                    "Persona vector FILE[:LAYER] to monitor: print each reply's projection "
                    "(repeatable)");
  }
}

namespace {

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  try {
    std::size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size() && std::isfinite(out);
  } catch (const std::exception&) {
    return false;
  }
}

bool parse_layer(const std::string& text, int& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  try {
    out = std::stoi(text);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

SteerSpec parse_steer_spec(const std::string& text, const char* flag, bool allow_coef) {
  SteerSpec spec;
  spec.path = text;
  const auto usage = [&] {
    return cat(flag, " '", text, "': expected FILE", allow_coef ? "[:LAYER[:COEF]]" : "[:LAYER]",
               " with LAYER a non-negative integer", allow_coef ? " and COEF a number" : "");
  };
  // Up to two trailing ':'-fields, read from the right; a field that is not
  // a number belongs to the path (paths may hold ':').
  std::vector<std::string> tail;
  std::string rest = text;
  for (int i = 0; i < (allow_coef ? 2 : 1); ++i) {
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string::npos) break;
    double value = 0;
    if (!parse_number(rest.substr(colon + 1), value)) break;
    tail.insert(tail.begin(), rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  spec.path = rest;
  if (spec.path.empty()) throw InputError(usage());
  if (!tail.empty()) {
    if (!parse_layer(tail[0], spec.layer)) throw InputError(usage());
  }
  if (tail.size() == 2) {
    double coef = 0;
    parse_number(tail[1], coef);
    spec.coef = static_cast<float>(coef);
    spec.has_coef = true;
  }
  return spec;
}

PositionScope parse_steer_positions(const std::string& text, const char* flag) {
  return persona::steer_positions_scope(text, flag);
}

std::pair<double, double> Monitor::take() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::pair<double, double> out{nan, nan};
  const std::span<const float> v = vector.at(layer);
  const int d = static_cast<int>(v.size());
  if (!prompt->pos.empty()) {
    std::size_t last = 0;
    for (std::size_t r = 1; r < prompt->pos.size(); ++r) {
      if (prompt->pos[r] >= prompt->pos[last]) last = r;
    }
    out.first = persona::projection(
        std::span<const float>(prompt->values).subspan(last * static_cast<std::size_t>(d), d), v);
  }
  if (response->count > 0) {
    std::vector<float> mean(d);
    const std::vector<double> m = response->mean();
    for (int k = 0; k < d; ++k) mean[k] = static_cast<float>(m[k]);
    out.second = persona::projection(mean, v);
  }
  prompt->clear();
  response->clear();
  return out;
}

std::string Steering::describe() const {
  std::string out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    out += cat(out.empty() ? "" : ", ", vectors[i].trait.empty() ? specs[i].path : vectors[i].trait,
               " at layer ", specs[i].layer, " x ", specs[i].coef);
  }
  return out;
}

Steering build_steering(const SteerFlags& flags, const Model& model, const Tokenizer& tokenizer) {
  const ModelConfig& cfg = model.config();
  const PositionScope scope = parse_steer_positions(flags.positions, "--steer-positions");
  Steering s;
  for (const std::string& text : flags.steer) {
    SteerSpec spec = parse_steer_spec(text, "--steer");
    persona::PersonaVector v = persona::load_persona_vector(spec.path, cfg, tokenizer);
    try {
      if (spec.layer < 0 && v.best_layer < 0) {
        // No layer recorded (a llama.cpp control vector): every direction,
        // as llama.cpp applies one.
        for (int layer = 0; layer <= v.num_layers(); ++layer) {
          if (!v.has_layer(layer)) continue;
          s.interventions.add(persona::steer_intervention(v, layer, spec.coef, scope),
                              cfg.num_hidden_layers, cfg.hidden_size);
        }
      } else {
        if (spec.layer < 0) spec.layer = v.default_layer();
        s.interventions.add(persona::steer_intervention(v, spec.layer, spec.coef, scope),
                            cfg.num_hidden_layers, cfg.hidden_size);
      }
    } catch (const InputError& e) {
      throw InputError(cat("--steer ", text, ": ", e.what()));
    }
    s.specs.push_back(spec);
    s.vectors.push_back(std::move(v));
  }
  for (const std::string& text : flags.monitor) {
    const SteerSpec spec = parse_steer_spec(text, "--monitor", /*allow_coef=*/false);
    auto m = std::make_unique<Monitor>();
    m->vector = persona::load_persona_vector(spec.path, cfg, tokenizer);
    m->prompt = std::make_unique<Observation>();
    m->response = std::make_unique<Observation>();
    try {
      m->layer = spec.layer < 0 ? m->vector.default_layer() : spec.layer;
      (void)m->vector.at(m->layer);
      s.interventions.add(persona::observe_intervention(m->layer, cfg.num_hidden_layers,
                                                        m->prompt.get(), PositionScope::kPrompt),
                          cfg.num_hidden_layers, cfg.hidden_size);
      s.interventions.add(
          persona::observe_intervention(m->layer, cfg.num_hidden_layers, m->response.get(),
                                        PositionScope::kResponse),
          cfg.num_hidden_layers, cfg.hidden_size);
    } catch (const InputError& e) {
      throw InputError(cat("--monitor ", text, ": ", e.what()));
    }
    s.monitors.push_back(std::move(m));
  }
  return s;
}

void append_interventions(Interventions& into, const Interventions& from, const ModelConfig& cfg) {
  for (const Intervention& iv : from.list()) into.add(iv, cfg.num_hidden_layers, cfg.hidden_size);
}

}  // namespace masque::cli
