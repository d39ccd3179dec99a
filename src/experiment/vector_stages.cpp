// Persona-vector stages of the E7-E10 recipes (see vector_stages.h).
#include "experiment/vector_stages.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/hash.h"
#include "core/progress.h"
#include "experiment/analysis.h"
#include "experiment/vector_measures.h"
#include "infer/model_dir.h"
#include "posttrain/sft.h"
#include "vectors/contrast_pairs.h"
#include "vectors/extract.h"
#include "vectors/monitor.h"
#include "vectors/screen.h"
#include "world/contrast_set.h"

namespace masque::experiment {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

constexpr const char* kVectorFile = "vector.safetensors";

double mean_of(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v) {
    if (std::isfinite(x)) s += x, ++n;
  }
  return n ? s / n : std::nan("");
}

Json num(double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); }

// Metrics, point sets and tables of one run, and its progress lines.
struct Out {
  Json metrics = Json::object(), points = Json::object(), tables = Json::object();
  Json stages = Json::object();
  void metric(const std::string& name, const std::vector<double>& values) {
    metrics[name] = values;
  }
  void point(const std::string& name, double x, double y) {
    Json& p = points[name];
    if (p.is_null()) p = {{"x", Json::array()}, {"y", Json::array()}};
    p["x"].push_back(x);
    p["y"].push_back(y);
  }
  void row(const std::string& table, const std::vector<std::string>& columns, const Json& row) {
    Json& t = tables[table];
    if (t.is_null()) t = {{"columns", columns}, {"rows", Json::array()}};
    t["rows"].push_back(row);
  }
};

struct Ctx {
  const VectorRunInput& in;
  Out out;
  void log(const std::string& what, const Stage& s, double seconds) {
    stage_json(what, s);
    if (!in.progress) return;
    std::fprintf(stderr, "[vectors] %-44s %s\n", cat(in.label, "  ", what).c_str(),
                 s.cached ? "cached" : human_duration(seconds).c_str());
  }
  void stage_json(const std::string& what, const Stage& s) {
    Json j = s.info;
    j["key"] = s.key;
    j["cached"] = s.cached;
    out.stages[what] = j;
  }
};

Json sft_json(const SftConfig& c) { return c.to_json(); }

SftResult sft_into(const fs::path& base, const fs::path& data, const fs::path& out,
                   const SftConfig& c, std::uint64_t seed,
                   std::vector<SftOptions::Steer> steer = {}) {
  SftOptions o;
  o.base = base;
  o.data = data;
  o.out_dir = out;
  o.batch_size = c.batch_size;
  o.steps = c.steps;
  o.epochs = c.epochs;
  o.lr = c.lr;
  o.warmup_steps = c.warmup_steps;
  o.lora_rank = c.lora_rank;
  o.lora_alpha = c.lora_alpha;
  o.checkpoint_every = 0;
  o.keep_checkpoints = 1;
  o.seed = seed;
  o.progress = false;
  o.steer = std::move(steer);
  return run_sft(o);
}

Json sft_info(const SftResult& r, double seconds) {
  return {{"steps", r.steps_done},
          {"final_loss", r.final_loss},
          {"examples", r.data.conversations},
          {"seconds", seconds}};
}

// A chat set of the world as a stage (dir/chats.jsonl).
Stage chat_set(Ctx& ctx, const world::ChatSetSpec& spec, std::uint64_t seed) {
  const Json material = {
      {"pretrain", ctx.in.pretrain.key}, {"set", spec.to_json()}, {"seed", seed}};
  return ctx.in.cache.get("vset", material, [&](const fs::path& dir) {
    const world::ChatSetStats s =
        world::write_chat_set(ctx.in.world, spec, seed, dir / "chats.jsonl");
    return Json{{"conversations", s.conversations}};
  });
}

std::vector<Conversation> read_set(const Stage& s, int limit = -1) {
  std::vector<Conversation> all = vectors::read_conversations((s.dir / "chats.jsonl").string());
  if (limit >= 0 && static_cast<int>(all.size()) > limit) all.resize(limit);
  return all;
}

