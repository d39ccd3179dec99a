// The experiment runner (see runner.h; stages in docs/experiments.md).
#include "experiment/runner.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/output_dir.h"
#include "core/output_guard.h"
#include "core/progress.h"
#include "data/tokenize_corpus.h"
#include "experiment/analysis.h"
#include "experiment/experiment_report.h"
#include "experiment/recipe.h"
#include "experiment/stage_cache.h"
#include "experiment/vector_claims.h"
#include "experiment/vector_stages.h"
#include "infer/model_dir.h"
#include "infer/model_generator.h"
#include "persona/persona_eval.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/context_probe.h"
#include "posttrain/dpo.h"
#include "posttrain/sft.h"
#include "train/trainer.h"
#include "world/chat_sets.h"
#include "world/generator.h"
#include "world/preference_set.h"

namespace masque::experiment {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One line per stage: "[ 7/54] rho=0.5 seed 2  pretrain        34.1 s".
class StageLog {
 public:
  StageLog(int total, bool enabled) : total_(total), enabled_(enabled), start_(Clock::now()) {}
  void done(const std::string& what, const Stage& stage, double seconds) {
    ++count_;
    if (!enabled_) return;
    const double elapsed = since(start_);
    std::fprintf(stderr, "[%*d/%d] %-40s %s (elapsed %s)\n", int(std::to_string(total_).size()),
                 count_, total_, what.c_str(),
                 stage.cached ? "cached" : human_duration(seconds).c_str(),
                 human_duration(elapsed).c_str());
  }

