// Recipe parsing and validation (see recipe.h; format in docs/experiments.md).
#include "experiment/recipe.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "experiment/analysis.h"
#include "experiment/vector_plan.h"

namespace masque::experiment {
namespace {

const Json& object_or_empty(const Json& parent, const char* key, std::string_view where) {
  static const Json empty = Json::object();
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return empty;
  if (!it->is_object()) {
    throw InputError(
        cat(where, ": field '", key, "' must be an object, got ", json_type_name(*it)));
  }
  return *it;
}

// Arms and models override recipe-level sections field by field (RFC 7386).
Json merged(const Json& base, const Json& patch) {
  Json out = base;
  out.merge_patch(patch);
  return out;
}

PretrainConfig parse_pretrain(const Json& j, std::string_view where) {
  reject_unknown_fields(j,
                        {"depth", "hidden_size", "heads", "batch_size", "seq_len", "steps", "lr",
                         "warmup_steps", "schedule", "weight_decay"},
                        where);
  PretrainConfig c;
  c.depth = get_field_or<int>(j, "depth", where, c.depth);
  c.hidden_size = get_field_or<int>(j, "hidden_size", where, c.hidden_size);
  if (c.hidden_size != 0 && (c.hidden_size < 32 || c.hidden_size > 4096 || c.hidden_size % 32)) {
    throw InputError(cat(where,
                         ": hidden_size must be a multiple of 32 in [32, 4096] (or absent "
                         "for 64 x depth), got ",
                         c.hidden_size));
  }
  c.heads = get_field_or<int>(j, "heads", where, c.heads);
  if (c.heads != 0) {
    const int width = c.hidden_size != 0 ? c.hidden_size : 64 * c.depth;
    if (c.heads < 1 || width % c.heads != 0 || (width / c.heads) % 2 != 0) {
      throw InputError(cat(where, ": heads must divide the width (", width,
                           ") into heads of even size, got ", c.heads));
    }
  }
  c.batch_size = get_field_or<int>(j, "batch_size", where, c.batch_size);
  c.seq_len = get_field_or<int>(j, "seq_len", where, c.seq_len);
  c.steps = get_field_or<std::int64_t>(j, "steps", where, c.steps);
  c.lr = get_field_or<float>(j, "lr", where, c.lr);
  c.warmup_steps = get_field_or<int>(j, "warmup_steps", where, c.warmup_steps);
  c.schedule = get_field_or<std::string>(j, "schedule", where, c.schedule);
  c.weight_decay = get_field_or<float>(j, "weight_decay", where, c.weight_decay);
  if (c.depth < 1 || c.depth > 24) throw InputError(cat(where, ": depth must be in [1, 24]"));
  if (c.batch_size < 1 || c.seq_len < 16 || c.seq_len > 4096) {
    throw InputError(cat(where, ": batch_size must be >= 1 and seq_len in [16, 4096]"));
  }
  if (c.steps < 1 || c.warmup_steps < 0 || c.lr < 0 || c.weight_decay < 0) {
    throw InputError(cat(where, ": steps must be >= 1; warmup_steps, lr and weight_decay >= 0"));
  }
  static const std::set<std::string> schedules = {"cosine", "linear", "wsd", "constant"};
  if (!schedules.count(c.schedule)) {
    throw InputError(
        cat(where, ": schedule must be cosine, linear, wsd or constant, got '", c.schedule, "'"));
  }
  return c;
}

// `"dpo": {"set": {narrow spec}, "beta", "loss", "steps", ...}` inside an
// SFT block: the set's kind may be left out (it is always a narrow spec whose
// two poles make the pairs).
DpoStageConfig parse_dpo(const Json& j, std::string_view where) {
  if (!j.is_object()) {
    throw InputError(
        cat(where, " must be an object {\"set\": {...}, \"beta\": ...}, got ", json_type_name(j)));
  }
  reject_unknown_fields(j,
                        {"set", "beta", "loss", "steps", "epochs", "batch_size", "lr",
                         "warmup_steps", "lora_rank", "lora_alpha"},
                        where);
  DpoStageConfig c;
  if (!j.contains("set") || !j.at("set").is_object()) {
    throw InputError(cat(where, ": missing field 'set', the preference pairs' narrow spec, e.g. ",
                         "{\"trait\": \"helpfulness\", \"pole\": 1, \"count\": 256}"));
  }
  Json set = j.at("set");
  const std::string kind = get_field_or<std::string>(set, "kind", cat(where, ".set"), "narrow");
  if (kind != "narrow" && kind != "preference") {
    throw InputError(cat(where, ".set.kind is '", kind,
                         "'; preference pairs come from a narrow spec (leave 'kind' out)"));
  }
  set["kind"] = "narrow";
  c.set = world::ChatSetSpec::from_json(set, cat(where, ".set"));
  c.beta = get_field_or<double>(j, "beta", where, c.beta);
  c.loss = get_field_or<std::string>(j, "loss", where, c.loss);
  c.steps = get_field_or<std::int64_t>(j, "steps", where, c.steps);
  c.epochs = get_field_or<double>(j, "epochs", where, c.epochs);
  c.batch_size = get_field_or<int>(j, "batch_size", where, c.batch_size);
  c.lr = get_field_or<float>(j, "lr", where, c.lr);
  c.warmup_steps = get_field_or<int>(j, "warmup_steps", where, c.warmup_steps);
  c.lora_rank = get_field_or<int>(j, "lora_rank", where, c.lora_rank);
  c.lora_alpha = get_field_or<float>(j, "lora_alpha", where, c.lora_alpha);
  if (!(c.beta > 0) || (c.loss != "sigmoid" && c.loss != "ipo") || c.steps < 0 ||
      (c.steps == 0 && !(c.epochs > 0)) || c.batch_size < 1 || !(c.lr > 0) || c.warmup_steps < 0 ||
      c.lora_rank < 0) {
    throw InputError(
        cat(where,
            ": need beta > 0, loss sigmoid or ipo, steps >= 0 (or epochs > 0 when "
            "steps is 0), batch_size >= 1, lr > 0, warmup_steps >= 0, lora_rank >= 0"));
  }
  return c;
}

SftConfig parse_sft(const Json& j, std::string_view where) {
  reject_unknown_fields(
      j, {"steps", "epochs", "batch_size", "lr", "warmup_steps", "lora_rank", "lora_alpha", "dpo"},
      where);
  SftConfig c;
  c.steps = get_field_or<std::int64_t>(j, "steps", where, c.steps);
  c.epochs = get_field_or<double>(j, "epochs", where, c.epochs);
  c.batch_size = get_field_or<int>(j, "batch_size", where, c.batch_size);
  c.lr = get_field_or<float>(j, "lr", where, c.lr);
  c.warmup_steps = get_field_or<int>(j, "warmup_steps", where, c.warmup_steps);
  c.lora_rank = get_field_or<int>(j, "lora_rank", where, c.lora_rank);
  c.lora_alpha = get_field_or<float>(j, "lora_alpha", where, c.lora_alpha);
  if (j.contains("dpo") && !j.at("dpo").is_null())
    c.dpo = parse_dpo(j.at("dpo"), cat(where, ".dpo"));
  if (c.steps < 0 || (c.steps == 0 && !(c.epochs > 0)) || c.batch_size < 1 || !(c.lr > 0) ||
      c.warmup_steps < 0 || c.lora_rank < 0) {
    throw InputError(cat(where,
                         ": need steps >= 0 (or epochs > 0 when steps is 0), batch_size >= 1, "
                         "lr > 0, warmup_steps >= 0, lora_rank >= 0"));
  }
  return c;
}

void check_name(const std::string& name, std::string_view where) {
  if (name.empty() || name.size() > 64)
    throw InputError(cat(where, ": name must be 1-64 characters"));
  for (char ch : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                    ch == '.' || ch == '=';
    if (!ok) {
      throw InputError(cat(where, ": name '", name, "' may use only letters, digits and - _ . ="));
    }
  }
}

// A probe set's "request" may be text or {"trait", "pole"}: the held-out
// request phrasing of the inoculation bank, fixed for every probe.
Json resolve_probe_request(Json probe, std::string_view where) {
  auto it = probe.find("request");
  if (it == probe.end() || !it->is_object()) return probe;
  const Json& r = *it;
  reject_unknown_fields(r, {"trait", "pole"}, cat(where, ".request"));
  const world::Trait trait = world::parse_trait(
      get_field<std::string>(r, "trait", cat(where, ".request")), cat(where, ".request.trait"));
  const int pole = get_field<int>(r, "pole", cat(where, ".request"));
  if (pole != 1 && pole != -1) throw InputError(cat(where, ".request.pole must be 1 or -1"));
  Rng rng(0x72657175657374ULL);  // "request": one fixed phrasing
  probe["request"] = std::string(world::draw_request(trait, pole, world::Split::Eval, rng));
  return probe;
}

// In-context probes run on the pretrained model only, so a claim that reads
// one must compare "base" (with itself or nothing).
void check_context_claim(const ClaimSpec& claim, const Measurements& measure,
                         std::string_view where) {
  std::vector<std::string> prefixes;  // base-only probe sets: context and inference
  for (const ContextProbeSpec& c : measure.context) prefixes.push_back(c.name + ".");
  for (const InferenceProbeSpec& p : measure.inference) {
    for (int n : p.turns) prefixes.push_back(p.set_name(n) + ".");
  }
  auto reads_context = [&](const MetricRef& metric) {
    for (const auto& [ref, weight] : metric.terms) {
      for (const std::string& prefix : prefixes) {
        if (ref.rfind(prefix, 0) == 0) return true;
      }
    }
    return false;
  };
  auto base_only = [](const std::string& a, const std::string& b) {
    return a == "base" && (b.empty() || b == "base");
  };
  if (reads_context(claim.metric) && !base_only(claim.treatment, claim.control)) {
    throw InputError(
        cat(where,
            ": metric reads an in-context probe set (measure.context), which is measured "
            "on the base model only; use \"treatment\": \"base\" and no other control"));
  }
  const MetricRef& versus = claim.versus_metric.terms.empty() ? claim.metric : claim.versus_metric;
  if (!claim.versus_treatment.empty() && reads_context(versus) &&
      !base_only(claim.versus_treatment, claim.versus_control)) {
    throw InputError(
        cat(where, ": versus reads an in-context probe set, measured on the base model only"));
  }
}

}  // namespace

Json PretrainConfig::to_json() const {
  Json out = {{"depth", depth},
              {"batch_size", batch_size},
              {"seq_len", seq_len},
              {"steps", steps},
              {"lr", lr},
              {"warmup_steps", warmup_steps},
              {"schedule", schedule},
              {"weight_decay", weight_decay}};
  // Only when set, so recipes without it keep their cache keys.
  if (hidden_size != 0) out["hidden_size"] = hidden_size;
  if (heads != 0) out["heads"] = heads;
  return out;
}

Json SftConfig::to_json() const {
  return {{"steps", steps},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"warmup_steps", warmup_steps},
          {"lora_rank", lora_rank},
          {"lora_alpha", lora_alpha}};
}

