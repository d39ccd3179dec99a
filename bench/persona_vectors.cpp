// Benchmark: the costs persona vectors add (issue 13's speed goals), each
// against its anchor in the same run on the same model (C1 shape of
// bench/batched_decode.cpp: 6 layers, d 256, vocab 4096, random weights):
//   capture   engine prefill of 16 sequences x 128 tokens with an observe
//             entry at every layer (0..6, rows kept) vs the plain prefill
//             (goal: <= 10% more time)
//   steer     greedy decode of 8 sequences x 128 tokens with one add entry
//             (--steer at a middle layer, all positions) vs unsteered
//             (goal: <= 5% fewer tokens/s)
// Anchors and variants alternate, best of --reps each, timed by process CPU
// time at --threads 1 (the machine is shared: wall time counts other
// processes' turns), wall time also reported.
//
//   bench_persona_vectors [--reps 5] [--threads 1] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/inference_engine.h"
#include "model/kv_cache.h"
#include "persona/persona_vector.h"

namespace {

using Clock = std::chrono::steady_clock;

masque::ModelConfig c1_config() {
  masque::ModelConfig c;
  c.vocab_size = 4096;
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 8;
  c.head_dim = 32;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5f;
  c.tie_word_embeddings = true;
  return c;
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double cpu = 1e30, wall = 1e30;
  void keep(double c, double w) {
    cpu = std::min(cpu, c);
    wall = std::min(wall, w);
  }
};

template <class F>
void timed(Timing& t, F&& f) {
  const double c0 = cpu_seconds();
  const auto w0 = Clock::now();
  f();
  t.keep(cpu_seconds() - c0, std::chrono::duration<double>(Clock::now() - w0).count());
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5, threads = 1;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc)
      reps = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--json")
      json = true;
  }
  masque::set_num_threads(threads);
  const masque::ModelConfig cfg = c1_config();
  masque::Model model(cfg);
  model.init_weights(1);
  const int L = cfg.num_hidden_layers, d = cfg.hidden_size;
  masque::Rng rng(7);

  // --- capture: prefill with observe at every layer ---
  const int seqs = 16, len = 128;
  std::vector<std::vector<std::int32_t>> prompts(seqs);
  for (auto& p : prompts) {
    for (int t = 0; t < len; ++t) p.push_back(static_cast<std::int32_t>(rng.below(cfg.vocab_size)));
  }
  std::vector<std::unique_ptr<masque::Observation>> obs;
  masque::Interventions observe;
  for (int layer = 0; layer <= L; ++layer) {
    obs.push_back(std::make_unique<masque::Observation>());
    observe.add(masque::persona::observe_intervention(layer, L, obs.back().get()), L, d);
  }
  masque::InferenceEngine engine(model);
  auto prefill = [&](const masque::Interventions* iv) {
    std::vector<masque::KvCache> caches;
    caches.reserve(seqs);
    std::vector<masque::SequenceStep> steps;
    for (int s = 0; s < seqs; ++s) {
      caches.emplace_back(model);
      steps.push_back({&caches.back(), prompts[s], false, -1});
    }
    engine.step(steps, iv);
    for (auto& o : obs) o->clear();
  };
  Timing plain, capture;
  prefill(nullptr);  // warm-up
  for (int r = 0; r < reps; ++r) {
    timed(plain, [&] { prefill(nullptr); });
    timed(capture, [&] { prefill(&observe); });
  }

  // --- steer: greedy decode with one add entry ---
  masque::persona::PersonaVector v;
  v.hidden_size = d;
  v.layers.assign(L + 1, {});
  v.layers[L / 2].resize(d);
  for (float& x : v.layers[L / 2]) x = static_cast<float>(rng.uniform() - 0.5);
  masque::Interventions steer;
  steer.add(masque::persona::steer_intervention(v, L / 2, 2.0f), L, d);
  const int batch = 8, gen = 128;
  std::vector<std::vector<std::int32_t>> decode_prompts(prompts.begin(), prompts.begin() + batch);
  for (auto& p : decode_prompts) p.resize(16);
  auto decode = [&](const masque::Interventions* iv) {
    // One engine step per token for the whole batch, greedy (argmax).
    std::vector<masque::KvCache> caches;
    caches.reserve(batch);
    std::vector<masque::SequenceStep> steps;
    for (int s = 0; s < batch; ++s) {
      caches.emplace_back(model);
      steps.push_back({&caches.back(), decode_prompts[s], false, -1});
    }
    std::span<const float> logits = engine.step(steps, iv);
    std::vector<std::int32_t> next(batch);
    for (int t = 0; t < gen; ++t) {
      for (int s = 0; s < batch; ++s) {
        const float* row = logits.data() + static_cast<std::size_t>(s) * cfg.vocab_size;
        next[s] = static_cast<std::int32_t>(std::max_element(row, row + cfg.vocab_size) - row);
        steps[s].tokens = std::span<const std::int32_t>(&next[s], 1);
        steps[s].response = true;
      }
      logits = engine.step(steps, iv);
    }
  };
  Timing unsteered, steered;
  decode(nullptr);
  for (int r = 0; r < reps; ++r) {
    timed(unsteered, [&] { decode(nullptr); });
    timed(steered, [&] { decode(&steer); });
  }
  const double tokens = static_cast<double>(batch) * gen;
  const double capture_overhead = capture.cpu / plain.cpu - 1.0;
  const double steer_slowdown = 1.0 - unsteered.cpu / steered.cpu;  // fewer tokens per second
  masque::Json out = {{"threads", threads},
                      {"reps", reps},
                      {"capture",
                       {{"sequences", seqs},
                        {"tokens", len},
                        {"plain_cpu_s", plain.cpu},
                        {"capture_cpu_s", capture.cpu},
                        {"plain_wall_s", plain.wall},
                        {"capture_wall_s", capture.wall},
                        {"overhead", capture_overhead}}},
                      {"steer",
                       {{"batch", batch},
                        {"gen", gen},
                        {"plain_tok_per_cpu_s", tokens / unsteered.cpu},
                        {"steered_tok_per_cpu_s", tokens / steered.cpu},
                        {"plain_tok_per_wall_s", tokens / unsteered.wall},
                        {"steered_tok_per_wall_s", tokens / steered.wall},
                        {"slowdown", steer_slowdown}}}};
  if (json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf(
        "capture (16 x 128 prefill, observe 7 layers): plain %.4fs, capture %.4fs CPU -> "
        "%+.1f%% (goal <= +10%%)\n",
        plain.cpu, capture.cpu, 100 * capture_overhead);
    std::printf(
        "steer (8 x 128 greedy decode, 1 add entry): %.0f vs %.0f tok/CPU-s -> %.1f%% "
        "slower (goal <= 5%%)\n",
        tokens / unsteered.cpu, tokens / steered.cpu, 100 * steer_slowdown);
  }
  return 0;
}
