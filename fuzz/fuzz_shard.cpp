// fuzz-link: masque_data
// Fuzzes one token shard file (ShardReader): header, size, checksum, then a
// read of every token the reader accepts.
#include <vector>

#include "data/shard.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    const auto path = masque::fuzz::scratch_dir() / "train_000000.bin";
    masque::fuzz::write_bytes(path, masque::fuzz::as_text(data, size));
    const masque::ShardReader reader(path);
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(reader.num_tokens()));
    reader.read(0, tokens.size(), tokens.data());
    (void)reader.tokenizer_fingerprint();
  });
}