Stage assistant_stage(Ctx& ctx) {
  const VectorPlan& plan = ctx.in.plan;
  const auto t = Clock::now();
  Json sets = Json::array();
  for (const world::ChatSetSpec& s : plan.assistant_sets) sets.push_back(s.to_json());
  const Json material = {{"pretrain", ctx.in.pretrain.key},
                         {"sets", sets},
                         {"sft", sft_json(plan.assistant_sft)},
                         {"seed", ctx.in.seed}};
  Stage s = ctx.in.cache.get("vassistant", material, [&](const fs::path& dir) {
    // The sets together, in order (SFT shuffles per epoch).
    std::string all;
    for (std::size_t i = 0; i < plan.assistant_sets.size(); ++i) {
      const fs::path part = dir / cat("set", i, ".jsonl");
      world::write_chat_set(ctx.in.world, plan.assistant_sets[i], ctx.in.seed + 31 * i, part);
      std::ifstream in(part, std::ios::binary);
      all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      fs::remove(part);
    }
    {
      std::ofstream o(dir / "chats.jsonl", std::ios::binary);
      o << all;
    }
    const auto start = Clock::now();
    const SftResult r = sft_into(ctx.in.pretrain.dir / "run", dir / "chats.jsonl", dir / "run",
                                 plan.assistant_sft, ctx.in.seed);
    return sft_info(r, since(start));
  });
  ctx.log("assistant (SFT)", s, since(t));
  return s;
}

ProbeSetSpec probe_spec(world::Trait trait, int count, world::Split split) {
  ProbeSetSpec spec;
  spec.name = "vectors";
  spec.traits = {trait};
  spec.count = count;
  spec.split = split;
  return spec;
}

// The trait vector of one model ("assistant" or "base"): a stage holding
// vector.safetensors, or info.error when extraction found nothing.
Stage vector_stage(Ctx& ctx, const std::string& who, const Stage& model_stage, world::Trait trait) {
  const VectorPlan& plan = ctx.in.plan;
  const std::string name(world::trait_name(trait));
  const auto t = Clock::now();
  Json material = {{"model", model_stage.key},
                   {"trait", name},
                   {"source", plan.source},
                   {"control", plan.control},
                   {"pairs", plan.pairs},
                   {"samples", plan.samples},
                   {"max_tokens", plan.max_tokens},
                   {"temperature", plan.temperature},
                   {"seed", ctx.in.seed}};
  // Generated pairs ask training-template questions (below); the key says so.
  if (plan.source == "generated") material["questions"] = "train";
  Stage s = ctx.in.cache.get("vector", material, [&](const fs::path& dir) {
    const LoadedModel m = load_model_dir(model_stage.dir / "run");
    persona::PersonaVector v;
    Json info = Json::object();
    try {
      if (plan.source == "written") {
        // Train templates and another seed stream: never the held-out probes.
        const std::vector<ProbePair> pairs = build_probe_pairs(
            ctx.in.world, probe_spec(trait, plan.pairs, world::Split::Train), ctx.in.seed + 7777);
        v = written_vector(*m.model, m.tokenizer, pairs, name);
        info["kept"] = v.pairs;
        info["candidates"] = v.pairs;
      } else {
        world::ContrastSetSpec cs;
        cs.trait = trait;
        cs.count = plan.pairs;
        cs.instruct_in_system = false;  // as the inoculated sets teach requests
        // Questions on the training templates, as the written pairs: a toy
        // model fit to its templates answers held-out phrasings with noise.
        cs.split = world::Split::Train;
        world::write_contrast_set(ctx.in.world, cs, ctx.in.seed + 7777, dir / "pairs.jsonl");
        vectors::ExtractOptions o;
        o.samples = plan.samples;
        o.max_tokens = plan.max_tokens;
        o.temperature = plan.temperature;
        o.seed = ctx.in.seed;
        const vectors::ExtractResult r =
            vectors::extract_persona_vector(*m.model, m.tokenizer, &ctx.in.world,
                                            vectors::read_contrast_pairs(dir / "pairs.jsonl"), o);
        v = r.vector;
        info["kept"] = r.kept;
        info["candidates"] = r.candidates;
        info["unreadable"] = r.unreadable;
      }
    } catch (const InputError& e) {
      // "no pair separates" is a result (the model does not follow the
      // instructions), not a crash: the claims that need it say so.
      return Json{{"error", e.what()}};
    }
    if (plan.control == "random") randomize_layers(v, ctx.in.seed);
    persona::save_persona_vector(v, dir / kVectorFile);
    info["best_layer"] = v.best_layer;
    Json norms = Json::array();
    for (int L = 0; L <= v.num_layers(); ++L) norms.push_back(v.has_layer(L) ? v.norm(L) : 0.0);
    info["norms"] = norms;
    return info;
  });
  ctx.log(cat(who, " vector ", name), s, since(t));
  return s;
}

