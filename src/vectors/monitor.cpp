// Monitoring (see monitor.h).
#include "vectors/monitor.h"

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "infer/model_generator.h"
#include "vectors/activations.h"
#include "vectors/stats.h"
#include "world/scorer.h"
#include "world/traits.h"

namespace masque::vectors {

std::vector<Conversation> read_conversations(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(cat(path, ": cannot open the data file"));
  std::vector<Conversation> out;
  std::string text;
  int line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = cat(path, " line ", line_no);
    out.push_back(conversation_from_json(parse_json(text, where), where));
  }
  if (out.empty()) throw InputError(cat(path, ": no examples (expected chat JSONL lines)"));
  return out;
}

namespace {

Json opt(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
Json interval_json(const persona::Interval& i) {
  auto num = [](double x) { return std::isnan(x) ? Json(nullptr) : Json(x); };
  return {{"r", num(i.value)}, {"low", num(i.low)}, {"high", num(i.high)}};
}

}  // namespace

Json MonitorResult::to_json(bool with_examples) const {
  Json out = {{"trait", trait},
              {"layer", layer},
              {"examples", examples.size()},
              {"scored", scored},
              {"prompt_last_vs_score", interval_json(r_prompt_last)},
              {"response_vs_score", interval_json(r_response)}};
  if (with_examples) {
    Json rows = Json::array();
    for (const MonitorExample& e : examples) {
      rows.push_back({{"prompt_last", e.prompt_last},
                      {"response", opt(e.response)},
                      {"score", opt(e.score)},
                      {"generated", e.generated},
                      {"text", e.response_text}});
    }
    out["per_example"] = std::move(rows);
  }
  return out;
}

MonitorResult monitor_projections(const Model& model, const Tokenizer& tokenizer,
                                  const world::World* world, const persona::PersonaVector& vector,
                                  const std::vector<Conversation>& data,
                                  const MonitorOptions& options) {
  if (data.empty()) throw InputError("no examples to monitor");
  const ModelConfig& cfg = model.config();
  MonitorResult result;
  result.trait = vector.trait;
  result.layer = options.layer < 0 ? vector.default_layer() : options.layer;
  const std::span<const float> v = vector.at(result.layer);
  std::optional<world::Trait> trait;
  if (world != nullptr) trait = world::parse_trait(vector.trait, "the vector's trait");

  // Prompts, and the replies: given, or generated in batches.
  const std::size_t n = data.size();
  std::vector<std::vector<std::int32_t>> prompts(n), replies(n);
  std::vector<std::string> reply_text(n), question(n);
  std::vector<std::size_t> to_generate;
  result.examples.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    Conversation prompt = data[i];
    if (prompt.back().role == Role::kAssistant) {
      reply_text[i] = prompt.back().content;
      prompt.pop_back();
      if (prompt.empty()) throw InputError(cat("example ", i, " has no prompt before its reply"));
      for (std::uint32_t id : tokenizer.encode(reply_text[i]))
        replies[i].push_back(static_cast<std::int32_t>(id));
    } else {
      to_generate.push_back(i);
      result.examples[i].generated = true;
    }
    for (auto it = prompt.rbegin(); it != prompt.rend(); ++it) {
      if (it->role == Role::kUser) {
        question[i] = it->content;
        break;
      }
    }
    prompts[i] = chat_prompt_tokens(tokenizer, prompt);
  }
  if (!to_generate.empty()) {
    ModelTextGenerator generator(model, tokenizer);
    const std::size_t batch = static_cast<std::size_t>(std::max(1, options.batch));
    for (std::size_t first = 0; first < to_generate.size(); first += batch) {
      const std::size_t m = std::min(batch, to_generate.size() - first);
      std::vector<std::vector<std::int32_t>> ids;
      std::vector<GenerateOptions> gen(m);
      for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = to_generate[first + j];
        ids.push_back(prompts[i]);
        gen[j].max_tokens = options.max_tokens;
        gen[j].temperature = options.temperature;
        gen[j].seed = options.seed + i;
      }
      std::vector<GenerationResult> out = generator.run_batch(std::move(ids), gen, options.steer);
      for (std::size_t j = 0; j < m; ++j) {
        const std::size_t i = to_generate[first + j];
        reply_text[i] = out[j].text;
        replies[i] = out[j].tokens;
      }
    }
  }
  std::vector<TokenSequence> seqs(n);
  for (std::size_t i = 0; i < n; ++i) {
    seqs[i].prompt_length = static_cast<int>(prompts[i].size());
    seqs[i].tokens = prompts[i];
    seqs[i].tokens.insert(seqs[i].tokens.end(), replies[i].begin(), replies[i].end());
  }
  CaptureOptions capture;
  capture.batch = options.batch;
  capture.progress = options.progress;
  capture.steer = options.steer;
  const std::vector<SequenceActivations> acts = capture_activations(model, seqs, capture);
  const world::TraitScorer* scorer = nullptr;
  std::optional<world::TraitScorer> scorer_storage;
  if (world != nullptr) {
    scorer_storage.emplace(*world);
    scorer = &*scorer_storage;
  }
  std::vector<double> pl, rs, sc_pl, sc_rs;
  for (std::size_t i = 0; i < n; ++i) {
    MonitorExample& e = result.examples[i];
    e.response_text = reply_text[i];
    e.prompt_last =
        persona::projection(layer_of(acts[i].prompt_last, result.layer, cfg.hidden_size), v);
    if (!acts[i].response_mean.empty()) {
      e.response =
          persona::projection(layer_of(acts[i].response_mean, result.layer, cfg.hidden_size), v);
    }
    if (scorer != nullptr) e.score = scorer->score(question[i], reply_text[i])[*trait];
    if (e.score) {
      ++result.scored;
      pl.push_back(e.prompt_last);
      sc_pl.push_back(*e.score);
      if (e.response) {
        rs.push_back(*e.response);
        sc_rs.push_back(*e.score);
      }
    }
  }
  result.r_prompt_last = correlation_interval(pl, sc_pl, options.bootstrap, options.seed);
  result.r_response = correlation_interval(rs, sc_rs, options.bootstrap, options.seed + 1);
  return result;
}

}  // namespace masque::vectors
