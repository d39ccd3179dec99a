// Persona-vector recipe building blocks (see vector_measures.h).
#include "experiment/vector_measures.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "core/version.h"
#include "vectors/activations.h"
#include "vectors/direction.h"
#include "world/chat_sets.h"

namespace masque::experiment {
namespace {

vectors::TokenSequence reply_sequence(const Tokenizer& tokenizer, const Conversation& conv) {
  if (conv.empty() || conv.back().role != Role::kAssistant)
    throw InputError("a reply pair's conversation must end with the Assistant's reply");
  const Conversation prompt(conv.begin(), conv.end() - 1);
  vectors::TokenSequence seq;
  seq.tokens = tokenize_chat(tokenizer, conv).tokens;
  seq.prompt_length = static_cast<int>(chat_prompt_tokens(tokenizer, prompt).size());
  return seq;
}

}  // namespace

std::vector<double> steered_log_likelihoods(const Model& model, const Tokenizer& tokenizer,
                                            const std::vector<Conversation>& conversations,
                                            const Interventions* steer, std::vector<int>* tokens) {
  const ModelConfig& config = model.config();
  std::vector<ChatTokens> seqs;
  for (const Conversation& c : conversations) {
    seqs.push_back(tokenize_chat(tokenizer, c));
    if (static_cast<int>(seqs.back().tokens.size()) > config.max_position_embeddings)
      throw InputError(cat("a scored conversation is ", seqs.back().tokens.size(),
                           " tokens, more than the model's context of ",
                           config.max_position_embeddings));
  }
  if (tokens) {
    tokens->clear();
    for (const ChatTokens& s : seqs) tokens->push_back(s.assistant_tokens);
  }
  // Longest first, right-padded (exact: causal attention never looks ahead),
  // about 2k rows per forward as posttrain/assistant_probe.cpp does.
  std::vector<std::size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return seqs[a].tokens.size() > seqs[b].tokens.size();
  });
  const std::size_t V = static_cast<std::size_t>(config.vocab_size);
  const std::int32_t pad = static_cast<std::int32_t>(tokenizer.pad_id());
  std::vector<double> result(seqs.size(), 0.0);
  std::vector<std::int32_t> batch;
  std::vector<float> logits;
  for (std::size_t start = 0; start < order.size();) {
    const std::size_t T = seqs[order[start]].tokens.size();
    const std::size_t B = std::max<std::size_t>(1, std::min(order.size() - start, 2048 / T));
    batch.assign(B * T, pad);
    for (std::size_t b = 0; b < B; ++b) {
      const auto& t = seqs[order[start + b]].tokens;
      std::copy(t.begin(), t.end(), batch.begin() + static_cast<std::ptrdiff_t>(b * T));
    }
    logits.resize(B * T * V);
    CallOptions call;
    call.interventions = steer;
    model.forward_logits(batch.data(), static_cast<int>(B), static_cast<int>(T), logits.data(),
                         call);
    for (std::size_t b = 0; b < B; ++b) {
      const ChatTokens& seq = seqs[order[start + b]];
      double total = 0;
      for (std::size_t i = 0; i < seq.targets.size(); ++i) {
        if (seq.targets[i] < 0) continue;
        const float* row = logits.data() + (b * T + i) * V;
        double max = row[0];
        for (std::size_t v = 1; v < V; ++v) max = std::max(max, double(row[v]));
        double sum = 0;
        for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - max);
        total += double(row[seq.targets[i]]) - max - std::log(sum);
      }
      result[order[start + b]] = total;
    }
    start += B;
  }
  return result;
}

std::vector<double> probe_deltas(const Model& model, const Tokenizer& tokenizer,
                                 const std::vector<ProbePair>& pairs, const Interventions* steer) {
  std::vector<Conversation> convs;
  for (const ProbePair& p : pairs) {
    convs.push_back(p.positive);
    convs.push_back(p.negative);
  }
  const std::vector<double> ll = steered_log_likelihoods(model, tokenizer, convs, steer);
  std::vector<double> out(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) out[i] = ll[2 * i] - ll[2 * i + 1];
  return out;
}

std::vector<double> per_token_losses(const Model& model, const Tokenizer& tokenizer,
                                     const std::vector<Conversation>& conversations,
                                     const Interventions* steer) {
  std::vector<int> tokens;
  std::vector<double> ll = steered_log_likelihoods(model, tokenizer, conversations, steer, &tokens);
  for (std::size_t i = 0; i < ll.size(); ++i) ll[i] = -ll[i] / std::max(1, tokens[i]);
  return ll;
}