// The positive control of a `generated` vector: held-out generated pairs
// (new contrast questions from another seed stream than extraction's,
// answered by the same model under each pole's request, kept when the
// TraitScorer scores the positive answer higher) should differ along the
// vector. Per kept pair, the cosine between the vector at its best layer and
// the pair's activation difference (response means, as `separation.T`). A
// stage, since it samples: info.cosines, empty with info.error when no
// held-out pair separates.
Stage heldout_generated_stage(Ctx& ctx, const Stage& model_stage, const Stage& vstage,
                              const persona::PersonaVector& v, world::Trait trait) {
  const VectorPlan& plan = ctx.in.plan;
  const std::string name(world::trait_name(trait));
  const auto t = Clock::now();
  const Json material = {
      {"model", model_stage.key},        {"vector", vstage.key},    {"trait", name},
      {"pairs", plan.probe_count},       {"samples", plan.samples}, {"max_tokens", plan.max_tokens},
      {"temperature", plan.temperature}, {"seed", ctx.in.seed}};
  Stage s = ctx.in.cache.get("vheldgen", material, [&](const fs::path& dir) {
    const LoadedModel m = load_model_dir(model_stage.dir / "run");
    world::ContrastSetSpec cs;
    cs.trait = trait;
    cs.count = plan.probe_count;
    cs.instruct_in_system = false;
    cs.split = world::Split::Train;  // as extraction: the phrasings the model reads
    // Extraction used seed + 7777: another stream gives new questions.
    world::write_contrast_set(ctx.in.world, cs, ctx.in.seed + 8888, dir / "pairs.jsonl");
    const std::vector<vectors::ContrastPair> pairs =
        vectors::read_contrast_pairs(dir / "pairs.jsonl");
    vectors::ExtractOptions o;
    o.samples = plan.samples;
    o.max_tokens = plan.max_tokens;
    o.temperature = plan.temperature;
    o.seed = ctx.in.seed + 8888;
    Json info = Json::object();
    vectors::ExtractResult r;
    try {
      r = vectors::extract_persona_vector(*m.model, m.tokenizer, &ctx.in.world, pairs, o);
    } catch (const InputError& e) {
      return Json{{"error", e.what()}, {"cosines", Json::array()}};
    }
    std::vector<ProbePair> kept;
    for (const vectors::PairOutcome& oc : r.outcomes) {
      if (!oc.kept) continue;
      ProbePair p;
      p.trait = trait;
      p.positive = pairs[oc.pair].positive_prompt;
      p.positive.push_back({Role::kAssistant, oc.positive_text});
      p.negative = pairs[oc.pair].negative_prompt;
      p.negative.push_back({Role::kAssistant, oc.negative_text});
      kept.push_back(std::move(p));
    }
    return Json{{"kept", r.kept},
                {"candidates", r.candidates},
                {"unreadable", r.unreadable},
                {"cosines", pair_separation(*m.model, m.tokenizer, kept, v, v.best_layer)}};
  });
  ctx.log(cat("held-out generated pairs ", name), s, since(t));
  return s;
}

std::optional<persona::PersonaVector> load_vector(const Stage& s) {
  if (s.info.contains("error")) return std::nullopt;
  return persona::load_persona_vector(s.dir / kVectorFile);
}

Interventions steer_at(const Model& model, const persona::PersonaVector& v, int layer, double c) {
  Interventions set;
  if (c != 0) {
    set.add(persona::steer_intervention(v, layer, static_cast<float>(c), PositionScope::kAll),
            model.config().num_hidden_layers, model.config().hidden_size);
  }
  return set;
}

