// fuzz-link: masque_train
// Fuzzes metrics.jsonl as a resume reads it (MetricsLog cuts the file back to
// the resumed step, dropping a torn last line). The first byte picks the step.
#include "fuzz_util.h"
#include "train/metrics_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  return masque::fuzz::guard([&] {
    const auto path = masque::fuzz::scratch_dir() / "metrics.jsonl";
    masque::fuzz::write_bytes(path, masque::fuzz::as_text(data + 1, size - 1));
    masque::MetricsLog log(path, static_cast<std::int64_t>(data[0]) - 1);
    log.append({{"type", "train"}, {"step", 1000}});
  });
}