persona::PersonaVector written_vector(const Model& model, const Tokenizer& tokenizer,
                                      const std::vector<ProbePair>& pairs, std::string_view trait) {
  if (pairs.empty()) throw InputError("no reply pairs to extract a vector from");
  const ModelConfig& cfg = model.config();
  std::vector<vectors::TokenSequence> pos, neg;
  for (const ProbePair& p : pairs) {
    pos.push_back(reply_sequence(tokenizer, p.positive));
    neg.push_back(reply_sequence(tokenizer, p.negative));
  }
  const auto pa = vectors::capture_activations(model, pos);
  const auto na = vectors::capture_activations(model, neg);
  std::vector<const std::vector<float>*> pp, np;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    pp.push_back(&pa[i].response_mean);
    np.push_back(&na[i].response_mean);
  }
  const vectors::Direction dir = vectors::compute_direction(
      pp, np, cfg.num_hidden_layers, cfg.hidden_size, vectors::Method::kMeanDiff);
  if (dir.best_layer < 0) throw InputError("the written reply pairs do not separate at any layer");
  persona::PersonaVector v;
  v.trait = std::string(trait);
  v.method = "mean-diff";
  v.positions = "response";
  v.pairs = static_cast<int>(pairs.size());
  v.model = persona::model_fingerprint(cfg, tokenizer);
  v.masque_version = std::string(kMasqueVersion);
  v.hidden_size = cfg.hidden_size;
  v.layers = dir.layers;
  v.best_layer = dir.best_layer;
  v.notes["source"] = "written";
  for (std::size_t L = 0; L < dir.separation.size(); ++L) {
    if (std::isfinite(dir.separation[L])) v.notes[cat("separation.", L)] = cat(dir.separation[L]);
  }
  return v;
}

void randomize_layers(persona::PersonaVector& vector, std::uint64_t seed) {
  Rng rng(seed ^ 0x72616e646f6dULL);
  for (std::size_t L = 0; L < vector.layers.size(); ++L) {
    std::vector<float>& v = vector.layers[L];
    if (v.empty()) continue;
    const double norm = vector.norm(static_cast<int>(L));
    double sq = 0;
    for (float& x : v) {
      x = static_cast<float>(rng.normal());
      sq += double(x) * x;
    }
    for (float& x : v) x = static_cast<float>(x * norm / std::sqrt(sq));
  }
  vector.notes["control"] = "random";
}

std::vector<std::vector<double>> pair_separation_by_layer(const Model& model,
                                                          const Tokenizer& tokenizer,
                                                          const std::vector<ProbePair>& pairs,
                                                          const persona::PersonaVector& vector) {
  std::vector<vectors::TokenSequence> seqs;
  for (const ProbePair& p : pairs) {
    seqs.push_back(reply_sequence(tokenizer, p.positive));
    seqs.push_back(reply_sequence(tokenizer, p.negative));
  }
  const auto acts = vectors::capture_activations(model, seqs);
  const int d = model.config().hidden_size;
  std::vector<std::vector<double>> out(static_cast<std::size_t>(vector.num_layers()) + 1);
  std::vector<float> diff(d);
  for (int L = 0; L <= vector.num_layers(); ++L) {
    if (!vector.has_layer(L)) continue;
    const std::span<const float> v = vector.at(L);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const auto a = vectors::layer_of(acts[2 * i].response_mean, L, d);
      const auto b = vectors::layer_of(acts[2 * i + 1].response_mean, L, d);
      for (int k = 0; k < d; ++k) diff[k] = a[k] - b[k];
      out[L].push_back(cosine(diff, v));
    }
  }
  return out;
}

std::vector<double> pair_separation(const Model& model, const Tokenizer& tokenizer,
                                    const std::vector<ProbePair>& pairs,
                                    const persona::PersonaVector& vector, int layer) {
  if (!vector.has_layer(layer))
    throw InputError(cat("the vector has no layer ", layer, " to measure separation at"));
  return pair_separation_by_layer(model, tokenizer, pairs, vector)[layer];
}

std::vector<double> prompt_last_projections(const Model& model, const Tokenizer& tokenizer,
                                            const std::vector<Conversation>& prompts,
                                            const persona::PersonaVector& vector, int layer) {
  std::vector<vectors::TokenSequence> seqs;
  for (const Conversation& c : prompts) {
    vectors::TokenSequence s;
    s.tokens = chat_prompt_tokens(tokenizer, c);
    s.prompt_length = static_cast<int>(s.tokens.size());
    seqs.push_back(std::move(s));
  }
  const auto acts = vectors::capture_activations(model, seqs);
  const int d = model.config().hidden_size;
  const std::span<const float> v = vector.at(layer);
  std::vector<double> out;
  for (const auto& a : acts)
    out.push_back(persona::projection(vectors::layer_of(a.prompt_last, layer, d), v));
  return out;
}

std::string graded_request(world::Trait trait, int level, std::uint64_t seed, int item) {
  std::string out;
  std::vector<std::string> used;
  Rng rng(seed * 1000003ULL + static_cast<std::uint64_t>(item) * 7919ULL +
          static_cast<std::uint64_t>(level + 8));
  for (int k = 0; k < std::abs(level); ++k) {
    std::string text;
    for (int tries = 0; tries < 8; ++tries) {  // distinct sentences where the bank allows
      text = std::string(world::draw_request(trait, level > 0 ? 1 : -1, world::Split::Train, rng));
      if (std::find(used.begin(), used.end(), text) == used.end()) break;
    }
    used.push_back(text);
    out += (out.empty() ? "" : " ") + text;
  }
  return out;
}

double cosine(std::span<const float> a, std::span<const float> b) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : std::nan("");
}

}  // namespace masque::experiment