// Held-out probes with an instruction of graded strength prefixed to the
// user's question (the form the inoculated sets teach).
struct Graded {
  std::size_t per_level = 0;  // questions per level
  std::vector<int> level;
  std::vector<ProbePair> pairs;
  std::vector<Conversation> prompts;
};
Graded graded_pairs(const std::vector<ProbePair>& heldout, world::Trait trait,
                    const std::vector<int>& levels, std::uint64_t seed) {
  Graded g;
  g.per_level = heldout.size();
  for (int level : levels) {
    for (std::size_t i = 0; i < heldout.size(); ++i) {
      ProbePair p = heldout[i];
      const std::string request = graded_request(trait, level, seed, static_cast<int>(i));
      for (Conversation* c : {&p.positive, &p.negative}) {
        for (ChatMessage& m : *c) {
          if (m.role == Role::kUser && !request.empty()) m.content = request + " " + m.content;
        }
      }
      g.prompts.emplace_back(p.positive.begin(), p.positive.end() - 1);
      g.level.push_back(level);
      g.pairs.push_back(std::move(p));
    }
  }
  return g;
}

// Values of the graded items (level-major) minus their question's mean over
// levels: correlations across request levels within questions.
std::vector<double> centered_by_question(std::vector<double> values, const Graded& g) {
  if (g.per_level == 0) return values;
  std::vector<double> sum(g.per_level, 0.0);
  std::vector<int> count(g.per_level, 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    sum[i % g.per_level] += values[i];
    ++count[i % g.per_level];
  }
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] -= sum[i % g.per_level] / count[i % g.per_level];
  return values;
}

// Per probe: the OLS slope of Δ on the steering coefficient (nats per unit
// coefficient); by_coef[k][i] is probe i's Δ at coefs[k].
std::vector<double> dose_slopes(const std::vector<double>& coefs,
                                const std::vector<std::vector<double>>& by_coef,
                                std::size_t probes) {
  std::vector<double> out(probes);
  for (std::size_t i = 0; i < probes; ++i) {
    std::vector<double> y;
    for (const auto& d : by_coef) y.push_back(d[i]);
    out[i] = ols_slope(coefs, y);
  }
  return out;
}

// The dose-response's baseline: does the trait vector move the trait more
// than a push of the same size in a random direction? Per probe, the
// vector's dose slope ("<prefix>dose_slope.T") and the mean slope of
// `random_directions` Gaussian directions of the vector's norm at its layer
// ("<prefix>dose_slope_random.T"). Each random direction is oriented so its
// mean slope over probes is >= 0: v and −v are equally likely draws, so
// signed random slopes average to zero whatever the push does, while the
// question is whether a direction unrelated to the trait moves it as far.
// Orienting on the same probes favours the baseline, so a claim that the
// trait vector beats it is conservative.
void dose_against_random(Ctx& ctx, const Model& model, const Tokenizer& tok,
                         const persona::PersonaVector& v, const std::string& prefix,
                         const std::string& trait, const std::vector<ProbePair>& heldout,
                         const std::vector<std::vector<double>>& by_coef) {
  const VectorPlan& plan = ctx.in.plan;
  const int L = v.best_layer;
  const std::string pre = prefix.empty() ? "" : prefix + "_";
  const std::vector<double> own = dose_slopes(plan.coefs, by_coef, heldout.size());
  ctx.out.metric(pre + "dose_slope." + trait, own);
  // One number per row: the report averages numeric cells over runs (the
  // layer is the vector's best layer, listed per run under "Vectors").
  const std::vector<std::string> cols = {
      "direction", "mean dose slope (nats per unit c; random directions oriented)"};
  ctx.out.row(pre + "dose_slope." + trait, cols, Json::array({"trait vector", num(mean_of(own))}));
  if (plan.random_directions <= 0) return;
  std::vector<double> oriented(heldout.size(), 0.0);
  for (int k = 0; k < plan.random_directions; ++k) {
    persona::PersonaVector r = v;
    Hasher64 h;
    h.add(cat("dose-random/", prefix, "/", trait, "/", k, "/", ctx.in.seed));
    randomize_layers(r, h.value());
    std::vector<std::vector<double>> by_c;
    for (std::size_t j = 0; j < plan.coefs.size(); ++j) {
      if (plan.coefs[j] == 0) {  // unsteered: the same Δ as the vector's c = 0
        by_c.push_back(by_coef[j]);
        continue;
      }
      const Interventions set = steer_at(model, r, L, plan.coefs[j]);
      by_c.push_back(probe_deltas(model, tok, heldout, &set));
    }
    const std::vector<double> s = dose_slopes(plan.coefs, by_c, heldout.size());
    const double sign = mean_of(s) >= 0 ? 1.0 : -1.0;
    for (std::size_t i = 0; i < s.size(); ++i)
      oriented[i] += sign * s[i] / double(plan.random_directions);
    ctx.out.row(pre + "dose_slope." + trait, cols,
                Json::array({cat("random ", k + 1), num(sign * mean_of(s))}));
  }
  ctx.out.metric(pre + "dose_slope_random." + trait, oriented);
}

