// `masque vectors extract | monitor`: persona vectors from the command line
// (docs/persona-vectors.md). Logic lives in src/vectors; this file maps
// flags to it and prints. More subcommands attach from cmd_vectors_*.cpp
// (registered as "vectors <name>", which sorts after "vectors").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/command.h"
#include "cli/parse_util.h"
#include "cli/steer_options.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/output_dir.h"
#include "core/progress.h"
#include "infer/model_dir.h"
#include "io/safetensors.h"
#include "persona/control_vector_gguf.h"
#include "persona/persona_vector.h"
#include "vectors/activations.h"
#include "vectors/contrast_pairs.h"
#include "vectors/extract.h"
#include "vectors/monitor.h"
#include "vectors/screen.h"
#include "vectors/sweep.h"
#include "world/score_file.h"

namespace {

using namespace masque;

struct ExtractOpts {
  std::string model, pairs, out, world, method = "mean-diff", positions = "response", trait,
                                        answers;
  vectors::ExtractOptions o;
  bool json = false;
};

std::string fmt(double x, int digits = 3) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

void run_extract(ExtractOpts& opts) {
  vectors::ExtractOptions o = opts.o;
  o.method = vectors::parse_method(opts.method, "--method");
  o.positions = vectors::parse_pooling(opts.positions, "--positions");
  o.trait = opts.trait;
  o.progress = progress_enabled() && !opts.json;
  const std::vector<vectors::ContrastPair> pairs = vectors::read_contrast_pairs(opts.pairs);
  std::optional<world::World> world;
  if (!opts.world.empty()) world = world::load_world_path(opts.world);
  if (!o.trait.empty() && world) world::parse_trait(o.trait, "--trait");
  const LoadedModel loaded = load_model_dir(opts.model);
  const vectors::ExtractResult result = vectors::extract_persona_vector(
      *loaded.model, loaded.tokenizer, world ? &*world : nullptr, pairs, o);
  persona::PersonaVector vector = result.vector;
  vector.notes["model_hint"] = loaded.dir.filename().string();
  persona::save_persona_vector(vector, opts.out);
  if (!opts.answers.empty()) {
    // Every scored answer pair, kept or not: what the scorer read.
    auto score = [](const std::optional<double>& s) { return s ? Json(*s) : Json(nullptr); };
    std::string lines;
    for (const vectors::PairOutcome& a : result.outcomes) {
      lines += json_line({{"pair", a.pair},
                          {"sample", a.sample},
                          {"kept", a.kept},
                          {"positive_score", score(a.positive_score)},
                          {"negative_score", score(a.negative_score)},
                          {"positive", a.positive_text},
                          {"negative", a.negative_text}}) +
               "\n";
    }
    write_file_atomic(opts.answers, lines);
  }
  if (opts.json) {
    Json info = result.to_json();
    info["out"] = opts.out;
    std::printf("%s\n", json_line(info).c_str());
    return;
  }
  std::printf("%s vector (%s, %s positions): kept %d of %d answer pairs", vector.trait.c_str(),
              vector.method.c_str(), vector.positions.c_str(), result.kept, result.candidates);
  if (result.unreadable > 0) std::printf(" (%d unreadable)", result.unreadable);
  std::printf(" -> %s\n", opts.out.c_str());
  std::printf("%6s %12s %10s\n", "layer", "separation", "norm");
  for (int l = 0; l <= vector.num_layers(); ++l) {
    std::printf("%6d %12s %10s%s\n", l, fmt(result.separation[l]).c_str(),
                vector.has_layer(l) ? fmt(vector.norm(l)).c_str() : "absent",
                l == vector.best_layer ? "  <- best" : "");
  }
  std::printf("in %.1fs\n", result.seconds);
}

struct MonitorOpts {
  std::string model, vector, data, world;
  vectors::MonitorOptions o;
  bool json = false, per_example = false;
};

void run_monitor(MonitorOpts& opts) {
  const std::vector<Conversation> data = vectors::read_conversations(opts.data);
  std::optional<world::World> world;
  if (!opts.world.empty()) world = world::load_world_path(opts.world);
  const LoadedModel loaded = load_model_dir(opts.model);
  const persona::PersonaVector vector =
      persona::load_persona_vector(opts.vector, loaded.model->config(), loaded.tokenizer);
  vectors::MonitorOptions o = opts.o;
  o.progress = progress_enabled() && !opts.json;
  const vectors::MonitorResult r = vectors::monitor_projections(
      *loaded.model, loaded.tokenizer, world ? &*world : nullptr, vector, data, o);
  if (opts.json) {
    std::printf("%s\n", json_line(r.to_json(true)).c_str());
    return;
  }
  if (opts.per_example) {
    std::printf("%5s %12s %12s %8s\n", "#", "prompt-last", "response", "score");
    for (std::size_t i = 0; i < r.examples.size(); ++i) {
      const auto& e = r.examples[i];
      std::printf("%5zu %12s %12s %8s\n", i, fmt(e.prompt_last).c_str(),
                  e.response ? fmt(*e.response).c_str() : "-",
                  e.score ? fmt(*e.score, 2).c_str() : "-");
    }
  }
  std::printf("%s at layer %d: %zu examples, %d with a %s reading\n", r.trait.c_str(), r.layer,
              r.examples.size(), r.scored, r.trait.c_str());
  auto line = [](const char* what, const persona::Interval& i) {
    std::printf("  Pearson r(%s projection, score) = %s [%s, %s]\n", what, fmt(i.value).c_str(),
                fmt(i.low).c_str(), fmt(i.high).c_str());
  };
  if (world) {
    line("prompt-last", r.r_prompt_last);
    line("response", r.r_response);
  }
}

struct ActivationsOpts {
  std::string model, tokens, out;
  int response_from = -1;
  cli::SteerFlags steer;
};

// Every layer's residual rows of one token sequence (whole-sequence forward
// under --steer), the logits, and the engine path's pooled activations: what
// tests/python compares with transformers' hidden_states and hooks.
void run_activations(const ActivationsOpts& o) {
  const LoadedModel loaded = load_model_dir(o.model);
  const Model& model = *loaded.model;
  const ModelConfig& cfg = model.config();
  const std::vector<std::int32_t> tokens = cli::parse_id_list(o.tokens, "--tokens");
  const int T = static_cast<int>(tokens.size());
  if (o.response_from >= 0 && (o.response_from < 1 || o.response_from > T)) {
    throw InputError(cat("--response-from must be in [1, ", T, "], got ", o.response_from));
  }
  const int prompt_length = o.response_from < 0 ? T : o.response_from;
  const cli::Steering steering = cli::build_steering(o.steer, model, loaded.tokenizer);
  Interventions all = steering.interventions;
  std::vector<std::unique_ptr<Observation>> obs;
  for (int layer = 0; layer <= cfg.num_hidden_layers; ++layer) {
    obs.push_back(std::make_unique<Observation>());
    all.add(persona::observe_intervention(layer, cfg.num_hidden_layers, obs.back().get()),
            cfg.num_hidden_layers, cfg.hidden_size);
  }
  std::vector<std::uint8_t> mask(T, 0);
  for (int t = prompt_length; t < T; ++t) mask[t] = 1;
  std::vector<float> logits(static_cast<std::size_t>(T) * cfg.vocab_size);
  model.forward_logits(tokens.data(), 1, T, logits.data(), CallOptions{&all, mask.data()});
  SafetensorsWriter out;
  out.add_f32("logits", {T, cfg.vocab_size}, logits.data());
  for (int layer = 0; layer <= cfg.num_hidden_layers; ++layer) {
    out.add_f32(cat("layers.", layer), {T, cfg.hidden_size}, obs[layer]->values.data());
  }
  vectors::TokenSequence seq{tokens, prompt_length};
  vectors::CaptureOptions capture;
  capture.steer = steering.empty() ? nullptr : &steering.interventions;
  const vectors::SequenceActivations pooled =
      vectors::capture_activations(model, std::span(&seq, 1), capture)[0];
  const std::int64_t rows = cfg.num_hidden_layers + 1;
  out.add_f32("pooled.prompt_last", {rows, cfg.hidden_size}, pooled.prompt_last.data());
  out.add_f32("pooled.prompt", {rows, cfg.hidden_size}, pooled.prompt_mean.data());
  if (!pooled.response_mean.empty()) {
    out.add_f32("pooled.response", {rows, cfg.hidden_size}, pooled.response_mean.data());
  }
  out.write(o.out);
  std::printf("%s\n", json_line({{"out", o.out}, {"tokens", T}, {"layers", rows}}).c_str());
}

struct ScreenOpts {
  std::string model, vector, data, out;
  vectors::ScreenOptions o;
  bool json = false;
};

void run_screen(ScreenOpts& opts) {
  const std::vector<Conversation> data = vectors::read_conversations(opts.data);
  const LoadedModel loaded = load_model_dir(opts.model);
  const persona::PersonaVector vector =
      persona::load_persona_vector(opts.vector, loaded.model->config(), loaded.tokenizer);
  vectors::ScreenOptions o = opts.o;
  o.progress = progress_enabled() && !opts.json;
  const vectors::ScreenResult r =
      vectors::screen_data(*loaded.model, loaded.tokenizer, vector, data, o);
  // Ranked: the examples that push furthest along the direction first.
  std::vector<const vectors::ScreenExample*> ranked;
  for (const auto& e : r.examples) ranked.push_back(&e);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto* a, const auto* b) { return a->delta > b->delta; });
  if (!opts.out.empty()) {
    std::string lines;
    for (const auto* e : ranked) {
      lines += json_line({{"index", e->index},
                          {"delta", e->delta},
                          {"data_projection", e->data_projection},
                          {"model_projection", e->model_projection},
                          {"model_reply", e->model_reply}}) +
               "\n";
    }
    write_file_atomic(opts.out, lines);
  }
  Json summary = r.summary();
  summary["trait"] = vector.trait;
  summary["data"] = opts.data;
  if (opts.json) {
    std::printf("%s\n", json_line(summary).c_str());
    return;
  }
  std::printf("%s at layer %d: mean ΔP = %s [%s, %s] over %zu examples%s\n", vector.trait.c_str(),
              r.layer, fmt(r.mean_delta.value).c_str(), fmt(r.mean_delta.low).c_str(),
              fmt(r.mean_delta.high).c_str(), r.examples.size(),
              opts.out.empty() ? "" : cat(" (ranked examples in ", opts.out, ")").c_str());
  const std::size_t show = std::min<std::size_t>(5, ranked.size());
  for (std::size_t i = 0; i < show; ++i) {
    std::printf("  #%d ΔP %s\n", ranked[i]->index, fmt(ranked[i]->delta).c_str());
  }
}

