// Benchmark: one DPO step against one SFT step on the same tokens (issue 18's
// goal: DPO <= 2.2x SFT). Both run zero_grad, their passes and AdamW over a
// batch of 2P rows (P chosen/rejected pairs, reply on the second half of
// each row). SFT: one forward+backward. DPO (posttrain/dpo_loss.h): the
// reference's forward (no gradient), the policy's forward for its
// log-probs, then the weighted forward+backward. The two alternate; medians
// of --repeats, wall and process CPU time.
//
//   bench_dpo_step [--config small|tiny] [--repeats 5] [--json]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/model.h"
#include "posttrain/dpo_loss.h"
#include "train/adamw.h"

namespace {

using Clock = std::chrono::steady_clock;

struct BenchConfig {
  std::string name;
  int vocab, seq, layers, dim, heads, ff, pairs;
};

BenchConfig lookup(const std::string& name) {
  if (name == "small") return {"small", 4096, 128, 4, 256, 8, 688, 8};
  if (name == "tiny") return {"tiny", 512, 64, 2, 64, 4, 176, 4};
  throw masque::InputError(masque::cat("unknown config '", name, "': use small or tiny"));
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double wall = 0, cpu = 0;  // medians
};

// The two steps alternate, so load from other processes on a shared machine
// falls on both alike; medians of wall and process CPU time.
std::pair<Timing, Timing> interleaved(const std::function<void()>& a,
                                      const std::function<void()>& b, int repeats) {
  a();  // warm: arena sizing, first touch
  b();
  std::vector<double> wall[2], cpu[2];
  for (int i = 0; i < repeats; ++i) {
    for (int k = 0; k < 2; ++k) {
      const auto start = Clock::now();
      const double c0 = cpu_seconds();
      (k == 0 ? a : b)();
      cpu[k].push_back(cpu_seconds() - c0);
      wall[k].push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {{median(wall[0]), median(cpu[0])}, {median(wall[1]), median(cpu[1])}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_name = "small";
  int repeats = 5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_name = argv[++i];
    } else if (arg == "--repeats" && i + 1 < argc) {
      repeats = std::stoi(argv[++i]);
    } else if (arg == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: bench_dpo_step [--config small|tiny] [--repeats N] [--json]\n");
      return 2;
    }
  }
  try {
    const BenchConfig b = lookup(config_name);
    masque::ModelConfig c;
    c.vocab_size = b.vocab;
    c.hidden_size = b.dim;
    c.intermediate_size = b.ff;
    c.num_hidden_layers = b.layers;
    c.num_attention_heads = b.heads;
    c.num_key_value_heads = b.heads;
    c.head_dim = b.dim / b.heads;
    c.max_position_embeddings = b.seq;
    c.tie_word_embeddings = false;
    masque::Model policy(c), reference(c);
    policy.init_weights(1);
    reference.init_weights(1);
    masque::AdamW adam(policy, masque::AdamWConfig{});
    const int rows = 2 * b.pairs, T = b.seq;
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(rows) * T), targets(tokens.size());
    masque::Rng rng(3);
    for (auto& t : tokens) t = static_cast<std::int32_t>(rng.below(b.vocab));
    for (int r = 0; r < rows; ++r) {
      for (int t = 0; t < T; ++t) {
        const std::size_t i = static_cast<std::size_t>(r) * T + t;
        targets[i] = t >= T / 2 && t + 1 < T ? tokens[i + 1] : -1;
      }
    }
    policy.reserve(rows, T);
    reference.reserve(rows, T);
    masque::DpoStep dpo(policy, reference, 0.1, masque::DpoLossKind::kSigmoid);
    const auto [sft, dpo_t] = interleaved(
        [&] {
          policy.zero_grad();
          policy.forward_backward(tokens.data(), targets.data(), rows, T);
          adam.step(1e-6f);
        },
        [&] {
          policy.zero_grad();
          dpo.forward_backward(tokens.data(), targets.data(), rows, T, 1.0f);
          adam.step(1e-6f);
        },
        repeats);
    const masque::Json out = {{"config", b.name},
                              {"rows", rows},
                              {"seq", T},
                              {"threads", masque::num_threads()},
                              {"sft_step_s", sft.wall},
                              {"dpo_step_s", dpo_t.wall},
                              {"ratio", dpo_t.wall / sft.wall},
                              {"sft_cpu_s", sft.cpu},
                              {"dpo_cpu_s", dpo_t.cpu},
                              {"cpu_ratio", dpo_t.cpu / sft.cpu},
                              {"goal", 2.2}};
    if (json) {
      std::printf("%s\n", masque::json_line(out).c_str());
    } else {
      std::printf(
          "%s: %d rows x %d tokens, %d threads (medians, steps interleaved)\n"
          "  sft step %.4f s wall, %.4f s cpu\n  dpo step %.4f s wall, %.4f s cpu\n"
          "  ratio %.2fx wall, %.2fx cpu (goal <= 2.2x)\n",
          b.name.c_str(), rows, T, masque::num_threads(), sft.wall, sft.cpu, dpo_t.wall, dpo_t.cpu,
          dpo_t.wall / sft.wall, dpo_t.cpu / sft.cpu);
    }
  } catch (const masque::Error& e) {
    std::fprintf(stderr, "bench_dpo_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
