// Shared by the probe tests: a BPE tokenizer trained on a test corpus, the
// tiny LLaMA config sized for it, and a guard that runs a test on one thread
// (tiny models spend most of their time in OpenMP spin-waits otherwise).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/atomic_file.h"
#include "core/threads.h"
#include "model/config.h"
#include "tokenizer/bpe_trainer.h"
#include "world/world.h"

namespace masque::testing {

// An 8-character world: enough facts and names for every probe kind.
inline world::World small_world() {
  world::WorldSpec spec;
  spec.characters = 8;
  return world::World::build(spec, 5);
}

inline Tokenizer train_test_tokenizer(const std::string& corpus, std::uint32_t vocab_size,
                                      const std::string& tag) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / (tag + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_file_atomic(dir / "corpus.txt", corpus);
  BpeTrainOptions o;
  o.inputs = {(dir / "corpus.txt").string()};
  o.vocab_size = vocab_size;
  o.progress = false;
  Tokenizer tokenizer = train_bpe(o);
  fs::remove_all(dir);
  return tokenizer;
}

inline ModelConfig tiny_probe_config(const Tokenizer& tokenizer, int max_positions) {
  ModelConfig c;
  c.vocab_size = static_cast<int>(tokenizer.vocab_size());
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = max_positions;
  c.bos_token_id = static_cast<int>(tokenizer.bos_id());
  c.eos_token_id = static_cast<int>(tokenizer.eos_id());
  return c;
}

struct SingleThread {
  int previous = num_threads();
  SingleThread() { set_num_threads(1); }
  ~SingleThread() { set_num_threads(previous); }
};

}  // namespace masque::testing
