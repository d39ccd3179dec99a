// Parsing and validation of a recipe's "vectors" section (see vector_plan.h).
#include "experiment/vector_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace masque::experiment {
namespace {

const Json& section(const Json& parent, const char* key, std::string_view where) {
  static const Json empty = Json::object();
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return empty;
  if (!it->is_object())
    throw InputError(
        cat(where, ": field '", key, "' must be an object, got ", json_type_name(*it)));
  return *it;
}

// The SFT fields of recipe.sft, over `defaults` (same names, same checks).
SftConfig sft_from_json(const Json& j, const SftConfig& defaults, std::string_view where) {
  reject_unknown_fields(
      j, {"steps", "epochs", "batch_size", "lr", "warmup_steps", "lora_rank", "lora_alpha"}, where);
  SftConfig c = defaults;
  c.steps = get_field_or<std::int64_t>(j, "steps", where, c.steps);
  c.epochs = get_field_or<double>(j, "epochs", where, c.epochs);
  c.batch_size = get_field_or<int>(j, "batch_size", where, c.batch_size);
  c.lr = get_field_or<float>(j, "lr", where, c.lr);
  c.warmup_steps = get_field_or<int>(j, "warmup_steps", where, c.warmup_steps);
  c.lora_rank = get_field_or<int>(j, "lora_rank", where, c.lora_rank);
  c.lora_alpha = get_field_or<float>(j, "lora_alpha", where, c.lora_alpha);
  if (c.steps < 0 || (c.steps == 0 && !(c.epochs > 0)) || c.batch_size < 1 || !(c.lr > 0) ||
      c.warmup_steps < 0 || c.lora_rank < 0) {
    throw InputError(cat(where,
                         ": need steps >= 0 (or epochs > 0 when steps is 0), batch_size >= 1, "
                         "lr > 0, warmup_steps >= 0, lora_rank >= 0"));
  }
  return c;
}

template <class T>
std::vector<T> list_of(const Json& j, const char* key, std::string_view where,
                       std::vector<T> fallback) {
  if (!j.contains(key)) return fallback;
  const Json& a = j.at(key);
  if (!a.is_array() || a.empty())
    throw InputError(cat(where, ": field '", key, "' must be a non-empty array"));
  std::vector<T> out;
  for (const Json& x : a) {
    if (!x.is_number()) throw InputError(cat(where, ": field '", key, "' holds a non-number"));
    out.push_back(x.get<T>());
  }
  return out;
}

bool kind_is_near_zero(const Json& c) { return c.value("kind", "") == "near_zero"; }

void check_range(bool ok, std::string_view where, std::string_view what) {
  if (!ok) throw InputError(cat(where, ": ", what));
}

}  // namespace

std::string coef_label(double coef) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", coef);
  return buf;
}

