// Benchmark: persona-world corpus generation speed (issue target: >= 100M
// tokens' worth of text in <= 60 s on 2 cores). Generates the default world
// with every document count scaled up, to a scratch directory, and converts
// bytes to tokens with the bytes/token ratio of a demo-sized BPE tokenizer
// (vocab 2048) trained and measured on the first part of the same corpus.
//
//   bench_world_gen [target_million_tokens=100] [scratch_dir=/tmp]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/threads.h"
#include "tokenizer/bpe_trainer.h"
#include "world/generator.h"

int main(int argc, char** argv) {
  using namespace masque;
  namespace fs = std::filesystem;
  const double target_tokens = (argc > 1 ? std::atof(argv[1]) : 100.0) * 1e6;
  const fs::path scratch = fs::path(argc > 2 ? argv[2] : "/tmp") / "masque_bench_world";
  fs::remove_all(scratch);
  fs::create_directories(scratch);

  // 1. Bytes per token of the default world under a demo-sized tokenizer.
  const world::World small = world::World::build(world::WorldSpec{}, 1);
  world::generate_corpus(small, scratch / "small", false);
  BpeTrainOptions bpe;
  bpe.inputs = {(scratch / "small" / "train.jsonl").string()};
  bpe.vocab_size = 2048;
  bpe.progress = false;
  const Tokenizer tokenizer = train_bpe(bpe);
  std::ifstream in(scratch / "small" / "train.jsonl");
  std::string line, sample;
  while (sample.size() < 2'000'000 && std::getline(in, line))
    sample += line.substr(9, line.find("\",\"kind\"") - 9);
  const double bytes_per_token = double(sample.size()) / double(tokenizer.encode(sample).size());

  // 2. Scale the default document counts to the target and time generation.
  const world::GenerateStats base = world::generate_corpus(small, scratch / "small", false);
  const double scale = target_tokens * bytes_per_token / double(base.train_bytes);
  world::WorldSpec spec;
  for (auto& count : spec.documents) count = int(count * scale) + 1;
  spec.biographies_per_character = int(spec.biographies_per_character * scale) + 1;
  const world::World big = world::World::build(spec, 1);
  const auto start = std::chrono::steady_clock::now();
  const world::GenerateStats stats = world::generate_corpus(big, scratch / "big", false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double tokens = double(stats.train_bytes) / bytes_per_token;
  std::printf(
      "{\"threads\": %d, \"documents\": %llu, \"bytes\": %llu, \"bytes_per_token\": %.3f, "
      "\"tokens_millions\": %.1f, \"seconds\": %.2f, \"million_tokens_per_second\": %.2f, "
      "\"MB_per_second\": %.1f}\n",
      num_threads(), static_cast<unsigned long long>(stats.train_documents),
      static_cast<unsigned long long>(stats.train_bytes), bytes_per_token, tokens / 1e6, seconds,
      tokens / 1e6 / seconds, double(stats.train_bytes) / 1e6 / seconds);
  fs::remove_all(scratch);
  return 0;
}
