// `masque demo`: the whole pipeline on the built-in persona world, in about
// five minutes on two CPU cores: generate the world, train the tokenizer,
// tokenize, pretrain a small model within a time budget, run the persona
// evaluation (E1) and write report.md with SVG charts. World, tokens and
// pretraining are the experiment runner's stages (experiment/runner.h), run
// on the demo's own directory instead of the stage cache; this file only
// sequences them and sizes the pretraining budget from a measured step.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "core/output_dir.h"
#include "core/progress.h"
#include "core/rng.h"
#include "experiment/runner.h"
#include "infer/model_dir.h"
#include "infer/model_generator.h"
#include "model/model.h"
#include "persona/e1_report.h"
#include "persona/persona_eval.h"
#include "report/markdown.h"

namespace {

using namespace masque;
namespace fs = std::filesystem;

struct DemoOpts {
  std::string out = "masque-demo";
  std::uint64_t seed = 1;
  bool quick = false;
  double train_seconds = 0;  // 0 = preset
  int depth = 0;             // 0 = preset
  int samples = 0;           // 0 = preset
  float lr = 0;              // 0 = ModelConfig::learning_rate_for_depth
  int characters = 64;       // K of the demo world (the default spec's)
  bool json = false;
};

struct Preset {
  world::WorldSpec spec;
  std::uint32_t vocab_size;
  int depth, batch, seq_len;
  double train_seconds;
  int samples;
  std::vector<int> context_turns;
  int bootstrap;
};

Preset make_preset(const DemoOpts& o) {
  Preset p;
  if (o.quick) {  // CI smoke test: every stage runs, numbers are not meaningful
    p.spec.characters = 12;
    p.spec.documents = {60, 60, 200, 0, 30, 20};
    p.spec.biographies_per_character = 1;
    p.spec.eval_documents = 24;
    p.vocab_size = 512;
    p.depth = 1;
    p.batch = 4;
    p.seq_len = 128;
    p.train_seconds = 8;
    p.samples = 1;
    p.context_turns = {0, 1};
    p.bootstrap = 100;
  } else {
    // The default world (K = 64). Three minutes on two idle cores see about
    // 3M tokens, enough for every character's signature and traits; on a
    // busy machine the budget buys fewer steps (--train-seconds buys more,
    // --characters 16 makes each character more frequent).
    p.spec.characters = o.characters;
    p.vocab_size = 2048;
    p.depth = 2;
    p.batch = 16;
    p.seq_len = 256;
    p.train_seconds = 190;
    p.samples = 4;
    p.context_turns = {0, 2};
    p.bootstrap = 1000;
  }
  if (o.train_seconds > 0) p.train_seconds = o.train_seconds;
  if (o.depth > 0) p.depth = o.depth;
  if (o.samples > 0) p.samples = o.samples;
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Seconds per optimizer step of this model on this machine: two timed steps
// after a warm-up, on random tokens (the cost does not depend on the data).
double measure_step_seconds(const ModelConfig& config, int batch, int seq_len) {
  Model model(config);
  model.init_weights(1);
  model.reserve(batch, seq_len);
  std::vector<std::int32_t> tokens(std::size_t(batch) * seq_len), targets(tokens.size());
  Rng rng(1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = std::int32_t(rng.below(std::uint64_t(config.vocab_size)));
    targets[i] = std::int32_t(rng.below(std::uint64_t(config.vocab_size)));
  }
  model.forward_backward(tokens.data(), targets.data(), batch, seq_len);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) model.forward_backward(tokens.data(), targets.data(), batch, seq_len);
  // AdamW and bookkeeping add a little on top of forward+backward.
  return seconds_since(start) / 2 * 1.1;
}

// The demo reruns into the same --out: remove a directory of an earlier demo,
// recognised by a file it always holds, and refuse to touch anything else.
void remove_previous_output(const fs::path& dir, const char* marker) {
  if (!fs::exists(dir)) return;
  if (!fs::is_directory(dir) || (!fs::is_empty(dir) && !fs::exists(dir / marker))) {
    throw InputError(cat(dir.string(), " exists and was not written by `masque demo` (no ", marker,
                         "); choose another --out"));
  }
  fs::remove_all(dir);
}

void stage(const char* text) {
  if (progress_enabled()) std::fprintf(stderr, "\n== %s\n", text);
}

void run_demo(const DemoOpts& opts) {
  const auto start = std::chrono::steady_clock::now();
  const Preset p = make_preset(opts);
  const fs::path out = opts.out;
  check_output_dir_writable(out, "--out");
  fs::create_directories(out);
  if (opts.json) set_progress_enabled(false);
  std::vector<std::pair<std::string, double>> timings;

  // 1. World.
  stage("1/5 generating the persona world");
  auto t = std::chrono::steady_clock::now();
  const experiment::WorldStage built =
      experiment::world_stage(p.spec, opts.seed, out, progress_enabled());
  const world::World& world = built.world;
  const world::GenerateStats& gen = built.stats;
  timings.emplace_back("world", seconds_since(t));

  // 2. Tokenizer.
  stage("2/5 training the tokenizer");
  t = std::chrono::steady_clock::now();
  remove_previous_output(out / "data", "meta.json");
  const CorpusTokens corpus = experiment::tokens_stage(out, p.vocab_size, out, progress_enabled());
  const Tokenizer& tokenizer = corpus.tokenizer;
  const TokenizeStats& tstats = corpus.stats;
  timings.emplace_back("tokenizer", seconds_since(t));

  // 3. Pretraining within the time budget: as many steps as the budget buys
  // at the measured step time, warmup 5%, eight validations.
  stage("3/5 pretraining on the CPU");
  t = std::chrono::steady_clock::now();
  experiment::PretrainConfig pretrain;
  pretrain.depth = p.depth;
  pretrain.batch_size = p.batch;
  pretrain.seq_len = p.seq_len;
  const ModelConfig shape =
      ModelConfig::from_depth(p.depth, int(tokenizer.vocab_size()), p.seq_len);
  const double step_seconds = measure_step_seconds(shape, p.batch, p.seq_len);
  pretrain.steps = std::max<std::int64_t>(20, std::int64_t(p.train_seconds / step_seconds));
  pretrain.lr = opts.lr;  // 0 = by depth
  pretrain.warmup_steps = int(std::max<std::int64_t>(5, pretrain.steps / 20));
  pretrain.schedule = "wsd";
  const fs::path run_dir = out / "run";
  remove_previous_output(run_dir, "checkpoints");  // a fresh run, never a resume
  const TrainResult trained = experiment::pretrain_stage(out, pretrain, opts.seed, out,
                                                         /*evaluations=*/8, progress_enabled());
  timings.emplace_back("pretraining", seconds_since(t));

  // 4. Persona evaluation.
  stage("4/5 persona evaluation (E1)");
  t = std::chrono::steady_clock::now();
  LoadedModel loaded = load_model_dir(run_dir);
  ModelTextGenerator generator(*loaded.model, loaded.tokenizer);
  persona::PersonaEvalOptions eval_opts;
  eval_opts.samples = p.samples;
  eval_opts.context_turns = p.context_turns;
  eval_opts.bootstrap = p.bootstrap;
  eval_opts.seed = opts.seed;
  eval_opts.progress = progress_enabled();
  eval_opts.max_tokens = 64;
  const persona::PersonaEvalResult eval = persona::evaluate_personas(world, generator, eval_opts);
  timings.emplace_back("persona eval", seconds_since(t));

  // 5. Report.
  stage("5/5 writing the report");
  const double total = seconds_since(start);
  persona::E1ReportInputs report;
  report.world = &world;
  report.eval = &eval;
  report.train_curve = trained.train_curve;
  report.val_curve = trained.val_curve;
  const ModelConfig& m = loaded.model->config();
  report.setup = {
      {"world", cat(world.characters().size(), " characters, ", world.facts().size(), " facts, ",
                    gen.train_documents, " training documents (",
                    human_bytes(double(gen.train_bytes)), "), seed ", opts.seed)},
      {"tokenizer", cat("byte-level BPE, ", tokenizer.vocab_size(), " tokens; ",
                        human_count(double(tstats.train_tokens)), " training tokens")},
      {"model", cat(m.num_hidden_layers, " layers, d=", m.hidden_size, ", ", m.num_attention_heads,
                    " heads, ", human_count(double(m.num_parameters())), " parameters")},
      {"training", cat(trained.steps_done, " steps of ", p.batch, "x", p.seq_len, " tokens (",
                       human_count(double(trained.steps_done) * p.batch * p.seq_len), " tokens), ",
                       human_count(trained.tokens_per_second), " tok/s, final train loss ",
                       report::fixed(trained.final_train_loss, 3), ", val loss ",
                       report::fixed(trained.final_val_loss, 3))},
      {"evaluation", cat(eval.characters.size(), " characters x ", eval.samples,
                         " samples per context length, held-out questions, temperature 1")},
      {"wall time", cat(
                        human_duration(total), " (",
                        [&] {
                          std::string s;
                          for (const auto& [name, secs] : timings)
                            s += (s.empty() ? "" : ", ") + name + " " + human_duration(secs);
                          return s;
                        }(),
                        ")")},
  };
  persona::write_e1_report(report, out);

  if (opts.json) {
    Json summary = {
        {"out", out.string()},
        {"above_chance", persona::above_chance(eval)},
        {"seconds", total},
        {"train_steps", trained.steps_done},
        {"final_train_loss", trained.final_train_loss},
        {"final_val_loss",
         std::isfinite(trained.final_val_loss) ? Json(trained.final_val_loss) : Json(nullptr)},
        {"eval", eval.to_json(world)}};
    summary["eval"].erase("contexts");
    Json contexts = Json::array();
    for (const auto& ctx : eval.contexts) {
      contexts.push_back({{"turns", ctx.turns},
                          {"trait_agreement", ctx.mean_sign_accuracy.value},
                          {"trait_chance", ctx.mean_chance},
                          {"speaker_accuracy", ctx.speaker_accuracy.value},
                          {"speaker_chance", ctx.speaker_chance}});
    }
    summary["contexts"] = contexts;
    std::printf("%s\n", json_line(summary).c_str());
    return;
  }
  std::printf("\nmasque demo: persona acquisition (E1) on %zu characters, %s\n",
              eval.characters.size(), human_duration(total).c_str());
  std::printf("model %s parameters, %lld steps, final loss %.3f (val %.3f)\n\n",
              human_count(double(m.num_parameters())).c_str(),
              static_cast<long long>(trained.steps_done), trained.final_train_loss,
              trained.final_val_loss);
  std::printf("%s\n", persona::e1_summary_table(eval).c_str());
  std::printf("persona acquisition %s chance. Report: %s\n",
              persona::above_chance(eval) ? "is clearly above" : "is NOT clearly above",
              (out / "report.md").string().c_str());
}

masque::cli::CommandRegistrar reg("demo", [](CLI::App& app) {
  auto* cmd = app.add_subcommand("demo",
                                 "Whole pipeline on the built-in persona world: world, tokenizer, "
                                 "pretraining, persona eval, report");
  auto o = std::make_shared<DemoOpts>();
  cmd->add_option("--out", o->out, "Output directory (default ./masque-demo)");
  cmd->add_option("--seed", o->seed, "Seed for the world, training and sampling");
  cmd->add_flag("--quick", o->quick,
                "Tiny budgets (a smoke test in well under a minute; numbers not meaningful)");
  cmd->add_option("--train-seconds", o->train_seconds,
                  "Pretraining time budget (default 190, quick 8)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--depth", o->depth, "Model depth (layers; width 64*depth; default 2)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("--samples", o->samples, "Responses per character and context length (default 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--characters", o->characters,
                  "Characters in the demo world (default 64, the default spec)")
      ->check(CLI::Range(2, 256));
  cmd->add_option("--lr", o->lr, "Peak learning rate (default: by depth)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "Machine-readable summary, no progress bars");
  cmd->callback([o] { run_demo(*o); });
});

}  // namespace