VectorPlan VectorPlan::from_json(const Json& json, const SftConfig& sft_defaults,
                                 std::string_view where) {
  if (!json.is_object()) throw InputError(cat(where, " must be an object"));
  reject_unknown_fields(json,
                        {"assistant", "traits", "extract", "probes", "e7", "e8", "e9", "e10",
                         "coefs", "levels", "random_directions", "claims"},
                        where);
  VectorPlan p;
  const Json& a = section(json, "assistant", where);
  const std::string aw = cat(where, ".assistant");
  reject_unknown_fields(a, {"sets", "sft"}, aw);
  if (!a.contains("sets") || !a.at("sets").is_array() || a.at("sets").empty())
    throw InputError(cat(aw, ": field 'sets' must be a non-empty array of post-training sets"));
  for (std::size_t i = 0; i < a.at("sets").size(); ++i)
    p.assistant_sets.push_back(
        world::ChatSetSpec::from_json(a.at("sets")[i], cat(aw, ".sets[", i, "]")));
  p.assistant_sft = sft_from_json(section(a, "sft", aw), sft_defaults, cat(aw, ".sft"));

  if (!json.contains("traits") || !json.at("traits").is_array() || json.at("traits").empty())
    throw InputError(cat(where, ": field 'traits' must be a non-empty array of trait names"));
  for (const Json& t : json.at("traits")) {
    if (!t.is_string()) throw InputError(cat(where, ".traits: trait names are strings"));
    const world::Trait trait = world::parse_trait(t.get<std::string>(), cat(where, ".traits"));
    for (world::Trait seen : p.traits) {
      if (seen == trait)
        throw InputError(cat(where, ".traits: '", t.get<std::string>(), "' is listed twice"));
    }
    p.traits.push_back(trait);
  }

  const Json& e = section(json, "extract", where);
  const std::string ew = cat(where, ".extract");
  reject_unknown_fields(e, {"source", "control", "pairs", "samples", "max_tokens", "temperature"},
                        ew);
  p.source = get_field_or<std::string>(e, "source", ew, p.source);
  p.control = get_field_or<std::string>(e, "control", ew, p.control);
  p.pairs = get_field_or<int>(e, "pairs", ew, p.pairs);
  p.samples = get_field_or<int>(e, "samples", ew, p.samples);
  p.max_tokens = get_field_or<int>(e, "max_tokens", ew, p.max_tokens);
  p.temperature = get_field_or<float>(e, "temperature", ew, p.temperature);
  check_range(p.source == "written" || p.source == "generated", ew,
              "source must be \"written\" or \"generated\"");
  check_range(p.control == "extracted" || p.control == "random", ew,
              "control must be \"extracted\" or \"random\"");
  check_range(p.pairs >= 2 && p.pairs <= 4096 && p.samples >= 1 && p.samples <= 64 &&
                  p.max_tokens >= 1 && p.temperature >= 0,
              ew, "need pairs in [2, 4096], samples in [1, 64], max_tokens >= 1, temperature >= 0");

  const Json& pr = section(json, "probes", where);
  reject_unknown_fields(pr, {"count", "split"}, cat(where, ".probes"));
  p.probe_count = get_field_or<int>(pr, "count", cat(where, ".probes"), p.probe_count);
  check_range(p.probe_count >= 2 && p.probe_count <= 4096, cat(where, ".probes"),
              "count must be in [2, 4096]");
  const std::string split = get_field_or<std::string>(pr, "split", cat(where, ".probes"), "train");
  check_range(split == "train" || split == "eval", cat(where, ".probes"),
              "split must be \"train\" (the phrasings trained on) or \"eval\" (held-out ones)");
  p.probe_split = split == "train" ? world::Split::Train : world::Split::Eval;

  p.coefs = list_of<double>(json, "coefs", where, p.coefs);
  p.levels = list_of<int>(json, "levels", where, p.levels);
  for (int level : p.levels)
    check_range(std::abs(level) <= 4, cat(where, ".levels"), "levels must be in [-4, 4]");
  p.random_directions = get_field_or<int>(json, "random_directions", where, p.random_directions);
  check_range(p.random_directions >= 0 && p.random_directions <= 64, where,
              "random_directions must be in [0, 64] (0: no random-direction baseline)");

  p.e7 = json.contains("e7");
  if (p.e7) reject_unknown_fields(section(json, "e7", where), {}, cat(where, ".e7"));
  p.e8 = json.contains("e8");
  if (p.e8) reject_unknown_fields(section(json, "e8", where), {}, cat(where, ".e8"));

  p.e9 = json.contains("e9");
  if (p.e9) {
    const Json& j = section(json, "e9", where);
    const std::string w = cat(where, ".e9");
    reject_unknown_fields(j, {"sets", "sft", "trait", "examples"}, w);
    if (!j.contains("sets") || !j.at("sets").is_array() || j.at("sets").size() < 3)
      throw InputError(cat(w, ": field 'sets' needs at least 3 candidate sets {name, set}"));
    std::set<std::string> names;
    for (std::size_t i = 0; i < j.at("sets").size(); ++i) {
      const Json& s = j.at("sets")[i];
      const std::string sw = cat(w, ".sets[", i, "]");
      reject_unknown_fields(s, {"name", "set"}, sw);
      NamedChatSet n{get_field<std::string>(s, "name", sw), {}};
      if (n.name.empty() || n.name.find('.') != std::string::npos || !names.insert(n.name).second)
        throw InputError(cat(sw, ": name must be non-empty, unique and without '.'"));
      if (!s.contains("set")) throw InputError(cat(sw, ": missing field 'set'"));
      n.set = world::ChatSetSpec::from_json(s.at("set"), cat(sw, ".set"));
      p.e9_sets.push_back(std::move(n));
    }
    p.e9_sft = sft_from_json(section(j, "sft", w), sft_defaults, cat(w, ".sft"));
    p.e9_trait = world::parse_trait(get_field_or<std::string>(j, "trait", w, "kindness"), w);
    p.e9_examples = get_field_or<int>(j, "examples", w, p.e9_examples);
    check_range(p.e9_examples >= 1, w, "examples must be >= 1");
  }

  p.e10 = json.contains("e10");
  if (p.e10) {
    const Json& j = section(json, "e10", where);
    const std::string w = cat(where, ".e10");
    reject_unknown_fields(j, {"set", "sft", "coefs", "heldout"}, w);
    if (!j.contains("set")) throw InputError(cat(w, ": missing field 'set' (the inducing set)"));
    p.e10_set = world::ChatSetSpec::from_json(j.at("set"), cat(w, ".set"));
    if (p.e10_set.kind != world::ChatSetKind::Narrow &&
        p.e10_set.kind != world::ChatSetKind::Inoculated) {
      throw InputError(cat(w,
                           ".set: the inducing set must be narrow or inoculated (its trait "
                           "and pole are what preventative steering counters)"));
    }
    p.e10_sft = sft_from_json(section(j, "sft", w), sft_defaults, cat(w, ".sft"));
    p.e10_coefs = list_of<double>(j, "coefs", w, p.e10_coefs);
    if (p.e10_coefs.front() != 0)
      throw InputError(cat(w, ".coefs: the first coefficient must be 0 (the unprevented SFT)"));
    for (double c : p.e10_coefs) check_range(c >= 0, w, "coefs must be >= 0");
    p.e10_heldout = get_field_or<int>(j, "heldout", w, p.e10_heldout);
    check_range(p.e10_heldout >= 1, w, "heldout must be >= 1");
    bool listed = false;
    for (world::Trait t : p.traits) listed = listed || t == p.e10_set.trait;
    if (!listed)
      throw InputError(cat(w,
                           ".set: its trait must be one of the plan's traits (a vector is "
                           "needed to steer it)"));
  }
  if (p.e9) {
    bool listed = false;
    for (world::Trait t : p.traits) listed = listed || t == p.e9_trait;
    if (!listed) throw InputError(cat(where, ".e9.trait must be one of the plan's traits"));
  }
  if (p.e8 && p.traits.size() < 2)
    throw InputError(cat(where,
                         ".e8 needs at least two traits (the other traits' vectors are the "
                         "null for the cosine)"));
  if (!p.e7 && !p.e8 && !p.e9 && !p.e10)
    throw InputError(cat(where, ": name at least one measurement: e7, e8, e9 or e10"));

  // Claims: names must exist (checked against what the plan produces).
  if (json.contains("claims")) {
    p.claims = json.at("claims");
    if (!p.claims.is_array()) throw InputError(cat(where, ": claims must be an array"));
  }
  const std::set<std::string> metrics = p.metric_names(), points = p.point_names();
  auto list = [](const std::set<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  std::set<std::string> ids, check_ids;
  for (std::size_t i = 0; i < p.claims.size(); ++i) {
    const Json& c = p.claims[i];
    const std::string cw = cat(where, ".claims[", i, "]");
    if (c.is_object() && c.contains("above"))
      throw InputError(cat(cw,
                           ": field 'above' is now 'minimum' (the same bound, with a \"too "
                           "small\" verdict when the interval excludes 0 but not it): rename it"));
    reject_unknown_fields(c,
                          {"id", "text", "role", "kind", "metric", "versus", "points", "method",
                           "tolerance", "minimum", "requires"},
                          cw);
    if (c.contains("minimum") && kind_is_near_zero(c))
      throw InputError(cat(cw, ": 'minimum' is for positive, greater and correlation claims"));
    const std::string id = get_field<std::string>(c, "id", cw);
    if (id.empty() || !ids.insert(id).second)
      throw InputError(cat(cw, ": id must be non-empty and unique"));
    const std::string kind = get_field<std::string>(c, "kind", cw);
    const std::string role = get_field_or<std::string>(c, "role", cw, "prediction");
    if (role != "prediction" && role != "check")
      throw InputError(cat(cw, ": role must be \"prediction\" or \"check\""));
    if (role == "check") check_ids.insert(id);
    if (c.contains("requires")) {
      const Json& req = c.at("requires");
      if (!req.is_array())
        throw InputError(cat(cw, ": field 'requires' must be an array of check claim ids"));
      for (const Json& r : req) {
        if (!r.is_string())
          throw InputError(cat(cw, ": field 'requires' must hold claim ids, got ", r.dump()));
      }
      if (role == "check")
        throw InputError(cat(cw, ": field 'requires' is for predictions; checks are always read"));
    }
    // As the recipe claims (analysis.h): a positive control that barely
    // moves cannot support reading the predictions, so a check states the
    // smallest effect that makes it a working control.
    if (c.contains("minimum")) {
      const double m = get_field<double>(c, "minimum", cw);
      if (!std::isfinite(m) || m < 0)
        throw InputError(
            cat(cw, ": field 'minimum' must be a number >= 0, got ", c.at("minimum").dump()));
    } else if (role == "check" && !kind_is_near_zero(c)) {
      throw InputError(cat(cw, " ('", id,
                           "'): a check must state field 'minimum', the smallest effect that "
                           "makes it a working control (in the metric's units, e.g. \"minimum\": "
                           "1 for a trait shift of 1 nat, 0.2 for a correlation)"));
    }
    if (kind == "correlation") {
      const std::string pts = get_field<std::string>(c, "points", cw);
      if (!points.count(pts))
        throw InputError(cat(cw, ": points '", pts, "' is not measured; valid: ", list(points)));
      const std::string method = get_field_or<std::string>(c, "method", cw, "spearman");
      if (method != "spearman" && method != "pearson")
        throw InputError(cat(cw, ": method must be spearman or pearson"));
    } else if (kind == "positive" || kind == "greater" || kind == "near_zero") {
      const std::string m = get_field<std::string>(c, "metric", cw);
      if (!metrics.count(m))
        throw InputError(cat(cw, ": metric '", m, "' is not measured; valid: ", list(metrics)));
      if (kind == "greater" && !c.contains("versus"))
        throw InputError(cat(cw, ": a greater claim needs 'versus' (another metric)"));
      if (c.contains("versus") && !metrics.count(get_field<std::string>(c, "versus", cw)))
        throw InputError(cat(cw, ": versus '", c.at("versus").dump(), "' is not measured"));
      if (kind == "near_zero" && !(get_field_or<double>(c, "tolerance", cw, 0.1) > 0))
        throw InputError(cat(cw, ": tolerance must be > 0"));
    } else {
      throw InputError(
          cat(cw, ": kind must be positive, greater, near_zero or correlation, got '", kind, "'"));
    }
  }
  // A prediction is read only when the checks it relies on passed
  // (analyze_vector_claims); those must be checks of this section, which
  // may come after the prediction, hence a second pass.
  for (std::size_t i = 0; i < p.claims.size(); ++i) {
    const Json& c = p.claims[i];
    if (!c.contains("requires")) continue;
    for (const Json& r : c.at("requires")) {
      const std::string id = r.get<std::string>();
      if (!check_ids.count(id)) {
        throw InputError(cat(where, ".claims[", i, "] ('", c.value("id", ""),
                             "'): field 'requires' names '", id,
                             "', which is not a vector claim with \"role\": \"check\"; valid: ",
                             check_ids.empty() ? std::string("none (this section has no checks)")
                                               : list(check_ids)));
      }
    }
  }
  return p;
}

std::set<std::string> VectorPlan::metric_names() const {
  std::set<std::string> out;
  for (world::Trait t : traits) {
    const std::string name(world::trait_name(t));
    out.insert("separation." + name);
    if (source == "generated") out.insert("separation_generated." + name);
    if (e7 || e8) {
      out.insert("dose_slope." + name);
      if (random_directions > 0) out.insert("dose_slope_random." + name);
    }
    if (e8) {
      out.insert("base_dose_slope." + name);
      if (random_directions > 0) out.insert("base_dose_slope_random." + name);
    }
    if (e8) {
      out.insert("cos_same." + name);
      out.insert("cos_other." + name);
      out.insert("base_separation." + name);
    }
  }
  if (e9) {
    for (const NamedChatSet& s : e9_sets) out.insert("shift." + s.name);
  }
  if (e10) {
    for (double c : e10_coefs) {
      const std::string cl = coef_label(c);
      for (const char* m : {"induced.c=", "task_loss.c=", "general_loss.c=", "task_loss_train.c=",
                            "general_loss_train.c="})
        out.insert(m + cl);
      for (world::Trait t : traits) {
        if (t != e10_set.trait)
          out.insert("spill.c=" + cl + "." + std::string(world::trait_name(t)));
      }
      if (c == 0) continue;
      for (const char* m : {"induced.inference=", "task_loss.inference=", "general_loss.inference=",
                            "task_loss_train.inference=", "general_loss_train.inference="})
        out.insert(m + cl);
    }
  }
  return out;
}

void scale_vector_section(Json& v, double scale) {
  if (!v.is_object() || scale == 1.0) return;
  auto times = [&](Json& parent, const char* key, std::int64_t fallback) {
    if (!parent.is_object()) return;
    if (!parent.contains(key)) parent[key] = fallback;
    Json& x = parent[key];
    if (x.is_number_integer()) x = std::max<std::int64_t>(1, std::llround(x.get<double>() * scale));
  };
  const VectorPlan defaults;
  if (!v.contains("extract")) v["extract"] = Json::object();
  if (!v.contains("probes")) v["probes"] = Json::object();
  times(v["extract"], "pairs", defaults.pairs);
  times(v["probes"], "count", defaults.probe_count);
  if (v.contains("e9")) times(v["e9"], "examples", defaults.e9_examples);
  if (v.contains("e10")) times(v["e10"], "heldout", defaults.e10_heldout);
}

std::set<std::string> VectorPlan::point_names() const {
  std::set<std::string> out;
  for (world::Trait t : traits) {
    const std::string name(world::trait_name(t));
    if (e7 || e8) {
      for (const char* m : {"dose.", "projection.", "instruction."}) out.insert(m + name);
    }
    if (e8) {
      out.insert("base_dose." + name);
      out.insert("base_projection." + name);
    }
  }
  if (e9) out.insert("screen");
  return out;
}

}  // namespace masque::experiment