 private:
  int total_, count_ = 0;
  bool enabled_;
  Clock::time_point start_;
};

struct RunContext {
  const Recipe& recipe;
  const RunOptions& options;
  StageCache& cache;
  StageLog& log;
};

Json world_stage_material(const Arm& arm, std::uint64_t seed) {
  return {{"world", arm.world.to_json()}, {"seed", seed}};
}

Stage build_world(RunContext& ctx, const Arm& arm, std::uint64_t seed) {
  const auto t = Clock::now();
  Stage s = ctx.cache.get("world", world_stage_material(arm, seed), [&](const fs::path& dir) {
    const world::GenerateStats stats = world_stage(arm.world, seed, dir, false).stats;
    return Json{{"train_documents", stats.train_documents}, {"train_bytes", stats.train_bytes}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  world"), s, since(t));
  return s;
}

Stage build_tokens(RunContext& ctx, const Arm& arm, std::uint64_t seed, const Stage& world) {
  const auto t = Clock::now();
  const Json material = {{"world", world.key}, {"vocab_size", ctx.recipe.vocab_size}};
  Stage s = ctx.cache.get("tokens", material, [&](const fs::path& dir) {
    const TokenizeStats stats = tokens_stage(world.dir, ctx.recipe.vocab_size, dir, false).stats;
    return Json{{"train_tokens", stats.train_tokens}, {"val_tokens", stats.val_tokens}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  tokens"), s, since(t));
  return s;
}

Stage build_pretrain(RunContext& ctx, const Arm& arm, std::uint64_t seed, const Stage& tokens) {
  const auto t = Clock::now();
  const PretrainConfig& p = arm.pretrain;
  const Json material = {{"tokens", tokens.key}, {"pretrain", p.to_json()}, {"seed", seed}};
  Stage s = ctx.cache.get("pretrain", material, [&](const fs::path& dir) {
    const auto start = Clock::now();
    const TrainResult r = pretrain_stage(tokens.dir, p, seed, dir, 4, ctx.options.progress);
    return Json{{"steps", r.steps_done},
                {"tokens", r.steps_done * p.batch_size * p.seq_len},
                {"final_train_loss", r.final_train_loss},
                {"final_val_loss",
                 std::isfinite(r.final_val_loss) ? Json(r.final_val_loss) : Json(nullptr)},
                {"tokens_per_second", r.tokens_per_second},
                {"seconds", since(start)}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  pretrain (", p.steps, " steps)"), s, since(t));
  return s;
}

Json run_e1(RunContext& ctx, const Arm& arm, std::uint64_t seed, const Stage& pretrain,
            const world::World& world) {
  if (ctx.recipe.measure.e1_samples <= 0) return nullptr;
  const auto t = Clock::now();
  const Json material = {{"model", pretrain.key},
                         {"samples", ctx.recipe.measure.e1_samples},
                         {"max_tokens", ctx.recipe.measure.e1_max_tokens},
                         {"seed", seed}};
  Stage s = ctx.cache.get("e1", material, [&](const fs::path&) {
    LoadedModel loaded = load_model_dir(pretrain.dir / "run");
    ModelTextGenerator generator(*loaded.model, loaded.tokenizer);
    persona::PersonaEvalOptions o;
    o.samples = ctx.recipe.measure.e1_samples;
    o.context_turns = {0};
    o.max_tokens = ctx.recipe.measure.e1_max_tokens;
    o.bootstrap = 200;
    o.seed = seed;
    o.progress = false;
    const persona::PersonaEvalResult r = persona::evaluate_personas(world, generator, o);
    const persona::ContextResult& c = r.contexts.at(0);
    return Json{{"trait_agreement", c.mean_sign_accuracy.value},
                {"trait_chance", c.mean_chance},
                {"speaker_accuracy", c.speaker_accuracy.value},
                {"speaker_chance", c.speaker_chance}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  E1 persona eval"), s, since(t));
  return s.info;
}

// Probes (and sampled replies) of one model; the same probes for every
// model of a run, since they depend only on the world and the seed.
Json measure_model(RunContext& ctx, const std::string& label, const Stage& model_stage,
                   const world::World& world, std::uint64_t seed, bool is_base) {
  const Measurements& m = ctx.recipe.measure;
  Json probes_cfg = Json::array();
  for (const ProbeSetSpec& p : m.probes) probes_cfg.push_back(p.to_json());
  Json context_cfg = Json::array();
  if (is_base) {
    for (const ContextProbeSpec& p : m.context) context_cfg.push_back(p.to_json());
  }
  Json material = {{"model", model_stage.key},
                   {"probes", probes_cfg},
                   {"value", "delta_nats"},
                   {"sampled_per_reply", true},
                   {"context", context_cfg},
                   {"samples", m.sample_count},
                   {"sample_max_tokens", m.sample_max_tokens},
                   {"seed", seed}};
  // Only recipes with inference probes key on them (other caches stay valid).
  Json inference_cfg = Json::array();
  if (is_base) {
    for (const InferenceProbeSpec& p : m.inference) inference_cfg.push_back(p.to_json());
  }
  if (!inference_cfg.empty()) material["inference"] = inference_cfg;
  Json choices_cfg = Json::array();  // likewise choice probes (E11)
  for (const ChoiceProbeSpec& p : m.choices) choices_cfg.push_back(p.to_json());
  if (!choices_cfg.empty()) material["choices"] = choices_cfg;
  // Likewise E5 rule / E12 portrayal probes (experiment/world_probes.h).
  if (const Json w = world_probes_material(m.world_probes, is_base); !w.is_null())
    material["world_probes"] = w;
  const auto t = Clock::now();
  Stage s = ctx.cache.get("measure", material, [&](const fs::path&) {
    LoadedModel loaded = load_model_dir(model_stage.dir / "run");
    Json out = {{"probes", Json::object()}};
    for (const ProbeSetSpec& p : m.probes) {
      const ProbeSetResult r = run_trait_probes(world, *loaded.model, loaded.tokenizer, p, seed);
      Json traits = Json::object();
      for (world::Trait trait : world::kAllTraits) {
        // Δ = log p(+) − log p(−) in nats, not the bounded score 2σ(Δ) − 1:
        // |Δ| is often several nats, where the score saturates at ±1 and a
        // real shift between models would be invisible.
        const auto& deltas = r.deltas[int(trait)];
        if (!deltas.empty()) traits[std::string(world::trait_name(trait))] = deltas;
      }
      out["probes"][p.name] = traits;
    }
    for (const ChoiceProbeSpec& p : m.choices) {
      out["probes"][p.name] =
          run_choice_probes(world, *loaded.model, loaded.tokenizer, p, seed).probe_set();
    }
    if (is_base) {
      for (const ContextProbeSpec& p : m.context) {
        const ContextProbeResult r =
            run_context_probes(world, *loaded.model, loaded.tokenizer, p, seed);
        Json traits = Json::object();
        for (world::Trait trait : world::kAllTraits) {
          const auto& shift = r.shift[int(trait)];
          if (!shift.empty()) traits[std::string(world::trait_name(trait))] = shift;
        }
        out["probes"][p.name] = traits;
      }
      // Inference probes: one probe set per context length, plus the table
      // of model vs ideal-observer shifts (share of the ideal) for reports.
      for (const InferenceProbeSpec& p : m.inference) {
        const InferenceProbeResult r =
            run_inference_probes(world, *loaded.model, loaded.tokenizer, p, seed);
        const Json sets = r.probe_sets(p);  // a named temporary: items() must not dangle
        for (const auto& [set, values] : sets.items()) out["probes"][set] = values;
        out["inference"][p.name] = r.summary();
      }
    }
    run_world_probes(m.world_probes, is_base, world, *loaded.model, loaded.tokenizer, seed,
                     out["probes"]);
    if (m.sample_count > 0) {
      ModelTextGenerator generator(*loaded.model, loaded.tokenizer);
      AssistantSampleSpec spec;
      spec.count = m.sample_count;
      spec.max_tokens = m.sample_max_tokens;
      if (!m.probes.empty()) {
        spec.domain = m.probes.front().domain;
        spec.system = m.probes.front().system;
      }
      const AssistantSampleResult sampled = sample_assistant(world, generator, spec, seed);
      out["samples"] = sampled.to_json();
      // Per-reply values as a probe set, so claims can test sampled behaviour.
      out["probes"][kSampledSet] = {{"question_fraction", sampled.question_fractions}};
    }
    return out;
  });
  ctx.log.done(cat(label, "  measure"), s, since(t));
  return s.info;
}

// Per probe i, the mean over the profile's traits of sign(target) x score:
// how far the model moved toward the profile it was taught.
void add_target_metric(Json& model_json, const world::ChatSetSpec& set) {
  if (set.kind != world::ChatSetKind::Profile || !model_json.contains("probes")) return;
  Json target = Json::object();
  for (const auto& [probe_name, traits] : model_json["probes"].items()) {
    std::vector<double> sum;
    int used = 0;
    for (const auto& [trait, value] : set.profile) {
      const std::string name(world::trait_name(trait));
      if (!traits.contains(name) || value == 0) continue;
      const auto scores = traits[name].get<std::vector<double>>();
      if (sum.empty()) sum.assign(scores.size(), 0.0);
      if (scores.size() != sum.size()) continue;
      for (std::size_t i = 0; i < scores.size(); ++i)
        sum[i] += (value > 0 ? 1.0 : -1.0) * scores[i];
      ++used;
    }
    if (used == 0) continue;
    for (double& v : sum) v /= used;
    target[probe_name] = sum;
  }
  if (!target.empty()) model_json["target"] = target;
}

Stage build_sft(RunContext& ctx, const Arm& arm, std::uint64_t seed, const Stage& pretrain,
                const world::World& world, const PosttrainModel& model) {
  const auto t = Clock::now();
  const Json material = {{"pretrain", pretrain.key},
                         {"set", model.set.to_json()},
                         {"sft", model.sft.to_json()},
                         {"seed", seed}};
  Stage s = ctx.cache.get("sft", material, [&](const fs::path& dir) {
    world::write_chat_set(world, model.set, seed, dir / "chats.jsonl");
    SftOptions o;
    o.base = pretrain.dir / "run";
    o.data = dir / "chats.jsonl";
    o.out_dir = dir / "run";
    o.batch_size = model.sft.batch_size;
    o.steps = model.sft.steps;
    o.epochs = model.sft.epochs;
    o.lr = model.sft.lr;
    o.warmup_steps = model.sft.warmup_steps;
    o.lora_rank = model.sft.lora_rank;
    o.lora_alpha = model.sft.lora_alpha;
    o.checkpoint_every = 0;
    o.keep_checkpoints = 1;
    o.seed = seed;
    o.progress = false;
    const auto start = Clock::now();
    const SftResult r = run_sft(o);
    return Json{{"steps", r.steps_done},
                {"final_loss", r.final_loss},
                {"examples", r.data.conversations},
                {"truncated", r.data.truncated},
                {"dropped", r.data.dropped},
                {"assistant_tokens", r.data.assistant_tokens},
                {"seconds", since(start)}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  sft ", model.name), s, since(t));
  return s;
}

// DPO after an SFT (recipe "sft": {"dpo": {...}}): pairs from the same world
// and seed (the world's facts and the Assistant's replies do not depend on
// the arm's character knobs, so every arm of a seed gets the same pairs:
// `set_hash` shows it), reference = the SFT model.
Stage build_dpo(RunContext& ctx, const Arm& arm, std::uint64_t seed, const Stage& sft,
                const world::World& world, const PosttrainModel& model) {
  const auto t = Clock::now();
  const DpoStageConfig& d = *model.sft.dpo;
  const Json material = {{"sft", sft.key}, {"dpo", d.to_json()}, {"seed", seed}};
  Stage s = ctx.cache.get("dpo", material, [&](const fs::path& dir) {
    const world::PreferenceSetStats pairs =
        world::write_preference_set(world, d.set, seed, dir / "prefs.jsonl");
    DpoOptions o;
    o.base = sft.dir / "run";
    o.data = dir / "prefs.jsonl";
    o.out_dir = dir / "run";
    o.beta = d.beta;
    o.loss = d.loss;
    o.batch_size = d.batch_size;
    o.steps = d.steps;
    o.epochs = d.epochs;
    o.lr = d.lr;
    o.warmup_steps = d.warmup_steps;
    o.lora_rank = d.lora_rank;
    o.lora_alpha = d.lora_alpha;
    o.checkpoint_every = 0;
    o.keep_checkpoints = 1;
    o.seed = seed;
    o.progress = false;
    const auto start = Clock::now();
    const DpoResult r = run_dpo(o);
    return Json{{"steps", r.steps_done},
                {"final_loss", r.final_loss},
                {"pairs", pairs.pairs},
                {"dropped_unreadable", pairs.unreadable},
                {"dropped_not_ordered", pairs.not_ordered},
                {"set_hash", Hasher64().add(read_file(dir / "prefs.jsonl")).hex()},
                {"seconds", since(start)}};
  });
  ctx.log.done(cat(arm.name, " seed ", seed, "  dpo ", model.name), s, since(t));
  return s;
}

Json stage_summary(const Stage& s) {
  Json j = s.info;
  j["key"] = s.key;
  j["cached"] = s.cached;
  return j;
}

Json run_one(RunContext& ctx, const Arm& arm, std::uint64_t seed) {
  const Stage world_stage = build_world(ctx, arm, seed);
  const world::World world = world::World::load(world_stage.dir / "world" / "world.json");
  const Stage tokens = build_tokens(ctx, arm, seed, world_stage);
  const Stage pretrain = build_pretrain(ctx, arm, seed, tokens);
  Json run = {{"arm", arm.name}, {"seed", seed}};
  run["pretrain"] = stage_summary(pretrain);
  run["pretrain"]["world_key"] = world_stage.key;
  run["pretrain"]["tokens_key"] = tokens.key;
  run["pretrain"]["corpus_tokens"] = tokens.info.value("train_tokens", 0);
  run["pretrain"]["e1"] = run_e1(ctx, arm, seed, pretrain, world);
  run["models"] = Json::object();
  const std::string label = cat(arm.name, " seed ", seed);
  if (ctx.recipe.measure.base) {
    Json base = measure_model(ctx, cat(label, "  base"), pretrain, world, seed, true);
    base["key"] = pretrain.key;
    run["models"]["base"] = base;
  }
  for (const PosttrainModel& model : ctx.recipe.models) {
    const Stage sft = build_sft(ctx, arm, seed, pretrain, world, model);
    Json m = stage_summary(sft);
    Stage tuned = sft;
    if (model.sft.dpo) {
      tuned = build_dpo(ctx, arm, seed, sft, world, model);
      m["dpo"] = stage_summary(tuned);
    }
    const Json measured =
        measure_model(ctx, cat(label, "  ", model.name), tuned, world, seed, false);
    for (const auto& [k, v] : measured.items()) m[k] = v;
    add_target_metric(m, model.set);
    run["models"][model.name] = m;
  }
  if (!ctx.recipe.vectors.is_null()) {  // persona-vector stages (E7-E10)
    const VectorPlan plan =
        VectorPlan::from_json(ctx.recipe.vectors, ctx.recipe.vector_sft_defaults, "vectors");
    run["vectors"] =
        run_vector_stages({ctx.cache, plan, pretrain, world, seed, label, ctx.options.progress});
  }
  return run;
}

void prepare_out_dir(const fs::path& out) {
  check_output_dir_writable(out, "--out");
  check_output_kind(out, ArtifactKind::Experiment, "--out");
  if (fs::exists(out)) {
    if (!fs::is_directory(out)) {
      throw InputError(
          cat("--out ", out.string(), " exists and is not a directory; choose another path"));
    }
    if (!fs::is_empty(out) && !fs::exists(out / "results.json") &&
        !fs::exists(out / "recipe.json")) {
      throw InputError(cat(
          "--out ", out.string(),
          " is not empty and holds no earlier experiment (no results.json); choose another path"));
    }
  }
  fs::create_directories(out);
}

}  // namespace

WorldStage world_stage(const world::WorldSpec& spec, std::uint64_t seed, const fs::path& dir,
                       bool progress) {
  WorldStage out{world::World::build(spec, seed), {}};
  out.stats = world::generate_corpus(out.world, dir / "world", progress);
  return out;
}

CorpusTokens tokens_stage(const fs::path& world_dir, std::uint32_t vocab_size, const fs::path& dir,
                          bool progress) {
  // World v2 corpora hold chat interviews whose role markers are control tokens.
  const bool specials = world::World::load(world_dir / "world" / "world.json").spec().version >= 2;
  return train_and_tokenize({(world_dir / "world" / "train.jsonl").string()}, vocab_size,
                            dir / "tokenizer.json", dir / "data", 0.02, progress, specials);
}

TrainResult pretrain_stage(const fs::path& tokens_dir, const PretrainConfig& p, std::uint64_t seed,
                           const fs::path& dir, int evaluations, bool progress) {
  const Tokenizer tokenizer = Tokenizer::load(tokens_dir / "tokenizer.json");
  TrainOptions train;
  train.model = ModelConfig::from_depth(p.depth, int(tokenizer.vocab_size()), p.seq_len);
  if (p.hidden_size != 0) {
    // Width apart from depth: heads of the same size, the MLP at 8/3 x width.
    ModelConfig& m = train.model;
    m.hidden_size = p.hidden_size;
    m.num_attention_heads = m.num_key_value_heads = p.hidden_size / m.head_dim;
    m.intermediate_size = int(std::lround(8.0 * p.hidden_size / 3.0 / 32.0)) * 32;
    m.validate();
  }
  if (p.heads != 0) {
    ModelConfig& m = train.model;
    m.num_attention_heads = m.num_key_value_heads = p.heads;
    m.head_dim = m.hidden_size / p.heads;
    m.validate();
  }
  train.model.bos_token_id = int(tokenizer.bos_id());
  train.model.eos_token_id = int(tokenizer.eos_id());
  train.data_dir = tokens_dir / "data";
  train.tokenizer_path = tokens_dir / "tokenizer.json";
  train.out_dir = dir / "run";
  train.batch_size = p.batch_size;
  train.seq_len = p.seq_len;
  train.steps = p.steps;
  // The default rate scales as 1 / sqrt(width) (learning_rate_for_depth with
  // width 64 x depth), so an explicit width gets the rate of its width.
  train.lr = p.lr > 0             ? p.lr
             : p.hidden_size != 0 ? 3e-3f * std::sqrt(256.0f / float(p.hidden_size))
                                  : ModelConfig::learning_rate_for_depth(p.depth);
  train.warmup_steps = p.warmup_steps;
  train.schedule = p.schedule;
  train.weight_decay = p.weight_decay;
  train.eval_every = int(std::max<std::int64_t>(10, p.steps / std::max(evaluations, 1)));
  train.eval_batches = 4;
  train.checkpoint_every = 0;
  train.keep_checkpoints = 1;
  train.seed = seed;
  train.progress = progress;
  return train_model(train);
}

fs::path default_cache_dir() {
  if (const char* env = std::getenv("MASQUE_CACHE"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "masque" / "stages";
  if (const char* home = std::getenv("HOME"); home && *home)
    return fs::path(home) / ".cache" / "masque" / "stages";
  return fs::path(".masque-cache");
}

Json run_experiment(const Json& recipe_json, std::string_view where, const RunOptions& options) {
  if (options.out_dir.empty())
    throw InputError("--out is required (the experiment's output directory)");
  Json scaled = scale_recipe(recipe_json, options.scale);
  if (options.seeds > 0) {
    Json seeds = Json::array();
    for (int i = 1; i <= options.seeds; ++i) seeds.push_back(i);
    scaled["seeds"] = seeds;
  }
  const Recipe recipe = Recipe::from_json(scaled, where);  // everything validated before any work
  prepare_out_dir(options.out_dir);
  write_json_file(options.out_dir / "recipe.json", scaled);

  StageCache cache(options.cache_dir.empty() ? default_cache_dir() : options.cache_dir);
  int dpo_models = 0;
  for (const PosttrainModel& m : recipe.models) dpo_models += m.sft.dpo.has_value();
  const int per_run = 3 + (recipe.measure.e1_samples > 0) + (recipe.measure.base ? 1 : 0) +
                      2 * int(recipe.models.size()) + dpo_models;
  StageLog log(per_run * int(recipe.arms.size() * recipe.seeds.size()), options.progress);
  RunContext ctx{recipe, options, cache, log};
  const auto start = Clock::now();

  Json results = {{"format", "masque-experiment-results"},
                  {"version", 1},
                  {"name", recipe.name},
                  {"title", recipe.title},
                  {"question", recipe.question},
                  {"prediction", recipe.prediction},
                  {"notes", recipe.notes},
                  {"scale", options.scale},
                  {"seeds", recipe.seeds},
                  {"command", options.command},
                  {"cache", cache.root().string()},
                  {"recipe", scaled}};
  Json arms = Json::array();
  for (const Arm& a : recipe.arms)
    arms.push_back({{"name", a.name}, {"x", a.x}, {"label", a.label}});
  results["arms"] = arms;
  Json models = Json::array();
  if (recipe.measure.base) models.push_back({{"name", "base"}});
  for (const PosttrainModel& m : recipe.models) {
    models.push_back({{"name", m.name},
                      {"x", m.x ? Json(*m.x) : Json(nullptr)},
                      {"series", m.series.empty() ? Json(nullptr) : Json(m.series)},
                      {"set", m.set.to_json()}});
    if (m.sft.dpo) models.back()["dpo"] = m.sft.dpo->to_json();
  }
  results["models"] = models;
  Json probe_sets = Json::array();
  for (const ProbeSetSpec& p : recipe.measure.probes) probe_sets.push_back(p.name);
  for (const ContextProbeSpec& p : recipe.measure.context) probe_sets.push_back(p.name);
  for (const InferenceProbeSpec& p : recipe.measure.inference) {
    for (int n : p.turns) probe_sets.push_back(p.set_name(n));
  }
  for (const ChoiceProbeSpec& p : recipe.measure.choices) probe_sets.push_back(p.name);
  for (const RuleProbeSpec& p : recipe.measure.world_probes.rules) {
    for (const std::string& n : p.set_names(recipe.arms.front().world, "measure.rules"))
      probe_sets.push_back(n);
  }
  for (const PortrayalProbeSpec& p : recipe.measure.world_probes.portrayal) {
    for (const std::string& n : p.set_names()) probe_sets.push_back(n);
  }
  if (recipe.measure.sample_count > 0) probe_sets.push_back(kSampledSet);
  results["probe_sets"] = probe_sets;
  results["runs"] = Json::array();
  for (const Arm& arm : recipe.arms) {
    for (std::uint64_t seed : recipe.seeds) results["runs"].push_back(run_one(ctx, arm, seed));
  }
  results["seconds"] = since(start);
  analyze_results(results, options.bootstrap, 1);
  analyze_vector_claims(results, options.bootstrap);  // no-op without a vectors section
  write_json_file(options.out_dir / "results.json", results);
  write_experiment_report(results, options.out_dir);
  append_vector_report(results, options.out_dir);
  return results;
}

}  // namespace masque::experiment