struct SweepOpts {
  std::string model, vector, world, out, layers, coefs, positions = "all";
  vectors::SweepOptions o;
  bool json = false;
};

void run_sweep(SweepOpts& opts) {
  vectors::SweepOptions o = opts.o;
  for (const std::string& item : cli::split_commas(opts.layers)) {
    o.layers.push_back(static_cast<int>(cli::parse_id_list(item, "--layers")[0]));
  }
  if (!opts.coefs.empty()) {
    o.coefs.clear();
    for (const std::string& item : cli::split_commas(opts.coefs)) {
      try {
        std::size_t used = 0;
        o.coefs.push_back(std::stof(item, &used));
        if (used != item.size()) throw std::invalid_argument(item);
      } catch (const std::exception&) {
        throw InputError(cat("--coefs: '", item, "' is not a number (e.g. --coefs -4,-2,0,2,4)"));
      }
    }
  }
  o.positions = cli::parse_steer_positions(opts.positions, "--steer-positions");
  o.progress = progress_enabled() && !opts.json;
  if (!opts.out.empty()) check_output_dir_writable(opts.out, "--out");
  const world::World world = world::load_world_path(opts.world);
  const LoadedModel loaded = load_model_dir(opts.model);
  const persona::PersonaVector vector =
      persona::load_persona_vector(opts.vector, loaded.model->config(), loaded.tokenizer);
  const vectors::SweepResult r =
      vectors::sweep_steering(*loaded.model, loaded.tokenizer, world, vector, o);
  if (!opts.out.empty()) {
    AtomicDir dir(opts.out);
    write_json_file(dir.path() / "sweep.json", r.to_json());
    write_file_atomic(dir.path() / "sweep.md", "# Steering dose-response\n\n" + r.markdown());
    write_file_atomic(dir.path() / "sweep.svg", r.svg());
    dir.commit();
  }
  if (opts.json) {
    std::printf("%s\n", json_line(r.to_json()).c_str());
  } else {
    std::printf("%s", r.markdown().c_str());
  }
}