// E7 (own vector) and E8's base-vector transfer, on the Assistant: the
// separation of held-out pairs, dose-response of the probes under steering,
// and prompt-last projection vs expressed trait across graded instructions.
void steer_and_monitor(Ctx& ctx, const Model& model, const Tokenizer& tok,
                       const persona::PersonaVector& v, const std::string& prefix,
                       const std::string& trait, const std::vector<ProbePair>& heldout,
                       const Graded& graded, const std::vector<double>& graded_delta) {
  const VectorPlan& plan = ctx.in.plan;
  const int L = v.best_layer;
  // The own vectors' separation is measured for every plan (run_vector_stages).
  if (!prefix.empty())
    ctx.out.metric(prefix + "_separation." + trait, pair_separation(model, tok, heldout, v, L));
  const std::string dose = prefix.empty() ? "dose." : prefix + "_dose.";
  std::vector<std::vector<double>> by_coef;
  for (double c : plan.coefs) {
    const Interventions set = steer_at(model, v, L, c);
    by_coef.push_back(probe_deltas(model, tok, heldout, set.empty() ? nullptr : &set));
    ctx.out.row(dose + trait, {"layer", "coefficient", "mean Δ (nats)"},
                {L, c, num(mean_of(by_coef.back()))});
  }
  // Each probe centered on its own mean over coefficients: the correlation
  // then measures the dose-response within questions, not the (much larger)
  // differences between questions' reply pairs.
  for (std::size_t i = 0; i < heldout.size(); ++i) {
    double m = 0;
    for (const auto& d : by_coef) m += d[i] / double(by_coef.size());
    for (std::size_t k = 0; k < by_coef.size(); ++k)
      ctx.out.point(dose + trait, plan.coefs[k], by_coef[k][i] - m);
  }
  dose_against_random(ctx, model, tok, v, prefix, trait, heldout, by_coef);
  const std::string proj = prefix.empty() ? "projection." : prefix + "_projection.";
  const std::vector<double> p =
      centered_by_question(prompt_last_projections(model, tok, graded.prompts, v, L), graded);
  for (std::size_t i = 0; i < p.size(); ++i) ctx.out.point(proj + trait, p[i], graded_delta[i]);
}

void run_e7_e8(Ctx& ctx, const Model& model, const Tokenizer& tok,
               const std::map<world::Trait, persona::PersonaVector>& own,
               const std::map<world::Trait, persona::PersonaVector>& base,
               const std::map<world::Trait, std::vector<ProbePair>>& heldout) {
  const VectorPlan& plan = ctx.in.plan;
  for (world::Trait t : plan.traits) {
    const std::string name(world::trait_name(t));
    const Graded graded = graded_pairs(heldout.at(t), t, plan.levels, ctx.in.seed);
    const std::vector<double> delta =
        centered_by_question(probe_deltas(model, tok, graded.pairs, nullptr), graded);
    for (std::size_t i = 0; i < delta.size(); ++i)
      ctx.out.point("instruction." + name, graded.level[i], delta[i]);
    if (own.count(t))
      steer_and_monitor(ctx, model, tok, own.at(t), "", name, heldout.at(t), graded, delta);
    if (plan.e8 && base.count(t))
      steer_and_monitor(ctx, model, tok, base.at(t), "base", name, heldout.at(t), graded, delta);
    if (!plan.e8 || !own.count(t) || !base.count(t)) continue;
    // Cosines per layer: the same trait across models, and (the null) the
    // base vector of this trait against the Assistant's other traits.
    const persona::PersonaVector& a = own.at(t);
    const persona::PersonaVector& b = base.at(t);
    for (int L = 1; L <= a.num_layers(); ++L) {
      if (!a.has_layer(L) || !b.has_layer(L)) continue;
      const double same = cosine(a.at(L), b.at(L));
      std::vector<double> other;
      for (const auto& [t2, v2] : own) {
        if (t2 != t && v2.has_layer(L)) other.push_back(cosine(b.at(L), v2.at(L)));
      }
      ctx.out.row("cosine." + name, {"layer", "cos(base, assistant)", "cos(base, other traits)"},
                  {L, num(same), num(mean_of(other))});
      if (L == a.best_layer) {
        ctx.out.metric("cos_same." + name, {same});
        ctx.out.metric("cos_other." + name, {mean_of(other)});
      }
    }
  }
}

