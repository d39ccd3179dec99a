// Token shards for the tiny world of tests/infer/tiny_world.h (train and val
// splits of generated sentences), for trainer tests.
#pragma once
#include "../infer/tiny_world.h"
#include "data/shard.h"

namespace masque::test_world {

inline void write_shard(const std::filesystem::path& path, const Tokenizer& tokenizer,
                        const std::string& text, std::uint32_t vocab_override = 0) {
  ShardWriter writer(path, vocab_override ? vocab_override : tokenizer.vocab_size(),
                     tokenizer.fingerprint());
  std::vector<std::uint32_t> ids{tokenizer.bos_id()};
  for (std::uint32_t id : tokenizer.encode(text)) ids.push_back(id);
  writer.append(ids.data(), ids.size());
  writer.finish();
}

inline TinyWorld make_tiny_world_with_data(const std::string& name) {
  TinyWorld w = make_tiny_world(name);
  w.data_dir = w.dir / "data";
  std::filesystem::create_directories(w.data_dir);
  write_shard(w.data_dir / "train_000.bin", w.tokenizer, tiny_corpus_text(300, 11));
  write_shard(w.data_dir / "val_000.bin", w.tokenizer, tiny_corpus_text(60, 13));
  return w;
}

}  // namespace masque::test_world