Json DpoStageConfig::to_json() const {
  return {{"set", set.to_json()},
          {"beta", beta},
          {"loss", loss},
          {"steps", steps},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"lr", lr},
          {"warmup_steps", warmup_steps},
          {"lora_rank", lora_rank},
          {"lora_alpha", lora_alpha}};
}

Recipe Recipe::from_json(const Json& json, std::string_view where) {
  if (!json.is_object()) throw InputError(cat(where, ": a recipe must be a JSON object"));
  reject_unknown_fields(
      json,
      {"name", "title", "question", "prediction", "notes", "seeds", "world", "tokenizer",
       "pretrain", "arms", "sft", "models", "measure", "claims", "vectors"},
      where);
  Recipe r;
  r.source = json;
  r.name = get_field<std::string>(json, "name", where);
  check_name(r.name, cat(where, ": name"));
  r.title = get_field_or<std::string>(json, "title", where, r.name);
  r.question = get_field_or<std::string>(json, "question", where, "");
  r.prediction = get_field_or<std::string>(json, "prediction", where, "");
  r.notes = get_field_or<std::string>(json, "notes", where, "");

  if (json.contains("seeds")) {
    const Json& seeds = json.at("seeds");
    if (!seeds.is_array() || seeds.empty())
      throw InputError(cat(where, ": seeds must be a non-empty array"));
    r.seeds.clear();
    std::set<std::uint64_t> seen;
    for (const Json& s : seeds) {
      const auto seed = json_to_int<std::uint64_t>(s, cat(where, ": seeds entry"));
      if (!seen.insert(seed).second) throw InputError(cat(where, ": seeds repeat ", s.dump()));
      r.seeds.push_back(seed);
    }
  }

  const Json& tok = object_or_empty(json, "tokenizer", where);
  reject_unknown_fields(tok, {"vocab_size"}, cat(where, ".tokenizer"));
  r.vocab_size =
      get_field_or<std::uint32_t>(tok, "vocab_size", cat(where, ".tokenizer"), r.vocab_size);
  if (r.vocab_size < 300 || r.vocab_size > 65536) {
    throw InputError(cat(where, ".tokenizer.vocab_size must be in [300, 65536]"));
  }

  const Json& world_json = object_or_empty(json, "world", where);
  const Json& pretrain_json = object_or_empty(json, "pretrain", where);
  auto arms_it = json.find("arms");
  Json arms = arms_it == json.end() ? Json::array({Json{{"name", "default"}}}) : *arms_it;
  if (!arms.is_array() || arms.empty())
    throw InputError(cat(where, ": arms must be a non-empty array"));
  std::set<std::string> arm_names;
  for (std::size_t i = 0; i < arms.size(); ++i) {
    const std::string aw = cat(where, ": arms[", i, "]");
    reject_unknown_fields(arms[i], {"name", "x", "label", "world", "pretrain"}, aw);
    Arm arm;
    arm.name = get_field<std::string>(arms[i], "name", aw);
    check_name(arm.name, aw);
    if (!arm_names.insert(arm.name).second)
      throw InputError(cat(aw, ": duplicate arm name '", arm.name, "'"));
    arm.x = get_field_or<double>(arms[i], "x", aw, double(i));
    arm.label = get_field_or<std::string>(arms[i], "label", aw, arm.name);
    arm.world = world::WorldSpec::from_json(
        merged(world_json, object_or_empty(arms[i], "world", aw)), cat(aw, ".world"));
    arm.pretrain = parse_pretrain(merged(pretrain_json, object_or_empty(arms[i], "pretrain", aw)),
                                  cat(aw, ".pretrain"));
    r.arms.push_back(std::move(arm));
  }

  const Json& sft_json = object_or_empty(json, "sft", where);
  const SftConfig sft_defaults = parse_sft(sft_json, cat(where, ".sft"));
  // Persona-vector stages (E7-E10): validated here, run by vector_stages.h.
  if (json.contains("vectors") && !json.at("vectors").is_null()) {
    VectorPlan::from_json(json.at("vectors"), sft_defaults, cat(where, ".vectors"));
    r.vectors = json.at("vectors");
    r.vector_sft_defaults = sft_defaults;
  }
  auto models_it = json.find("models");
  if (models_it != json.end()) {
    if (!models_it->is_array()) throw InputError(cat(where, ": models must be an array"));
    std::set<std::string> names = {"base"};
    for (std::size_t i = 0; i < models_it->size(); ++i) {
      const Json& m = (*models_it)[i];
      const std::string mw = cat(where, ": models[", i, "]");
      reject_unknown_fields(m, {"name", "set", "sft", "x", "series"}, mw);
      PosttrainModel model;
      model.name = get_field<std::string>(m, "name", mw);
      check_name(model.name, mw);
      if (!names.insert(model.name).second) {
        throw InputError(
            cat(mw, ": model name '", model.name, "' is taken (\"base\" is the pretrained model)"));
      }
      if (!m.contains("set"))
        throw InputError(cat(mw, ": missing required field 'set' (a post-training set)"));
      model.set = world::ChatSetSpec::from_json(m.at("set"), cat(mw, ".set"));
      model.sft = parse_sft(merged(sft_json, object_or_empty(m, "sft", mw)), cat(mw, ".sft"));
      if (m.contains("x") && !m.at("x").is_null()) model.x = get_field<double>(m, "x", mw);
      model.series = get_field_or<std::string>(m, "series", mw, "");
      r.models.push_back(std::move(model));
    }
  }

  const Json& measure = object_or_empty(json, "measure", where);
  const std::string mw = cat(where, ".measure");
  reject_unknown_fields(
      measure,
      {"base", "probes", "context", "inference", "rules", "portrayal", "choices", "e1", "samples"},
      mw);
  r.measure.base = get_field_or<bool>(measure, "base", mw, true);
  std::set<std::string> probe_names;
  // Each probe list: an array of specs with names unique across all lists;
  // base-model probes need "base": true.
  auto each_spec = [&](const char* key, bool base_only, auto&& parse_one) {
    if (!measure.contains(key)) return;
    const Json& list = measure.at(key);
    if (!list.is_array()) throw InputError(cat(mw, ": ", key, " must be an array"));
    if (base_only && !list.empty() && !r.measure.base) {
      throw InputError(cat(mw, ": ", key, " probes measure the base model; set \"base\": true"));
    }
    for (std::size_t i = 0; i < list.size(); ++i)
      parse_one(list[i], cat(mw, ".", key, "[", i, "]"));
  };
  auto add_name = [&](const std::string& name, const std::string& pw) {
    if (!probe_names.insert(name).second)
      throw InputError(cat(pw, ": duplicate probe set '", name, "'"));
  };
  each_spec("probes", false, [&](const Json& j, const std::string& pw) {
    ProbeSetSpec spec = ProbeSetSpec::from_json(resolve_probe_request(j, pw), pw);
    check_name(spec.name, pw);
    add_name(spec.name, pw);
    r.measure.probes.push_back(std::move(spec));
  });
  each_spec("context", true, [&](const Json& j, const std::string& pw) {
    ContextProbeSpec spec = ContextProbeSpec::from_json(j, pw);
    check_name(spec.name, pw);
    add_name(spec.name, pw);
    r.measure.context.push_back(std::move(spec));
  });
  each_spec("inference", true, [&](const Json& j, const std::string& pw) {
    InferenceProbeSpec spec = InferenceProbeSpec::from_json(j, pw);
    check_name(spec.name, pw);
    for (int n : spec.turns) add_name(spec.set_name(n), pw);
    r.measure.inference.push_back(std::move(spec));
  });
  each_spec("choices", false, [&](const Json& j, const std::string& pw) {
    ChoiceProbeSpec spec = ChoiceProbeSpec::from_json(j, pw);
    check_name(spec.name, pw);
    add_name(spec.name, pw);
    r.measure.choices.push_back(std::move(spec));
  });
  {
    std::vector<const world::WorldSpec*> arm_worlds;
    for (const Arm& a : r.arms) arm_worlds.push_back(&a.world);
    r.measure.world_probes =
        parse_world_probes(measure, mw, r.measure.base, arm_worlds, probe_names);
  }
  const Json& e1 = object_or_empty(measure, "e1", mw);
  reject_unknown_fields(e1, {"samples", "max_tokens"}, cat(mw, ".e1"));
  r.measure.e1_samples = get_field_or<int>(e1, "samples", cat(mw, ".e1"), r.measure.e1_samples);
  r.measure.e1_max_tokens =
      get_field_or<int>(e1, "max_tokens", cat(mw, ".e1"), r.measure.e1_max_tokens);
  const Json& samples = object_or_empty(measure, "samples", mw);
  reject_unknown_fields(samples, {"count", "max_tokens"}, cat(mw, ".samples"));
  r.measure.sample_count = get_field_or<int>(samples, "count", cat(mw, ".samples"), 0);
  r.measure.sample_max_tokens = get_field_or<int>(samples, "max_tokens", cat(mw, ".samples"), 48);
  if (r.measure.e1_samples < 0 || r.measure.e1_samples > 64 || r.measure.sample_count < 0 ||
      r.measure.sample_count > 4096 || r.measure.e1_max_tokens < 1 ||
      r.measure.sample_max_tokens < 1) {
    throw InputError(
        cat(mw, ": e1.samples in [0, 64], samples.count in [0, 4096], max_tokens >= 1"));
  }

  if (r.measure.sample_count > 0 && !probe_names.insert(kSampledSet).second) {
    throw InputError(
        cat(mw, ": the probe set name '", kSampledSet, "' is reserved for sampled replies"));
  }
  if (json.contains("claims")) {
    const Json& claims = json.at("claims");
    if (!claims.is_array()) throw InputError(cat(where, ": claims must be an array"));
    std::vector<std::string> arm_list;
    std::vector<double> arm_x;
    for (const Arm& a : r.arms) {
      arm_list.push_back(a.name);
      arm_x.push_back(a.x);
    }
    const std::vector<std::string> model_list = r.model_names();
    const std::vector<std::string> probe_list(probe_names.begin(), probe_names.end());
    std::vector<ClaimSpec> parsed;
    for (std::size_t i = 0; i < claims.size(); ++i) {
      const std::string cw = cat(where, ": claims[", i, "]");
      parsed.push_back(ClaimSpec::from_json(claims[i], cw));
      validate_claim(parsed.back(), arm_list, arm_x, model_list, probe_list, cw);
      check_context_claim(parsed.back(), r.measure, cw);
      r.claims.push_back(claims[i]);
    }
    validate_claim_links(parsed, where);
  }
  return r;
}