void run_e9(Ctx& ctx, const Stage& assistant, const Model& model, const Tokenizer& tok,
            const persona::PersonaVector& v, const std::vector<ProbePair>& heldout,
            const Stage& vstage) {
  const VectorPlan& plan = ctx.in.plan;
  const int L = v.best_layer;
  const std::vector<double> before = probe_deltas(model, tok, heldout, nullptr);
  for (const NamedChatSet& cand : plan.e9_sets) {
    const Stage data = chat_set(ctx, cand.set, ctx.in.seed + 404);
    auto t = Clock::now();
    // Screen on the model before training (greedy own replies): a stage of
    // its own, so the SFT below is shared by every vector source and layer.
    const Json screen_material = {{"assistant", assistant.key},   {"set", data.key},
                                  {"vector", vstage.key},         {"layer", L},
                                  {"examples", plan.e9_examples}, {"max_tokens", plan.max_tokens},
                                  {"seed", ctx.in.seed}};
    const Stage sc = ctx.in.cache.get("vscreen", screen_material, [&](const fs::path&) {
      vectors::ScreenOptions so;
      so.layer = L;
      so.max_tokens = plan.max_tokens;
      so.seed = ctx.in.seed;
      so.bootstrap = 200;
      const vectors::ScreenResult sr =
          vectors::screen_data(model, tok, v, read_set(data, plan.e9_examples), so);
      return Json{{"delta_p", sr.mean_delta.value},
                  {"delta_p_low", sr.mean_delta.low},
                  {"delta_p_high", sr.mean_delta.high}};
    });
    ctx.log("e9 screen " + cand.name, sc, since(t));
    t = Clock::now();
    const Json material = {{"assistant", assistant.key},
                           {"set", data.key},
                           {"sft", sft_json(plan.e9_sft)},
                           {"seed", ctx.in.seed}};
    Stage s = ctx.in.cache.get("vcandidate", material, [&](const fs::path& dir) {
      const auto start = Clock::now();
      const SftResult r = sft_into(assistant.dir / "run", data.dir / "chats.jsonl", dir / "run",
                                   plan.e9_sft, ctx.in.seed);
      return sft_info(r, since(start));
    });
    ctx.log("e9 sft " + cand.name, s, since(t));
    const LoadedModel after = load_model_dir(s.dir / "run");
    const std::vector<double> d = probe_deltas(*after.model, after.tokenizer, heldout, nullptr);
    std::vector<double> shift(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) shift[i] = d[i] - before[i];
    ctx.out.metric("shift." + cand.name, shift);
    const double dp = sc.info.value("delta_p", std::nan(""));
    ctx.out.point("screen", dp, mean_of(shift));
    ctx.out.row("screen", {"set", "ΔP (screen, before)", "trait shift after SFT (nats)"},
                {cand.name, num(dp), num(mean_of(shift))});
  }
}

