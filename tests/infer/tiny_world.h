// Test helper shared by tests/infer and tests/train: a tiny tokenizer trained
// on generated sentences and a tiny model config, built in a fresh temporary
// directory in well under a second (tests/train/tiny_data.h adds shards).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/config.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace masque::test_world {

inline std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("masque_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Sentences with a little structure so a model can learn something.
inline std::string tiny_corpus_text(int sentences, std::uint64_t seed) {
  const char* names[] = {"Ada", "Bo", "Cy", "Dee"};
  const char* verbs[] = {"likes", "sees", "helps", "finds"};
  const char* things[] = {"the cat", "a red ball", "the old tree", "some tea"};
  Rng rng(seed);
  std::string text;
  for (int i = 0; i < sentences; ++i) {
    text += names[rng.below(4)];
    text += " ";
    text += verbs[rng.below(4)];
    text += " ";
    text += things[rng.below(4)];
    text += ". ";
    if (i % 8 == 7) text += "\n";
  }
  return text;
}

struct TinyWorld {
  std::filesystem::path dir;
  std::filesystem::path tokenizer_path;
  std::filesystem::path data_dir;
  Tokenizer tokenizer;
  ModelConfig config;
};

inline ModelConfig tiny_config(int vocab_size, const Tokenizer& tokenizer) {
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tie_word_embeddings = true;
  c.bos_token_id = static_cast<int>(tokenizer.bos_id());
  c.eos_token_id = static_cast<int>(tokenizer.eos_id());
  return c;
}

inline TinyWorld make_tiny_world(const std::string& name) {
  TinyWorld w;
  w.dir = fresh_dir(name);
  const auto corpus = w.dir / "corpus.txt";
  std::ofstream(corpus) << tiny_corpus_text(400, 7);
  BpeTrainOptions bpe;
  bpe.inputs = {corpus.string()};
  bpe.vocab_size = 300;
  bpe.progress = false;
  w.tokenizer = train_bpe(bpe);
  w.tokenizer_path = w.dir / "tokenizer.json";
  w.tokenizer.save(w.tokenizer_path);
  w.config = tiny_config(static_cast<int>(w.tokenizer.vocab_size()), w.tokenizer);
  return w;
}

}  // namespace masque::test_world
