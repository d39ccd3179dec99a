// fuzz-link: masque_data
// Fuzzes a shard directory's meta.json (ShardSet): the input is meta.json
// beside two valid shards, train_000000.bin and val_000000.bin, so the fuzzer
// can reach the shard list, counts and file names.
#include <vector>

#include "data/shard.h"
#include "fuzz_util.h"

namespace {
const std::filesystem::path& shard_dir() {
  static const std::filesystem::path dir = [] {
    auto d = masque::fuzz::scratch_dir() / "shards";
    std::filesystem::create_directories(d);
    for (const char* name : {"train_000000.bin", "val_000000.bin"}) {
      masque::ShardWriter writer(d / name, 300, "00112233aabbccdd");
      const std::uint32_t ids[] = {299, 5, 6, 7, 299, 8, 9};
      writer.append(ids, 7);
      writer.finish();
    }
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = shard_dir();
  return masque::fuzz::guard([&] {
    masque::fuzz::write_bytes(dir / "meta.json", masque::fuzz::as_text(data, size));
    for (const char* split : {"train", "val"}) {
      const masque::ShardSet set(dir, split);
      std::vector<std::int32_t> tokens(static_cast<std::size_t>(set.num_tokens()));
      set.read(0, tokens.size(), tokens.data());
    }
  });
}