void run_e10(Ctx& ctx, const Stage& assistant, const Model& model, const Tokenizer& tok,
             const persona::PersonaVector& v, const Stage& vstage,
             const std::map<world::Trait, std::vector<ProbePair>>& heldout) {
  const VectorPlan& plan = ctx.in.plan;
  const world::Trait induced = plan.e10_set.trait;
  const int pole = plan.e10_set.pole;
  const int L = v.best_layer;
  std::map<world::Trait, std::vector<double>> before;
  for (world::Trait t : plan.traits) before[t] = probe_deltas(model, tok, heldout.at(t), nullptr);
  const Stage data = chat_set(ctx, plan.e10_set, ctx.in.seed + 505);
  world::ChatSetSpec task = plan.e10_set;
  task.split = world::Split::Eval;
  task.count = plan.e10_heldout;
  world::ChatSetSpec general;
  general.kind = world::ChatSetKind::Neutral;
  general.split = world::Split::Eval;
  general.count = plan.e10_heldout;
  const std::vector<Conversation> task_convs = read_set(chat_set(ctx, task, ctx.in.seed + 606));
  const std::vector<Conversation> general_convs =
      read_set(chat_set(ctx, general, ctx.in.seed + 707));
  // The same on the training phrasings (new questions, other seeds): the
  // loss a model fit to its templates can be measured on; held-out
  // phrasings sit near the uniform loss (docs/experiments.md, E10).
  task.split = world::Split::Train;
  general.split = world::Split::Train;
  const std::vector<Conversation> task_train_convs =
      read_set(chat_set(ctx, task, ctx.in.seed + 808));
  const std::vector<Conversation> general_train_convs =
      read_set(chat_set(ctx, general, ctx.in.seed + 909));
  const std::vector<std::string> cols = {"setting",
                                         "induced shift (nats, toward the taught pole)",
                                         "task loss, training phrasings",
                                         "general loss, training phrasings",
                                         "task loss, held-out phrasings",
                                         "general loss, held-out phrasings"};
  // The four held-out losses of one model (optionally steered) as metrics
  // "<what>.<setting>", and their means for the table.
  auto losses = [&](const Model& mm, const Interventions* set, const std::string& setting) {
    Json means = Json::array();
    for (const auto& [what, convs] : {std::pair<const char*, const std::vector<Conversation>*>{
                                          "task_loss_train.", &task_train_convs},
                                      {"general_loss_train.", &general_train_convs},
                                      {"task_loss.", &task_convs},
                                      {"general_loss.", &general_convs}}) {
      const std::vector<double> l = per_token_losses(mm, tok, *convs, set);
      ctx.out.metric(what + setting, l);
      means.push_back(num(mean_of(l)));
    }
    return means;
  };
  std::unique_ptr<LoadedModel> unprevented;
  for (double c : plan.e10_coefs) {
    const std::string cl = coef_label(c);
    const auto t = Clock::now();
    const Json material = {{"assistant", assistant.key},
                           {"set", data.key},
                           {"sft", sft_json(plan.e10_sft)},
                           {"vector", c > 0 ? vstage.key : ""},
                           {"layer", c > 0 ? L : 0},
                           {"coef", pole * c},
                           {"seed", ctx.in.seed}};
    Stage s = ctx.in.cache.get("vprevent", material, [&](const fs::path& dir) {
      std::vector<SftOptions::Steer> steer;
      // +c along the taught pole: the shift the data asks for is supplied
      // by the steering, so the weights need not make it.
      if (c > 0)
        steer.push_back({vstage.dir / kVectorFile, L, static_cast<float>(pole * c), false});
      const auto start = Clock::now();
      return sft_info(sft_into(assistant.dir / "run", data.dir / "chats.jsonl", dir / "run",
                               plan.e10_sft, ctx.in.seed, steer),
                      since(start));
    });
    ctx.log("e10 sft prevent c=" + cl, s, since(t));
    auto loaded = std::make_unique<LoadedModel>(load_model_dir(s.dir / "run"));
    const Model& m = *loaded->model;
    std::vector<double> induced_shift;
    for (world::Trait tr : plan.traits) {
      const std::vector<double> d = probe_deltas(m, tok, heldout.at(tr), nullptr);
      std::vector<double> shift(d.size());
      for (std::size_t i = 0; i < d.size(); ++i) shift[i] = d[i] - before[tr][i];
      if (tr == induced) {
        for (double& x : shift) x *= pole;
        induced_shift = shift;
        ctx.out.metric("induced.c=" + cl, shift);
      } else {
        ctx.out.metric("spill.c=" + cl + "." + std::string(world::trait_name(tr)), shift);
      }
    }
    Json row = Json::array({"preventative c=" + cl, num(mean_of(induced_shift))});
    for (const Json& x : losses(m, nullptr, "c=" + cl)) row.push_back(x);
    ctx.out.row("prevent", cols, row);
    if (c == 0) unprevented = std::move(loaded);
  }
  // Inference-time steering of the unprevented model against the taught pole.
  for (double c : plan.e10_coefs) {
    if (c == 0 || !unprevented) continue;
    const std::string cl = coef_label(c);
    const Model& m = *unprevented->model;
    const Interventions set = steer_at(m, v, L, -pole * c);
    const std::vector<double> d = probe_deltas(m, tok, heldout.at(induced), &set);
    std::vector<double> shift(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) shift[i] = pole * (d[i] - before[induced][i]);
    ctx.out.metric("induced.inference=" + cl, shift);
    Json row = Json::array({"inference-time c=" + cl, num(mean_of(shift))});
    for (const Json& x : losses(m, &set, "inference=" + cl)) row.push_back(x);
    ctx.out.row("prevent", cols, row);
  }
}

}  // namespace

