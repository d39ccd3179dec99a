// fuzz-link: masque_io
// Fuzzes the safetensors reader: the in-memory validator, then the mapped
// file reader with a float conversion of every tensor it accepts.
#include <vector>

#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return masque::fuzz::guard([&] {
    std::vector<masque::TensorInfo> tensors;
    std::map<std::string, std::string> metadata;
    masque::SafetensorsFile::validate_bytes(data, size, "fuzz input", &tensors, &metadata);
    const auto path = masque::fuzz::scratch_dir() / "in.safetensors";
    masque::fuzz::write_bytes(path, masque::fuzz::as_text(data, size));
    const masque::SafetensorsFile file(path);
    for (const masque::TensorInfo& t : file.tensors()) {
      (void)file.data(t.name);
      if (t.numel() <= (1u << 16)) (void)file.to_f32(t.name);
    }
  });
}
