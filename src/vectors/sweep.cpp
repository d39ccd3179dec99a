// Steering dose-response (see sweep.h).
#include "vectors/sweep.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/progress.h"
#include "infer/model_generator.h"
#include "posttrain/assistant_probe.h"
#include "posttrain/chat_format.h"
#include "report/markdown.h"
#include "report/svg.h"
#include "world/contrast_set.h"
#include "world/scorer.h"

namespace masque::vectors {
namespace {

std::string num(double x, int digits = 3) {
  if (std::isnan(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

}  // namespace

Json SweepResult::to_json() const {
  Json cells_json = Json::array();
  auto n = [](double x) { return std::isnan(x) ? Json(nullptr) : Json(x); };
  for (const SweepCell& c : cells) {
    cells_json.push_back({{"layer", c.layer},
                          {"coef", c.coef},
                          {"expression", n(c.expression.value)},
                          {"low", n(c.expression.low)},
                          {"high", n(c.expression.high)},
                          {"readable", c.readable},
                          {"log_likelihood", n(c.log_likelihood)},
                          {"replies", c.replies},
                          {"example", c.example}});
  }
  return {{"trait", trait}, {"cells", cells_json}};
}

std::string SweepResult::markdown() const {
  std::string out = "| layer | coef | " + trait +
                    " expression [95% CI] | readable | log-lik/token | example |\n"
                    "| --- | --- | --- | --- | --- | --- |\n";
  for (const SweepCell& c : cells) {
    std::string example = c.example.substr(0, 60);
    for (char& ch : example) {
      if (ch == '|' || ch == '\n') ch = ' ';
    }
    out += cat("| ", c.layer, " | ", num(c.coef, 2), " | ", num(c.expression.value), " [",
               num(c.expression.low), ", ", num(c.expression.high), "] | ", num(c.readable, 2),
               " | ", num(c.log_likelihood), " | ", example, " |\n");
  }
  return out;
}

std::string SweepResult::svg() const {
  report::LineChart chart;
  chart.title = trait + " expression under steering";
  chart.x_label = "coefficient";
  chart.y_label = trait + " (TraitScorer)";
  for (const SweepCell& c : cells) {
    if (chart.series.empty() || chart.series.back().label != cat("layer ", c.layer)) {
      chart.series.push_back({cat("layer ", c.layer), {}, {}});
    }
    chart.series.back().x.push_back(c.coef);
    chart.series.back().y.push_back(c.expression.value);
  }
  return report::render_svg(chart);
}

SweepResult sweep_steering(Model& model, const Tokenizer& tokenizer, const world::World& world,
                           const persona::PersonaVector& vector, const SweepOptions& options) {
  if (options.coefs.empty()) throw InputError("--coefs is empty");
  if (options.prompts < 1 || options.samples < 1) {
    throw InputError("--prompts and --samples must be >= 1");
  }
  const world::Trait trait = world::parse_trait(vector.trait, "the vector's trait");
  const ModelConfig& cfg = model.config();
  std::vector<int> layers = options.layers;
  if (layers.empty()) layers.push_back(vector.default_layer());
  for (int layer : layers) (void)vector.at(layer);  // InputError naming the present layers

  // Held-out questions, no instruction: the contrast set's question stream.
  world::ContrastSetSpec spec;
  spec.trait = trait;
  std::vector<std::string> questions;
  std::vector<std::vector<std::int32_t>> prompts;
  for (int i = 0; i < options.prompts; ++i) {
    const Json pair = world::render_contrast_pair(world, spec, options.seed, i);
    questions.push_back(pair.at("question").get<std::string>());
    prompts.push_back(chat_prompt_tokens(tokenizer, {{Role::kUser, questions.back()}}));
  }
  const world::TraitScorer scorer(world);
  ModelTextGenerator generator(model, tokenizer);
  SweepResult result;
  result.trait = vector.trait;
  std::unique_ptr<ProgressBar> bar;
  if (options.progress)
    bar = std::make_unique<ProgressBar>("sweep", layers.size() * options.coefs.size(), "cell");
  for (int layer : layers) {
    for (float coef : options.coefs) {
      Interventions steer;
      steer.add(persona::steer_intervention(vector, layer, coef, options.positions),
                cfg.num_hidden_layers, cfg.hidden_size);
      SweepCell cell;
      cell.layer = layer;
      cell.coef = coef;
      std::vector<double> scores;
      std::vector<Conversation> convs;
      std::vector<int> reply_tokens;
      const std::size_t total = prompts.size() * options.samples;
      const std::size_t batch = static_cast<std::size_t>(std::max(1, options.batch));
      for (std::size_t first = 0; first < total; first += batch) {
        const std::size_t n = std::min(batch, total - first);
        std::vector<std::vector<std::int32_t>> ids;
        std::vector<GenerateOptions> gen(n);
        for (std::size_t j = 0; j < n; ++j) {
          const std::size_t job = first + j;
          ids.push_back(prompts[job % prompts.size()]);
          gen[j].max_tokens = options.max_tokens;
          gen[j].temperature = options.temperature;
          gen[j].seed = options.seed + job;  // same seeds in every cell
        }
        const std::vector<GenerationResult> out = generator.run_batch(std::move(ids), gen, &steer);
        for (std::size_t j = 0; j < n; ++j) {
          const std::string& question = questions[(first + j) % prompts.size()];
          const std::optional<double> s = scorer.score(question, out[j].text)[trait];
          if (s) scores.push_back(*s);
          if (cell.example.empty() && first + j == 0) cell.example = out[j].text;
          convs.push_back({{Role::kUser, question}, {Role::kAssistant, out[j].text}});
          ++cell.replies;
        }
      }
      cell.readable = double(scores.size()) / double(cell.replies);
      cell.expression = persona::bootstrap_interval(scores.size(), options.bootstrap, options.seed,
                                                    [&](const std::vector<std::size_t>& idx) {
                                                      if (idx.empty()) return std::nan("");
                                                      double sum = 0;
                                                      for (std::size_t k : idx) sum += scores[k];
                                                      return sum / double(idx.size());
                                                    });
      // Coherence: the unsteered model's per-token log-likelihood of the reply.
      const std::vector<double> ll = assistant_log_likelihoods(model, tokenizer, convs);
      double sum = 0, tokens = 0;
      for (std::size_t i = 0; i < convs.size(); ++i) {
        sum += ll[i];
        tokens += double(tokenizer.encode(convs[i][1].content).size() + 1);  // + <|end|>
      }
      cell.log_likelihood = tokens > 0 ? sum / tokens : std::nan("");
      result.cells.push_back(std::move(cell));
      if (bar) bar->add(1);
    }
  }
  if (bar) bar->finish();
  return result;
}

}  // namespace masque::vectors