Json run_vector_stages(const VectorRunInput& in) {
  const VectorPlan& plan = in.plan;
  Ctx ctx{in, {}};
  const Stage assistant = assistant_stage(ctx);
  const LoadedModel model = load_model_dir(assistant.dir / "run");
  const Model& m = *model.model;
  const Tokenizer& tok = model.tokenizer;

  std::map<world::Trait, persona::PersonaVector> own, base;
  std::map<world::Trait, Stage> own_stage;
  Json vectors = Json::object();
  for (world::Trait t : plan.traits) {
    const std::string name(world::trait_name(t));
    const Stage s = vector_stage(ctx, "assistant", assistant, t);
    vectors["assistant"][name] = s.info;
    if (auto v = load_vector(s)) own.emplace(t, std::move(*v));
    own_stage.emplace(t, s);
    if (plan.e8) {
      const Stage b = vector_stage(ctx, "base", in.pretrain, t);
      vectors["base"][name] = b.info;
      if (auto v = load_vector(b)) base.emplace(t, std::move(*v));
    }
  }
  std::map<world::Trait, std::vector<ProbePair>> heldout;
  for (world::Trait t : plan.traits) {
    heldout[t] =
        build_probe_pairs(in.world, probe_spec(t, plan.probe_count, plan.probe_split), in.seed);
  }
  const auto t0 = Clock::now();
  // The positive control of every plan: held-out pairs (new questions and
  // piece draws, the probes' phrasings) project apart along the vector. Per
  // layer, and against pairs of the other phrase banks too, for the report:
  // which layer separates, and whether the direction carries over to
  // phrasings the model was not trained on.
  const world::Split other_split =
      plan.probe_split == world::Split::Train ? world::Split::Eval : world::Split::Train;
  for (const auto& [t, v] : own) {
    const std::string name(world::trait_name(t));
    const auto sep = pair_separation_by_layer(m, tok, heldout.at(t), v);
    const auto other = pair_separation_by_layer(
        m, tok, build_probe_pairs(in.world, probe_spec(t, plan.probe_count, other_split), in.seed),
        v);
    ctx.out.metric("separation." + name, sep[v.best_layer]);
    const bool train_first = plan.probe_split == world::Split::Train;
    for (int L = 1; L <= v.num_layers(); ++L) {
      if (!v.has_layer(L)) continue;
      ctx.out.row(
          "separation_by_layer." + name,
          {"layer", "best layer (share of runs)", "mean cos, held-out pairs on training phrasings",
           "mean cos, held-out pairs on held-out phrasings"},
          {L, L == v.best_layer ? 1 : 0, num(mean_of(train_first ? sep[L] : other[L])),
           num(mean_of(train_first ? other[L] : sep[L]))});
    }
  }
  if (plan.source == "generated") {
    for (const auto& [t, v] : own) {
      const Stage g = heldout_generated_stage(ctx, assistant, own_stage.at(t), v, t);
      const std::string name(world::trait_name(t));
      ctx.out.metric("separation_generated." + name,
                     g.info.value("cosines", Json::array()).get<std::vector<double>>());
      vectors["assistant"][name]["heldout_generated"] = {
          {"kept", g.info.value("kept", 0)}, {"candidates", g.info.value("candidates", 0)}};
    }
  }
  if (plan.e7 || plan.e8) run_e7_e8(ctx, m, tok, own, base, heldout);
  if (plan.e9 && own.count(plan.e9_trait))
    run_e9(ctx, assistant, m, tok, own.at(plan.e9_trait), heldout.at(plan.e9_trait),
           own_stage.at(plan.e9_trait));
  if (plan.e10 && own.count(plan.e10_set.trait))
    run_e10(ctx, assistant, m, tok, own.at(plan.e10_set.trait), own_stage.at(plan.e10_set.trait),
            heldout);
  if (in.progress)
    std::fprintf(stderr, "[vectors] %-44s %s\n", cat(in.label, "  measurements").c_str(),
                 human_duration(since(t0)).c_str());
  return {{"stages", ctx.out.stages},
          {"vectors", vectors},
          {"metrics", ctx.out.metrics},
          {"points", ctx.out.points},
          {"tables", ctx.out.tables}};
}

}  // namespace masque::experiment
