// fuzz-link: masque_infer
// Fuzzes the GGUF reader: the in-memory parser, then the mapped file with a
// read of every metadata value and a float32 decode of every small tensor,
// then the model loader (config from llama.* keys, tokenizer from
// tokenizer.ggml.*, weights), which must refuse inconsistent files cleanly.
#include "fuzz_util.h"
#include "infer/gguf_model.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    (void)masque::parse_gguf(data, size, "fuzz input");
    const auto path = masque::fuzz::scratch_dir() / "in.gguf";
    masque::fuzz::write_bytes(path, masque::fuzz::as_text(data, size));
    const masque::GgufFile file(path);
    for (const auto& [key, value] : file.metadata()) {
      if (value.type() == masque::GgufType::STRING) (void)value.as_string(key);
      if (value.is_integer()) (void)value.as_i64(key);
      if (value.type() == masque::GgufType::ARRAY &&
          value.array_type() != masque::GgufType::STRING &&
          value.array_type() != masque::GgufType::BOOL) {
        (void)value.as_f64s(key);
      }
    }
    for (const masque::GgufTensorInfo& t : file.tensors()) {
      if (t.numel() <= (1u << 16)) (void)file.tensor_f32(t.name);
    }
    (void)masque::load_gguf_model(path);
  });
}