struct ExportOpts {
  std::string vector, out, model_hint;
  bool json = false;
};

void run_export(const ExportOpts& o) {
  const persona::PersonaVector v = persona::load_persona_vector(o.vector);
  std::string hint = o.model_hint;
  if (hint.empty()) {
    auto it = v.notes.find("model_hint");
    hint = it != v.notes.end() ? it->second : v.trait;
  }
  const int written = persona::write_control_vector_gguf(v, hint, o.out);
  if (o.json) {
    std::printf("%s\n",
                json_line({{"out", o.out}, {"directions", written}, {"model_hint", hint}}).c_str());
  } else {
    std::printf("control vector: %d directions (direction.k = layer k+1) -> %s\n", written,
                o.out.c_str());
  }
}

masque::cli::CommandRegistrar reg("vectors", [](CLI::App& app) {
  auto* vectors = app.add_subcommand(
      "vectors", "Persona vectors: extract, monitor, sweep, screen (docs/persona-vectors.md)");
  vectors->require_subcommand(1);

  auto* ex =
      vectors->add_subcommand("extract", "Extract a trait direction per layer from contrast pairs");
  auto e = std::make_shared<ExtractOpts>();
  ex->add_option("--model", e->model, "Model directory (RUN_DIR, checkpoint or HF directory)")
      ->required();
  ex->add_option("--pairs", e->pairs,
                 "Contrast pairs JSONL (`masque world contrast`, or ready "
                 "texts {\"positive\", \"negative\"})")
      ->required();
  ex->add_option("--out", e->out, "Vector file (.safetensors, written atomically)")->required();
  ex->add_option("--world", e->world,
                 "World directory: its TraitScorer decides which answers "
                 "show the trait (needed for conversation pairs)");
  ex->add_option("--trait", e->trait, "Trait name (default: the pairs' \"trait\")");
  ex->add_option("--method", e->method, "mean-diff or pca")->capture_default_str();
  ex->add_option("--positions", e->positions, "response, prompt-last or prompt")
      ->capture_default_str();
  ex->add_option("--samples", e->o.samples, "Answers per pole and pair")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  ex->add_option("--max-tokens", e->o.max_tokens, "Tokens per answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  ex->add_option("--temperature", e->o.temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  ex->add_option("--seed", e->o.seed, "Sampling seed")->capture_default_str();
  ex->add_option("--batch", e->o.batch, "Sequences per engine step")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  ex->add_option("--answers", e->answers,
                 "Also write every answer pair with its scores and whether it was kept (JSONL)");
  ex->add_flag("--json", e->json, "Machine-readable summary");
  ex->callback([e] { run_extract(*e); });

  auto* mon = vectors->add_subcommand(
      "monitor", "Project chat examples onto a vector and correlate with the trait's score");
  auto m = std::make_shared<MonitorOpts>();
  mon->add_option("--model", m->model, "Model directory")->required();
  mon->add_option("--vector", m->vector, "Vector file")->required();
  mon->add_option("--data", m->data,
                  "Chat JSONL; a conversation ending with a user message is answered first")
      ->required();
  mon->add_option("--world", m->world, "World directory (scores and correlations)");
  mon->add_option("--layer", m->o.layer, "Layer (0 = embeddings; default: the vector's best)");
  mon->add_option("--max-tokens", m->o.max_tokens, "Tokens per generated answer")
      ->capture_default_str();
  mon->add_option("--temperature", m->o.temperature, "For generated answers (0 = greedy)")
      ->capture_default_str();
  mon->add_option("--seed", m->o.seed, "Sampling and bootstrap seed")->capture_default_str();
  mon->add_option("--bootstrap", m->o.bootstrap, "Bootstrap resamples")->capture_default_str();
  mon->add_flag("--per-example", m->per_example, "Print every example's projections");
  mon->add_flag("--json", m->json, "Machine-readable output (with every example)");
  mon->callback([m] { run_monitor(*m); });

  auto* act = vectors->add_subcommand(
      "activations",
      "Dump every layer's residual rows (0 = embeddings), logits and pooled activations of one "
      "token sequence, optionally steered (for parity checks)");
  auto a = std::make_shared<ActivationsOpts>();
  act->add_option("--model", a->model, "Model directory")->required();
  act->add_option("--tokens", a->tokens, "Token ids, comma-separated (no BOS added)")->required();
  act->add_option("--response-from", a->response_from,
                  "Positions >= N are response tokens (default: none)");
  act->add_option("--out", a->out, "Output .safetensors")->required();
  cli::add_steer_flags(act, a->steer);
  act->callback([a] { run_activations(*a); });

  auto* sc = vectors->add_subcommand(
      "screen",
      "Projection difference ΔP of a training set: its replies vs the model's own (greedy), "
      "per example and per set");
  auto c = std::make_shared<ScreenOpts>();
  sc->add_option("--model", c->model, "Model directory")->required();
  sc->add_option("--vector", c->vector, "Vector file")->required();
  sc->add_option("--data", c->data, "Chat JSONL whose conversations end with the Assistant's reply")
      ->required();
  sc->add_option("--layer", c->o.layer, "Layer (default: the vector's best)");
  sc->add_option("--out", c->out, "Per-example JSONL, ranked by ΔP (written atomically)");
  sc->add_option("--max-tokens", c->o.max_tokens, "Tokens per model reply")->capture_default_str();
  sc->add_option("--bootstrap", c->o.bootstrap, "Bootstrap resamples")->capture_default_str();
  sc->add_option("--seed", c->o.seed, "Bootstrap seed")->capture_default_str();
  sc->add_flag("--json", c->json, "Machine-readable summary");
  sc->callback([c] { run_screen(*c); });

  auto* sw = vectors->add_subcommand(
      "sweep", "Steering dose-response: trait expression and coherence per layer x coefficient");
  auto w = std::make_shared<SweepOpts>();
  sw->add_option("--model", w->model, "Model directory")->required();
  sw->add_option("--vector", w->vector, "Vector file")->required();
  sw->add_option("--world", w->world, "World directory (questions and TraitScorer)")->required();
  sw->add_option("--layers", w->layers, "Layers, e.g. 1,2 (default: the vector's best)");
  sw->add_option("--coefs", w->coefs, "Coefficients (default -4,-2,-1,0,1,2,4)");
  sw->add_option("--steer-positions", w->positions, "all, prompt or response")
      ->capture_default_str();
  sw->add_option("--prompts", w->o.prompts, "Held-out questions")->capture_default_str();
  sw->add_option("--samples", w->o.samples, "Replies per question and cell")->capture_default_str();
  sw->add_option("--max-tokens", w->o.max_tokens, "Tokens per reply")->capture_default_str();
  sw->add_option("--temperature", w->o.temperature, "Sampling temperature")->capture_default_str();
  sw->add_option("--seed", w->o.seed, "Seed (the same in every cell)")->capture_default_str();
  sw->add_option("--out", w->out, "Directory for sweep.json, sweep.md and sweep.svg");
  sw->add_flag("--json", w->json, "Machine-readable output");
  sw->callback([w] { run_sweep(*w); });

  auto* gg = vectors->add_subcommand(
      "export-gguf",
      "Write a vector as a llama.cpp control vector (GGUF; direction.k = layer k+1, k >= 1)");
  auto g = std::make_shared<ExportOpts>();
  gg->add_option("vector", g->vector, "Vector file (.safetensors)")->required();
  gg->add_option("--out", g->out, "Output .gguf (written atomically)")->required();
  gg->add_option("--model-hint", g->model_hint,
                 "controlvector.model_hint (default: the vector's model_hint note)");
  gg->add_flag("--json", g->json, "Machine-readable summary");
  gg->callback([g] { run_export(*g); });
});

}  // namespace