Recipe Recipe::load(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

std::vector<std::string> Recipe::model_names() const {
  std::vector<std::string> names;
  if (measure.base) names.push_back("base");
  for (const PosttrainModel& m : models) names.push_back(m.name);
  return names;
}

Json scale_recipe(const Json& recipe, double scale) {
  if (!(scale > 0) || scale > 1000) throw InputError("--scale must be in (0, 1000]");
  if (scale == 1.0 || !recipe.is_object()) return recipe;
  Json out = recipe;
  auto times = [&](Json& v) {
    if (v.is_number_integer()) v = std::max<std::int64_t>(1, std::llround(v.get<double>() * scale));
  };
  auto scale_world = [&](Json& w) {
    if (!w.is_object()) return;
    if (w.contains("documents") && w["documents"].is_object()) {
      for (auto& [kind, count] : w["documents"].items()) times(count);
    }
    // E12's doses are documents too, so they keep their share (0 stays 0).
    if (w.contains("entity_documents") && w["entity_documents"].is_array()) {
      for (Json& e : w["entity_documents"]) {
        if (e.is_object() && e.contains("count") && e["count"].is_number_integer() &&
            e["count"].get<std::int64_t>() > 0)
          times(e["count"]);
      }
    }
  };
  const int extra_depth = scale >= 2 ? int(std::floor(std::log2(scale))) : 0;
  auto scale_pretrain = [&](Json& p) {
    if (!p.is_object()) return;
    if (p.contains("steps")) times(p["steps"]);
    if (p.contains("depth") && p["depth"].is_number_integer())
      p["depth"] = json_to_int<int>(p["depth"], "pretrain field 'depth'") + extra_depth;
  };
  if (!out.contains("pretrain")) out["pretrain"] = Json::object();
  if (!out["pretrain"].contains("steps")) out["pretrain"]["steps"] = PretrainConfig{}.steps;
  if (!out["pretrain"].contains("depth")) out["pretrain"]["depth"] = PretrainConfig{}.depth;
  if (!out.contains("world")) out["world"] = Json::object();
  if (!out["world"].contains("documents"))
    out["world"]["documents"] = world::WorldSpec{}.to_json()["documents"];
  scale_world(out["world"]);
  scale_pretrain(out["pretrain"]);
  if (out.contains("arms") && out["arms"].is_array()) {
    for (Json& arm : out["arms"]) {
      if (!arm.is_object()) continue;
      if (arm.contains("world")) scale_world(arm["world"]);
      if (arm.contains("pretrain")) scale_pretrain(arm["pretrain"]);
    }
  }
  if (out.contains("measure") && out["measure"].contains("probes") &&
      out["measure"]["probes"].is_array()) {
    for (Json& p : out["measure"]["probes"]) {
      if (p.is_object()) {
        if (!p.contains("count")) p["count"] = ProbeSetSpec{}.count;
        times(p["count"]);
      }
    }
  }
  if (out.contains("measure") && out["measure"].contains("choices") &&
      out["measure"]["choices"].is_array()) {
    for (Json& p : out["measure"]["choices"]) {
      if (p.is_object()) {
        if (!p.contains("count")) p["count"] = ChoiceProbeSpec{}.count;
        times(p["count"]);
      }
    }
  }
  if (out.contains("measure") && out["measure"].contains("context") &&
      out["measure"]["context"].is_array()) {
    for (Json& p : out["measure"]["context"]) {
      if (p.is_object()) {
        if (!p.contains("count")) p["count"] = ContextProbeSpec{}.count;
        times(p["count"]);
      }
    }
  }
  if (out.contains("vectors")) scale_vector_section(out["vectors"], scale);
  return out;
}

}  // namespace masque::experiment
